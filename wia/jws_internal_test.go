package wia

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"math/big"
	"testing"
)

func TestDERSignatureMatchesASN1(t *testing.T) {
	type sig struct{ R, S *big.Int }
	edge := [][]byte{
		bytes.Repeat([]byte{0}, 31), bytes.Repeat([]byte{0xff}, 32), {0x80}, {0x7f}, {0, 0, 0x80}, {0, 0x7f, 1},
	}
	for i := 0; i < 3000; i++ {
		var r, s []byte
		if i < len(edge)*len(edge) {
			r, s = edge[i/len(edge)], edge[i%len(edge)]
			r, s = append([]byte{1}, r...), append([]byte{1}, s...) // non-zero
			if i%2 == 0 {
				r[0] = 0
			}
		} else {
			size := []int{32, 48, 66}[i%3]
			r, s = make([]byte, size), make([]byte, size)
			rand.Read(r)
			rand.Read(s)
			r[0] &= byte(i) // leading zeros and high bits
		}
		want, err := asn1.Marshal(sig{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
		if err != nil {
			t.Fatal(err)
		}
		if got := derSignature(nil, r, s); !bytes.Equal(got, want) {
			t.Fatalf("r=%x s=%x: got %x want %x", r, s, got, want)
		}
	}
}

func rawSig(t *testing.T, k *ecdsa.PrivateKey, digest []byte) []byte {
	r, s, err := ecdsa.Sign(rand.Reader, k, digest)
	if err != nil {
		t.Fatal(err)
	}
	size := (k.Curve.Params().BitSize + 7) / 8
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out
}

func TestVerifySignatureAlgs(t *testing.T) {
	in := []byte("eyJhbGciOiJFUzI1NiJ9.e30")
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	h256 := sha256.Sum256(in)
	h384 := sha512.Sum384(in)
	h512 := sha512.Sum512(in)
	cases := []struct {
		name string
		alg  string
		key  any
		sig  []byte
	}{
		{"ES256", AlgES256, &p256.PublicKey, rawSig(t, p256, h256[:])},
		{"ES384", AlgES384, &p384.PublicKey, rawSig(t, p384, h384[:])},
		{"ES512", AlgES512, &p521.PublicKey, rawSig(t, p521, h512[:])},
		{"EdDSA", AlgEdDSA, edPub, ed25519.Sign(edPriv, in)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := verifySignature(tc.alg, tc.key, in, tc.sig); err != nil {
				t.Fatalf("valid signature rejected: %v", err)
			}
			bad := append([]byte(nil), tc.sig...)
			bad[3] ^= 1
			if verifySignature(tc.alg, tc.key, in, bad) == nil {
				t.Fatal("corrupted signature accepted")
			}
			if verifySignature(tc.alg, tc.key, in, tc.sig[:len(tc.sig)-1]) == nil {
				t.Fatal("truncated signature accepted")
			}
			if verifySignature(tc.alg, tc.key, append([]byte("x"), in...), tc.sig) == nil {
				t.Fatal("signature over other input accepted")
			}
			for _, other := range []string{AlgES256, AlgES384, AlgES512, AlgEdDSA, "HS256", "none", "RS256"} {
				if other != tc.alg && verifySignature(other, tc.key, in, tc.sig) == nil {
					t.Fatalf("accepted under alg %s", other)
				}
			}
		})
	}
}

func TestParseJWSRejects(t *testing.T) {
	cases := map[string]string{
		"empty":             "",
		"one part":          "abc",
		"two parts":         "abc.def",
		"four parts":        "a.b.c.d",
		"padding":           "eyJhbGciOiJFUzI1NiJ9=.e30.AA",
		"space":             "eyJhbGciOiJFUzI1NiJ9 .e30.AA",
		"empty header":      ".e30.AA",
		"empty signature":   "eyJhbGciOiJFUzI1NiJ9.e30.",
		"header array":      "WzFd.e30.AA",
		"header null":       "bnVsbA.e30.AA",
		"alg not string":    "eyJhbGciOjF9.e30.AA",
		"crit":              "eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiYiJdfQ.e30.AA",
		"x5c not array":     "eyJhbGciOiJFUzI1NiIsIng1YyI6IngifQ.e30.AA",
		"bad base64 header": "e$.e30.AA",
		"LF in header":      "eyJhbGciOi\nJFUzI1NiJ9.e30.AA",
		"CR in payload":     "eyJhbGciOiJFUzI1NiJ9.e3\r0.AA",
		"LF in signature":   "eyJhbGciOiJFUzI1NiJ9.e30.A\nA",
		"space in payload":  "eyJhbGciOiJFUzI1NiJ9.e 30.AA",
		"plus in signature": "eyJhbGciOiJFUzI1NiJ9.e30.A+",
		"NUL":               "eyJhbGciOiJFUzI1NiJ9.e30\x00.AA",
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parseJWS(s, 1<<10); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := parseJWS("eyJhbGciOiJFUzI1NiJ9.e30.AA", 10); err == nil {
		t.Fatal("accepted a JWS over the size limit")
	}
	j, err := parseJWS("eyJhbGciOiJFUzI1NiJ9.e30.AAE", 1<<10)
	if err != nil || j.header.Alg != "ES256" || string(j.payload) != "{}" || string(j.signingInput) != "eyJhbGciOiJFUzI1NiJ9.e30" || !bytes.Equal(j.sig, []byte{0, 1}) {
		t.Fatalf("parse: %+v %v", j, err)
	}
}
