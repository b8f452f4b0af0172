package wia_test

import (
	"context"
	"testing"

	"github.com/mdoc-issuer/issuer/wia"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

// BenchmarkAuthenticate measures one full authentication (x5c chain
// validation, two signature checks, claims) with a replay cache that
// accepts every jti, so one PoP can be reused.
func BenchmarkAuthenticate(b *testing.B) {
	f := newFixture(b, func(o *wia.Options) { o.Replay = acceptReplay{} })
	att, pop := one(f.att()), one(f.pop())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Authenticate(ctx, att, pop, "wallet-1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticatePinned is the same with a pinned-key attestation (no
// X.509 work).
func BenchmarkAuthenticatePinned(b *testing.B) {
	f := newFixture(b, func(o *wia.Options) { o.Replay = acceptReplay{} })
	att, pop := one(f.att(wiatest.Pinned())), one(f.pop())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Authenticate(ctx, att, pop, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyAttestationVerify(b *testing.B) {
	f := newKAFixture(b, nil)
	jwt := f.mint()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(ctx, jwt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateCold verifies an attestation never seen before (a new
// Verifier per iteration, so neither the chain nor the attestation is
// cached): the cost of a wallet's first request.
func BenchmarkAuthenticateCold(b *testing.B) {
	f := newFixture(b, func(o *wia.Options) { o.Replay = acceptReplay{} })
	att, pop := one(f.att()), one(f.pop())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v, err := wia.NewVerifier(f.opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Authenticate(ctx, att, pop, "wallet-1"); err != nil {
			b.Fatal(err)
		}
	}
}
