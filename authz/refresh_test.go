package authz

import (
	"context"
	"net/url"
	"testing"

	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

// TestRefreshToken: refresh tokens are bound to the DPoP key (RFC 9449 §5)
// and the wallet instance (ABCA-07 §10.3), rotate, keep the credential
// identifiers (OpenID4VCI §6.2) and a reused one is invalid_grant (T53).
func TestRefreshToken(t *testing.T) {
	type row struct {
		name   string
		req    func(w *wallet, tr *tokenReq)
		status int
		code   string
	}
	rows := []row{
		{name: "valid", status: 200},
		{name: "T53 other DPoP key", req: func(_ *wallet, tr *tokenReq) { tr.dpopKey = dpoptest.NewKey() }, status: 400, code: oauth.CodeInvalidGrant},
		{name: "T53 other wallet instance key", req: func(w *wallet, _ *tokenReq) { w.instance = wiatest.NewKey() }, status: 400, code: oauth.CodeInvalidGrant},
		{name: "no client authentication", req: func(_ *wallet, tr *tokenReq) { tr.opts = append(tr.opts, noAttestation()) }, status: 401, code: oauth.CodeInvalidClient},
		{name: "no DPoP", req: func(_ *wallet, tr *tokenReq) { tr.opts = append(tr.opts, noDPoP()) }, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "unknown refresh token", req: func(_ *wallet, tr *tokenReq) { tr.form.Set("refresh_token", "AAAA.BBBB") }, status: 400, code: oauth.CodeInvalidGrant},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			e := newEnv(t, withRefresh())
			w := e.newWallet("w1")
			f := w.parForm(testScope)
			f.Set("authorization_details", `[{"type":"openid_credential","credential_configuration_id":"`+testConfigID+`"}]`)
			first := mustStatus(t, e.token(w, tokenReq{form: w.codeForm(e.code(w, f))}), 200)
			rt := first.str("refresh_token")
			if rt == "" {
				t.Fatal("no refresh token")
			}
			tr := tokenReq{form: url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {rt}}}
			if r.req != nil {
				r.req(w, &tr)
			}
			resp := e.token(w, tr)
			if r.code != "" {
				expectError(t, resp, r.status, r.code)
				return
			}
			m := mustStatus(t, resp, 200)
			if m.str("token_type") != "DPoP" || m.str("refresh_token") == "" || m.str("refresh_token") == rt {
				t.Fatalf("%v", m)
			}
			ids := func(m jsonBody) any {
				return m["authorization_details"].([]any)[0].(map[string]any)["credential_identifiers"]
			}
			if a, b := ids(first), ids(m); len(a.([]any)) != 1 || a.([]any)[0] != b.([]any)[0] {
				t.Fatalf("credential identifiers changed: %v %v", a, b)
			}
			g, err := e.srv.ValidateAccessToken(context.Background(), m.str("access_token"))
			if err != nil || g.JKT != w.dpop.JKT || g.Subject != DevSubject {
				t.Fatalf("%+v %v", g, err)
			}
			// The rotated refresh token is single use.
			expectError(t, e.token(w, tokenReq{form: url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {rt}}}), 400, oauth.CodeInvalidGrant)
		})
	}
}
