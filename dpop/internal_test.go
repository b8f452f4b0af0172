package dpop

import (
	"encoding/asn1"
	"math/big"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
	"github.com/mdoc-issuer/issuer/oauth"
)

func TestCanonicalHTU(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"https://issuer.example/token", "https://issuer.example/token", true},
		{"HTTPS://Issuer.EXAMPLE/token", "https://issuer.example/token", true},
		{"https://issuer.example:443/token", "https://issuer.example/token", true},
		{"http://issuer.example:80/token", "http://issuer.example/token", true},
		{"https://issuer.example:80/token", "https://issuer.example:80/token", true},
		{"https://issuer.example/token?x=1#f", "https://issuer.example/token", true},
		{"https://issuer.example/token?", "https://issuer.example/token", true},
		{"https://issuer.example", "https://issuer.example/", true},
		{"https://issuer.example/%7Etok%2fen", "https://issuer.example/~tok%2Fen", true},
		{"https://issuer.example/a/./b/../c", "https://issuer.example/a/c", true},
		{"https://issuer.example/a/b/..", "https://issuer.example/a/", true},
		{"https://issuer.example/a/%2E%2E/c", "https://issuer.example/c", true},
		{"https://issuer.example/..", "https://issuer.example/", true},
		{"https://issuer.example/Token", "https://issuer.example/Token", true},
		{"https://[2001:DB8::1]:443/t", "https://[2001:db8::1]/t", true},
		{"https://user@issuer.example/t", "https://user@issuer.example/t", true},
		{"/token", "", false},
		{"issuer.example/token", "", false},
		{"urn:x:y", "", false},
		{"https:///token", "", false},
		{"https://issuer.example/%zz", "", false},
		{"", "", false},
	} {
		got, ok := canonicalHTU(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("canonicalHTU(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// asn1Sig must produce the DER encoding encoding/asn1 produces, including
// for values with leading zeros and with the top bit set.
func TestASN1Sig(t *testing.T) {
	vals := [][]byte{
		make([]byte, 32),
		append(make([]byte, 31), 1),
		append([]byte{0x80}, make([]byte, 31)...),
		append([]byte{0, 0x80}, make([]byte, 30)...),
		append([]byte{0, 0x7f}, make([]byte, 30)...),
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
	for _, r := range vals {
		for _, s := range vals {
			want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
			if err != nil {
				t.Fatal(err)
			}
			if got := asn1Sig(nil, r, s); string(got) != string(want) {
				t.Fatalf("asn1Sig(%x, %x) = %x, want %x", r, s, got, want)
			}
		}
	}
}

func TestRemoveDotSegments(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b/c/./../../g":    "/a/g",
		"/mid/content=5/../6": "/mid/6",
		"/./":                 "/",
		"/a/.":                "/a/",
		"/a.b/c.d":            "/a.b/c.d",
		"/../../x":            "/x",
	} {
		if got := removeDotSegments(in); got != want {
			t.Errorf("removeDotSegments(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse checks the proof parser alone: rejections carry
// invalid_dpop_proof and a description, and a proof whose signature verify
// accepts is one go-jose parses and verifies with the same key.
func FuzzParse(f *testing.F) {
	k := dpoptest.NewKey()
	f.Add(k.Proof("POST", "https://issuer.example/token"))
	f.Add(k.Proof("POST", "https://issuer.example/token", dpoptest.Claim("iat", 1e300)))
	f.Add(k.Proof("POST", "https://issuer.example/token", dpoptest.PrivateJWK()))
	f.Add(k.Proof("POST", "https://issuer.example/token", dpoptest.Alg("none")))
	f.Add(k.Proof("POST", "https://issuer.example/token", dpoptest.RawHeader([]byte(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"","y":""}}`))))
	f.Add("e30.e30.AA")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		p, fl := parse(s)
		if fl != nil {
			if p != nil || fl.code != oauth.CodeInvalidDPoPProof || fl.desc == "" {
				t.Fatalf("bad rejection %+v", fl)
			}
			return
		}
		if p.JTI == "" || p.HTM == "" || p.HTU == "" || p.IAT == nil || p.pub == nil || len(p.sig) != 64 {
			t.Fatalf("accepted incomplete proof %+v", p)
		}
		if !p.verify() {
			return
		}
		sig, err := jose.ParseSignedCompact(s, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("go-jose cannot parse a proof parse accepted: %v", err)
		}
		if _, err := sig.Verify(p.pub); err != nil {
			t.Fatalf("go-jose does not verify a signature verify accepted: %v", err)
		}
	})
}
