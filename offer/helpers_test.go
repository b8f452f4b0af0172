package offer

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/credential"
	"github.com/mdoc-issuer/issuer/mdoc"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/storage/memory"
	"github.com/mdoc-issuer/issuer/storage/redis"
	"github.com/mdoc-issuer/issuer/storage/storagetest"
)

const (
	testIssuer = "https://issuer.example.com"
	tokenA     = "admin-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	tokenB     = "admin-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	cfgMDL     = "org.iso.18013.5.1.mDL"
	cfgPID     = "eu.europa.ec.eudi.pid_mso_mdoc"
	cfgNoScope = "org.example.noscope"
	nsMDL      = "org.iso.18013.5.1"
	nsPID      = "eu.europa.ec.eudi.pid.1"
)

// fakePreAuth records pre-authorizations and revocations.
type fakePreAuth struct {
	mu      sync.Mutex
	calls   []PreAuthorization
	revoked []string
	fail    error
	n       int
}

func (f *fakePreAuth) IssuePreAuthorizedCode(_ context.Context, p PreAuthorization) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	f.calls = append(f.calls, p)
	f.n++
	return fmt.Sprintf("preauth-code-%d-%s", f.n, p.OfferID[:8]), nil
}

func (f *fakePreAuth) RevokePreAuthorizedCode(_ context.Context, code string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, code)
	return nil
}

func (f *fakePreAuth) last(t *testing.T) PreAuthorization {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("no pre-authorized code was issued")
	}
	return f.calls[len(f.calls)-1]
}

// issueOnly is a PreAuthCodeIssuer without revocation.
type issueOnly struct{ f *fakePreAuth }

func (i issueOnly) IssuePreAuthorizedCode(ctx context.Context, p PreAuthorization) (string, error) {
	return i.f.IssuePreAuthorizedCode(ctx, p)
}

type fakeDeferred struct {
	mu       sync.Mutex
	approved []string
	rejected []string
	known    map[string]bool
}

func (f *fakeDeferred) decide(id string, list *[]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.known[id] {
		return credential.ErrUnknownTransaction
	}
	if slices.Contains(f.approved, id) || slices.Contains(f.rejected, id) {
		return credential.ErrTransactionDecided
	}
	*list = append(*list, id)
	return nil
}

func (f *fakeDeferred) ApproveDeferred(_ context.Context, id string) error {
	return f.decide(id, &f.approved)
}
func (f *fakeDeferred) RejectDeferred(_ context.Context, id string) error {
	return f.decide(id, &f.rejected)
}

type env struct {
	svc      *Service
	store    storage.Store
	clock    *storagetest.Clock
	preauth  *fakePreAuth
	deferred *fakeDeferred
	admin    http.Handler
	public   http.Handler
}

func testConfigurations() map[string]Configuration {
	return map[string]Configuration{
		cfgMDL:     {DocType: "org.iso.18013.5.1.mDL", Scope: "mdl"},
		cfgPID:     {DocType: "eu.europa.ec.eudi.pid.1", Scope: "pid"},
		cfgNoScope: {DocType: "eu.europa.ec.eudi.pid.1"},
	}
}

// envFactory builds a fresh environment (store, clock, fakes) per call.
type envFactory func(t testing.TB, mutate ...func(*Options)) *env

// newEnv builds an environment on the memory store.
func newEnv(t testing.TB, mutate ...func(*Options)) *env {
	t.Helper()
	return newEnvOn(t, "memory", mutate...)
}

// forEachBackend runs f on the memory store and, when ISSUER_TEST_REDIS_URL
// is set, on Redis (with ISSUER_TEST_REQUIRE_REDIS=1 a missing URL fails).
func forEachBackend(t *testing.T, f func(t *testing.T, newEnv envFactory)) {
	backends := []string{"memory"}
	if os.Getenv("ISSUER_TEST_REDIS_URL") != "" {
		backends = append(backends, "redis")
	} else if os.Getenv("ISSUER_TEST_REQUIRE_REDIS") == "1" {
		t.Fatal("ISSUER_TEST_REQUIRE_REDIS=1 but ISSUER_TEST_REDIS_URL is not set")
	}
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			f(t, func(t testing.TB, mutate ...func(*Options)) *env {
				t.Helper()
				return newEnvOn(t, b, mutate...)
			})
		})
	}
}

func newEnvOn(t testing.TB, backend string, mutate ...func(*Options)) *env {
	t.Helper()
	// The clock starts at the real time so that Redis' own expiry (PXAT)
	// lies in the future; it only moves by Advance.
	clock := storagetest.NewClock(time.Now().Truncate(time.Second))
	var store storage.Store
	if backend == "redis" {
		store = newRedisStore(t, clock.Now)
	} else {
		store = newTestStore(t, clock.Now)
	}
	e := &env{store: store, clock: clock, preauth: &fakePreAuth{}, deferred: &fakeDeferred{known: map[string]bool{"tx-1": true, "tx-2": true}}}
	o := Options{
		Issuer:         testIssuer,
		Store:          store,
		Configurations: testConfigurations(),
		PreAuth:        e.preauth,
		Validator:      mdoc.DefaultCatalogue(),
		Deferred:       e.deferred,
		AdminTokens:    []string{tokenA, tokenB},
		MaxBodyBytes:   8 << 10,
		Now:            clock.Now,
	}
	for _, m := range mutate {
		m(&o)
	}
	svc, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.svc, e.admin, e.public = svc, svc.AdminHandler(), svc.PublicHandler()
	return e
}

func newRedisStore(t testing.TB, now func() time.Time) storage.Store {
	t.Helper()
	prefix := make([]byte, 8)
	_, _ = rand.Read(prefix)
	s, err := redis.Open(context.Background(), os.Getenv("ISSUER_TEST_REDIS_URL"), fmt.Sprintf("offertest:%x:", prefix), now)
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newTestStore returns a memory store.
func newTestStore(t testing.TB, now func() time.Time) storage.Store {
	t.Helper()
	s := memory.New(memory.Options{Now: now})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type resp struct {
	status int
	header http.Header
	body   string
}

func do(h http.Handler, method, target, token, contentType, body string) resp {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return resp{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

func (e *env) create(t *testing.T, body string) Created {
	t.Helper()
	r := do(e.admin, http.MethodPost, "/admin/v1/offers", tokenA, "application/json", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create: status %d body %s", r.status, r.body)
	}
	var c Created
	mustJSON(t, r.body, &c)
	return c
}

func newRecorderFor(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}
