package upstream

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/upstream/oidctest"
)

const redirectURL = "https://issuer.example/authorize/upstream/callback"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	op    *oidctest.Server
	p     *Provider
	clock *clock
	opts  Options
}

// newEnv starts a test provider and a Provider configured for it; mod edits
// the Options before New.
func newEnv(t *testing.T, oo oidctest.Options, mod func(*Options)) *env {
	t.Helper()
	c := newClock()
	oo.Now = c.Now
	if oo.RedirectURIs == nil {
		oo.RedirectURIs = []string{redirectURL}
	}
	op := oidctest.New(t, oo)
	o := Options{
		Issuer:              op.Issuer(),
		ClientID:            op.ClientID(),
		ClientSecret:        op.ClientSecret(),
		RedirectURL:         redirectURL,
		Scopes:              []string{"profile"},
		HTTPClient:          op.Client(),
		Now:                 c.Now,
		Name:                "Test IdP",
		Timeout:             2 * time.Second,
		JWKSRefreshInterval: 30 * time.Second,
	}
	if mod != nil {
		mod(&o)
	}
	p, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &env{op: op, p: p, clock: c, opts: o}
}

// login starts an attempt and lets the test provider answer it; it returns
// the attempt and the callback query.
func (e *env) login(t *testing.T) (Start, url.Values) {
	t.Helper()
	s, err := e.p.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	cb, err := e.op.Authorize(s.URL)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != redirectURL {
		t.Fatalf("callback to %s, want %s", got, redirectURL)
	}
	return s, cb.Query()
}

// assertNoSecrets fails if err's text contains any of the secrets.
func assertNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(msg, s) {
			t.Errorf("error %q leaks a secret value", msg)
		}
	}
}
