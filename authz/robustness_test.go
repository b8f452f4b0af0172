package authz

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/storage/redis"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

func redisStore(u string) func(t testing.TB, now func() time.Time) storage.Store {
	return func(t testing.TB, now func() time.Time) storage.Store {
		var b [8]byte
		_, _ = rand.Read(b[:])
		s, err := redis.Open(context.Background(), u, "authz-test-"+hex.EncodeToString(b[:])+":", now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

func TestEndToEndRedis(t *testing.T) {
	u := redisURL(t)
	t.Run("code flow", func(t *testing.T) { runCodeFlow(t, newEnv(t, withStore(redisStore(u)))) })
	t.Run("pre-authorized flow with tx_code", func(t *testing.T) {
		runTxCodeFlow(t, newEnv(t, withStore(redisStore(u)), withOptions(func(o *Options) { o.TxCodeMaxAttempts = 3 })))
	})
}

// flakyStore fails every operation with storage.ErrUnavailable while down,
// and records the size of every value written (for the footprint test).
type flakyStore struct {
	storage.Store
	down  atomic.Bool
	mu    sync.Mutex
	sizes map[string]int
}

func (f *flakyStore) fail() error {
	if f.down.Load() {
		return fmt.Errorf("%w: injected outage", storage.ErrUnavailable)
	}
	return nil
}

func (f *flakyStore) record(kind, key string, v []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sizes == nil {
		f.sizes = map[string]int{}
	}
	f.sizes[kind+":"+key] = len(v)
}

func (f *flakyStore) forget(kind, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sizes, kind+":"+key)
}

func (f *flakyStore) Create(ctx context.Context, kind, key string, v []byte, exp time.Time) error {
	if err := f.fail(); err != nil {
		return err
	}
	err := f.Store.Create(ctx, kind, key, v, exp)
	if err == nil {
		f.record(kind, key, v)
	}
	return err
}
func (f *flakyStore) Put(ctx context.Context, kind, key string, v []byte, exp time.Time) error {
	if err := f.fail(); err != nil {
		return err
	}
	f.record(kind, key, v)
	return f.Store.Put(ctx, kind, key, v, exp)
}
func (f *flakyStore) Get(ctx context.Context, kind, key string) ([]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, kind, key)
}
func (f *flakyStore) Consume(ctx context.Context, kind, key string) ([]byte, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.Consume(ctx, kind, key)
}
func (f *flakyStore) Swap(ctx context.Context, kind, key string, old, v []byte, exp time.Time) error {
	if err := f.fail(); err != nil {
		return err
	}
	err := f.Store.Swap(ctx, kind, key, old, v, exp)
	if err == nil {
		f.record(kind, key, v)
	}
	return err
}
func (f *flakyStore) Advance(ctx context.Context, kind, key string, from storage.States, to uint8, ev []byte, ext time.Time) ([]byte, uint8, error) {
	if err := f.fail(); err != nil {
		return nil, 0, err
	}
	return f.Store.Advance(ctx, kind, key, from, to, ev, ext)
}
func (f *flakyStore) Delete(ctx context.Context, kind, key string) error {
	if err := f.fail(); err != nil {
		return err
	}
	f.forget(kind, key)
	return f.Store.Delete(ctx, kind, key)
}
func (f *flakyStore) Remember(ctx context.Context, kind, id string, exp time.Time) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Store.Remember(ctx, kind, id, exp)
}
func (f *flakyStore) Incr(ctx context.Context, kind, key string, exp time.Time) (int64, error) {
	if err := f.fail(); err != nil {
		return 0, err
	}
	return f.Store.Incr(ctx, kind, key, exp)
}

func newFlakyEnv(t *testing.T, opts ...envOpt) (*env, *flakyStore) {
	var fs *flakyStore
	e := newEnv(t, append(opts, withStore(func(t testing.TB, now func() time.Time) storage.Store {
		fs = &flakyStore{Store: memoryStore(t, now)}
		return fs
	}))...)
	return e, fs
}

// TestStoreOutage: every endpoint answers 503 temporarily_unavailable with
// Retry-After when the store is down, never a silent accept or a 500.
func TestStoreOutage(t *testing.T) {
	e, fs := newFlakyEnv(t)
	w := e.newWallet("w1")
	code := e.code(w, w.parForm(testScope))
	tok := mustStatus(t, e.token(w, tokenReq{form: w.codeForm(e.code(w, w.parForm(testScope)))}), 200).str("access_token")
	uri := e.pushed(w, w.parForm(testScope))
	preAuth := e.preAuthCode("")

	fs.down.Store(true)
	check := func(name string, resp *http.Response) {
		t.Helper()
		expectError(t, resp, http.StatusServiceUnavailable, oauth.CodeTemporarilyUnavailable)
		if resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: no Retry-After", name)
		}
	}
	check("PAR", e.par(w, w.parForm(testScope)))
	check("token code", e.token(w, tokenReq{form: w.codeForm(code)}))
	check("token pre-auth", e.token(w, tokenReq{form: preAuthForm(preAuth, "")}))
	if p := e.browse(w, http.MethodGet, e.authorizeURL(w.id, uri), nil); p.status != http.StatusServiceUnavailable {
		t.Fatalf("authorize: %d", p.status)
	}
	_, err := e.srv.ValidateAccessToken(context.Background(), tok)
	if oe := oauth.As(err); oe == nil || oe.Status != http.StatusServiceUnavailable {
		t.Fatalf("ValidateAccessToken: %v", err)
	}
	if _, err := e.srv.IssuePreAuthorizedCode(context.Background(), PreAuthorization{ConfigurationIDs: []string{testConfigID},
		ExpiresAt: e.clock.Now().Add(time.Minute)}); err == nil {
		t.Fatal("IssuePreAuthorizedCode succeeded with the store down")
	}

	fs.down.Store(false)
	mustStatus(t, e.token(w, tokenReq{form: w.codeForm(code)}), 200)
}

// TestStorageFootprint: the records of one complete flow (PAR, login flow,
// code, PKCE, tokens, grant index) stay within 2 KB.
func TestStorageFootprint(t *testing.T) {
	e, fs := newFlakyEnv(t, withRefresh())
	w := e.newWallet("w1")
	f := w.parForm(testScope)
	f.Set("issuer_state", strings.Repeat("i", 64))
	mustStatus(t, e.token(w, tokenReq{form: w.codeForm(e.code(w, f))}), 200)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	total := 0
	for k, n := range fs.sizes {
		if strings.HasPrefix(k, "authz-") {
			total += n
		}
	}
	if total == 0 || total > 2048 {
		t.Fatalf("flow stores %d bytes: %v", total, fs.sizes)
	}
	t.Logf("one code flow stores %d bytes in %d records", total, len(fs.sizes))
}

// TestConcurrentCodeRedemption: of many simultaneous redemptions of one code
// at most one succeeds (Records.Consume is the single point of truth) and
// the others get invalid_grant. (Whether the winner's token is revoked
// depends on where the losers fail; sequential replay revocation is
// TestCodeReplayRevokesTokens.)
func TestConcurrentCodeRedemption(t *testing.T) {
	e := newEnv(t)
	w := e.newWallet("w1")
	code := e.code(w, w.parForm(testScope))
	const n = 8
	wallets := make([]*wallet, n)
	for i := range wallets {
		wallets[i] = w
	}
	ok, _, tokens := raceTokenRequests(t, e, wallets, w.codeForm(code))
	if ok > 1 {
		t.Fatalf("%d successes", ok)
	}
	for _, tok := range tokens {
		if len(tok) < 43 {
			t.Fatalf("access token %q", tok)
		}
	}
}

// raceTokenRequests sends one token request per wallet with form, all at
// once, and returns how many succeeded, how many got invalid_grant (any
// other answer fails t) and the access tokens issued.
func raceTokenRequests(t *testing.T, e *env, wallets []*wallet, form url.Values) (ok, invalidGrant int, tokens []string) {
	t.Helper()
	reqs := make([]*http.Request, len(wallets))
	for i, w := range wallets {
		h := http.Header{}
		e.clientAuth(h, w, nil, nil)
		h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().Token))
		r, err := http.NewRequest(http.MethodPost, e.srv.Endpoints().Token, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		r.Header = h
		r.Header.Set("Content-Type", oauth.MediaForm)
		reqs[i] = r
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range reqs {
		wg.Go(func() {
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Error(err)
				return
			}
			m := decode(t, resp)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case resp.StatusCode == 200:
				ok++
				tokens = append(tokens, m.str("access_token"))
			case m.str("error") == oauth.CodeInvalidGrant:
				invalidGrant++
			default:
				t.Errorf("unexpected %d %v", resp.StatusCode, m)
			}
		})
	}
	wg.Wait()
	if ok+invalidGrant != len(wallets) {
		t.Fatalf("%d successes and %d invalid_grant of %d requests", ok, invalidGrant, len(wallets))
	}
	return ok, invalidGrant, tokens
}

// TestChallengeEndpoint: ABCA-07 §8, POST only, no-store.
func TestChallengeEndpoint(t *testing.T) {
	e := newEnv(t, withOptions(func(o *Options) { o.ChallengeEndpoint = true; o.Attestation = fixedChallenger{o.Attestation} }))
	resp, err := http.Post(e.srv.Endpoints().Challenge, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := mustStatus(t, resp, 200)
	if m.str("attestation_challenge") != "challenge-0123456789" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%v", m)
	}
	resp, err = http.Get(e.srv.Endpoints().Challenge)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, resp, 405, oauth.CodeInvalidRequest)
}

type fixedChallenger struct{ ClientAuthenticator }

func (fixedChallenger) Challenge() (string, error) { return "challenge-0123456789", nil }

func TestMetadata(t *testing.T) {
	e := newEnv(t, withRefresh())
	m := e.srv.Metadata()
	if m.Issuer != e.issuer || m.PushedAuthorizationRequestEndpoint != e.issuer+PathPAR || m.TokenEndpoint != e.issuer+PathToken ||
		m.AuthorizationEndpoint != e.issuer+PathAuthorize || !m.RequirePushedAuthorizationRequests || m.ChallengeEndpoint != "" ||
		len(m.GrantTypesSupported) != 3 || m.CodeChallengeMethodsSupported[0] != "S256" ||
		m.TokenEndpointAuthMethodsSupported[0] != "attest_jwt_client_auth" || len(m.ScopesSupported) != 2 {
		t.Fatalf("%+v", m)
	}
}

func TestOptionsValidation(t *testing.T) {
	e := newEnv(t)
	base := e.srv.o
	for name, mut := range map[string]func(o *Options){
		"no issuer":         func(o *Options) { o.Issuer = "" },
		"issuer with slash": func(o *Options) { o.Issuer += "/" },
		"issuer with query": func(o *Options) { o.Issuer += "?a=b" },
		"short secret":      func(o *Options) { o.GlobalSecret = []byte("short") },
		"no store":          func(o *Options) { o.Store = nil },
		"no attestation":    func(o *Options) { o.Attestation = nil },
		"no dpop":           func(o *Options) { o.DPoP = nil },
		"no authenticator":  func(o *Options) { o.Authenticator = nil },
		"no credentials":    func(o *Options) { o.Credentials = nil },
		"duplicate scope": func(o *Options) {
			o.Credentials = append(o.Credentials, CredentialConfiguration{ID: "x", Scope: testScope})
		},
		"code lifetime 61 s":                    func(o *Options) { o.AuthorizeCodeLifespan = 61 * time.Second },
		"PAR lifetime 601 s":                    func(o *Options) { o.PARLifespan = 601 * time.Second },
		"PAR lifetime 4 s":                      func(o *Options) { o.PARLifespan = 4 * time.Second },
		"refresh 2 years":                       func(o *Options) { o.RefreshTokenLifespan = 2 * 365 * 24 * time.Hour },
		"relative path":                         func(o *Options) { o.Paths.Token = "token" },
		"challenge endpoint without challenges": func(o *Options) { o.ChallengeEndpoint = true },
	} {
		o := base
		mut(&o)
		if _, err := New(o); err == nil {
			t.Fatalf("%s accepted", name)
		}
	}
}

// TestAttestationChallenge: T30, with a challenge endpoint a PoP without
// challenge gets use_attestation_challenge and a fresh challenge header; a
// PoP carrying a challenge from the endpoint succeeds.
func TestAttestationChallenge(t *testing.T) {
	e := newEnv(t, withChallenges())
	w := e.newWallet("w1")
	resp := e.par(w, w.parForm(testScope))
	m := decode(t, resp)
	if resp.StatusCode != 400 || m.str("error") != oauth.CodeUseAttestationChallenge || resp.Header.Get(oauth.HeaderAttestationChallenge) == "" {
		t.Fatalf("%d %v %v", resp.StatusCode, m, resp.Header)
	}
	cr, err := http.Post(e.srv.Endpoints().Challenge, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := mustStatus(t, cr, 200).str("attestation_challenge")
	h := http.Header{}
	e.clientAuth(h, w, nil, []wiatest.Option{wiatest.WithChallenge(c)})
	h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR))
	resp = e.post(e.srv.Endpoints().PAR, w.parForm(testScope), h)
	mustStatus(t, resp, http.StatusCreated)
	// ABCA-07 §8.1: the 201 carries the next challenge, usable at once.
	next := resp.Header.Get(oauth.HeaderAttestationChallenge)
	if next == "" || next == c {
		t.Fatalf("challenge header %q", next)
	}
	h = http.Header{}
	e.clientAuth(h, w, nil, []wiatest.Option{wiatest.WithChallenge(next)})
	h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR))
	mustStatus(t, e.post(e.srv.Endpoints().PAR, w.parForm(testScope), h), http.StatusCreated)
}
