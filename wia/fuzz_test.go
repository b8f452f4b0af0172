package wia_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

// checkFuzzResult fails on anything but acceptance or a well-formed protocol
// error.
func checkFuzzResult(t *testing.T, ok bool, err error) {
	t.Helper()
	if ok {
		return
	}
	e := oauth.As(err)
	if e == nil || e.Code == "" || e.Status < 400 || e.Status >= 500 || e.Description == "" {
		t.Fatalf("not a client error: %#v", err)
	}
}

func FuzzAttestation(f *testing.F) {
	fx := newFixture(f, nil)
	f.Add(fx.att())
	f.Add(fx.att(wiatest.Pinned()))
	f.Add(fx.att(wiatest.SelfSigned()))
	f.Add(fx.att(wiatest.WithCNF(map[string]any{"kty": "EC", "crv": "P-256", "x": "", "y": ""})))
	f.Add(fx.att(wiatest.WithHeader("x5c", []string{"MIIB"})))
	f.Add(fx.att(wiatest.WithClaim("exp", 1e300)))
	f.Add("e30.e30.AA")
	f.Add("..")
	// One PoP for all inputs: after the first acceptance the replay cache
	// rejects it, which is a valid outcome too.
	pop := fx.pop()
	f.Fuzz(func(t *testing.T, att string) {
		c, err := fx.v.Authenticate(context.Background(), []string{att}, one(pop), "")
		checkFuzzResult(t, c != nil && err == nil, err)
	})
}

func FuzzPoP(f *testing.F) {
	fx := newFixture(f, nil)
	att := fx.att()
	f.Add(fx.pop())
	f.Add(fx.pop(wiatest.WithAud([]string{asIssuer})))
	f.Add(fx.pop(wiatest.WithIss("wallet-1"), wiatest.WithNonce("n")))
	f.Add(fx.pop(wiatest.WithClaim("iat", "x")))
	f.Add(fx.pop(wiatest.WithHeader("crit", nil)))
	f.Add(strings.Repeat("A", 100) + ".." + strings.Repeat("_", 10))
	f.Fuzz(func(t *testing.T, pop string) {
		c, err := fx.v.Authenticate(context.Background(), one(att), []string{pop}, "")
		checkFuzzResult(t, c != nil && err == nil, err)
	})
}

func FuzzKeyAttestation(f *testing.F) {
	kf := newKAFixture(f, nil)
	f.Add(kf.mint())
	f.Add(kf.mint(wiatest.Pinned()))
	f.Add(kf.mint(wiatest.WithClaim("attested_keys", []any{map[string]any{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}})))
	f.Add(kf.mint(wiatest.WithClaim("key_storage", []any{nil})))
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, jwt string) {
		ka, err := kf.v.Verify(context.Background(), jwt)
		if err == nil {
			if ka == nil || len(ka.AttestedKeys) == 0 {
				t.Fatal("accepted without attested keys")
			}
			return
		}
		e := oauth.As(err)
		if e == nil || e.Code != oauth.CodeInvalidProof || e.Status != 400 {
			t.Fatalf("not invalid_proof: %#v", err)
		}
	})
}
