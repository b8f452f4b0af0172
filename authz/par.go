package authz

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/mdoc-issuer/issuer/oauth"
)

const (
	maxFormBytes      = 64 << 10
	maxStateLen       = 2048
	maxIssuerStateLen = 1024
)

var (
	// S256 challenges are base64url SHA-256 digests (RFC 7636 §4.2).
	s256Challenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	// RFC 7638 SHA-256 thumbprints, base64url (RFC 9449 §10).
	jktPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	oauth.WriteError(w, oauth.New(http.StatusMethodNotAllowed, oauth.CodeInvalidRequest, "HTTP method not allowed, use %s", allow))
}

// parseBodyForm reads an application/x-www-form-urlencoded body (at most
// maxFormBytes) into r.PostForm and makes r.Form equal to it, so parameters
// in the URL query are never used. A parameter given twice is rejected (RFC
// 6749 §3.1).
func parseBodyForm(w http.ResponseWriter, r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != oauth.MediaForm {
		return oauth.InvalidRequest("the request body must be %s", oauth.MediaForm)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return oauth.New(http.StatusRequestEntityTooLarge, oauth.CodeInvalidRequest, "request body exceeds %d bytes", maxFormBytes)
		}
		return oauth.InvalidRequest("the request body is not a valid form")
	}
	r.Form = url.Values{}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return oauth.InvalidRequest("parameter %s is given more than once", sanitizeName(k))
		}
		r.Form[k] = v
	}
	return nil
}

// sanitizeName bounds a client-supplied parameter name for descriptions.
func sanitizeName(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// handlePAR is the pushed authorization request endpoint (RFC 9126 §2).
func (s *Server) handlePAR(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, http.MethodPost)
		return
	}
	if err := parseBodyForm(w, r); err != nil {
		oauth.WriteError(w, err)
		return
	}
	ctx, _ := withClientSlot(r.Context())
	uri, expiresIn, err := s.pushAuthorization(ctx, r)
	if err != nil {
		oauth.WriteError(w, toOAuthError(err))
		return
	}
	s.setDPoPNonce(w, r)
	s.setAttestationChallenge(w)
	oauth.WriteJSON(w, http.StatusCreated, map[string]any{"request_uri": uri, "expires_in": expiresIn}, true)
}

func (s *Server) pushAuthorization(ctx context.Context, r *http.Request) (string, int, error) {
	// A DPoP proof is checked first, as at the token endpoint, so that a
	// use_dpop_nonce round trip consumes no attestation PoP (RFC 9449 §8).
	var proof *DPoPProof
	if proofs := r.Header.Values(oauth.HeaderDPoP); len(proofs) > 0 {
		p, err := s.o.DPoP.Verify(ctx, DPoPRequest{Method: http.MethodPost, URL: s.endpoints.PAR, DPoP: proofs})
		if err != nil {
			return "", 0, err
		}
		proof = p
	}
	// PAR §2: authenticate the client exactly as at the token endpoint
	// (HAIP §4.3); fosite's strategy returns this memoised result.
	c, err := s.authenticateClient(ctx, r, r.PostForm)
	if err != nil {
		return "", 0, err
	}
	sess, err := s.validatePAR(r, c.(*client), proof)
	if err != nil {
		return "", 0, err
	}
	ar, err := s.provider.NewPushedAuthorizeRequest(ctx, r)
	if err != nil {
		return "", 0, err
	}
	resp, err := s.provider.NewPushedAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		return "", 0, err
	}
	return resp.GetRequestURI(), resp.GetExpiresIn(), nil
}

// validatePAR applies this profile's rules to a pushed authorization request
// (RFC 9126 §2.1: validated like an authorization request) and returns the
// session to store with it. It normalises r.Form["scope"] to the known
// credential scopes (unknown scope values are ignored, OpenID4VCI §5.1.2).
func (s *Server) validatePAR(r *http.Request, c *client, proof *DPoPProof) (*Session, error) {
	f := r.Form
	if f.Get("request_uri") != "" {
		return nil, oauth.InvalidRequest("request_uri must not be sent to the PAR endpoint (RFC 9126 §2.1)")
	}
	if f.Get("request") != "" {
		return nil, oauth.InvalidRequest("request objects are not supported; send the parameters in the form")
	}
	switch rt := f.Get("response_type"); rt {
	case "code":
	case "":
		return nil, oauth.InvalidRequest("response_type is required")
	default:
		return nil, oauth.New(http.StatusBadRequest, oauth.CodeUnsupportedResponseType, "only response_type=code is supported")
	}
	if rm := f.Get("response_mode"); rm != "" && rm != "query" {
		return nil, oauth.InvalidRequest("only response_mode=query is supported")
	}
	redirect := f.Get("redirect_uri")
	if redirect == "" {
		return nil, oauth.InvalidRequest("redirect_uri is required (FAPI 2.0)")
	}
	// Absolute, no fragment (RFC 6749 §3.1.2); private-use schemes of
	// native wallets (RFC 8252 §7.1) are allowed if the provider lists them.
	if u, err := url.Parse(redirect); err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(redirect, "#") {
		return nil, oauth.InvalidRequest("redirect_uri must be an absolute URI without fragment")
	}
	if !slices.Contains(c.redirectURIs, redirect) {
		return nil, oauth.InvalidRequest("redirect_uri is not registered for this wallet provider (exact match required)")
	}
	// PKCE (RFC 7636), S256 only (FAPI 2.0, HAIP §4).
	challenge, method := f.Get("code_challenge"), f.Get("code_challenge_method")
	if challenge == "" {
		return nil, oauth.InvalidRequest("code_challenge is required (PKCE)")
	}
	if method != "S256" {
		return nil, oauth.InvalidRequest("code_challenge_method must be S256")
	}
	if !s256Challenge.MatchString(challenge) {
		return nil, oauth.InvalidRequest("code_challenge is not a base64url SHA-256 value")
	}
	// state is optional (FAPI 2.0 relies on PKCE); fosite needs a non-empty
	// one, so an absent state is replaced internally and flagged.
	noState := f.Get("state") == ""
	if noState {
		f.Set("state", "-")
	}
	if len(f.Get("state")) > maxStateLen {
		return nil, oauth.InvalidRequest("state exceeds %d characters", maxStateLen)
	}
	issuerState := f.Get("issuer_state")
	if len(issuerState) > maxIssuerStateLen {
		return nil, oauth.InvalidRequest("issuer_state exceeds %d characters", maxIssuerStateLen)
	}

	// Scope values map to credential configurations; unknown ones are
	// ignored (OpenID4VCI §5.1.2).
	var ids, known []string
	for _, sc := range strings.Fields(f.Get("scope")) {
		if cc, ok := s.byScope[sc]; ok && !slices.Contains(known, sc) {
			known = append(known, sc)
			ids = append(ids, cc.ID)
		}
	}
	if len(known) > 0 {
		f.Set("scope", strings.Join(known, " "))
	} else {
		f.Del("scope")
	}
	sess := &Session{ClientKeyJKT: c.keyJKT, Provider: c.provider, IssuerState: issuerState, NoState: noState}
	if raw, ok := f["authorization_details"]; ok {
		detailIDs, err := s.parseAuthorizationDetails(raw[0], func(id string) bool { _, ok := s.byID[id]; return ok })
		if err != nil {
			return nil, err
		}
		if sess.CredentialIdentifiers, err = newCredentialIdentifiers(detailIDs); err != nil {
			return nil, err
		}
		sess.AuthorizationDetails = true
		for _, id := range detailIDs {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil, oauth.InvalidScope("no known credential scope or authorization_details requested")
	}
	sess.ConfigurationIDs = ids

	// DPoP binding of the authorization code (RFC 9449 §10, §10.1).
	jkt := f.Get("dpop_jkt")
	if jkt != "" && !jktPattern.MatchString(jkt) {
		return nil, oauth.InvalidRequest("dpop_jkt is not a base64url SHA-256 JWK thumbprint")
	}
	if proof != nil {
		if jkt != "" && jkt != proof.JKT {
			return nil, oauth.InvalidRequest("dpop_jkt does not match the key of the DPoP proof (RFC 9449 §10.1)")
		}
		jkt = proof.JKT
	}
	sess.JKT = jkt
	if f.Get("client_id") == "" {
		f.Set("client_id", c.id)
	}
	return sess, nil
}

// setDPoPNonce adds a fresh DPoP-Nonce to a successful response when the
// request carried a DPoP proof and the verifier issues nonces (RFC 9449 §8.2).
func (s *Server) setDPoPNonce(w http.ResponseWriter, r *http.Request) {
	if len(r.Header.Values(oauth.HeaderDPoP)) == 0 {
		return
	}
	if n, err := s.o.DPoP.Nonce(); err == nil && n != "" {
		w.Header().Set(oauth.HeaderDPoPNonce, n)
	}
}

// setAttestationChallenge hands a fresh attestation challenge to the client
// on successful responses when challenges are in use (ABCA-07 §8.1), so the
// next request needs no call to the challenge endpoint.
func (s *Server) setAttestationChallenge(w http.ResponseWriter) {
	if !s.o.ChallengeEndpoint {
		return
	}
	if c, err := s.o.Attestation.Challenge(); err == nil && c != "" {
		w.Header().Set(oauth.HeaderAttestationChallenge, c)
	}
}
