// Package dpoptest builds DPoP proofs (RFC 9449 §4.2) for tests: valid ones
// by default, and, through options, proofs broken in exactly one way (a
// missing or wrong claim or header member, another algorithm, a private or
// foreign jwk, a corrupt signature). It is for tests only; never import it
// from production code.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is a wallet's DPoP key pair (EC P-256).
type Key struct {
	Private *ecdsa.PrivateKey
	// JWK is the public key as a go-jose JSON Web Key.
	JWK jose.JSONWebKey
	// JKT is the RFC 7638 SHA-256 thumbprint, base64url (cnf.jkt, dpop_jkt).
	JKT string
}

// NewKey generates a fresh P-256 key.
func NewKey() *Key {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("dpoptest: " + err.Error())
	}
	k := &Key{Private: priv, JWK: jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: "ES256", Use: "sig"}}
	sum, err := k.JWK.Thumbprint(crypto.SHA256)
	if err != nil {
		panic("dpoptest: " + err.Error())
	}
	k.JKT = b64(sum)
	return k
}

// publicJWK returns the public JWK members of k.
func (k *Key) publicJWK() map[string]any {
	pt, err := k.Private.PublicKey.Bytes()
	if err != nil {
		panic("dpoptest: " + err.Error())
	}
	return map[string]any{"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:65])}
}

// Proof builds a DPoP proof for the request method htm and URL htu, signed
// by key: header {typ: dpop+jwt, alg: ES256, jwk}, claims {jti (random), htm,
// htu, iat (now)}. Options change or break it.
func Proof(key *Key, htm, htu string, opts ...Option) string {
	b := &builder{
		key:    key,
		alg:    "ES256",
		header: map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": key.publicJWK()},
		claims: map[string]any{"jti": randomJTI(), "htm": htm, "htu": htu, "iat": time.Now().Unix()},
	}
	for _, o := range opts {
		o(b)
	}
	return b.build()
}

// Proof is Proof(k, htm, htu, opts...).
func (k *Key) Proof(htm, htu string, opts ...Option) string { return Proof(k, htm, htu, opts...) }

// ATH returns the ath claim for an access token: base64url(SHA-256(token)).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return b64(sum[:])
}

// Option changes a proof under construction.
type Option func(*builder)

type builder struct {
	key         *Key
	alg         string // signing algorithm actually used
	header      map[string]any
	claims      map[string]any
	corruptSig  bool
	rawHeader   []byte
	rawPayload  []byte
	signingWith *Key
}

// IssuedAt sets iat.
func IssuedAt(t time.Time) Option { return Claim("iat", t.Unix()) }

// JTI sets jti.
func JTI(jti string) Option { return Claim("jti", jti) }

// Nonce sets the server nonce claim.
func Nonce(n string) Option { return Claim("nonce", n) }

// AccessToken sets ath to the hash of the access token (RFC 9449 §4.2).
func AccessToken(tok string) Option { return Claim("ath", ATH(tok)) }

// Typ sets the typ header member.
func Typ(t string) Option { return Header("typ", t) }

// Alg sets the alg header member and signs accordingly: "none" gives an
// empty signature, "HS256" an HMAC under a fixed key, any other value an
// ES256 signature under the label.
func Alg(alg string) Option {
	return func(b *builder) {
		b.header["alg"] = alg
		b.alg = alg
	}
}

// Header sets header member name to value; a nil value removes it.
func Header(name string, value any) Option {
	return func(b *builder) { set(b.header, name, value) }
}

// Claim sets claim name to value; a nil value removes it.
func Claim(name string, value any) Option {
	return func(b *builder) { set(b.claims, name, value) }
}

// WithoutHeader removes a header member.
func WithoutHeader(name string) Option { return Header(name, nil) }

// WithoutClaim removes a claim.
func WithoutClaim(name string) Option { return Claim(name, nil) }

// JWKOf puts other's public key into the jwk header while the proof is still
// signed with the proof key, so the signature does not verify with the jwk.
func JWKOf(other *Key) Option { return Header("jwk", other.publicJWK()) }

// SignedBy signs the proof with other's private key while the jwk header
// still names the proof key.
func SignedBy(other *Key) Option { return func(b *builder) { b.signingWith = other } }

// PrivateJWK adds the private member d to the jwk header.
func PrivateJWK() Option {
	return func(b *builder) {
		j := b.key.publicJWK()
		d, err := b.key.Private.Bytes()
		if err != nil {
			panic("dpoptest: " + err.Error())
		}
		j["d"] = b64(d)
		b.header["jwk"] = j
	}
}

// CorruptSignature flips one bit of the signature.
func CorruptSignature() Option { return func(b *builder) { b.corruptSig = true } }

// RawHeader replaces the encoded header JSON with raw bytes.
func RawHeader(raw []byte) Option { return func(b *builder) { b.rawHeader = raw } }

// RawPayload replaces the encoded claims JSON with raw bytes.
func RawPayload(raw []byte) Option { return func(b *builder) { b.rawPayload = raw } }

func set(m map[string]any, name string, value any) {
	if value == nil {
		delete(m, name)
		return
	}
	m[name] = value
}

func (b *builder) build() string {
	h, p := b.rawHeader, b.rawPayload
	var err error
	if h == nil {
		if h, err = json.Marshal(b.header); err != nil {
			panic("dpoptest: " + err.Error())
		}
	}
	if p == nil {
		if p, err = json.Marshal(b.claims); err != nil {
			panic("dpoptest: " + err.Error())
		}
	}
	input := b64(h) + "." + b64(p)
	var sig []byte
	switch b.alg {
	case "none":
	case "HS256":
		m := hmac.New(sha256.New, []byte("dpoptest-hmac-key-0123456789abcdef"))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	default:
		signer := b.key
		if b.signingWith != nil {
			signer = b.signingWith
		}
		sig = signES256(signer.Private, []byte(input))
	}
	if b.corruptSig && len(sig) > 0 {
		sig[len(sig)/2] ^= 1
	}
	return input + "." + b64(sig)
}

// signES256 returns the JWS ES256 signature r ‖ s (RFC 7518 §3.4).
func signES256(k *ecdsa.PrivateKey, input []byte) []byte {
	sum := sha256.Sum256(input)
	r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
	if err != nil {
		panic("dpoptest: " + err.Error())
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

func randomJTI() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("dpoptest: " + err.Error())
	}
	return b64(b[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
