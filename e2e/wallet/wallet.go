package wallet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Config configures a simulated wallet instance.
type Config struct {
	// Issuer is the credential issuer identifier.
	Issuer string
	// HTTP is the client used for every request; it must not follow
	// redirects (the wallet reads the authorization response Location). If
	// nil, a client with a 30 s timeout is used.
	HTTP *http.Client
	// Attester issues the wallet attestation for this instance.
	Attester Attester
	// KeyAttester, if set, attests the credential keys.
	KeyAttester KeyAttester
	// ClientID is the attestation sub: the same for all instances of a
	// wallet solution (HAIP §4.4.1).
	ClientID string
	// RedirectURI receives the authorization response.
	RedirectURI string
	// Username and Password log in at the authorization endpoint's form.
	Username, Password string
	Now                func() time.Time
	// Intercept, if set, sees every outgoing request just before it is
	// sent and may change it: tests use it to capture and replay headers
	// (DPoP proofs, attestation PoPs) or to break a request on purpose.
	Intercept func(step string, r *http.Request)
}

// Exchange is one recorded HTTP round trip, secrets redacted.
type Exchange struct {
	Step     string
	Method   string
	URL      string
	Request  string
	Status   int
	Response string
}

// Error is a failed step: the exchange and what went wrong.
type Error struct {
	Step     string
	Problem  string
	Exchange *Exchange
}

func (e *Error) Error() string {
	if e.Exchange != nil && e.Exchange.Status != 0 {
		return fmt.Sprintf("%s: %s (HTTP %d: %s)", e.Step, e.Problem, e.Exchange.Status, truncate(e.Exchange.Response, 300))
	}
	return e.Step + ": " + e.Problem
}

// ProtocolError is an OAuth-style error response.
type ProtocolError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
	Header      http.Header
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Description)
}

// Wallet is one simulated wallet instance. Its methods are safe for use by one
// goroutine at a time.
type Wallet struct {
	cfg         Config
	http        *http.Client
	instanceKey *ecdsa.PrivateKey // cnf key of the wallet attestation
	dpopKey     *ecdsa.PrivateKey
	attestation string

	IssuerMetadata map[string]any
	ASMetadata     map[string]any

	mu        sync.Mutex
	nonces    map[string]string // DPoP-Nonce per origin
	exchanges []Exchange
}

// New returns a wallet instance with fresh instance and DPoP keys.
func New(cfg Config) (*Wallet, error) {
	if cfg.Issuer == "" || cfg.Attester == nil || cfg.ClientID == "" {
		return nil, errors.New("wallet: Issuer, Attester and ClientID are required")
	}
	c := cfg.HTTP
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w := &Wallet{cfg: cfg, http: &cc, instanceKey: NewKey(), dpopKey: NewKey(), nonces: map[string]string{}}
	att, err := cfg.Attester.Attestation(cfg.ClientID, &w.instanceKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("wallet: attestation: %w", err)
	}
	w.attestation = att
	return w, nil
}

// DPoPKey returns the key the wallet's access tokens are bound to.
func (w *Wallet) DPoPKey() *ecdsa.PrivateKey { return w.dpopKey }

// SetDPoPKey replaces the key DPoP proofs are signed with from the next
// request on (tests of token binding: a token bound to the old key must then
// be refused).
func (w *Wallet) SetDPoPKey(k *ecdsa.PrivateKey) { w.dpopKey = k }

// Exchanges returns the recorded HTTP exchanges.
func (w *Wallet) Exchanges() []Exchange {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Exchange(nil), w.exchanges...)
}

func (w *Wallet) now() time.Time {
	if w.cfg.Now != nil {
		return w.cfg.Now()
	}
	return time.Now()
}

// request is one HTTP request the wallet sends.
type request struct {
	step   string
	method string
	url    string
	header http.Header
	body   []byte
}

// response is what came back.
type response struct {
	status int
	header http.Header
	body   []byte
	ex     *Exchange
}

func (r *response) json(v any) error { return json.Unmarshal(r.body, v) }

// protocolError decodes an error response, or nil if the status is 2xx/3xx.
func (r *response) protocolError() *ProtocolError {
	if r.status < 400 {
		return nil
	}
	pe := &ProtocolError{Status: r.status, Header: r.header}
	_ = json.Unmarshal(r.body, pe)
	return pe
}

func (w *Wallet) do(ctx context.Context, q request) (*response, error) {
	var body io.Reader
	if q.body != nil {
		body = bytes.NewReader(q.body)
	}
	req, err := http.NewRequestWithContext(ctx, q.method, q.url, body)
	if err != nil {
		return nil, &Error{Step: q.step, Problem: err.Error()}
	}
	for k, vs := range q.header {
		req.Header[k] = vs
	}
	if w.cfg.Intercept != nil {
		w.cfg.Intercept(q.step, req)
	}
	ex := Exchange{Step: q.step, Method: q.method, URL: redactURL(q.url), Request: redact(string(q.body))}
	res, err := w.http.Do(req)
	if err != nil {
		w.record(ex)
		return nil, &Error{Step: q.step, Problem: err.Error(), Exchange: &ex}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return nil, &Error{Step: q.step, Problem: "reading response: " + err.Error(), Exchange: &ex}
	}
	ex.Status = res.StatusCode
	ex.Response = redact(string(b))
	if n := res.Header.Get("DPoP-Nonce"); n != "" {
		w.mu.Lock()
		w.nonces[origin(q.url)] = n
		w.mu.Unlock()
	}
	w.record(ex)
	return &response{status: res.StatusCode, header: res.Header, body: b, ex: &ex}, nil
}

func (w *Wallet) record(ex Exchange) {
	w.mu.Lock()
	w.exchanges = append(w.exchanges, ex)
	w.mu.Unlock()
}

func (w *Wallet) dpopNonce(u string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nonces[origin(u)]
}

// withDPoP sends q with a fresh DPoP proof, retrying once with the server's
// nonce on use_dpop_nonce (RFC 9449 §8, §9).
func (w *Wallet) withDPoP(ctx context.Context, q request, accessToken string) (*response, error) {
	for attempt := 0; ; attempt++ {
		proof, err := DPoPProof(w.dpopKey, q.method, q.url, accessToken, w.dpopNonce(q.url), w.now())
		if err != nil {
			return nil, &Error{Step: q.step, Problem: "DPoP proof: " + err.Error()}
		}
		q.header = q.header.Clone()
		if q.header == nil {
			q.header = http.Header{}
		}
		q.header.Set("DPoP", proof)
		res, err := w.do(ctx, q)
		if err != nil {
			return nil, err
		}
		if pe := res.protocolError(); pe != nil && attempt == 0 && isNonceChallenge(res) {
			continue
		}
		return res, nil
	}
}

func isNonceChallenge(r *response) bool {
	if r.header.Get("DPoP-Nonce") == "" {
		return false
	}
	if pe := r.protocolError(); pe != nil && pe.Code == "use_dpop_nonce" {
		return true
	}
	return strings.Contains(r.header.Get("WWW-Authenticate"), "use_dpop_nonce")
}

// clientAuth adds the ABCA headers (attestation + fresh PoP).
func (w *Wallet) clientAuth(ctx context.Context, h http.Header) error {
	challenge, err := w.attestationChallenge(ctx)
	if err != nil {
		return err
	}
	aud, _ := w.ASMetadata["issuer"].(string)
	pop, err := attestationPoP(w.instanceKey, w.cfg.ClientID, aud, challenge, w.now())
	if err != nil {
		return err
	}
	h.Set("OAuth-Client-Attestation", w.attestation)
	h.Set("OAuth-Client-Attestation-PoP", pop)
	return nil
}

// attestationChallenge fetches a fresh challenge when the authorization
// server advertises a challenge endpoint (ABCA -07 §8: clients then use it).
func (w *Wallet) attestationChallenge(ctx context.Context) (string, error) {
	ep, _ := w.ASMetadata["challenge_endpoint"].(string)
	if ep == "" {
		return "", nil
	}
	res, err := w.do(ctx, request{step: "attestation challenge", method: http.MethodPost, url: ep})
	if err != nil {
		return "", err
	}
	var body struct {
		Challenge string `json:"attestation_challenge"`
	}
	if res.status != 200 || res.json(&body) != nil || body.Challenge == "" {
		return "", &Error{Step: "attestation challenge", Problem: "expected 200 with attestation_challenge (ABCA -07 §8)", Exchange: res.ex}
	}
	return body.Challenge, nil
}

// Discover fetches the credential issuer metadata and the authorization
// server metadata (OpenID4VCI §12.2.2, RFC 8414 §3).
func (w *Wallet) Discover(ctx context.Context) error {
	u, err := wellKnown(w.cfg.Issuer, "openid-credential-issuer")
	if err != nil {
		return &Error{Step: "issuer metadata", Problem: err.Error()}
	}
	res, err := w.do(ctx, request{step: "issuer metadata", method: http.MethodGet, url: u,
		header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return err
	}
	if res.status != 200 {
		return &Error{Step: "issuer metadata", Problem: "expected 200", Exchange: res.ex}
	}
	if err := res.json(&w.IssuerMetadata); err != nil {
		return &Error{Step: "issuer metadata", Problem: "not JSON: " + err.Error(), Exchange: res.ex}
	}
	if got, _ := w.IssuerMetadata["credential_issuer"].(string); got != w.cfg.Issuer {
		return &Error{Step: "issuer metadata", Exchange: res.ex,
			Problem: fmt.Sprintf("credential_issuer is %q, want the issuer identifier %q (OpenID4VCI §12.2.3)", got, w.cfg.Issuer)}
	}
	as := w.cfg.Issuer
	if list, ok := w.IssuerMetadata["authorization_servers"].([]any); ok && len(list) > 0 {
		as, _ = list[0].(string)
	}
	u, err = wellKnown(as, "oauth-authorization-server")
	if err != nil {
		return &Error{Step: "authorization server metadata", Problem: err.Error()}
	}
	res, err = w.do(ctx, request{step: "authorization server metadata", method: http.MethodGet, url: u})
	if err != nil {
		return err
	}
	if res.status != 200 {
		return &Error{Step: "authorization server metadata", Problem: "expected 200", Exchange: res.ex}
	}
	if err := res.json(&w.ASMetadata); err != nil {
		return &Error{Step: "authorization server metadata", Problem: "not JSON", Exchange: res.ex}
	}
	if got, _ := w.ASMetadata["issuer"].(string); got != as {
		return &Error{Step: "authorization server metadata", Exchange: res.ex,
			Problem: fmt.Sprintf("issuer is %q, want %q (RFC 8414 §3.3)", got, as)}
	}
	return nil
}

func (w *Wallet) endpoint(meta map[string]any, name, step string) (string, error) {
	s, _ := meta[name].(string)
	if s == "" {
		return "", &Error{Step: step, Problem: "metadata has no " + name}
	}
	return s, nil
}

// wellKnown inserts /.well-known/<suffix> between host and path (RFC 8414 §3.1,
// OpenID4VCI §12.2.2).
func wellKnown(id, suffix string) (string, error) {
	u, err := url.Parse(id)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("bad identifier %q", id)
	}
	p := strings.TrimSuffix(u.Path, "/")
	u.Path = "/.well-known/" + suffix + p
	return u.String(), nil
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

func isJSON(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "application/json"
}

var secretParams = regexp.MustCompile(`("?(?:access_token|refresh_token|code|pre-authorized_code|tx_code|c_nonce|code_verifier|password|credential|request_uri|transaction_id|notification_id|attestation_challenge)"?\s*[:=]\s*"?)([^"&,}\s]+)`)

// redact hides token, code, nonce, password and credential values.
func redact(s string) string { return secretParams.ReplaceAllString(s, "${1}[redacted]") }

func redactURL(s string) string { return redact(s) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
