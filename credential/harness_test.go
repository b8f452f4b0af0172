package credential

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	goredis "github.com/redis/go-redis/v9"

	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
	"github.com/mdoc-issuer/issuer/nonce"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage/memory"
	redisstore "github.com/mdoc-issuer/issuer/storage/redis"
	"github.com/mdoc-issuer/issuer/storage/storagetest"
	"github.com/mdoc-issuer/issuer/wia"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

const (
	testIssuer   = "https://issuer.example"
	testClient   = "wallet-client-1"
	testProvider = "Example Wallet Provider"
	docMDL       = "org.iso.18013.5.1.mDL"
	storageHigh  = "iso_18045_high"
	storageMod   = "iso_18045_moderate"
	testAttester = "https://wallet-provider.example"
)

// harness is one Service with fresh store, clock and keys.
type harness struct {
	t        testing.TB
	clock    *storagetest.Clock
	store    Store
	svc      *Service
	opts     Options
	cnonces  *nonce.Source
	dpop     *dpop.Verifier
	dnonces  *nonce.Source // DPoP server nonces, after requireDPoPNonces
	tokens   *fakeTokens
	ka       *wia.KeyAttestationVerifier
	attester *wiatest.KeyAttester
	signer   *fakeSigner
	claims   *switchClaims
	events   *eventLog
	encKey   *ecdsa.PrivateKey
	holder   *ecdsa.PrivateKey // DPoP key of the default token
	token    string
}

type harnessOpt func(*Options)

// backends lists the storage backends the table tests run on: memory, and
// Redis when ISSUER_TEST_REDIS_URL is set (required if
// ISSUER_TEST_REQUIRE_REDIS=1).
func backends(t *testing.T) []string {
	if os.Getenv("ISSUER_TEST_REDIS_URL") != "" {
		return []string{"memory", "redis"}
	}
	if os.Getenv("ISSUER_TEST_REQUIRE_REDIS") == "1" {
		t.Fatal("ISSUER_TEST_REQUIRE_REDIS=1 but ISSUER_TEST_REDIS_URL is not set")
	}
	return []string{"memory"}
}

// onBackend puts the service on a fresh store of the named backend; Redis
// keys get a random prefix and are deleted when the test ends.
func onBackend(t *testing.T, name string) harnessOpt {
	return func(o *Options) {
		if name != "redis" {
			return
		}
		prefix := "credtest:" + base64.RawURLEncoding.EncodeToString(randBytes(9)) + ":"
		s, err := redisstore.Open(t.Context(), os.Getenv("ISSUER_TEST_REDIS_URL"), prefix, o.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = s.Close()
			deleteRedisPrefix(t, prefix)
		})
		o.Store = s
	}
}

// deleteRedisPrefix removes the keys a test wrote (never FLUSHDB).
func deleteRedisPrefix(t *testing.T, prefix string) {
	opt, err := goredis.ParseURL(os.Getenv("ISSUER_TEST_REDIS_URL"))
	if err != nil {
		t.Error(err)
		return
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	it := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for it.Next(ctx) {
		c.Del(ctx, it.Val())
	}
	if err := it.Err(); err != nil {
		t.Error(err)
	}
}

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	// Real time (whole seconds): Redis garbage-collects by absolute expiry.
	clock := storagetest.NewClock(time.Now().Truncate(time.Second))
	h := &harness{t: t, clock: clock}
	mem := memory.New(memory.Options{Now: clock.Now, SweepInterval: -1})
	t.Cleanup(func() { _ = mem.Close() })
	h.store = mem
	var err error
	h.cnonces, err = nonce.New([][]byte{randBytes(32)}, "c_nonce", 5*time.Minute, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	h.tokens = &fakeTokens{m: map[string]*oauth.Grant{}}
	h.attester = wiatest.NewKeyAttester(testAttester)
	h.attester.Now = clock.Now
	h.attester.KeyStorage = []string{storageMod}
	h.ka, err = wia.NewKeyAttestationVerifier(wia.KeyAttestationOptions{Roots: h.attester.Roots(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.signer = &fakeSigner{}
	h.claims = &switchClaims{inner: NewDatasetClaims(map[string]map[string]map[string]map[string]any{
		"alice": {docMDL: {"org.iso.18013.5.1": {"family_name": "Doe", "given_name": "Alice", "birth_date": "1990-01-01"}}},
	}, map[string]string{"mdl": docMDL, "mdl_ka": docMDL, "mdl_deferred": docMDL, "other": docMDL})}
	h.events = &eventLog{}
	h.encKey = newKey(t)
	h.opts = Options{
		Issuer: testIssuer,
		Configurations: map[string]Configuration{
			"mdl":          {DocType: docMDL, ProofTypes: []string{ProofTypeJWT, ProofTypeAttestation}},
			"mdl_ka":       {DocType: docMDL, ProofTypes: []string{ProofTypeJWT, ProofTypeAttestation}, KeyAttestationsRequired: &KeyAttestationRequirement{KeyStorage: []string{storageHigh, storageMod}}},
			"mdl_deferred": {DocType: docMDL, ProofTypes: []string{ProofTypeJWT}, Deferred: true},
			"other":        {DocType: docMDL, ProofTypes: []string{ProofTypeJWT}},
		},
		Tokens: h.tokens, DPoP: h.dpop, CNonces: h.cnonces, KeyAttestations: h.ka,
		Signer: h.signer, Claims: h.claims, Store: h.store, BatchSize: 3,
		Events: h.events.add, Now: clock.Now,
	}
	for _, o := range opts {
		o(&h.opts)
	}
	h.store = h.opts.Store
	h.dpop, err = dpop.NewVerifier(dpop.Options{Replay: h.store, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.opts.DPoP = h.dpop
	if e := h.opts.Encryption; e != nil && len(e.Keys) == 0 {
		e.Keys = []jose.JSONWebKey{{Key: h.encKey, KeyID: "req-enc-1", Algorithm: "ECDH-ES", Use: "enc"}}
	}
	h.svc, err = New(h.opts)
	if err != nil {
		t.Fatal(err)
	}
	h.holder = newKey(t)
	h.token = h.issueToken(h.holder, &oauth.Grant{ClientID: testClient, WalletProvider: testProvider, Subject: "alice",
		CredentialConfigurationIDs: []string{"mdl", "mdl_ka", "mdl_deferred"}, RequestID: "req-1"})
	return h
}

// requireDPoPNonces rebuilds the service with a DPoP verifier that demands
// server nonces (RFC 9449 §9).
func (h *harness) requireDPoPNonces() {
	h.t.Helper()
	var err error
	h.dnonces, err = nonce.New([][]byte{randBytes(32)}, "dpop", 5*time.Minute, h.clock.Now)
	if err != nil {
		h.t.Fatal(err)
	}
	h.dpop, err = dpop.NewVerifier(dpop.Options{Replay: h.store, Nonces: h.dnonces, Now: h.clock.Now})
	if err != nil {
		h.t.Fatal(err)
	}
	h.opts.DPoP = h.dpop
	if h.svc, err = New(h.opts); err != nil {
		h.t.Fatal(err)
	}
}

func withEncryption(reqRequired, respRequired bool) harnessOpt {
	return func(o *Options) {
		o.Encryption = &EncryptionOptions{RequestRequired: reqRequired, ResponseRequired: respRequired, Deflate: true}
	}
}

// issueToken registers an access token bound to the DPoP key dk.
func (h *harness) issueToken(dk *ecdsa.PrivateKey, g *oauth.Grant) string {
	jkt, err := Thumbprint(&jose.JSONWebKey{Key: &dk.PublicKey})
	if err != nil {
		h.t.Fatal(err)
	}
	g.JKT = jkt
	tok := "at-" + base64.RawURLEncoding.EncodeToString(randBytes(24))
	h.tokens.put(tok, g)
	return tok
}

// cnonce fetches a c_nonce from the Nonce Endpoint.
func (h *harness) cnonce() string {
	h.t.Helper()
	rec := h.do(http.MethodPost, PathNonce, nil, "", nil)
	if rec.Code != 200 {
		h.t.Fatalf("nonce endpoint: %d %s", rec.Code, rec.Body)
	}
	var b struct {
		CNonce string `json:"c_nonce"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.CNonce == "" {
		h.t.Fatalf("nonce body %s", rec.Body)
	}
	return b.CNonce
}

// req is a request to a protected endpoint.
type req struct {
	path        string
	token       string // "" = h.token
	dpopKey     *ecdsa.PrivateKey
	scheme      string // default DPoP
	noAuth      bool
	noDPoP      bool
	dpopNonce   string
	dpopOpts    []dpoptest.Option
	contentType string
	body        []byte
	query       string
}

func (h *harness) send(r req) *httptest.ResponseRecorder {
	h.t.Helper()
	if r.token == "" {
		r.token = h.token
	}
	if r.dpopKey == nil {
		r.dpopKey = h.holder
	}
	if r.scheme == "" {
		r.scheme = "DPoP"
	}
	if r.contentType == "" {
		r.contentType = "application/json"
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", r.contentType)
	if !r.noAuth {
		hdr.Set("Authorization", r.scheme+" "+r.token)
	}
	if !r.noDPoP {
		hdr.Set("DPoP", h.dpopProof(r))
	}
	return h.do(http.MethodPost, r.path+r.query, hdr, "", r.body)
}

func dpopKey(k *ecdsa.PrivateKey) *dpoptest.Key {
	j := jose.JSONWebKey{Key: &k.PublicKey, Algorithm: "ES256", Use: "sig"}
	jkt, _ := Thumbprint(&j)
	return &dpoptest.Key{Private: k, JWK: j, JKT: jkt}
}

// dpopProof is a valid DPoP proof for r, changed by r.dpopOpts.
func (h *harness) dpopProof(r req) string {
	opts := []dpoptest.Option{dpoptest.IssuedAt(h.clock.Now()), dpoptest.AccessToken(r.token)}
	if r.dpopNonce != "" {
		opts = append(opts, dpoptest.Nonce(r.dpopNonce))
	}
	return dpoptest.Proof(dpopKey(r.dpopKey), http.MethodPost, h.svc.Endpoint(r.path), append(opts, r.dpopOpts...)...)
}

func (h *harness) do(method, path string, hdr http.Header, _ string, body []byte) *httptest.ResponseRecorder {
	rq := httptest.NewRequest(method, "https://issuer.example"+path, bytes.NewReader(body))
	for k, v := range hdr {
		rq.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.svc.Handler().ServeHTTP(rec, rq)
	return rec
}

func (h *harness) credential(body any) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.send(req{path: PathCredential, body: mustJSON(h.t, body)})
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantError(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	var b oauth.Body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body not JSON: %q", rec.Body)
	}
	if b.Error != code {
		t.Fatalf("error %q (%s), want %q", b.Error, b.ErrorDescription, code)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("error without Cache-Control: no-store")
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error content type %q", ct)
	}
}

// ---- keys and JWS ----

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func pubJWK(k *ecdsa.PrivateKey) map[string]any {
	b, _ := json.Marshal(jose.JSONWebKey{Key: &k.PublicKey})
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func jktOf(t testing.TB, k *ecdsa.PublicKey) string {
	s, err := Thumbprint(&jose.JSONWebKey{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signJWS builds a compact ES256 JWS with exactly the given header and claims.
func signJWS(k *ecdsa.PrivateKey, header, claims map[string]any) string {
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// proofOpts adjusts a jwt key proof.
type proofOpts struct {
	header map[string]any // merged over the default header; nil values delete
	claims map[string]any // merged over the default claims; nil values delete
	signer *ecdsa.PrivateKey
}

func (h *harness) proof(k *ecdsa.PrivateKey, cn string, o proofOpts) string {
	hdr := map[string]any{"typ": oauth.TypKeyProof, "alg": "ES256", "jwk": pubJWK(k)}
	cl := map[string]any{"aud": testIssuer, "iat": h.clock.Now().Unix(), "nonce": cn, "iss": testClient}
	for kk, v := range o.header {
		if v == nil {
			delete(hdr, kk)
		} else {
			hdr[kk] = v
		}
	}
	for kk, v := range o.claims {
		if v == nil {
			delete(cl, kk)
		} else {
			cl[kk] = v
		}
	}
	signer := k
	if o.signer != nil {
		signer = o.signer
	}
	return signJWS(signer, hdr, cl)
}

// ---- fakes ----

type fakeTokens struct {
	mu sync.Mutex
	m  map[string]*oauth.Grant
}

func (f *fakeTokens) put(tok string, g *oauth.Grant) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[tok] = g
}

func (f *fakeTokens) ValidateAccessToken(_ context.Context, tok string) (*oauth.Grant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.m[tok]
	if !ok {
		return nil, oauth.InvalidToken("unknown access token")
	}
	c := *g
	return &c, nil
}

// fakeSigner returns a JSON stand-in for an IssuerSigned: the doctype, the
// claims, the device key thumbprint and a fresh salt.
type fakeSigner struct{ fail error }

func (f *fakeSigner) Sign(ctx context.Context, _, docType string, claims map[string]map[string]any, keys []*jose.JSONWebKey) ([]Signed, error) {
	var out []Signed
	for _, k := range keys {
		s, err := f.signOne(ctx, docType, claims, k)
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	return out, nil
}

type fakeCredential struct {
	DocType string                    `json:"docType"`
	Claims  map[string]map[string]any `json:"claims"`
	JKT     string                    `json:"jkt"`
	Salt    string                    `json:"salt"`
}

func (f *fakeSigner) signOne(_ context.Context, docType string, claims map[string]map[string]any, k *jose.JSONWebKey) (*Signed, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	jkt, err := Thumbprint(k)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(fakeCredential{DocType: docType, Claims: claims, JKT: jkt, Salt: base64.RawURLEncoding.EncodeToString(randBytes(16))})
	return &Signed{Credential: b, DSSerial: "0a1b", ValidUntil: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)}, nil
}

type switchClaims struct {
	inner ClaimsSource
	fail  error
}

func (s *switchClaims) Claims(ctx context.Context, g *oauth.Grant, id string) (map[string]map[string]any, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	return s.inner.Claims(ctx, g, id)
}

type eventLog struct {
	mu sync.Mutex
	ev []Event
}

func (l *eventLog) add(_ context.Context, e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, e)
}

func (l *eventLog) byType(t string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.ev {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

// keyAttestation mints a key attestation over keys with the test attester;
// claims set (nil: remove) claims, opts break it further.
func (h *harness) keyAttestation(keys []*ecdsa.PrivateKey, cn string, claims map[string]any, opts ...wiatest.Option) string {
	pubs := make([]*ecdsa.PublicKey, len(keys))
	for i, k := range keys {
		pubs[i] = &k.PublicKey
	}
	var o []wiatest.Option
	if cn != "" {
		o = append(o, wiatest.WithNonce(cn))
	}
	for k, v := range claims {
		if v == nil {
			o = append(o, wiatest.WithoutClaim(k))
		} else {
			o = append(o, wiatest.WithClaim(k, v))
		}
	}
	return h.attester.KeyAttestation(pubs, append(o, opts...)...)
}

var errOutage = errors.New("claims backend down")
