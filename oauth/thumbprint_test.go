package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestECKeyThumbprint: equal to go-jose's RFC 7638 thumbprint on every
// supported curve; other curves are refused.
func TestECKeyThumbprint(t *testing.T) {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		for range 10 {
			k, err := ecdsa.GenerateKey(c, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			want, err := (&jose.JSONWebKey{Key: &k.PublicKey}).Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ECKeyThumbprint(&k.PublicKey)
			if err != nil || got != base64.RawURLEncoding.EncodeToString(want) {
				t.Fatalf("%s: %s, want %x (%v)", c.Params().Name, got, want, err)
			}
		}
	}
	k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ECKeyThumbprint(&k.PublicKey); err == nil {
		t.Fatal("P-224 key thumbprinted")
	}
}
