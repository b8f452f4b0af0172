package dpoptest_test

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
)

func decode(t *testing.T, part string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The default proof is a valid RFC 9449 §4.2 proof that go-jose verifies
// with the embedded jwk.
func TestDefaultProof(t *testing.T) {
	k := dpoptest.NewKey()
	p := k.Proof("POST", "https://issuer.example/token")
	sig, err := jose.ParseSignedCompact(p, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := sig.Signatures[0].Protected
	if h.ExtraHeaders["typ"] != "dpop+jwt" || h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
		t.Fatalf("header %+v", h)
	}
	if _, err := sig.Verify(h.JSONWebKey); err != nil {
		t.Fatal(err)
	}
	c := decode(t, strings.Split(p, ".")[1])
	if c["htm"] != "POST" || c["htu"] != "https://issuer.example/token" || c["jti"] == "" {
		t.Fatalf("claims %v", c)
	}
	if iat := int64(c["iat"].(float64)); time.Since(time.Unix(iat, 0)).Abs() > time.Minute {
		t.Fatalf("iat %d not now", iat)
	}
	if q := k.Proof("POST", "https://issuer.example/token"); decode(t, strings.Split(q, ".")[1])["jti"] == c["jti"] {
		t.Fatal("jti repeated")
	}
}

func TestOptions(t *testing.T) {
	k, other := dpoptest.NewKey(), dpoptest.NewKey()
	at := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		name  string
		opt   dpoptest.Option
		check func(h, c map[string]any, sig string) bool
	}{
		{"IssuedAt", dpoptest.IssuedAt(at), func(_, c map[string]any, _ string) bool { return c["iat"] == float64(1700000000) }},
		{"JTI", dpoptest.JTI("j1"), func(_, c map[string]any, _ string) bool { return c["jti"] == "j1" }},
		{"Nonce", dpoptest.Nonce("n1"), func(_, c map[string]any, _ string) bool { return c["nonce"] == "n1" }},
		{"AccessToken", dpoptest.AccessToken("tok"), func(_, c map[string]any, _ string) bool {
			sum := sha256.Sum256([]byte("tok"))
			return c["ath"] == base64.RawURLEncoding.EncodeToString(sum[:]) && c["ath"] == dpoptest.ATH("tok")
		}},
		{"Typ", dpoptest.Typ("JWT"), func(h, _ map[string]any, _ string) bool { return h["typ"] == "JWT" }},
		{"Alg none", dpoptest.Alg("none"), func(h, _ map[string]any, sig string) bool { return h["alg"] == "none" && sig == "" }},
		{"Alg HS256", dpoptest.Alg("HS256"), func(h, _ map[string]any, sig string) bool { return h["alg"] == "HS256" && len(sig) == 43 }},
		{"WithoutHeader", dpoptest.WithoutHeader("jwk"), func(h, _ map[string]any, _ string) bool { _, ok := h["jwk"]; return !ok }},
		{"WithoutClaim", dpoptest.WithoutClaim("htu"), func(_, c map[string]any, _ string) bool { _, ok := c["htu"]; return !ok }},
		{"PrivateJWK", dpoptest.PrivateJWK(), func(h, _ map[string]any, _ string) bool { return h["jwk"].(map[string]any)["d"] != nil }},
		{"JWKOf", dpoptest.JWKOf(other), func(h, _ map[string]any, _ string) bool {
			var j jose.JSONWebKey
			raw, _ := json.Marshal(h["jwk"])
			if err := j.UnmarshalJSON(raw); err != nil {
				return false
			}
			tp, _ := j.Thumbprint(crypto.SHA256)
			return base64.RawURLEncoding.EncodeToString(tp) == other.JKT
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts := strings.Split(k.Proof("POST", "https://x.example/", tc.opt), ".")
			if len(parts) != 3 || !tc.check(decode(t, parts[0]), decode(t, parts[1]), parts[2]) {
				t.Fatalf("option not applied: %v", parts)
			}
		})
	}
}

// CorruptSignature, SignedBy and JWKOf give proofs whose signature does not
// verify with the embedded jwk.
func TestBrokenSignatures(t *testing.T) {
	k, other := dpoptest.NewKey(), dpoptest.NewKey()
	for name, opt := range map[string]dpoptest.Option{
		"CorruptSignature": dpoptest.CorruptSignature(),
		"SignedBy":         dpoptest.SignedBy(other),
		"JWKOf":            dpoptest.JWKOf(other),
	} {
		sig, err := jose.ParseSignedCompact(k.Proof("POST", "https://x.example/", opt), []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sig.Verify(sig.Signatures[0].Protected.JSONWebKey); err == nil {
			t.Fatalf("%s: signature verifies", name)
		}
	}
}
