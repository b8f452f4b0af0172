package oidctest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Client authentication methods the token endpoint implements.
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
	PrivateKeyJWT     = "private_key_jwt"
)

// Endpoint names for Hits.
const (
	HitDiscovery = "discovery"
	HitJWKS      = "jwks"
	HitAuthorize = "authorize"
	HitToken     = "token"
)

// Options configure the provider. Zero values take the documented defaults.
type Options struct {
	// Path is appended to the server URL to form the issuer (e.g.
	// "/realms/test"); default none.
	Path string
	// ClientID and ClientSecret of the one registered client (defaults
	// "upstream-client" and "upstream-secret").
	ClientID     string
	ClientSecret string
	// ClientKey is the client's public key for private_key_jwt (optional).
	ClientKey crypto.PublicKey
	// RedirectURIs are the registered redirect URIs (exact match); more can
	// be added with AllowRedirectURI.
	RedirectURIs []string
	// Alg signs ID tokens: "ES256" (default), "RS256" or "PS256".
	Alg string
	// AuthMethods are the advertised and accepted token endpoint
	// authentication methods (default client_secret_basic and
	// client_secret_post, plus private_key_jwt when ClientKey is set).
	AuthMethods []string
	// IssParameter advertises authorization_response_iss_parameter_supported
	// and sends iss in every authorization response (RFC 9207).
	IssParameter bool
	// Subject and Claims describe the user who is logged in (default
	// subject "upstream-user-1").
	Subject string
	Claims  map[string]any
	// Now is the clock (default time.Now).
	Now func() time.Time
	// IDTokenLifetime (default 5 min) and CodeLifetime (default 1 min).
	IDTokenLifetime time.Duration
	CodeLifetime    time.Duration
}

// Signing says how an ID token is signed (Token.Signing).
type Signing int

const (
	SignValid      Signing = iota // the current provider key, in the JWKS
	SignCorrupt                   // valid signature with one byte flipped
	SignUnknownKey                // a key that is not in the JWKS (with its own kid)
	SignNone                      // alg "none", empty signature
	SignHS256                     // HMAC-SHA256 with the client secret
)

// Token is an ID token before signing; Tamper functions edit it.
type Token struct {
	Claims  map[string]any
	Kid     string // header kid ("" with OmitKid: no kid header)
	OmitKid bool
	Signing Signing
}

type key struct {
	kid    string
	alg    jose.SignatureAlgorithm
	signer crypto.Signer
}

type codeGrant struct {
	clientID, redirectURI, challenge, nonce, scope string
	exp                                            time.Time
	used                                           bool
}

// Server is a running test provider.
type Server struct {
	srv    *httptest.Server
	issuer string
	o      Options

	mu           sync.Mutex
	keys         []key // keys[0] signs; all are published
	redirects    []string
	deny         string
	tamper       func(*Token)
	tamperTokRes func(map[string]any)
	tamperMeta   func(map[string]any)
	down         int
	delay        time.Duration
	hits         map[string]int
	codes        map[string]*codeGrant
	jtis         map[string]bool
	lastAuth     url.Values
}

// New starts a provider; it is closed when the test ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a provider outside a test (examples, tools); the caller
// closes it.
func Start(o Options) (*Server, error) {
	if o.ClientID == "" {
		o.ClientID = "upstream-client"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "upstream-secret"
	}
	if o.Alg == "" {
		o.Alg = string(jose.ES256)
	}
	if len(o.AuthMethods) == 0 {
		o.AuthMethods = []string{ClientSecretBasic, ClientSecretPost}
		if o.ClientKey != nil {
			o.AuthMethods = append(o.AuthMethods, PrivateKeyJWT)
		}
	}
	if o.Subject == "" {
		o.Subject = "upstream-user-1"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IDTokenLifetime == 0 {
		o.IDTokenLifetime = 5 * time.Minute
	}
	if o.CodeLifetime == 0 {
		o.CodeLifetime = time.Minute
	}
	s := &Server{o: o, redirects: slices.Clone(o.RedirectURIs), hits: map[string]int{},
		codes: map[string]*codeGrant{}, jtis: map[string]bool{}}
	k, err := newKey(jose.SignatureAlgorithm(o.Alg))
	if err != nil {
		return nil, err
	}
	s.keys = []key{k}

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+o.Path+"/.well-known/openid-configuration", s.wrap(HitDiscovery, s.handleDiscovery))
	mux.HandleFunc("GET "+o.Path+"/jwks", s.wrap(HitJWKS, s.handleJWKS))
	mux.HandleFunc("GET "+o.Path+"/authorize", s.wrap(HitAuthorize, s.handleAuthorize))
	mux.HandleFunc("POST "+o.Path+"/token", s.wrap(HitToken, s.handleToken))
	s.srv = httptest.NewServer(mux)
	s.issuer = s.srv.URL + o.Path
	return s, nil
}

func newKey(alg jose.SignatureAlgorithm) (key, error) {
	var signer crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256, jose.PS256:
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return key{}, fmt.Errorf("unsupported alg %q", alg)
	}
	if err != nil {
		return key{}, err
	}
	return key{kid: randomString(8), alg: alg, signer: signer}, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Issuer is the issuer identifier (server URL plus Options.Path).
func (s *Server) Issuer() string { return s.issuer }

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Client is an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// ClientID and ClientSecret of the registered client.
func (s *Server) ClientID() string     { return s.o.ClientID }
func (s *Server) ClientSecret() string { return s.o.ClientSecret }

// AllowRedirectURI registers another redirect URI.
func (s *Server) AllowRedirectURI(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirects = append(s.redirects, u)
}

// SetUser sets the user whom the next logins authenticate.
func (s *Server) SetUser(subject string, claims map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.Subject, s.o.Claims = subject, maps.Clone(claims)
}

// Deny makes authorization requests answer with error=code (e.g.
// "access_denied", "login_required"); "" resumes logins.
func (s *Server) Deny(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = code
}

// Tamper sets a function applied to every ID token before signing (nil:
// none).
func (s *Server) Tamper(f func(*Token)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = f
}

// TamperTokenResponse sets a function applied to every successful token
// response (e.g. delete "id_token").
func (s *Server) TamperTokenResponse(f func(map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamperTokRes = f
}

// TamperMetadata sets a function applied to the discovery document (e.g.
// change "issuer").
func (s *Server) TamperMetadata(f func(map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamperMeta = f
}

// RotateKey makes a new signing key current and returns its kid. With
// keepOld the previous keys stay in the JWKS.
func (s *Server) RotateKey(keepOld bool) string {
	k, err := newKey(jose.SignatureAlgorithm(s.o.Alg))
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if keepOld {
		s.keys = append([]key{k}, s.keys...)
	} else {
		s.keys = []key{k}
	}
	return k.kid
}

// SetDown makes every endpoint answer with status (e.g. 503); 0 restores
// service.
func (s *Server) SetDown(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = status
}

// SetDelay delays every response by d (or until the request is cancelled).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Hits is the number of requests an endpoint (HitDiscovery, HitJWKS,
// HitAuthorize, HitToken) received.
func (s *Server) Hits(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[endpoint]
}

// LastAuthorizationRequest returns the query of the last authorization
// request.
func (s *Server) LastAuthorizationRequest() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAuth
}

// Authorize performs the browser's part: it requests authURL without
// following the redirect and returns the callback URL the provider
// redirects to.
func (s *Server) Authorize(authURL string) (*url.URL, error) {
	c := *s.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Get(authURL)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("oidctest: authorization endpoint answered %d", res.StatusCode)
	}
	return url.Parse(res.Header.Get("Location"))
}

func (s *Server) wrap(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[name]++
		down, delay := s.down, s.delay
		s.mu.Unlock()
		if delay > 0 {
			// Consume the body first: only then does net/http notice a
			// client that gives up (and cancel r.Context()).
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if down != 0 {
			http.Error(w, "down", down)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) handleDiscovery(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md := map[string]any{
		"issuer":                                s.issuer,
		"authorization_endpoint":                s.issuer + "/authorize",
		"token_endpoint":                        s.issuer + "/token",
		"jwks_uri":                              s.issuer + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{s.o.Alg},
		"token_endpoint_auth_methods_supported": s.o.AuthMethods,
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile", "email"},
		"grant_types_supported":                 []string{"authorization_code"},
	}
	if slices.Contains(s.o.AuthMethods, PrivateKeyJWT) {
		md["token_endpoint_auth_signing_alg_values_supported"] = []string{"ES256", "RS256", "PS256"}
	}
	if s.o.IssParameter {
		md["authorization_response_iss_parameter_supported"] = true
	}
	if s.tamperMeta != nil {
		s.tamperMeta(md)
	}
	writeJSON(w, http.StatusOK, md)
}

func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, k := range s.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.signer.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_ = json.NewEncoder(w).Encode(set)
}

// redirectError sends an authorization error response (RFC 6749 §4.1.2.1).
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, code, desc string) {
	q := url.Values{"error": {code}, "error_description": {desc}}
	s.redirect(w, r, redirectURI, state, q)
}

func (s *Server) redirect(w http.ResponseWriter, r *http.Request, redirectURI, state string, q url.Values) {
	u, _ := url.Parse(redirectURI)
	rq := u.Query()
	for k, v := range q {
		rq[k] = v
	}
	if state != "" {
		rq.Set("state", state)
	}
	if s.o.IssParameter {
		rq.Set("iss", s.issuer)
	}
	u.RawQuery = rq.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// handleAuthorize checks the request (OpenID Connect Core 1.0 §3.1.2.2) and
// logs the configured user in at once.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastAuth = q
	redirectURI := q.Get("redirect_uri")
	if q.Get("client_id") != s.o.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	if !slices.Contains(s.redirects, redirectURI) {
		http.Error(w, "redirect_uri not registered", http.StatusBadRequest)
		return
	}
	state := q.Get("state")
	switch {
	case q.Get("response_type") != "code":
		s.redirectError(w, r, redirectURI, state, "unsupported_response_type", "response_type must be code")
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		s.redirectError(w, r, redirectURI, state, "invalid_scope", "scope must contain openid")
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		s.redirectError(w, r, redirectURI, state, "invalid_request", "PKCE S256 required")
	case s.deny != "":
		s.redirectError(w, r, redirectURI, state, s.deny, "the user did not log in")
	default:
		code := randomString(24)
		s.codes[code] = &codeGrant{clientID: s.o.ClientID, redirectURI: redirectURI,
			challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), scope: q.Get("scope"),
			exp: s.o.Now().Add(s.o.CodeLifetime)}
		s.redirect(w, r, redirectURI, state, url.Values{"code": {code}})
	}
}

func tokenErr(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="oidctest"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// handleToken implements the authorization_code grant (RFC 6749 §4.1.3,
// RFC 7636 §4.6).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		tokenErr(w, http.StatusBadRequest, "invalid_request", "malformed form")
		return
	}
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.authenticateClient(r); err != nil {
		tokenErr(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	if f.Get("grant_type") != "authorization_code" {
		tokenErr(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	}
	g := s.codes[f.Get("code")]
	switch {
	case g == nil:
		tokenErr(w, http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	case g.used:
		tokenErr(w, http.StatusBadRequest, "invalid_grant", "code already used")
		return
	case !s.o.Now().Before(g.exp):
		tokenErr(w, http.StatusBadRequest, "invalid_grant", "code expired")
		return
	}
	g.used = true
	v := f.Get("code_verifier")
	sum := sha256.Sum256([]byte(v))
	switch {
	case f.Get("redirect_uri") != g.redirectURI:
		tokenErr(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
		return
	case len(v) < 43 || len(v) > 128:
		tokenErr(w, http.StatusBadRequest, "invalid_grant", "code_verifier length")
		return
	case subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1:
		tokenErr(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}
	access := randomString(24)
	idt, err := s.idToken(g, access)
	if err != nil {
		tokenErr(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	res := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": idt, "scope": g.scope}
	if s.tamperTokRes != nil {
		s.tamperTokRes(res)
	}
	writeJSON(w, http.StatusOK, res)
}

// authenticateClient checks the client authentication of a token request
// with one of the advertised methods; s.mu is held.
func (s *Server) authenticateClient(r *http.Request) error {
	f := r.PostForm
	id, secret, basic := r.BasicAuth()
	methods := s.o.AuthMethods
	switch {
	case basic:
		if !slices.Contains(methods, ClientSecretBasic) {
			return fmt.Errorf("client_secret_basic not allowed")
		}
		if f.Has("client_secret") || f.Has("client_assertion") {
			return fmt.Errorf("more than one authentication method")
		}
		uid, err1 := url.QueryUnescape(id)
		usec, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || uid != s.o.ClientID || subtle.ConstantTimeCompare([]byte(usec), []byte(s.o.ClientSecret)) != 1 {
			return fmt.Errorf("wrong client credentials")
		}
		if f.Has("client_id") && f.Get("client_id") != s.o.ClientID {
			return fmt.Errorf("client_id mismatch")
		}
	case f.Has("client_assertion"):
		if !slices.Contains(methods, PrivateKeyJWT) || s.o.ClientKey == nil {
			return fmt.Errorf("private_key_jwt not allowed")
		}
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			return fmt.Errorf("wrong client_assertion_type")
		}
		return s.checkAssertion(f.Get("client_assertion"), f.Get("client_id"))
	case f.Has("client_secret"):
		if !slices.Contains(methods, ClientSecretPost) {
			return fmt.Errorf("client_secret_post not allowed")
		}
		if f.Get("client_id") != s.o.ClientID || subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(s.o.ClientSecret)) != 1 {
			return fmt.Errorf("wrong client credentials")
		}
	default:
		return fmt.Errorf("no client authentication")
	}
	return nil
}

// checkAssertion verifies a private_key_jwt client assertion (RFC 7523 §3).
func (s *Server) checkAssertion(a, clientID string) error {
	jws, err := jose.ParseSignedCompact(a, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256})
	if err != nil {
		return fmt.Errorf("client_assertion does not parse")
	}
	payload, err := jws.Verify(s.o.ClientKey)
	if err != nil {
		return fmt.Errorf("client_assertion signature invalid")
	}
	var c struct {
		Iss, Sub, Jti string
		Aud           any
		Exp           float64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return fmt.Errorf("client_assertion claims malformed")
	}
	aud, _ := c.Aud.(string)
	switch {
	case c.Iss != s.o.ClientID || c.Sub != s.o.ClientID:
		return fmt.Errorf("client_assertion iss/sub must be the client_id")
	case clientID != "" && clientID != s.o.ClientID:
		return fmt.Errorf("client_id mismatch")
	case aud != s.issuer && aud != s.issuer+"/token":
		return fmt.Errorf("client_assertion aud must be the issuer or the token endpoint")
	case float64(s.o.Now().Unix()) >= c.Exp:
		return fmt.Errorf("client_assertion expired")
	case c.Jti == "" || s.jtis[c.Jti]:
		return fmt.Errorf("client_assertion jti missing or replayed")
	}
	s.jtis[c.Jti] = true
	return nil
}

// idToken builds and signs the ID token of a grant (OpenID Connect Core 1.0
// §2); s.mu is held.
func (s *Server) idToken(g *codeGrant, accessToken string) (string, error) {
	now := s.o.Now()
	claims := map[string]any{}
	maps.Copy(claims, s.o.Claims)
	h := sha256.Sum256([]byte(accessToken))
	maps.Copy(claims, map[string]any{
		"iss": s.issuer, "sub": s.o.Subject, "aud": g.clientID,
		"iat": now.Unix(), "exp": now.Add(s.o.IDTokenLifetime).Unix(), "auth_time": now.Unix(),
		"at_hash": base64.RawURLEncoding.EncodeToString(h[:16]),
	})
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	t := &Token{Claims: claims, Kid: s.keys[0].kid, Signing: SignValid}
	if s.tamper != nil {
		s.tamper(t)
	}
	return s.sign(t)
}

func (s *Server) sign(t *Token) (string, error) {
	payload, err := json.Marshal(t.Claims)
	if err != nil {
		return "", err
	}
	k := s.keys[0]
	switch t.Signing {
	case SignNone:
		return compact(map[string]any{"alg": "none", "typ": "JWT"}, payload, nil), nil
	case SignHS256:
		hdr := map[string]any{"alg": "HS256", "typ": "JWT"}
		signingInput := compact(hdr, payload, nil)
		m := hmac.New(sha256.New, []byte(s.o.ClientSecret))
		m.Write([]byte(strings.TrimSuffix(signingInput, ".")))
		return signingInput + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
	case SignUnknownKey:
		if k, err = newKey(k.alg); err != nil {
			return "", err
		}
		if t.Kid == s.keys[0].kid {
			t.Kid = k.kid
		}
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if !t.OmitKid {
		opts = opts.WithHeader("kid", t.Kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.signer}, opts)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		return "", err
	}
	if t.Signing == SignCorrupt {
		i := strings.LastIndexByte(out, '.') + 1
		sig, _ := base64.RawURLEncoding.DecodeString(out[i:])
		sig[len(sig)/2] ^= 0x01
		out = out[:i] + base64.RawURLEncoding.EncodeToString(sig)
	}
	return out, nil
}

// compact joins header, payload and signature (nil: empty) of a JWS.
func compact(hdr map[string]any, payload, sig []byte) string {
	h, _ := json.Marshal(hdr)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload) + "." +
		base64.RawURLEncoding.EncodeToString(sig)
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
