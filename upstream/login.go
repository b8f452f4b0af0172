package upstream

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Start is one login attempt at the provider. The caller redirects the
// browser to URL and keeps State, Nonce and CodeVerifier server-side, bound
// to its own flow, until the callback; it hands them to Finish once and then
// forgets them. They are secrets: never log them or put them in a cookie
// in clear.
type Start struct {
	URL          string `cbor:"1,keyasint,omitempty" json:"url,omitempty"`
	State        string `cbor:"2,keyasint" json:"state"`
	Nonce        string `cbor:"3,keyasint" json:"nonce"`
	CodeVerifier string `cbor:"4,keyasint" json:"code_verifier"`
}

// Identity is the End-User authenticated by the provider.
type Identity struct {
	// Subject is the value of Options.SubjectClaim (default "sub").
	Subject string
	// Issuer is the provider's issuer identifier.
	Issuer string
	// Claims are all claims of the validated ID token (personal data: do not
	// log). Numbers are json.Number.
	Claims map[string]any
}

// Limits on callback parameters.
const (
	maxCodeLen  = 8192
	maxStateLen = 512
)

// Start creates a login attempt: the authorization request URL (OpenID
// Connect Core 1.0 §3.1.2.1) with response_type=code, scope openid plus the
// configured scopes, a fresh state and nonce (256 bits each), and a PKCE
// S256 challenge (RFC 7636 §4.1-4.2) of a fresh 256-bit verifier.
func (p *Provider) Start() (Start, error) {
	var s Start
	var err error
	if s.State, err = random(); err != nil {
		return Start{}, err
	}
	if s.Nonce, err = random(); err != nil {
		return Start{}, err
	}
	if s.CodeVerifier, err = random(); err != nil {
		return Start{}, err
	}
	u, err := url.Parse(p.md.AuthorizationEndpoint)
	if err != nil {
		return Start{}, checkErr(StageDiscovery, "authorization_endpoint", "not a URL")
	}
	// RFC 6749 §3.1: the endpoint's own query component is retained.
	q := u.Query()
	for k, v := range p.o.AuthParams {
		q.Set(k, v)
	}
	if p.o.MaxAge > 0 {
		q.Set("max_age", strconv.FormatInt(int64(p.o.MaxAge/time.Second), 10))
	}
	if len(p.o.ACRValues) > 0 {
		q.Set("acr_values", strings.Join(p.o.ACRValues, " "))
	}
	q.Set("response_type", "code")
	q.Set("client_id", p.o.ClientID)
	q.Set("redirect_uri", p.o.RedirectURL)
	q.Set("scope", p.scope)
	q.Set("state", s.State)
	q.Set("nonce", s.Nonce)
	q.Set("code_challenge", S256Challenge(s.CodeVerifier))
	q.Set("code_challenge_method", "S256")
	u.RawQuery = q.Encode()
	s.URL = u.String()
	return s, nil
}

// StateKey is the store key under which a caller keeps a login attempt:
// base64url(SHA-256(state)). The callback carries only the state, so the
// caller finds (and consumes) its record with StateKey(query.Get("state"))
// without putting the state itself into a key.
func StateKey(state string) string {
	h := sha256.Sum256([]byte(state))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// S256Challenge is BASE64URL(SHA256(verifier)) (RFC 7636 §4.2).
func S256Challenge(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func random() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("upstream: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Finish completes the login attempt s from the query of the callback
// request: it checks the callback (ParseCallback), exchanges the code at the
// token endpoint with the PKCE verifier, validates the ID token (Core
// §3.1.3.7) and returns the End-User. The caller must have consumed s from
// its store (one use) before calling Finish.
//
// Errors: *ProviderError (the provider's error response), *CheckError (a
// failed check, named), or an error wrapping ErrUnavailable. OAuthError
// maps any of them onto the protocol error for the caller's client.
func (p *Provider) Finish(ctx context.Context, callback url.Values, s Start) (*Identity, error) {
	code, err := p.ParseCallback(callback, s)
	if err != nil {
		return nil, err
	}
	tok, err := p.exchange(ctx, code, s.CodeVerifier)
	if err != nil {
		return nil, err
	}
	claims, err := p.verifyIDToken(ctx, tok.IDToken, s.Nonce, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	subject, err := p.subject(claims)
	if err != nil {
		return nil, err
	}
	return &Identity{Subject: subject, Issuer: p.o.Issuer, Claims: claims}, nil
}

// callbackParams may appear at most once (RFC 6749 §3.1).
var callbackParams = []string{"state", "code", "iss", "error", "error_description", "error_uri"}

// ParseCallback checks the authorization response on the callback (RFC
// 6749 §4.1.2, OpenID Connect Core 1.0 §3.1.2.5-3.1.2.6, RFC 9207 §2.4) in
// this order: no repeated parameters; iss, if present, equals the issuer
// (required when the provider advertises
// authorization_response_iss_parameter_supported); state equals s.State
// (constant time); an error response becomes *ProviderError; otherwise the
// code is returned. It makes no network call.
func (p *Provider) ParseCallback(q url.Values, s Start) (string, error) {
	if s.State == "" || s.Nonce == "" || s.CodeVerifier == "" {
		return "", checkErr(StageCallback, "login attempt", "no stored login attempt for this callback")
	}
	for _, k := range callbackParams {
		if len(q[k]) > 1 {
			return "", checkErr(StageCallback, k, "the parameter is repeated")
		}
	}
	if iss, ok := q["iss"]; ok {
		if iss[0] != p.o.Issuer {
			return "", checkErr(StageCallback, "iss", "the authorization response comes from another issuer (RFC 9207 §2.4)")
		}
	} else if p.md.AuthorizationResponseIssParameterSupported {
		return "", checkErr(StageCallback, "iss", "missing, but the provider advertises authorization_response_iss_parameter_supported (RFC 9207 §2.4)")
	}
	state := q.Get("state")
	if state == "" {
		return "", checkErr(StageCallback, "state", "missing")
	}
	if len(state) > maxStateLen || subtle.ConstantTimeCompare([]byte(state), []byte(s.State)) != 1 {
		return "", checkErr(StageCallback, "state", "does not match the login attempt")
	}
	if _, ok := q["error"]; ok {
		return "", &ProviderError{
			Endpoint:    EndpointAuthorization,
			Code:        clean(q.Get("error"), 64),
			Description: clean(q.Get("error_description"), 256),
			URI:         cleanURI(q.Get("error_uri")),
		}
	}
	code := q.Get("code")
	switch {
	case code == "":
		return "", checkErr(StageCallback, "code", "missing")
	case len(code) > maxCodeLen:
		return "", checkErr(StageCallback, "code", "longer than %d bytes", maxCodeLen)
	case !vschar(code):
		return "", checkErr(StageCallback, "code", "contains characters outside VSCHAR (RFC 6749 Appendix A.11)")
	}
	return code, nil
}

// subject extracts Options.SubjectClaim: a non-empty UTF-8 string of at
// most 1024 bytes.
func (p *Provider) subject(claims map[string]any) (string, error) {
	v, ok := claims[p.o.SubjectClaim]
	if !ok {
		return "", checkErr(StageIDToken, p.o.SubjectClaim, "the subject claim is missing")
	}
	s, ok := v.(string)
	switch {
	case !ok:
		return "", checkErr(StageIDToken, p.o.SubjectClaim, "the subject claim is not a string")
	case s == "":
		return "", checkErr(StageIDToken, p.o.SubjectClaim, "the subject claim is empty")
	case len(s) > 1024 || !utf8.ValidString(s):
		return "", checkErr(StageIDToken, p.o.SubjectClaim, "the subject claim is not a UTF-8 string of at most 1024 bytes")
	}
	return s, nil
}

// vschar: %x20-7E.
func vschar(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// clean keeps the characters RFC 6749 §4.1.2.1 allows in error and
// error_description (%x20-21 / %x23-5B / %x5D-7E) and truncates to n bytes.
func clean(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b = append(b, c)
		}
	}
	return string(b)
}

func cleanURI(s string) string {
	c := clean(s, 512)
	if u, err := url.Parse(c); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	return c
}
