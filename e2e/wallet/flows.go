package wallet

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Offer is a credential offer (OpenID4VCI §4.1.1).
type Offer struct {
	CredentialIssuer           string                     `json:"credential_issuer"`
	CredentialConfigurationIDs []string                   `json:"credential_configuration_ids"`
	Grants                     map[string]json.RawMessage `json:"grants"`
}

// PreAuthorizedCode returns the pre-authorized code grant of the offer.
func (o *Offer) PreAuthorizedCode() (code string, txCode *TxCode, ok bool) {
	raw, ok := o.Grants["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
	if !ok {
		return "", nil, false
	}
	var g struct {
		Code   string  `json:"pre-authorized_code"`
		TxCode *TxCode `json:"tx_code"`
	}
	if json.Unmarshal(raw, &g) != nil {
		return "", nil, false
	}
	return g.Code, g.TxCode, g.Code != ""
}

// IssuerState returns the authorization code grant's issuer_state.
func (o *Offer) IssuerState() string {
	var g struct {
		IssuerState string `json:"issuer_state"`
	}
	_ = json.Unmarshal(o.Grants["authorization_code"], &g)
	return g.IssuerState
}

// TxCode describes the transaction code an offer requires.
type TxCode struct {
	InputMode   string `json:"input_mode"`
	Length      int    `json:"length"`
	Description string `json:"description"`
}

// ResolveOffer reads an offer URI (openid-credential-offer://, haip-vci:// or
// https with one of credential_offer / credential_offer_uri, OpenID4VCI §4.1)
// and fetches the offer when it is passed by reference.
func (w *Wallet) ResolveOffer(ctx context.Context, offerURI string) (*Offer, error) {
	const step = "credential offer"
	u, err := url.Parse(offerURI)
	if err != nil {
		return nil, &Error{Step: step, Problem: "bad offer URI: " + err.Error()}
	}
	q := u.Query()
	byValue, byRef := q.Get("credential_offer"), q.Get("credential_offer_uri")
	if (byValue == "") == (byRef == "") {
		return nil, &Error{Step: step, Problem: "offer URI must carry exactly one of credential_offer, credential_offer_uri"}
	}
	var o Offer
	if byValue != "" {
		if err := json.Unmarshal([]byte(byValue), &o); err != nil {
			return nil, &Error{Step: step, Problem: "credential_offer is not JSON: " + err.Error()}
		}
	} else {
		res, err := w.do(ctx, request{step: step, method: http.MethodGet, url: byRef,
			header: http.Header{"Accept": {"application/json"}}})
		if err != nil {
			return nil, err
		}
		if res.status != 200 || !isJSON(res.header) {
			return nil, &Error{Step: step, Problem: "expected 200 application/json (OpenID4VCI §4.1.3)", Exchange: res.ex}
		}
		if err := res.json(&o); err != nil {
			return nil, &Error{Step: step, Problem: "offer is not JSON", Exchange: res.ex}
		}
		if cc := res.header.Get("Cache-Control"); cc != "no-store" {
			return nil, &Error{Step: step, Problem: fmt.Sprintf("Cache-Control is %q, want no-store", cc), Exchange: res.ex}
		}
	}
	if o.CredentialIssuer != w.cfg.Issuer {
		return nil, &Error{Step: step, Problem: fmt.Sprintf("offer is for issuer %q, wallet talks to %q", o.CredentialIssuer, w.cfg.Issuer)}
	}
	if len(o.CredentialConfigurationIDs) == 0 {
		return nil, &Error{Step: step, Problem: "credential_configuration_ids is empty"}
	}
	return &o, nil
}

// Token is a token response (RFC 6749 §5.1, OpenID4VCI §6.2).
type Token struct {
	AccessToken          string                `json:"access_token"`
	TokenType            string                `json:"token_type"`
	ExpiresIn            int                   `json:"expires_in"`
	RefreshToken         string                `json:"refresh_token"`
	AuthorizationDetails []AuthorizationDetail `json:"authorization_details"`
}

// AuthorizationDetail is an openid_credential authorization detail (RFC 9396,
// OpenID4VCI §5.1.1).
type AuthorizationDetail struct {
	Type                      string   `json:"type"`
	CredentialConfigurationID string   `json:"credential_configuration_id"`
	CredentialIdentifiers     []string `json:"credential_identifiers,omitempty"`
}

// AuthorizeOptions selects what an authorization code flow asks for.
type AuthorizeOptions struct {
	// Scope requests configurations by scope (HAIP §4.3).
	Scope string
	// ConfigurationIDs request configurations with authorization_details.
	ConfigurationIDs []string
	IssuerState      string
	// Cancel presses Cancel at the login page; the flow then ends in
	// access_denied.
	Cancel bool
}

// AuthorizationCode runs PAR -> authorization (login form and consent) ->
// token with PKCE, DPoP and client attestation.
func (w *Wallet) AuthorizationCode(ctx context.Context, o AuthorizeOptions) (*Token, error) {
	a, err := w.Authorize(ctx, o)
	if err != nil {
		return nil, err
	}
	return w.RedeemCode(ctx, a)
}

// Authorization is the outcome of the front-channel part of the
// authorization code flow: the code and what redeeming it needs.
type Authorization struct {
	Code         string
	CodeVerifier string
	RedirectURI  string
}

// Authorize runs PAR and the authorization endpoint (login form, consent)
// and returns the authorization code without redeeming it (RFC 9126, RFC
// 7636, RFC 9449 §10 dpop_jkt).
func (w *Wallet) Authorize(ctx context.Context, o AuthorizeOptions) (*Authorization, error) {
	verifier, challenge := pkce()
	state := randomString(16)
	form := url.Values{
		"response_type":         {"code"},
		"client_id":             {w.cfg.ClientID},
		"redirect_uri":          {w.cfg.RedirectURI},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"state":                 {state},
		"dpop_jkt":              {Thumbprint(&w.dpopKey.PublicKey)},
	}
	if o.Scope != "" {
		form.Set("scope", o.Scope)
	}
	if len(o.ConfigurationIDs) > 0 {
		ad := make([]AuthorizationDetail, len(o.ConfigurationIDs))
		for i, id := range o.ConfigurationIDs {
			ad[i] = AuthorizationDetail{Type: "openid_credential", CredentialConfigurationID: id}
		}
		b, _ := json.Marshal(ad)
		form.Set("authorization_details", string(b))
	}
	if o.IssuerState != "" {
		form.Set("issuer_state", o.IssuerState)
	}
	requestURI, err := w.PAR(ctx, form)
	if err != nil {
		return nil, err
	}
	code, err := w.authorize(ctx, requestURI, state, o.Cancel)
	if err != nil {
		return nil, err
	}
	return &Authorization{Code: code, CodeVerifier: verifier, RedirectURI: w.cfg.RedirectURI}, nil
}

// RedeemCode exchanges an authorization code at the token endpoint (RFC 6749
// §4.1.3) with PKCE, DPoP and client attestation.
func (w *Wallet) RedeemCode(ctx context.Context, a *Authorization) (*Token, error) {
	return w.token(ctx, "token (authorization code)", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {a.Code},
		"redirect_uri":  {a.RedirectURI},
		"code_verifier": {a.CodeVerifier},
		"client_id":     {w.cfg.ClientID},
	})
}

// PAR pushes an authorization request (RFC 9126) and returns the request_uri.
func (w *Wallet) PAR(ctx context.Context, form url.Values) (string, error) {
	const step = "pushed authorization request"
	ep, err := w.endpoint(w.ASMetadata, "pushed_authorization_request_endpoint", step)
	if err != nil {
		return "", err
	}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if err := w.clientAuth(ctx, h); err != nil {
		return "", &Error{Step: step, Problem: err.Error()}
	}
	res, err := w.do(ctx, request{step: step, method: http.MethodPost, url: ep, header: h, body: []byte(form.Encode())})
	if err != nil {
		return "", err
	}
	if res.status != http.StatusCreated {
		return "", &Error{Step: step, Problem: "expected 201 (RFC 9126 §2.2)", Exchange: res.ex}
	}
	var pr struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int    `json:"expires_in"`
	}
	if err := res.json(&pr); err != nil || pr.RequestURI == "" {
		return "", &Error{Step: step, Problem: "no request_uri in the response", Exchange: res.ex}
	}
	if pr.ExpiresIn < 5 || pr.ExpiresIn > 600 {
		return "", &Error{Step: step, Problem: fmt.Sprintf("expires_in %d outside 5..600 s (FAPI 2.0 §5.3.2.2)", pr.ExpiresIn), Exchange: res.ex}
	}
	return pr.RequestURI, nil
}

// authorize opens the authorization endpoint with the request_uri, fills the
// login form, approves the consent page and returns the code from the
// redirect to the wallet.
func (w *Wallet) authorize(ctx context.Context, requestURI, state string, cancel bool) (string, error) {
	const step = "authorization"
	ep, err := w.endpoint(w.ASMetadata, "authorization_endpoint", step)
	if err != nil {
		return "", err
	}
	u := ep + "?" + url.Values{"client_id": {w.cfg.ClientID}, "request_uri": {requestURI}}.Encode()
	jar := cookies{}
	res, err := w.browse(ctx, step+": open", http.MethodGet, u, nil, jar)
	if err != nil {
		return "", err
	}
	for hop := 0; hop < 6; hop++ {
		if res.status == http.StatusFound || res.status == http.StatusSeeOther || res.status == http.StatusTemporaryRedirect {
			loc := res.header.Get("Location")
			if strings.HasPrefix(loc, w.cfg.RedirectURI) {
				return w.readAuthorizationResponse(loc, state, res.ex)
			}
			next, err := url.Parse(ep)
			if err != nil {
				return "", err
			}
			target, err := next.Parse(loc)
			if err != nil {
				return "", &Error{Step: step, Problem: "bad Location", Exchange: res.ex}
			}
			res, err = w.browse(ctx, step+": follow", http.MethodGet, target.String(), nil, jar)
			if err != nil {
				return "", err
			}
			continue
		}
		if res.status != 200 {
			return "", &Error{Step: step, Problem: "expected the login or consent page", Exchange: res.ex}
		}
		f, err := parseForm(string(res.body))
		if err != nil {
			return "", &Error{Step: step, Problem: err.Error(), Exchange: res.ex}
		}
		values := f.values
		switch {
		case f.has("username"):
			values.Set("username", w.cfg.Username)
			values.Set("password", w.cfg.Password)
		}
		button := "approve"
		if cancel {
			button = "cancel"
		} else if f.has("username") {
			button = "login"
		}
		name, value, ok := f.button(button)
		if !ok {
			return "", &Error{Step: step, Problem: "the page has no " + button + " button", Exchange: res.ex}
		}
		values.Set(name, value)
		action := ep
		if f.action != "" {
			base, _ := url.Parse(ep)
			a, err := base.Parse(f.action)
			if err != nil {
				return "", &Error{Step: step, Problem: "bad form action", Exchange: res.ex}
			}
			action = a.String()
		}
		res, err = w.browse(ctx, step+": "+button, http.MethodPost, action, values, jar)
		if err != nil {
			return "", err
		}
	}
	return "", &Error{Step: step, Problem: "no authorization response after 6 pages", Exchange: res.ex}
}

// browse is a user agent request: form posts, cookies, no redirects followed.
func (w *Wallet) browse(ctx context.Context, step, method, u string, form url.Values, jar cookies) (*response, error) {
	h := http.Header{}
	var body []byte
	if form != nil {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		body = []byte(form.Encode())
	}
	if c := jar.header(); c != "" {
		h.Set("Cookie", c)
	}
	res, err := w.do(ctx, request{step: step, method: method, url: u, header: h, body: body})
	if err != nil {
		return nil, err
	}
	jar.store(res.header)
	return res, nil
}

type cookies map[string]string

func (c cookies) header() string {
	parts := make([]string, 0, len(c))
	for k, v := range c {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, "; ")
}

func (c cookies) store(h http.Header) {
	for _, ck := range (&http.Response{Header: h}).Cookies() {
		c[ck.Name] = ck.Value
	}
}

// readAuthorizationResponse checks the redirect: state echoed, iss equal to
// the AS issuer (RFC 9207 §2.4), and returns the code or the error.
func (w *Wallet) readAuthorizationResponse(loc, state string, ex *Exchange) (string, error) {
	const step = "authorization response"
	u, err := url.Parse(loc)
	if err != nil {
		return "", &Error{Step: step, Problem: "bad redirect", Exchange: ex}
	}
	q := u.Query()
	if iss, want := q.Get("iss"), w.ASMetadata["issuer"]; iss != want {
		return "", &Error{Step: step, Problem: fmt.Sprintf("iss is %q, want %q (RFC 9207)", iss, want), Exchange: ex}
	}
	if q.Get("state") != state {
		return "", &Error{Step: step, Problem: "state not echoed", Exchange: ex}
	}
	if e := q.Get("error"); e != "" {
		return "", &ProtocolError{Status: 302, Code: e, Description: q.Get("error_description")}
	}
	if q.Get("code") == "" {
		return "", &Error{Step: step, Problem: "no code", Exchange: ex}
	}
	return q.Get("code"), nil
}

// PreAuthorized redeems the offer's pre-authorized code (OpenID4VCI §6.1) with
// client attestation and DPoP (HAIP §4.4.1).
func (w *Wallet) PreAuthorized(ctx context.Context, o *Offer, txCode string) (*Token, error) {
	code, _, ok := o.PreAuthorizedCode()
	if !ok {
		return nil, &Error{Step: "token (pre-authorized code)", Problem: "the offer has no pre-authorized code grant"}
	}
	form := url.Values{
		"grant_type":          {"urn:ietf:params:oauth:grant-type:pre-authorized_code"},
		"pre-authorized_code": {code},
		"client_id":           {w.cfg.ClientID},
	}
	if txCode != "" {
		form.Set("tx_code", txCode)
	}
	return w.token(ctx, "token (pre-authorized code)", form)
}

// Refresh redeems a refresh token.
func (w *Wallet) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	return w.token(ctx, "token (refresh)", url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
		"client_id":     {w.cfg.ClientID},
	})
}

func (w *Wallet) token(ctx context.Context, step string, form url.Values) (*Token, error) {
	ep, err := w.endpoint(w.ASMetadata, "token_endpoint", step)
	if err != nil {
		return nil, err
	}
	var res *response
	for attempt := 0; attempt < 2; attempt++ {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		if err := w.clientAuth(ctx, h); err != nil {
			return nil, &Error{Step: step, Problem: err.Error()}
		}
		res, err = w.withDPoP(ctx, request{step: step, method: http.MethodPost, url: ep, header: h, body: []byte(form.Encode())}, "")
		if err != nil {
			return nil, err
		}
		if pe := res.protocolError(); pe == nil || !isNonceChallenge(res) {
			break
		}
	}
	if pe := res.protocolError(); pe != nil {
		return nil, pe
	}
	if res.status != 200 {
		return nil, &Error{Step: step, Problem: "expected 200", Exchange: res.ex}
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		return nil, &Error{Step: step, Problem: fmt.Sprintf("Cache-Control is %q, want no-store (RFC 6749 §5.1)", cc), Exchange: res.ex}
	}
	var t Token
	if err := res.json(&t); err != nil || t.AccessToken == "" {
		return nil, &Error{Step: step, Problem: "no access_token", Exchange: res.ex}
	}
	if t.TokenType != "DPoP" {
		return nil, &Error{Step: step, Problem: fmt.Sprintf("token_type is %q, want DPoP (RFC 9449 §5)", t.TokenType), Exchange: res.ex}
	}
	return &t, nil
}

// Nonce fetches a c_nonce from the nonce endpoint (OpenID4VCI §7).
func (w *Wallet) Nonce(ctx context.Context) (string, error) {
	const step = "nonce"
	ep, err := w.endpoint(w.IssuerMetadata, "nonce_endpoint", step)
	if err != nil {
		return "", err
	}
	res, err := w.do(ctx, request{step: step, method: http.MethodPost, url: ep})
	if err != nil {
		return "", err
	}
	if res.status != 200 {
		return "", &Error{Step: step, Problem: "expected 200", Exchange: res.ex}
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		return "", &Error{Step: step, Problem: fmt.Sprintf("Cache-Control is %q, want no-store (OpenID4VCI §7.2)", cc), Exchange: res.ex}
	}
	var n struct {
		CNonce string `json:"c_nonce"`
	}
	if err := res.json(&n); err != nil || n.CNonce == "" {
		return "", &Error{Step: step, Problem: "no c_nonce", Exchange: res.ex}
	}
	return n.CNonce, nil
}

// CredentialRequest selects what to request.
type CredentialRequest struct {
	ConfigurationID string
	Identifier      string
	// Keys are the device keys to bind; one proof (or one attested key) each.
	// If empty, one fresh key is made.
	Keys []*ecdsa.PrivateKey
	// AttestKeys sends a key attestation in the jwt proof header.
	AttestKeys bool
	// AttestationProof uses the attestation proof type instead of jwt.
	AttestationProof bool
	// EncryptResponse asks for an encrypted response (OpenID4VCI §10).
	EncryptResponse bool
	// EncryptRequest encrypts the request to the issuer's key.
	EncryptRequest bool
	// Nonce is a c_nonce; fetched from the nonce endpoint when empty.
	Nonce string
	// Edit, if set, changes the request body just before it is serialised
	// (and encrypted): negative tests break members this way.
	Edit func(body map[string]any)
}

// CredentialResponse is the decoded response (OpenID4VCI §8.3).
type CredentialResponse struct {
	Status         int
	Credentials    [][]byte // CBOR IssuerSigned, base64url-decoded
	NotificationID string
	TransactionID  string
	Interval       int
	Keys           []*ecdsa.PrivateKey
	Encrypted      bool
}

// Credential requests credentials with the access token.
func (w *Wallet) Credential(ctx context.Context, tok *Token, cr CredentialRequest) (*CredentialResponse, error) {
	const step = "credential"
	ep, err := w.endpoint(w.IssuerMetadata, "credential_endpoint", step)
	if err != nil {
		return nil, err
	}
	if len(cr.Keys) == 0 {
		cr.Keys = []*ecdsa.PrivateKey{NewKey()}
	}
	if cr.Nonce == "" {
		if cr.Nonce, err = w.Nonce(ctx); err != nil {
			return nil, err
		}
	}
	body := map[string]any{}
	if cr.Identifier != "" {
		body["credential_identifier"] = cr.Identifier
	} else {
		body["credential_configuration_id"] = cr.ConfigurationID
	}
	proofs, err := w.proofs(cr)
	if err != nil {
		return nil, &Error{Step: step, Problem: err.Error()}
	}
	body["proofs"] = proofs
	var respKey *ecdsa.PrivateKey
	if cr.EncryptResponse {
		respKey = NewKey()
		enc, err := w.responseEncryption(respKey)
		if err != nil {
			return nil, &Error{Step: step, Problem: err.Error()}
		}
		body["credential_response_encryption"] = enc
	}
	if cr.Edit != nil {
		cr.Edit(body)
	}
	res, err := w.sendIssuerRequest(ctx, step, ep, tok, body, cr.EncryptRequest || cr.EncryptResponse)
	if err != nil {
		return nil, err
	}
	out, err := w.readCredentialResponse(step, res, respKey)
	if err != nil {
		return nil, err
	}
	out.Keys = cr.Keys
	return out, nil
}

func (w *Wallet) proofs(cr CredentialRequest) (map[string][]string, error) {
	aud := w.cfg.Issuer
	pubs := make([]*ecdsa.PublicKey, len(cr.Keys))
	for i, k := range cr.Keys {
		pubs[i] = &k.PublicKey
	}
	if cr.AttestationProof || cr.AttestKeys {
		if w.cfg.KeyAttester == nil {
			return nil, fmt.Errorf("no key attester configured")
		}
		ka, err := w.cfg.KeyAttester.KeyAttestation(pubs, cr.Nonce)
		if err != nil {
			return nil, err
		}
		if cr.AttestationProof {
			return map[string][]string{"attestation": {ka}}, nil
		}
		p, err := keyProof(cr.Keys[0], w.cfg.ClientID, aud, cr.Nonce, ka, w.now())
		if err != nil {
			return nil, err
		}
		return map[string][]string{"jwt": {p}}, nil
	}
	list := make([]string, len(cr.Keys))
	for i, k := range cr.Keys {
		p, err := keyProof(k, w.cfg.ClientID, aud, cr.Nonce, "", w.now())
		if err != nil {
			return nil, err
		}
		list[i] = p
	}
	return map[string][]string{"jwt": list}, nil
}

// sendIssuerRequest posts a JSON (or encrypted JWT) body to a DPoP-protected
// issuer endpoint.
func (w *Wallet) sendIssuerRequest(ctx context.Context, step, ep string, tok *Token, body map[string]any, encrypt bool) (*response, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, &Error{Step: step, Problem: err.Error()}
	}
	h := http.Header{"Authorization": {"DPoP " + tok.AccessToken}, "Content-Type": {"application/json"}}
	if encrypt {
		jwe, err := w.encryptRequest(payload)
		if err != nil {
			return nil, &Error{Step: step, Problem: err.Error()}
		}
		payload = []byte(jwe)
		h.Set("Content-Type", "application/jwt")
	}
	return w.withDPoP(ctx, request{step: step, method: http.MethodPost, url: ep, header: h, body: payload}, tok.AccessToken)
}

func (w *Wallet) readCredentialResponse(step string, res *response, respKey *ecdsa.PrivateKey) (*CredentialResponse, error) {
	if pe := res.protocolError(); pe != nil {
		return nil, pe
	}
	if res.status != 200 && res.status != 202 {
		return nil, &Error{Step: step, Problem: "expected 200 or 202", Exchange: res.ex}
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		return nil, &Error{Step: step, Problem: fmt.Sprintf("Cache-Control is %q, want no-store", cc), Exchange: res.ex}
	}
	out := &CredentialResponse{Status: res.status}
	raw := res.body
	if respKey != nil {
		plain, err := decryptResponse(string(res.body), respKey)
		if err != nil {
			return nil, &Error{Step: step, Problem: "encrypted response: " + err.Error(), Exchange: res.ex}
		}
		raw, out.Encrypted = plain, true
	}
	var body struct {
		Credentials []struct {
			Credential string `json:"credential"`
		} `json:"credentials"`
		NotificationID string `json:"notification_id"`
		TransactionID  string `json:"transaction_id"`
		Interval       int    `json:"interval"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, &Error{Step: step, Problem: "response is not JSON", Exchange: res.ex}
	}
	out.NotificationID, out.TransactionID, out.Interval = body.NotificationID, body.TransactionID, body.Interval
	if res.status == 202 {
		if body.TransactionID == "" || body.Interval <= 0 || len(body.Credentials) > 0 {
			return nil, &Error{Step: step, Problem: "202 needs transaction_id and a positive interval and no credentials (OpenID4VCI §8.3)", Exchange: res.ex}
		}
		return out, nil
	}
	if len(body.Credentials) == 0 {
		return nil, &Error{Step: step, Problem: "no credentials", Exchange: res.ex}
	}
	for i, c := range body.Credentials {
		if strings.ContainsAny(c.Credential, "+/=") {
			return nil, &Error{Step: step, Problem: fmt.Sprintf("credential %d is not unpadded base64url (OpenID4VCI A.2.4)", i), Exchange: res.ex}
		}
		b, err := b64.DecodeString(c.Credential)
		if err != nil {
			return nil, &Error{Step: step, Problem: fmt.Sprintf("credential %d: %v", i, err), Exchange: res.ex}
		}
		out.Credentials = append(out.Credentials, b)
	}
	return out, nil
}

// Deferred polls the deferred credential endpoint once (OpenID4VCI §9).
func (w *Wallet) Deferred(ctx context.Context, tok *Token, transactionID string) (*CredentialResponse, error) {
	return w.DeferredWith(ctx, tok, transactionID, DeferredOptions{})
}

// DeferredOptions select encryption of a deferred credential request.
type DeferredOptions struct {
	// EncryptResponse sends credential_response_encryption with a fresh key
	// (OpenID4VCI §9.1, §8.2); the request is then encrypted too (§10).
	EncryptResponse bool
	// EncryptRequest encrypts the request to the issuer's key.
	EncryptRequest bool
}

// DeferredWith polls the deferred credential endpoint once with the given
// encryption options.
func (w *Wallet) DeferredWith(ctx context.Context, tok *Token, transactionID string, o DeferredOptions) (*CredentialResponse, error) {
	const step = "deferred credential"
	ep, err := w.endpoint(w.IssuerMetadata, "deferred_credential_endpoint", step)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"transaction_id": transactionID}
	var respKey *ecdsa.PrivateKey
	if o.EncryptResponse {
		respKey = NewKey()
		enc, err := w.responseEncryption(respKey)
		if err != nil {
			return nil, &Error{Step: step, Problem: err.Error()}
		}
		body["credential_response_encryption"] = enc
	}
	res, err := w.sendIssuerRequest(ctx, step, ep, tok, body, o.EncryptRequest || o.EncryptResponse)
	if err != nil {
		return nil, err
	}
	return w.readCredentialResponse(step, res, respKey)
}

// PollDeferred polls the deferred credential endpoint until the credential
// is issued or an error occurs, waiting the interval the issuer asks for
// (OpenID4VCI §9.2) between polls, or every, when positive. It stops when
// ctx is done.
func (w *Wallet) PollDeferred(ctx context.Context, tok *Token, transactionID string, o DeferredOptions, every time.Duration) (*CredentialResponse, error) {
	for {
		res, err := w.DeferredWith(ctx, tok, transactionID, o)
		if err != nil || res.Status != http.StatusAccepted {
			return res, err
		}
		wait := every
		if wait <= 0 {
			wait = time.Duration(max(res.Interval, 1)) * time.Second
		}
		select {
		case <-ctx.Done():
			return nil, &Error{Step: "deferred credential", Problem: "still pending: " + ctx.Err().Error()}
		case <-time.After(wait):
		}
	}
}

// Notify sends a notification event (OpenID4VCI §11).
func (w *Wallet) Notify(ctx context.Context, tok *Token, notificationID, event string) error {
	const step = "notification"
	ep, err := w.endpoint(w.IssuerMetadata, "notification_endpoint", step)
	if err != nil {
		return err
	}
	res, err := w.sendIssuerRequest(ctx, step, ep, tok, map[string]any{"notification_id": notificationID, "event": event}, false)
	if err != nil {
		return err
	}
	if pe := res.protocolError(); pe != nil {
		return pe
	}
	if res.status/100 != 2 {
		return &Error{Step: step, Problem: "expected 2xx", Exchange: res.ex}
	}
	return nil
}
