package authz

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

// TestTokenEndpointCode has one row per MUST of the token endpoint for the
// authorization code grant: PKCE (RFC 7636 §4.6), DPoP (RFC 9449 §5, §10),
// client attestation (HAIP §4.4.1), code lifetime and binding (T37-T46, T52).
func TestTokenEndpointCode(t *testing.T) {
	type row struct {
		name   string
		par    func(w *wallet, f url.Values)
		req    func(e *env, w *wallet, tr *tokenReq)
		status int
		code   string
	}
	rows := []row{
		{name: "T37 valid", status: 200},
		{name: "T37 unknown parameters ignored", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.form.Set("x-random-param", "1") }, status: 200},
		{name: "T37 client_id equal to attestation sub", req: func(_ *env, w *wallet, tr *tokenReq) { tr.form.Set("client_id", w.id) }, status: 200},
		{name: "T39 wrong code_verifier", req: func(_ *env, _ *wallet, tr *tokenReq) {
			tr.form.Set("code_verifier", "wrong-verifier-"+string(make([]byte, 0))+"0123456789012345678901234567890123456789")
		}, status: 400, code: oauth.CodeInvalidGrant},
		{name: "T39 missing code_verifier", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.form.Del("code_verifier") }, status: 400, code: oauth.CodeInvalidGrant},
		{name: "T40 code redeemed 61 s after issuance", req: func(e *env, _ *wallet, _ *tokenReq) { e.clock.Advance(61 * time.Second) }, status: 400, code: oauth.CodeInvalidGrant},
		{name: "T41 no DPoP header", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.opts = append(tr.opts, noDPoP()) }, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "T42 DPoP htu of another endpoint", req: func(e *env, w *wallet, tr *tokenReq) {
			tr.opts = append(tr.opts, setHeader(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR)))
		}, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "T42 DPoP htm GET", req: func(e *env, w *wallet, tr *tokenReq) {
			tr.opts = append(tr.opts, setHeader(oauth.HeaderDPoP, w.dpop.Proof(http.MethodGet, e.srv.Endpoints().Token, dpoptest.IssuedAt(e.clock.Now()))))
		}, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "T43 DPoP typ JWT", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.dpopOpt = append(tr.dpopOpt, dpoptest.Typ("JWT")) }, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "T43 DPoP alg none", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.dpopOpt = append(tr.dpopOpt, dpoptest.Alg("none")) }, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "T43 DPoP alg HS256", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.dpopOpt = append(tr.dpopOpt, dpoptest.Alg("HS256")) }, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "T43 DPoP private key in jwk", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.dpopOpt = append(tr.dpopOpt, dpoptest.PrivateJWK()) }, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "T43 DPoP bad signature", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.dpopOpt = append(tr.dpopOpt, dpoptest.CorruptSignature()) }, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "DPoP header twice", req: func(e *env, w *wallet, tr *tokenReq) {
			tr.opts = append(tr.opts, addHeader(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().Token)))
		}, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "T44 DPoP key differs from DPoP header key at PAR", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.dpopKey = dpoptest.NewKey() }, status: 400, code: oauth.CodeInvalidGrant},
		{name: "T44 DPoP key differs from dpop_jkt at PAR", par: func(w *wallet, f url.Values) { f.Set("dpop_jkt", w.dpop.JKT) },
			req: func(_ *env, _ *wallet, tr *tokenReq) { tr.dpopKey = dpoptest.NewKey() }, status: 400, code: oauth.CodeInvalidGrant},
		{name: "T46 no client attestation", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.opts = append(tr.opts, noAttestation()) }, status: 401, code: oauth.CodeInvalidClient},
		{name: "T46 PoP signed by another key", req: func(_ *env, _ *wallet, tr *tokenReq) {
			tr.popOpts = append(tr.popOpts, wiatest.WithSigner(wiatest.NewKey()))
		}, status: 401, code: oauth.CodeInvalidClient},
		{name: "client_id differs from attestation sub", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.form.Set("client_id", "other") }, status: 401, code: oauth.CodeInvalidClient},
		{name: "redirect_uri differs from PAR", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.form.Set("redirect_uri", redirectURI2) }, status: 400, code: oauth.CodeInvalidGrant},
		{name: "unknown code", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.form.Set("code", "AAAA.BBBB") }, status: 400, code: oauth.CodeInvalidGrant},
		{name: "tx_code with the code grant", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.form.Set("tx_code", "1234") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "T52 grant_type password", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.form.Set("grant_type", "password") }, status: 400, code: oauth.CodeUnsupportedGrantType},
		{name: "T52 grant_type implicit", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.form.Set("grant_type", "implicit") }, status: 400, code: oauth.CodeUnsupportedGrantType},
		{name: "refresh_token grant disabled", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.form.Set("grant_type", "refresh_token") }, status: 400, code: oauth.CodeUnsupportedGrantType},
		{name: "grant_type missing", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.form.Del("grant_type") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "GET", req: func(_ *env, _ *wallet, tr *tokenReq) { tr.opts = append(tr.opts, withMethod(http.MethodGet)) }, status: 405, code: oauth.CodeInvalidRequest},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.newWallet("w1")
			f := w.parForm(testScope)
			if r.par != nil {
				r.par(w, f)
			}
			code := e.code(w, f)
			tr := tokenReq{form: w.codeForm(code)}
			if r.req != nil {
				r.req(e, w, &tr)
			}
			resp := e.token(w, tr)
			if r.code == "" {
				m := mustStatus(t, resp, r.status)
				if m.str("token_type") != "DPoP" || resp.Header.Get("Cache-Control") != "no-store" {
					t.Fatalf("%v", m)
				}
				return
			}
			expectError(t, resp, r.status, r.code)
		})
	}
}

// TestCodeReplayRevokesTokens: T38, a second use of the code is invalid_grant
// and the access token of the first use stops working (RFC 6749 §4.1.2).
func TestCodeReplayRevokesTokens(t *testing.T) {
	e := newEnv(t, withRefresh())
	w := e.newWallet("w1")
	code := e.code(w, w.parForm(testScope))
	tok := mustStatus(t, e.token(w, tokenReq{form: w.codeForm(code)}), 200)
	if _, err := e.srv.ValidateAccessToken(context.Background(), tok.str("access_token")); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	expectError(t, e.token(w, tokenReq{form: w.codeForm(code)}), 400, oauth.CodeInvalidGrant)
	if _, err := e.srv.ValidateAccessToken(context.Background(), tok.str("access_token")); err == nil {
		t.Fatal("access token still valid after code replay")
	}
	rf := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}}
	expectError(t, e.token(w, tokenReq{form: rf}), 400, oauth.CodeInvalidGrant)
}

// TestCodeBoundToClient: the code of client 1 redeemed by client 2 (own
// attestation) is invalid_grant (FAPI ensure-authorization-code-is-bound-to-client).
func TestCodeBoundToClient(t *testing.T) {
	e := newEnv(t)
	w1, w2 := e.newWallet("w1"), e.newWallet("w2")
	code := e.code(w1, w1.parForm(testScope))
	w2.verifier = w1.verifier
	w2.dpop = w1.dpop
	expectError(t, e.token(w2, tokenReq{form: w1.codeForm(code)}), 400, oauth.CodeInvalidGrant)
}

// TestCodeBoundToInstance: the same client id with another instance key
// (another wallet instance) cannot redeem the code (ABCA-10 §9.4).
func TestCodeBoundToInstance(t *testing.T) {
	e := newEnv(t)
	w := e.newWallet("w1")
	code := e.code(w, w.parForm(testScope))
	own := w.instance
	w.instance = wiatest.NewKey()
	expectError(t, e.token(w, tokenReq{form: w.codeForm(code)}), 400, oauth.CodeInvalidGrant)
	// The code leaked to another instance: it is burned, so its own
	// instance cannot redeem it afterwards either (RFC 6749 §4.1.2).
	w.instance = own
	expectError(t, e.token(w, tokenReq{form: w.codeForm(code)}), 400, oauth.CodeInvalidGrant)
}

// TestTokenDPoPNonce: T45, with AS nonces the first token request gets 400
// use_dpop_nonce + DPoP-Nonce, the retry (same body) succeeds and the 200
// carries a fresh DPoP-Nonce.
func TestTokenDPoPNonce(t *testing.T) {
	e := newEnv(t, withDPoPNonces())
	w := e.newWallet("w1")
	resp := e.par(w, w.parForm(testScope))
	expectError(t, resp, 400, oauth.CodeUseDPoPNonce)
	w.nonce = resp.Header.Get(oauth.HeaderDPoPNonce)
	h := http.Header{}
	e.clientAuth(h, w, nil, nil)
	h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR, dpoptest.Nonce(w.nonce)))
	m := mustStatus(t, e.post(e.srv.Endpoints().PAR, w.parForm(testScope), h), http.StatusCreated)
	q := e.authorize(w, m.str("request_uri"))

	w.nonce = ""
	resp = e.token(w, tokenReq{form: w.codeForm(q.Get("code"))})
	expectError(t, resp, 400, oauth.CodeUseDPoPNonce)
	if w.nonce == "" {
		t.Fatal("no DPoP-Nonce on use_dpop_nonce")
	}
	resp = e.token(w, tokenReq{form: w.codeForm(q.Get("code"))})
	mustStatus(t, resp, 200)
	if resp.Header.Get(oauth.HeaderDPoPNonce) == "" {
		t.Fatal("no DPoP-Nonce on 200")
	}
}

// TestAuthorizationDetailsFlow: T37 with RAR, the token response carries
// authorization_details with credential_identifiers (OpenID4VCI §6.2),
// which the grant maps to configurations.
func TestAuthorizationDetailsFlow(t *testing.T) {
	e := newEnv(t)
	w := e.newWallet("w1")
	f := w.parForm(otherScope)
	f.Set("authorization_details", `[{"type":"openid_credential","credential_configuration_id":"`+testConfigID+`"}]`)
	m := mustStatus(t, e.token(w, tokenReq{form: w.codeForm(e.code(w, f))}), 200)
	ads, _ := m["authorization_details"].([]any)
	if len(ads) != 1 {
		t.Fatalf("authorization_details %v", m["authorization_details"])
	}
	ad := ads[0].(map[string]any)
	ids, _ := ad["credential_identifiers"].([]any)
	if ad["type"] != "openid_credential" || ad["credential_configuration_id"] != testConfigID || len(ids) != 1 {
		t.Fatalf("entry %v", ad)
	}
	g, err := e.srv.ValidateAccessToken(context.Background(), m.str("access_token"))
	if err != nil {
		t.Fatal(err)
	}
	if g.CredentialIdentifiers[ids[0].(string)] != testConfigID || !g.Covers(testConfigID) || !g.Covers(otherConfig) {
		t.Fatalf("grant %+v", g)
	}
}

// TestValidateAccessToken: malformed, forged, expired tokens are 401
// invalid_token.
func TestValidateAccessToken(t *testing.T) {
	e := newEnv(t)
	w := e.newWallet("w1")
	tok := mustStatus(t, e.token(w, tokenReq{form: w.codeForm(e.code(w, w.parForm(testScope)))}), 200).str("access_token")
	ctx := context.Background()
	for name, bad := range map[string]string{
		"empty": "", "garbage": "garbage", "forged key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA." + tok[44:],
		"too long": string(make([]byte, 600)),
	} {
		if _, err := e.srv.ValidateAccessToken(ctx, bad); oauth.As(err) == nil || oauth.As(err).Code != oauth.CodeInvalidToken || oauth.As(err).Status != 401 {
			t.Fatalf("%s: %v", name, err)
		}
	}
	e.clock.Advance(defaultAccessTokenLifespan + time.Second)
	if _, err := e.srv.ValidateAccessToken(ctx, tok); oauth.As(err) == nil || oauth.As(err).Code != oauth.CodeInvalidToken {
		t.Fatalf("expired: %v", err)
	}
}

// TestCodeRedemptionAuthorizationDetails: TOK-23, authorization_details at
// the token endpoint select a subset of the authorization; more is
// invalid_authorization_details.
func TestCodeRedemptionAuthorizationDetails(t *testing.T) {
	detail := func(id string) string {
		return `[{"type":"openid_credential","credential_configuration_id":"` + id + `"}]`
	}
	t.Run("subset", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		tr := tokenReq{form: w.codeForm(e.code(w, w.parForm(testScope+" "+otherScope)))}
		tr.form.Set("authorization_details", detail(otherConfig))
		m := mustStatus(t, e.token(w, tr), 200)
		ads, _ := m["authorization_details"].([]any)
		if len(ads) != 1 || ads[0].(map[string]any)["credential_configuration_id"] != otherConfig {
			t.Fatalf("%v", m)
		}
		g, err := e.srv.ValidateAccessToken(context.Background(), m.str("access_token"))
		if err != nil || g.Covers(testConfigID) || !g.Covers(otherConfig) || len(g.CredentialIdentifiers) != 1 {
			t.Fatalf("%+v %v", g, err)
		}
	})
	t.Run("more than authorized", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		code := e.code(w, w.parForm(testScope))
		tr := tokenReq{form: w.codeForm(code)}
		tr.form.Set("authorization_details", detail(otherConfig))
		expectError(t, e.token(w, tr), 400, oauth.CodeInvalidAuthzDetails)
		// The refused request did not burn the code.
		mustStatus(t, e.token(w, tokenReq{form: w.codeForm(code)}), 200)
	})
}

// TestOnTokenIssued: every issued token is reported with the verified client,
// its binding and the granted configurations, and nothing else is.
func TestOnTokenIssued(t *testing.T) {
	var got []TokenIssued
	e := newEnv(t, withOptions(func(o *Options) {
		o.OnTokenIssued = func(_ context.Context, ti TokenIssued) { got = append(got, ti) }
	}))
	w := e.newWallet("w1")
	code := e.code(w, w.parForm(testScope))
	expectError(t, e.token(w, tokenReq{form: w.codeForm("not-the-code")}), 400, oauth.CodeInvalidGrant)
	if len(got) != 0 {
		t.Fatalf("a refused request was reported: %+v", got)
	}
	mustStatus(t, e.token(w, tokenReq{form: w.codeForm(code)}), 200)
	if len(got) != 1 {
		t.Fatalf("%d reports", len(got))
	}
	ti := got[0]
	if ti.GrantType != oauth.GrantAuthorizationCode || ti.ClientID != "w1" || ti.JKT == "" || ti.RequestID == "" ||
		len(ti.ConfigurationIDs) != 1 {
		t.Fatalf("report %+v", ti)
	}
}
