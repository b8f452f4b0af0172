package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/mdoc"
	"github.com/mdoc-issuer/issuer/pki"
)

// TestBundleSignsVerifiableMDL: an mDL signed with the Init bundle (through the
// file: signer reference) verifies against the IACA, including the
// issuing_country / issuing_jurisdiction checks against C / ST.
func TestBundleSignsVerifiableMDL(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	b, err := pki.Init(filepath.Join(t.TempDir(), "pki"), pki.InitOptions{
		Country: "US", State: "US-NY", Organization: "Example DMV",
		IssuerURL: "https://issuer.example.com", Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := pki.OpenSigner(b.DSKeyRef)
	if err != nil {
		t.Fatal(err)
	}
	dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss := &mdoc.Issuer{Signer: signer, Chain: b.DSChain(), Now: func() time.Time { return now }}
	claims := map[string]map[string]any{mdoc.NamespaceMDL: {
		"family_name": "Doe", "given_name": "Jane", "birth_date": "1990-04-01",
		"issue_date": "2026-01-10", "expiry_date": "2031-01-09", "issuing_country": "US",
		"issuing_jurisdiction": "US-NY", "issuing_authority": "NY DMV", "document_number": "D1",
		"portrait": "/9j/4AAQSkZJRgABAQD/2Q==", "un_distinguishing_sign": "USA",
		"driving_privileges": []any{map[string]any{"vehicle_category_code": "B"}},
	}}
	cred, issued, err := iss.Issue(mdoc.DocTypeMDL, claims, &jose.JSONWebKey{Key: &dk.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if !issued.Signed.Equal(time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("signed = %v", issued.Signed)
	}
	if _, err := mdoc.Verify(cred, mdoc.VerifyOptions{
		Roots: []*x509.Certificate{b.IACA}, Now: func() time.Time { return now }, DocType: mdoc.DocTypeMDL, Strict: true,
	}); err != nil {
		t.Fatal(err)
	}
}
