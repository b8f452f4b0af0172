package authz

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
)

// BenchmarkTokenEndpoint measures one pre-authorized code token request
// through the handler: wallet attestation (x5c chain) + PoP verification,
// DPoP verification, code consumption, token issuance, on the memory store.
// Minting the wallet's JWTs is excluded from the timing.
func BenchmarkTokenEndpoint(b *testing.B) {
	e := newEnv(b)
	w := e.newWallet("bench-wallet")
	h := e.srv.Handler()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		code, err := e.srv.IssuePreAuthorizedCode(ctx, PreAuthorization{OfferID: "o", ConfigurationIDs: []string{testConfigID},
			ExpiresAt: e.clock.Now().Add(time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, e.srv.Endpoints().Token, strings.NewReader(preAuthForm(code, "").Encode()))
		req.Header.Set("Content-Type", oauth.MediaForm)
		e.clientAuth(req.Header, w, nil, nil)
		req.Header.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().Token))
		rec := httptest.NewRecorder()
		b.StartTimer()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkValidateAccessToken measures the credential issuer's token check.
func BenchmarkValidateAccessToken(b *testing.B) {
	e := newEnv(b)
	w := e.newWallet("bench-wallet")
	resp := e.token(w, tokenReq{form: preAuthForm(e.preAuthCode(""), "")})
	m := decode(b, resp)
	tok := m.str("access_token")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.srv.ValidateAccessToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
