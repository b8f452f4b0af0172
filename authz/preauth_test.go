package authz

import (
	"context"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

// TestPreAuthorizedGrant has one row per rule of the pre-authorized code
// grant (OpenID4VCI §6.1, §6.3, HAIP §4.4.1; T47-T51).
func TestPreAuthorizedGrant(t *testing.T) {
	type row struct {
		name   string
		tx     string // tx_code set at issuance
		req    func(e *env, code string, tr *tokenReq)
		status int
		code   string
	}
	rows := []row{
		{name: "T47 valid with tx_code", tx: "493536", status: 200},
		{name: "T47 valid without tx_code", status: 200},
		{name: "T48 tx_code missing but required", tx: "493536", req: func(_ *env, _ string, tr *tokenReq) { tr.form.Del("tx_code") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "T48 tx_code sent but not required", req: func(_ *env, _ string, tr *tokenReq) { tr.form.Set("tx_code", "1234") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "T49 wrong tx_code", tx: "493536", req: func(_ *env, _ string, tr *tokenReq) { tr.form.Set("tx_code", "000000") }, status: 400, code: oauth.CodeInvalidGrant},
		{name: "T50 expired code", req: func(e *env, _ string, _ *tokenReq) { e.clock.Advance(6 * time.Minute) }, status: 400, code: oauth.CodeInvalidGrant},
		{name: "T50 unknown code", req: func(_ *env, _ string, tr *tokenReq) { tr.form.Set("pre-authorized_code", "nope") }, status: 400, code: oauth.CodeInvalidGrant},
		{name: "pre-authorized_code missing", req: func(_ *env, _ string, tr *tokenReq) { tr.form.Del("pre-authorized_code") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "T51 no client authentication", req: func(_ *env, _ string, tr *tokenReq) { tr.opts = append(tr.opts, noAttestation()) }, status: 401, code: oauth.CodeInvalidClient},
		{name: "no DPoP", req: func(_ *env, _ string, tr *tokenReq) { tr.opts = append(tr.opts, noDPoP()) }, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "authorization_details outside the offer", req: func(_ *env, _ string, tr *tokenReq) {
			tr.form.Set("authorization_details", `[{"type":"openid_credential","credential_configuration_id":"unknown"}]`)
		}, status: 400, code: oauth.CodeInvalidAuthzDetails},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.newWallet("w1")
			code := e.preAuthCode(r.tx)
			tr := tokenReq{form: preAuthForm(code, r.tx)}
			if r.req != nil {
				r.req(e, code, &tr)
			}
			resp := e.token(w, tr)
			if r.code != "" {
				expectError(t, resp, r.status, r.code)
				return
			}
			m := mustStatus(t, resp, r.status)
			if m.str("token_type") != "DPoP" {
				t.Fatalf("%v", m)
			}
			if _, ok := m["authorization_details"]; ok {
				t.Fatal("authorization_details without a RAR request")
			}
			g, err := e.srv.ValidateAccessToken(context.Background(), m.str("access_token"))
			if err != nil {
				t.Fatal(err)
			}
			if g.OfferID != "offer-1" || g.Subject != "holder-7" || g.JKT != w.dpop.JKT || g.ClientID != w.id ||
				!g.Covers(testConfigID) || !g.Covers(otherConfig) {
				t.Fatalf("grant %+v", g)
			}
		})
	}
}

// TestPreAuthorizedTxCodeAttempts: a typo does not burn the offer; after
// TxCodeMaxAttempts failures the code is dead even with the right tx_code;
// a redeemed code cannot be used again and its replay revokes the token.
func TestPreAuthorizedTxCodeAttempts(t *testing.T) {
	runTxCodeFlow(t, newEnv(t, withOptions(func(o *Options) { o.TxCodeMaxAttempts = 3 })))
}

// runTxCodeFlow needs an env with TxCodeMaxAttempts = 3.
func runTxCodeFlow(t *testing.T, e *env) {
	w := e.newWallet("w1")

	code := e.preAuthCode("493536")
	expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "493537")}), 400, oauth.CodeInvalidGrant)
	tok := mustStatus(t, e.token(w, tokenReq{form: preAuthForm(code, "493536")}), 200)
	expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "493536")}), 400, oauth.CodeInvalidGrant)
	if _, err := e.srv.ValidateAccessToken(context.Background(), tok.str("access_token")); err == nil {
		t.Fatal("token of a replayed pre-authorized code still valid")
	}

	dead := e.preAuthCode("111111")
	for i := 0; i < 3; i++ {
		expectError(t, e.token(w, tokenReq{form: preAuthForm(dead, "222222")}), 400, oauth.CodeInvalidGrant)
	}
	expectError(t, e.token(w, tokenReq{form: preAuthForm(dead, "111111")}), 400, oauth.CodeInvalidGrant)
}

// TestPreAuthorizedAuthorizationDetails: OpenID4VCI §6.1.1, a subset of the
// offered configurations is granted and returned with identifiers.
func TestPreAuthorizedAuthorizationDetails(t *testing.T) {
	e := newEnv(t)
	w := e.newWallet("w1")
	f := preAuthForm(e.preAuthCode(""), "")
	f.Set("authorization_details", `[{"type":"openid_credential","credential_configuration_id":"`+otherConfig+`"}]`)
	m := mustStatus(t, e.token(w, tokenReq{form: f}), 200)
	ads, _ := m["authorization_details"].([]any)
	if len(ads) != 1 || ads[0].(map[string]any)["credential_configuration_id"] != otherConfig {
		t.Fatalf("%v", m)
	}
	g, err := e.srv.ValidateAccessToken(context.Background(), m.str("access_token"))
	if err != nil || g.Covers(testConfigID) || !g.Covers(otherConfig) || len(g.CredentialIdentifiers) != 1 {
		t.Fatalf("%+v %v", g, err)
	}
}

func TestIssuePreAuthorizedCodeValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := e.clock.Now()
	for name, p := range map[string]PreAuthorization{
		"no configurations":     {ExpiresAt: now.Add(time.Minute)},
		"unknown configuration": {ConfigurationIDs: []string{"x"}, ExpiresAt: now.Add(time.Minute)},
		"already expired":       {ConfigurationIDs: []string{testConfigID}, ExpiresAt: now},
		"too long":              {ConfigurationIDs: []string{testConfigID}, ExpiresAt: now.Add(48 * time.Hour)},
	} {
		if _, err := e.srv.IssuePreAuthorizedCode(ctx, p); err == nil {
			t.Fatalf("%s accepted", name)
		}
	}
	c1, err1 := e.srv.IssuePreAuthorizedCode(ctx, PreAuthorization{ConfigurationIDs: []string{testConfigID}, ExpiresAt: now.Add(time.Minute)})
	c2, err2 := e.srv.IssuePreAuthorizedCode(ctx, PreAuthorization{ConfigurationIDs: []string{testConfigID}, ExpiresAt: now.Add(time.Minute)})
	if err1 != nil || err2 != nil || c1 == c2 || len(c1) < 43 {
		t.Fatalf("%q %q %v %v", c1, c2, err1, err2)
	}
}

// TestSecretRotation: after rotating GlobalSecret (old one in
// RotatedSecrets), tokens and tx_code MACs made under the old secret still
// verify; without the old secret they do not.
func TestSecretRotation(t *testing.T) {
	e := newEnv(t)
	w := e.newWallet("w1")
	tok := mustStatus(t, e.token(w, tokenReq{form: preAuthForm(e.preAuthCode(""), "")}), 200).str("access_token")
	code := e.preAuthCode("777777")

	o := e.srv.o
	o.RotatedSecrets = [][]byte{o.GlobalSecret}
	o.GlobalSecret = []byte("the-next-global-secret-0123456789abcdef")
	rotated, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.ValidateAccessToken(context.Background(), tok); err != nil {
		t.Fatalf("rotated server rejects old token: %v", err)
	}
	o.RotatedSecrets = nil
	forgetful, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := forgetful.ValidateAccessToken(context.Background(), tok); err == nil {
		t.Fatal("token accepted without its secret")
	}
	if !rotated.txCodeMatches("777777", mustPreAuth(t, e, code).TxMAC) || forgetful.txCodeMatches("777777", mustPreAuth(t, e, code).TxMAC) {
		t.Fatal("tx_code MAC rotation")
	}
}

func mustPreAuth(t *testing.T, e *env, code string) *preAuthDTO {
	t.Helper()
	b, err := e.store.Get(context.Background(), kindPreAuth, keyHash(code))
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodePreAuth(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestTokenReplayChecksPrecedeRedemption: the replay-cache writes of the
// DPoP proof and the attestation PoP travel with the grant's first read
// (storage.Pending); a replayed proof is refused before the code is touched,
// so the wallet redeems it afterwards with fresh proofs.
func TestTokenReplayChecksPrecedeRedemption(t *testing.T) {
	for _, be := range []string{"memory", "redis"} {
		t.Run(be, func(t *testing.T) {
			opts := []envOpt{}
			if be == "redis" {
				opts = append(opts, withStore(redisStore(redisURL(t))))
			}
			e := newEnv(t, opts...)
			w := e.newWallet("w1")
			code := e.preAuthCode("493536")
			dpopJTI, popJTI := []dpoptest.Option{dpoptest.JTI("dpop-jti-1")}, []wiatest.Option{wiatest.WithJTI("pop-jti-1")}
			// A wrong tx_code: refused after both proofs were accepted.
			expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "000000"), dpopOpt: dpopJTI, popOpts: popJTI}), 400, oauth.CodeInvalidGrant)
			expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "493536"), dpopOpt: dpopJTI}), 400, oauth.CodeInvalidDPoPProof)
			expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "493536"), popOpts: popJTI}), 401, oauth.CodeInvalidClient)
			mustStatus(t, e.token(w, tokenReq{form: preAuthForm(code, "493536")}), 200)
		})
	}
}
