package upstream

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// tokenResponse is the successful token response (RFC 6749 §5.1, OpenID
// Connect Core 1.0 §3.1.3.3).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	IDToken     string `json:"id_token"`
}

// exchange redeems the code (RFC 6749 §4.1.3, RFC 7636 §4.5).
func (p *Provider) exchange(ctx context.Context, code, verifier string) (*tokenResponse, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {p.o.RedirectURL},
		"code_verifier": {verifier},
	}
	switch p.authMethod {
	case AuthClientSecretPost:
		form.Set("client_id", p.o.ClientID)
		form.Set("client_secret", p.o.ClientSecret)
	case AuthPrivateKeyJWT:
		a, err := p.clientAssertion()
		if err != nil {
			return nil, err
		}
		form.Set("client_id", p.o.ClientID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
	}
	req, err := http.NewRequest(http.MethodPost, p.md.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, checkErr(StageToken, "token_endpoint", "cannot build the request").with(err)
	}
	if p.authMethod == AuthClientSecretBasic {
		// RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(p.o.ClientID), url.QueryEscape(p.o.ClientSecret))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := p.do(ctx, req, StageToken)
	if err != nil {
		return nil, err
	}
	if res.status != http.StatusOK {
		return nil, tokenError(res)
	}
	var tr tokenResponse
	if err := decodeJSON(res, StageToken, &tr); err != nil {
		return nil, err
	}
	if tr.IDToken == "" {
		return nil, checkErr(StageToken, "id_token", "the token response has no ID token (Core §3.1.3.3)")
	}
	return &tr, nil
}

// tokenError turns a non-200 token response into *ProviderError (RFC 6749
// §5.2) or, without an error object, a CheckError naming the status.
func tokenError(res *response) error {
	var e struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorURI         string `json:"error_uri"`
	}
	if json.Unmarshal(res.body, &e) != nil || e.Error == "" {
		return checkErr(StageToken, "status", "HTTP status %d without an OAuth error object", res.status)
	}
	return &ProviderError{Endpoint: EndpointToken, Code: clean(e.Error, 64),
		Description: clean(e.ErrorDescription, 256), URI: cleanURI(e.ErrorURI)}
}

// clientAssertion is the private_key_jwt assertion (RFC 7523 §3, OpenID
// Connect Core 1.0 §9): iss = sub = client_id, aud, jti, iat, exp (60 s).
func (p *Provider) clientAssertion() (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if p.o.ClientKeyID != "" {
		opts = opts.WithHeader("kid", p.o.ClientKeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: p.assertAlg, Key: cryptosigner.Opaque(p.o.ClientKey)}, opts)
	if err != nil {
		return "", checkErr(StageToken, "client_assertion", "cannot create the signer").with(err)
	}
	jti, err := random()
	if err != nil {
		return "", err
	}
	aud := p.o.ClientAssertionAudience
	if aud == "" {
		aud = p.o.Issuer
	}
	now := p.o.Now()
	payload, err := json.Marshal(map[string]any{
		"iss": p.o.ClientID, "sub": p.o.ClientID, "aud": aud, "jti": jti,
		"iat": now.Unix(), "exp": now.Add(60 * time.Second).Unix(),
	})
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", checkErr(StageToken, "client_assertion", "signing failed").with(err)
	}
	return jws.CompactSerialize()
}
