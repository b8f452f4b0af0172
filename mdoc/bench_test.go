package mdoc

import (
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// benchClaims is an mDL with its 11 mandatory data elements (the smallest valid
// mDL; one more than the 10 of the task statement).
func benchClaims() map[string]map[string]any { return mdlClaims() }

// BenchmarkIssueMDL signs one mDL credential (11 mandatory elements).
func BenchmarkIssueMDL(b *testing.B) {
	p := defaultTestPKI(b)
	_, dk := newDeviceKey(b)
	iss := p.issuer()
	claims := benchClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := iss.Issue(DocTypeMDL, claims, dk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssueMDLBatch10 signs a batch of 10 credentials for 10 device keys.
func BenchmarkIssueMDLBatch10(b *testing.B) {
	p := defaultTestPKI(b)
	keys := make([]*jose.JSONWebKey, 10)
	for n := range keys {
		_, keys[n] = newDeviceKey(b)
	}
	iss := p.issuer()
	claims := benchClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := iss.IssueBatch(DocTypeMDL, claims, keys); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkES256Sign is one bare ECDSA P-256 signature, the floor of issuance.
func BenchmarkES256Sign(b *testing.B) {
	p := defaultTestPKI(b)
	digest := sha256.Sum256([]byte("x"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.dsKey.Sign(rand.Reader, digest[:], nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyMDL verifies one credential (chain, signature, digests).
func BenchmarkVerifyMDL(b *testing.B) {
	p := defaultTestPKI(b)
	_, dk := newDeviceKey(b)
	cred, _, _ := p.issuer().Issue(DocTypeMDL, benchClaims(), dk)
	opts := p.verifyOpts()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(cred, opts); err != nil {
			b.Fatal(err)
		}
	}
}
