package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
	"github.com/mdoc-issuer/issuer/nonce"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/storage/memory"
	"github.com/mdoc-issuer/issuer/wia"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
	"golang.org/x/crypto/bcrypt"
)

// clock is an adjustable test clock shared by store, verifiers and server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	testConfigID = "org.iso.18013.5.1.mDL"
	testScope    = "mdl"
	otherConfig  = "eu.europa.ec.eudi.pid.1"
	otherScope   = "pid"
	redirectURI  = "https://wallet.example/cb"
	redirectURI2 = "https://wallet.example/cb?dummy1=lorem&dummy2=ipsum"
	// nativeRedirectURI is a private-use scheme redirect (RFC 8252 §7.1).
	nativeRedirectURI = "eu.example.wallet:/oauth/cb"
)

// cheapDevHash is bcrypt("testpass") at the minimum cost, to keep tests
// fast; NewDevAuthenticator (cost 10) is tested separately.
var cheapDevHash = func() string {
	b, err := bcrypt.GenerateFromPassword([]byte(DevPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(b)
}()

type envConfig struct {
	challenges bool
	dpopNonces bool
	refresh    bool
	store      func(t testing.TB, now func() time.Time) storage.Store
	mutate     func(*Options)
}

type envOpt func(*envConfig)

func withDPoPNonces() envOpt { return func(c *envConfig) { c.dpopNonces = true } }
func withRefresh() envOpt    { return func(c *envConfig) { c.refresh = true } }
func withChallenges() envOpt { return func(c *envConfig) { c.challenges = true } }
func withStore(f func(t testing.TB, now func() time.Time) storage.Store) envOpt {
	return func(c *envConfig) { c.store = f }
}
func withOptions(f func(*Options)) envOpt { return func(c *envConfig) { c.mutate = f } }

// env is one authorization server on a real HTTP listener with fresh store,
// clock, keys and wallet provider.
type env struct {
	t        testing.TB
	clock    *clock
	store    storage.Store
	srv      *Server
	ts       *httptest.Server
	issuer   string
	provider *wiatest.WalletProvider
	attV     *wia.Verifier
	dpopV    *dpop.Verifier
}

func memoryStore(t testing.TB, now func() time.Time) storage.Store {
	s := memory.New(memory.Options{Now: now, SweepInterval: -1})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	cfg := &envConfig{store: memoryStore}
	for _, o := range opts {
		o(cfg)
	}
	e := &env{t: t, clock: &clock{t: time.Now().Truncate(time.Second)}}
	e.store = cfg.store(t, e.clock.Now)
	var h http.Handler
	e.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.ts.Close)
	e.issuer = e.ts.URL

	e.provider = wiatest.NewProvider("test-wallet-provider")
	e.provider.Now = e.clock.Now
	e.provider.RedirectURIs = []string{redirectURI, redirectURI2, nativeRedirectURI}
	var err error
	wo := wia.Options{Issuer: e.issuer, Providers: []wia.Provider{e.provider.Provider()}, Replay: e.store, Now: e.clock.Now}
	if cfg.challenges {
		cs, err := nonce.New([][]byte{[]byte("challenge-secret-0123456789abcdef")}, "attestation-challenge", time.Minute, e.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		wo.Challenges, wo.RequireChallenge = cs, true
	}
	e.attV, err = wia.NewVerifier(wo)
	if err != nil {
		t.Fatal(err)
	}
	dopts := dpop.Options{Replay: e.store, Now: e.clock.Now}
	if cfg.dpopNonces {
		ns, err := nonce.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, "dpop", time.Minute, e.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		dopts.Nonces = ns
	}
	e.dpopV, err = dpop.NewVerifier(dopts)
	if err != nil {
		t.Fatal(err)
	}
	users, err := NewUsers([]UserEntry{{Username: DevUsername, PasswordHash: cheapDevHash, Subject: DevSubject}})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Issuer: e.issuer, Store: e.store, GlobalSecret: []byte("test-global-secret-0123456789abcdef"),
		Attestation: e.attV, DPoP: e.dpopV, Authenticator: users,
		Credentials: []CredentialConfiguration{
			{ID: testConfigID, Scope: testScope, Display: "Mobile driving licence"},
			{ID: otherConfig, Scope: otherScope},
		},
		ClaimNames: func(id string) []string {
			if id == testConfigID {
				return []string{"family_name", "given_name", "birth_date"}
			}
			return []string{"family_name"}
		},
		RefreshTokens:     cfg.refresh,
		ChallengeEndpoint: cfg.challenges,
		Now:               e.clock.Now,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if cfg.mutate != nil {
		cfg.mutate(&o)
	}
	e.srv, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	h = e.srv.Handler()
	return e
}

// wallet is a wallet instance: client id, instance key (attestation cnf),
// DPoP key, PKCE verifier, browser cookie jar.
type wallet struct {
	id       string
	instance *ecdsa.PrivateKey
	dpop     *dpoptest.Key
	verifier string
	browser  *http.Client
	nonce    string // last DPoP-Nonce seen
}

func (e *env) newWallet(id string) *wallet {
	jar, _ := cookiejar.New(nil)
	return &wallet{
		id: id, instance: wiatest.NewKey(), dpop: dpoptest.NewKey(),
		verifier: "verifier-" + strings.Repeat("x", 40) + id,
		browser: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}

func challengeOf(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// clientAuth sets fresh attestation + PoP headers (ABCA-07 §6.1).
func (e *env) clientAuth(h http.Header, w *wallet, attOpts []wiatest.Option, popOpts []wiatest.Option) {
	h.Set(oauth.HeaderClientAttestation, e.provider.Attestation(w.id, w.instance, attOpts...))
	po := append([]wiatest.Option{wiatest.At(e.clock.Now()), wiatest.WithIss(w.id)}, popOpts...)
	h.Set(oauth.HeaderClientAttestationPoP, wiatest.PoP(w.instance, e.issuer, po...))
}

func (e *env) dpopProof(k *dpoptest.Key, htu string, opts ...dpoptest.Option) string {
	return k.Proof(http.MethodPost, htu, append([]dpoptest.Option{dpoptest.IssuedAt(e.clock.Now())}, opts...)...)
}

// request options
type reqOpt func(r *http.Request)

func noAttestation() reqOpt {
	return func(r *http.Request) {
		r.Header.Del(oauth.HeaderClientAttestation)
		r.Header.Del(oauth.HeaderClientAttestationPoP)
	}
}
func noDPoP() reqOpt               { return func(r *http.Request) { r.Header.Del(oauth.HeaderDPoP) } }
func setHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }
func addHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Add(k, v) } }
func withMethod(m string) reqOpt   { return func(r *http.Request) { r.Method = m } }
func withContentType(ct string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Content-Type", ct) }
}

func (e *env) post(u string, form url.Values, hdr http.Header, opts ...reqOpt) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", oauth.MediaForm)
	for k, v := range hdr {
		req.Header[k] = v
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func (w *wallet) parForm(scope string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {w.id}, "redirect_uri": {redirectURI}, "scope": {scope},
		"code_challenge": {challengeOf(w.verifier)}, "code_challenge_method": {"S256"}, "state": {"state-" + w.id},
	}
}

// par sends a pushed authorization request with attestation and a DPoP
// header (unless removed by options).
func (e *env) par(w *wallet, form url.Values, opts ...reqOpt) *http.Response {
	h := http.Header{}
	e.clientAuth(h, w, nil, nil)
	h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR))
	return e.post(e.srv.Endpoints().PAR, form, h, opts...)
}

type jsonBody map[string]any

func decode(t testing.TB, resp *http.Response) jsonBody {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m jsonBody
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("status %d: body is not JSON: %q", resp.StatusCode, b)
	}
	return m
}

func (m jsonBody) str(k string) string { s, _ := m[k].(string); return s }

// expectError asserts an OAuth error response: status, code, no-store.
func expectError(t *testing.T, resp *http.Response, status int, code string) jsonBody {
	t.Helper()
	m := decode(t, resp)
	if resp.StatusCode != status || m.str("error") != code {
		t.Fatalf("got %d %v, want %d %s", resp.StatusCode, m, status, code)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("error response without Cache-Control: no-store")
	}
	return m
}

// pushed performs a successful PAR and returns the request_uri.
func (e *env) pushed(w *wallet, form url.Values) string {
	e.t.Helper()
	resp := e.par(w, form)
	m := decode(e.t, resp)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("PAR: %d %v", resp.StatusCode, m)
	}
	return m.str("request_uri")
}

var (
	flowRe = regexp.MustCompile(`name="flow" value="([^"]+)"`)
	csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	codeRe = regexp.MustCompile(`id="error-code">([^<]*)<`)
)

type page struct {
	status   int
	body     string
	location string
	flow     string
	csrf     string
}

func (e *env) browse(w *wallet, method, u string, form url.Values) page {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", oauth.MediaForm)
	}
	resp, err := w.browser.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, body: string(b), location: resp.Header.Get("Location")}
	if m := flowRe.FindStringSubmatch(p.body); m != nil {
		p.flow = html.UnescapeString(m[1])
	}
	if m := csrfRe.FindStringSubmatch(p.body); m != nil {
		p.csrf = html.UnescapeString(m[1])
	}
	return p
}

func (p page) errorCode() string {
	if m := codeRe.FindStringSubmatch(p.body); m != nil {
		return m[1]
	}
	return ""
}

func (e *env) authorizeURL(clientID, requestURI string) string {
	return e.srv.Endpoints().Authorization + "?" + url.Values{"client_id": {clientID}, "request_uri": {requestURI}}.Encode()
}

// login runs the login page and returns the consent page.
func (e *env) login(w *wallet, requestURI string) page {
	e.t.Helper()
	p := e.browse(w, http.MethodGet, e.authorizeURL(w.id, requestURI), nil)
	if p.status != http.StatusOK || p.flow == "" || p.csrf == "" {
		e.t.Fatalf("login page: %d %s", p.status, p.body)
	}
	p = e.browse(w, http.MethodPost, e.srv.Endpoints().Login, url.Values{"flow": {p.flow}, "csrf_token": {p.csrf},
		"username": {DevUsername}, "password": {DevPassword}, "action": {"login"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, e.srv.Endpoints().Consent) {
		e.t.Fatalf("login post: %d %q %s", p.status, p.location, p.body)
	}
	c := e.browse(w, http.MethodGet, p.location, nil)
	if c.status != http.StatusOK || c.csrf == "" {
		e.t.Fatalf("consent page: %d %s", c.status, c.body)
	}
	return c
}

// authorize runs login + consent approval and returns the redirect query.
func (e *env) authorize(w *wallet, requestURI string) url.Values {
	e.t.Helper()
	c := e.login(w, requestURI)
	p := e.browse(w, http.MethodPost, e.srv.Endpoints().Consent, url.Values{"flow": {c.flow}, "csrf_token": {c.csrf}, "action": {"approve"}})
	if p.status != http.StatusSeeOther {
		e.t.Fatalf("consent post: %d %s", p.status, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Query()
}

// code runs PAR + login + consent and returns the authorization code.
func (e *env) code(w *wallet, form url.Values) string {
	e.t.Helper()
	q := e.authorize(w, e.pushed(w, form))
	if q.Get("code") == "" {
		e.t.Fatalf("no code in %v", q)
	}
	return q.Get("code")
}

type tokenReq struct {
	form    url.Values
	dpopKey *dpoptest.Key
	dpopOpt []dpoptest.Option
	attOpts []wiatest.Option
	popOpts []wiatest.Option
	opts    []reqOpt
}

func (e *env) token(w *wallet, tr tokenReq) *http.Response {
	e.t.Helper()
	h := http.Header{}
	e.clientAuth(h, w, tr.attOpts, tr.popOpts)
	k := tr.dpopKey
	if k == nil {
		k = w.dpop
	}
	dopts := tr.dpopOpt
	if w.nonce != "" {
		dopts = append([]dpoptest.Option{dpoptest.Nonce(w.nonce)}, dopts...)
	}
	h.Set(oauth.HeaderDPoP, e.dpopProof(k, e.srv.Endpoints().Token, dopts...))
	resp := e.post(e.srv.Endpoints().Token, tr.form, h, tr.opts...)
	if n := resp.Header.Get(oauth.HeaderDPoPNonce); n != "" {
		w.nonce = n
	}
	return resp
}

func (w *wallet) codeForm(code string) url.Values {
	return url.Values{"grant_type": {oauth.GrantAuthorizationCode}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {w.verifier}}
}

func preAuthForm(code, tx string) url.Values {
	f := url.Values{"grant_type": {oauth.GrantPreAuthorizedCode}, "pre-authorized_code": {code}}
	if tx != "" {
		f.Set("tx_code", tx)
	}
	return f
}

func (e *env) preAuthCode(tx string) string {
	e.t.Helper()
	c, err := e.srv.IssuePreAuthorizedCode(context.Background(), PreAuthorization{OfferID: "offer-1", Subject: "holder-7",
		ConfigurationIDs: []string{testConfigID, otherConfig}, TxCode: tx, ExpiresAt: e.clock.Now().Add(5 * time.Minute)})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func mustStatus(t *testing.T, resp *http.Response, status int) jsonBody {
	t.Helper()
	m := decode(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %v", resp.StatusCode, status, m)
	}
	return m
}

func redisURL(t testing.TB) string {
	u := os.Getenv("ISSUER_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("ISSUER_TEST_REQUIRE_REDIS") == "1" {
			t.Fatal("ISSUER_TEST_REQUIRE_REDIS=1 but ISSUER_TEST_REDIS_URL is empty")
		}
		t.Skip("ISSUER_TEST_REDIS_URL not set")
	}
	return u
}
