package wia_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/wia"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

const asIssuer = "https://as.example.com"

// memReplay is a minimal storage.ReplayCache (storage/memory is not
// committed yet): remembered ids live until their expiry on the given clock.
type memReplay struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]time.Time
}

func newMemReplay(now func() time.Time) *memReplay {
	return &memReplay{now: now, m: map[string]time.Time{}}
}

func (r *memReplay) Remember(_ context.Context, kind, id string, exp time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := kind + ":" + id
	if e, ok := r.m[k]; ok && r.now().Before(e) {
		return storage.ErrAlreadyUsed
	}
	r.m[k] = exp
	return nil
}

func (r *memReplay) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// downReplay is a store that is unreachable.
type downReplay struct{}

func (downReplay) Remember(context.Context, string, string, time.Time) error {
	return fmt.Errorf("%w: connection refused", storage.ErrUnavailable)
}

// acceptReplay accepts every id (benchmarks reuse one PoP).
type acceptReplay struct{}

func (acceptReplay) Remember(context.Context, string, string, time.Time) error { return nil }

// challenges is an in-test ChallengeSource: issued values are valid.
type challenges struct {
	mu sync.Mutex
	m  map[string]bool
}

func newChallenges() *challenges { return &challenges{m: map[string]bool{}} }

func (c *challenges) Issue() (string, error) {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	s := base64.RawURLEncoding.EncodeToString(b[:])
	c.mu.Lock()
	c.m[s] = true
	c.mu.Unlock()
	return s, nil
}

func (c *challenges) Check(s string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.m[s] {
		return errors.New("unknown challenge")
	}
	return nil
}

type fixture struct {
	now    time.Time
	clock  func() time.Time
	prov   *wiatest.WalletProvider
	other  *wiatest.WalletProvider
	holder *ecdsa.PrivateKey
	store  *memReplay
	chal   *challenges
	opts   wia.Options
	v      *wia.Verifier
}

// Shared providers: CA generation is the slow part of a fixture. Each test
// still gets a fresh holder key, store, clock and verifier.
var (
	provOnce   sync.Once
	provA      *wiatest.WalletProvider
	provB      *wiatest.WalletProvider
	kattester  *wiatest.KeyAttester
	kattester2 *wiatest.KeyAttester
)

func providers() (*wiatest.WalletProvider, *wiatest.WalletProvider) {
	provOnce.Do(func() {
		provA = wiatest.NewProvider("https://provider-a.example")
		provB = wiatest.NewProvider("https://provider-b.example")
		kattester = wiatest.NewKeyAttester("https://keys.example")
		kattester2 = wiatest.NewKeyAttester("https://other-keys.example")
	})
	return provA, provB
}

func newFixture(t testing.TB, mod func(*wia.Options)) *fixture {
	t.Helper()
	a, b := providers()
	f := &fixture{now: time.Now().Truncate(time.Second), prov: a, other: b, holder: wiatest.NewKey(), chal: newChallenges()}
	f.clock = func() time.Time { return f.now }
	f.store = newMemReplay(f.clock)
	f.opts = wia.Options{
		Issuer:     asIssuer,
		Providers:  []wia.Provider{a.Provider(), b.Provider()},
		Replay:     f.store,
		Now:        f.clock,
		Challenges: f.chal,
	}
	if mod != nil {
		mod(&f.opts)
	}
	v, err := wia.NewVerifier(f.opts)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	f.v = v
	return f
}

// att mints an attestation for client "wallet-1" at the fixture's time.
func (f *fixture) att(opts ...wiatest.Option) string {
	return f.prov.Attestation("wallet-1", f.holder, append([]wiatest.Option{wiatest.At(f.now)}, opts...)...)
}

// pop mints a PoP at the fixture's time.
func (f *fixture) pop(opts ...wiatest.Option) string {
	return wiatest.PoP(f.holder, asIssuer, append([]wiatest.Option{wiatest.At(f.now)}, opts...)...)
}

func one(s string) []string { return []string{s} }

// wantError asserts err is an *oauth.Error with status, code and a
// description containing desc.
func wantError(t *testing.T, err error, status int, code, desc string) *oauth.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %d %s (%s)", status, code, desc)
	}
	e := oauth.As(err)
	if e == nil {
		t.Fatalf("error %v is not an *oauth.Error", err)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("got %d %s (%s); want %d %s", e.Status, e.Code, e.Description, status, code)
	}
	if desc != "" && !strings.Contains(e.Description, desc) {
		t.Fatalf("description %q does not name %q", e.Description, desc)
	}
	return e
}
