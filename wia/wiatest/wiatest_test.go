package wiatest

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func decode(t *testing.T, jwt string) (h, c map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	for i, m := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, m); err != nil {
			t.Fatal(err)
		}
	}
	return h, c
}

func TestMintedShapes(t *testing.T) {
	p := NewProvider("https://p.example")
	holder := NewKey()
	at := time.Unix(1_800_000_000, 0)
	h, c := decode(t, p.Attestation("w1", holder, At(at)))
	if h["typ"] != "oauth-client-attestation+jwt" || h["alg"] != "ES256" || len(h["x5c"].([]any)) != 2 {
		t.Fatalf("header %v", h)
	}
	if c["iss"] != p.Name || c["sub"] != "w1" || c["iat"] != float64(at.Unix()) || c["exp"] != float64(at.Add(time.Hour).Unix()) {
		t.Fatalf("claims %v", c)
	}
	jwk := c["cnf"].(map[string]any)["jwk"].(map[string]any)
	if jwk["kty"] != "EC" || jwk["crv"] != "P-256" || jwk["d"] != nil || len(jwk["x"].(string)) != 43 {
		t.Fatalf("cnf %v", jwk)
	}

	h, c = decode(t, p.Attestation("w1", holder, Pinned(), WithoutClaim("iss"), WithoutHeader("typ")))
	if h["x5c"] != nil || h["kid"] != p.PinnedKey().KeyID || h["typ"] != nil || c["iss"] != nil {
		t.Fatalf("pinned %v %v", h, c)
	}

	h, c = decode(t, PoP(holder, "https://as.example", WithIss("w1"), WithChallenge("c")))
	if h["typ"] != "oauth-client-attestation-pop+jwt" || c["aud"] != "https://as.example" || c["jti"] == "" || c["iss"] != "w1" || c["challenge"] != "c" {
		t.Fatalf("pop %v %v", h, c)
	}
	_, c2 := decode(t, PoP(holder, "https://as.example"))
	if c2["jti"] == c["jti"] || c2["iss"] != nil {
		t.Fatal("jti repeated or iss present by default")
	}
	if jwt := PoP(holder, "a", WithAlg("none")); !strings.HasSuffix(jwt, ".") {
		t.Fatal("alg none still signed")
	}

	k := NewKeyAttester("https://k.example")
	h, c = decode(t, k.KeyAttestation([]*ecdsa.PublicKey{&holder.PublicKey}))
	if h["typ"] != "key-attestation+jwt" || len(h["x5c"].([]any)) != 1 || len(c["attested_keys"].([]any)) != 1 || c["key_storage"].([]any)[0] != "iso_18045_high" {
		t.Fatalf("key attestation %v %v", h, c)
	}
}
