package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
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
//
// It reports requests per second on one core (the loop is sequential) and
// the share of that CPU spent in ES256 signature verification: the DPoP
// proof and the attestation PoP are verified on every request; the wallet
// attestation and its x5c chain are verified once per wallet and then served
// from wia's cache of verified attestations (time checks still run), which
// is the steady state of a deployed issuer.
func BenchmarkTokenEndpoint(b *testing.B) {
	const verifiesPerRequest = 2
	verify := es256VerifyCost(b)
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
	b.StopTimer()
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(1e9/perOp, "req/s/core")
	b.ReportMetric(100*verifiesPerRequest*float64(verify.Nanoseconds())/perOp, "%sig-verify")
}

// es256VerifyCost measures one P-256 ECDSA verification on this machine.
func es256VerifyCost(b *testing.B) time.Duration {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("token endpoint"))
	sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	const n = 200
	start := time.Now()
	for range n {
		if !ecdsa.VerifyASN1(&k.PublicKey, digest[:], sig) {
			b.Fatal("verify failed")
		}
	}
	return time.Since(start) / n
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
