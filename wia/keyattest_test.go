package wia_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/wia"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

type kaFixture struct {
	now  time.Time
	ka   *wiatest.KeyAttester
	keys []*ecdsa.PrivateKey
	v    *wia.KeyAttestationVerifier
}

func newKAFixture(t testing.TB, mod func(*wia.KeyAttestationOptions)) *kaFixture {
	t.Helper()
	providers()
	f := &kaFixture{now: time.Now().Truncate(time.Second), ka: kattester, keys: []*ecdsa.PrivateKey{wiatest.NewKey(), wiatest.NewKey()}}
	o := wia.KeyAttestationOptions{
		Roots: kattester.Roots(),
		Keys:  []jose.JSONWebKey{kattester.PinnedKey()},
		Now:   func() time.Time { return f.now },
	}
	if mod != nil {
		mod(&o)
	}
	v, err := wia.NewKeyAttestationVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

func (f *kaFixture) mint(opts ...wiatest.Option) string {
	pubs := make([]*ecdsa.PublicKey, len(f.keys))
	for i, k := range f.keys {
		pubs[i] = &k.PublicKey
	}
	return f.ka.KeyAttestation(pubs, append([]wiatest.Option{wiatest.At(f.now)}, opts...)...)
}

func TestKeyAttestationVerify(t *testing.T) {
	const code = oauth.CodeInvalidProof
	now := time.Now().Truncate(time.Second)
	cases := []struct {
		name     string
		opts     func(*wia.KeyAttestationOptions)
		jwt      func(f *kaFixture) string
		wantDesc string // "" = accepted
	}{
		{name: "valid x5c", jwt: func(f *kaFixture) string { return f.mint() }},
		{name: "valid pinned key", jwt: func(f *kaFixture) string { return f.mint(wiatest.Pinned()) }},
		{name: "valid without exp", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithoutClaim("exp")) }},
		{name: "valid without key_storage and user_authentication", jwt: func(f *kaFixture) string {
			return f.mint(wiatest.WithoutClaim("key_storage"), wiatest.WithoutClaim("user_authentication"))
		}},
		{name: "valid with nonce, certification, status", jwt: func(f *kaFixture) string {
			return f.mint(wiatest.WithNonce("n-1"), wiatest.WithClaim("certification", "https://cert.example/1"),
				wiatest.WithClaim("status", map[string]any{"status_list": map[string]any{"idx": 1, "uri": "https://s.example"}}))
		}},
		{name: "valid ES384 when allowed", opts: func(o *wia.KeyAttestationOptions) { o.Algs = []string{"ES256", "ES384"} },
			jwt: func(f *kaFixture) string { return f.mint() }},

		{name: "not a JWT", jwt: func(*kaFixture) string { return "a.b" }, wantDesc: "key attestation: JWT is not a compact JWS"},
		{name: "typ missing", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithoutHeader("typ")) }, wantDesc: "typ must be key-attestation+jwt"},
		{name: "typ of draft 15 (keyattestation+jwt)", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithTyp("keyattestation+jwt")) }, wantDesc: "typ must be"},
		{name: "typ of a key proof", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithTyp(oauth.TypKeyProof)) }, wantDesc: "typ must be"},
		{name: "alg none", jwt: func(f *kaFixture) string {
			return f.mint(wiatest.WithAlg("none"), func(t *wiatest.Token) { t.NoSignature = false })
		}, wantDesc: `alg "none" is not accepted`},
		{name: "alg HS256", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithAlg("HS256")) }, wantDesc: `alg "HS256" is not accepted`},
		{name: "alg ES384 not accepted", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithAlg("ES384")) }, wantDesc: `alg "ES384" is not accepted`},
		{name: "bad signature", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithBadSignature()) }, wantDesc: "signature does not verify with the x5c leaf key"},
		{name: "self-signed x5c", jwt: func(f *kaFixture) string { return f.mint(wiatest.SelfSigned()) }, wantDesc: "self-signed"},
		{name: "untrusted CA", jwt: func(f *kaFixture) string { return f.mint(wiatest.Untrusted()) }, wantDesc: "does not lead to a trusted root"},
		{name: "chain of another key attester", jwt: func(f *kaFixture) string {
			return kattester2.KeyAttestation([]*ecdsa.PublicKey{&f.keys[0].PublicKey}, wiatest.At(f.now))
		}, wantDesc: "does not lead to a trusted root"},
		{name: "expired signing certificate", jwt: func(f *kaFixture) string { return f.mint(wiatest.ExpiredCert()) }, wantDesc: "expired or not yet valid"},
		{name: "no x5c and no pinned key matches", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithoutHeader("x5c")) }, wantDesc: "signature does not verify with any trusted key"},
		{name: "pinned mode unknown kid", jwt: func(f *kaFixture) string { return f.mint(wiatest.Pinned(), wiatest.WithHeader("kid", "x")) }, wantDesc: "no trusted key with that kid"},
		{name: "iat missing", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithoutClaim("iat")) }, wantDesc: "iat is missing"},
		{name: "iat in the future", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithIat(now.Add(time.Hour))) }, wantDesc: "iat is in the future"},
		{name: "iat older than MaxAge", opts: func(o *wia.KeyAttestationOptions) { o.MaxAge = time.Hour },
			jwt: func(f *kaFixture) string { return f.mint(wiatest.WithIat(now.Add(-2 * time.Hour))) }, wantDesc: "iat is older than"},
		{name: "exp in the past", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithExp(now.Add(-time.Hour))) }, wantDesc: "expired"},
		{name: "exp not a number", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("exp", "soon")) }, wantDesc: "payload is not a valid JWT claims set"},
		{name: "nbf in the future", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithNbf(now.Add(time.Hour))) }, wantDesc: "nbf is in the future"},
		{name: "attested_keys missing", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithoutClaim("attested_keys")) }, wantDesc: "attested_keys is missing or empty"},
		{name: "attested_keys empty", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("attested_keys", []any{})) }, wantDesc: "attested_keys is missing or empty"},
		{name: "attested_keys not an array", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("attested_keys", map[string]any{})) }, wantDesc: "payload is not a valid JWT claims set"},
		{name: "attested key not an object", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("attested_keys", []any{"k"})) }, wantDesc: "attested_keys[0] is not a JWK object"},
		{name: "attested key private", jwt: func(f *kaFixture) string {
			return f.mint(wiatest.WithClaim("attested_keys", []any{wiatest.JWK(&f.keys[0].PublicKey), wiatest.PrivateJWK(f.keys[1])}))
		}, wantDesc: "attested_keys[1] contains private key material"},
		{name: "attested key on P-384", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("attested_keys", []any{p384JWK()})) }, wantDesc: "attested_keys[0] uses a curve that is not accepted"},
		{name: "attested key RSA", jwt: func(f *kaFixture) string {
			return f.mint(wiatest.WithClaim("attested_keys", []any{map[string]any{"kty": "RSA", "n": "AQAB", "e": "AQAB"}}))
		}, wantDesc: "attested_keys[0] is not an EC key"},
		{name: "attested key duplicated", jwt: func(f *kaFixture) string {
			j := wiatest.JWK(&f.keys[0].PublicKey)
			return f.mint(wiatest.WithClaim("attested_keys", []any{j, j}))
		}, wantDesc: "attested_keys[1] duplicates an earlier key"},
		{name: "too many attested keys", jwt: func(f *kaFixture) string {
			j := wiatest.JWK(&f.keys[0].PublicKey)
			l := make([]any, wia.MaxAttestedKeys+1)
			for i := range l {
				l[i] = j
			}
			return f.mint(wiatest.WithClaim("attested_keys", l))
		}, wantDesc: "attested_keys has more than"},
		{name: "key_storage empty", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("key_storage", []string{})) }, wantDesc: "key_storage is an empty array"},
		{name: "key_storage not strings", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("key_storage", []int{1})) }, wantDesc: "payload is not a valid JWT claims set"},
		{name: "user_authentication empty", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("user_authentication", []string{})) }, wantDesc: "user_authentication is an empty array"},
		{name: "user_authentication a string", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("user_authentication", "iso_18045_high")) }, wantDesc: "payload is not a valid JWT claims set"},
		{name: "nonce empty", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithNonce("")) }, wantDesc: "nonce is empty"},
		{name: "nonce not a string", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("nonce", 5)) }, wantDesc: "payload is not a valid JWT claims set"},
		{name: "certification not a string", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("certification", 5)) }, wantDesc: "payload is not a valid JWT claims set"},
		{name: "status not an object", jwt: func(f *kaFixture) string { return f.mint(wiatest.WithClaim("status", "revoked")) }, wantDesc: "status is not a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newKAFixture(t, tc.opts)
			ka, err := f.v.Verify(context.Background(), tc.jwt(f))
			if tc.wantDesc == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if len(ka.AttestedKeys) == 0 || ka.IssuedAt.IsZero() {
					t.Fatalf("incomplete result %+v", ka)
				}
				return
			}
			if ka != nil {
				t.Fatal("result returned with an error")
			}
			wantError(t, err, s400, code, tc.wantDesc)
		})
	}
}

func TestKeyAttestationResult(t *testing.T) {
	f := newKAFixture(t, nil)
	ka, err := f.v.Verify(context.Background(), f.mint(wiatest.WithNonce("c-nonce-1"), wiatest.WithClaim("certification", "https://cert.example/x")))
	if err != nil {
		t.Fatal(err)
	}
	if len(ka.AttestedKeys) != 2 || ka.Nonce != "c-nonce-1" || ka.Issuer != f.ka.Name || ka.Certification != "https://cert.example/x" {
		t.Fatalf("result %+v", ka)
	}
	if !ka.Exp.Equal(f.now.Add(time.Hour)) || !ka.IssuedAt.Equal(f.now) {
		t.Fatalf("times %v %v", ka.IssuedAt, ka.Exp)
	}
	if strings.Join(ka.KeyStorage, ",") != "iso_18045_high" || strings.Join(ka.UserAuthentication, ",") != "iso_18045_high" {
		t.Fatalf("levels %v %v", ka.KeyStorage, ka.UserAuthentication)
	}
	for i, k := range f.keys {
		if !ka.AttestedKeys[i].IsPublic() || !ka.Attests(&jose.JSONWebKey{Key: &k.PublicKey}) {
			t.Fatalf("attested key %d not reported", i)
		}
	}
	if ka.Attests(&jose.JSONWebKey{Key: &wiatest.NewKey().PublicKey}) {
		t.Fatal("Attests accepted a key that is not attested")
	}
	if err := wia.CheckJWTProofUse(ka); err != nil {
		t.Fatalf("CheckJWTProofUse with exp: %v", err)
	}
	noExp, err := f.v.Verify(context.Background(), f.mint(wiatest.WithoutClaim("exp")))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, wia.CheckJWTProofUse(noExp), s400, oauth.CodeInvalidProof, "exp is missing")
	wantError(t, wia.CheckJWTProofUse(nil), s400, oauth.CodeInvalidProof, "is missing")
}

func TestCheckRequired(t *testing.T) {
	high := []string{"iso_18045_high"}
	ka := &wia.KeyAttestation{KeyStorage: []string{"iso_18045_moderate"}, UserAuthentication: high}
	cases := []struct {
		name           string
		ka             *wia.KeyAttestation
		storage, authn []string
		wantDesc       string
	}{
		{name: "no constraints (empty key_attestations_required)", ka: ka},
		{name: "key_storage accepted among several", ka: ka, storage: []string{"iso_18045_high", "iso_18045_moderate"}},
		{name: "both accepted", ka: ka, storage: []string{"iso_18045_moderate"}, authn: high},
		{name: "attestation missing", ka: nil, wantDesc: "is required (key_attestations_required) but missing"},
		{name: "key_storage below requirement", ka: ka, storage: high, wantDesc: "key_storage asserts none of the accepted values"},
		{name: "user_authentication below requirement", ka: &wia.KeyAttestation{UserAuthentication: []string{"iso_18045_basic"}}, authn: high,
			wantDesc: "user_authentication asserts none of the accepted values"},
		{name: "key_storage absent but required", ka: &wia.KeyAttestation{UserAuthentication: high}, storage: high,
			wantDesc: "key_storage asserts none"},
		{name: "user_authentication absent but required", ka: &wia.KeyAttestation{KeyStorage: high}, authn: high,
			wantDesc: "user_authentication asserts none"},
		{name: "case-sensitive values", ka: &wia.KeyAttestation{KeyStorage: []string{"ISO_18045_HIGH"}}, storage: high,
			wantDesc: "key_storage asserts none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := wia.CheckRequired(tc.ka, tc.storage, tc.authn)
			if tc.wantDesc == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantError(t, err, s400, oauth.CodeInvalidProof, tc.wantDesc)
		})
	}
}

func TestNewKeyAttestationVerifierRejectsBadOptions(t *testing.T) {
	cases := map[string]wia.KeyAttestationOptions{
		"no trust":        {},
		"nil root":        {Roots: []*x509.Certificate{nil}},
		"private key":     {Keys: []jose.JSONWebKey{{Key: wiatest.NewKey()}}},
		"symmetric key":   {Keys: []jose.JSONWebKey{{Key: []byte("secret")}}},
		"HS256 allowed":   {Roots: kattesterRoots(), Algs: []string{"HS256"}},
		"none allowed":    {Roots: kattesterRoots(), Algs: []string{"none"}},
		"unknown alg set": {Roots: kattesterRoots(), Algs: []string{"PS256"}},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := wia.NewKeyAttestationVerifier(o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func kattesterRoots() []*x509.Certificate {
	providers()
	return kattester.Roots()
}
