// Package wiatest mints wallet attestations, attestation PoPs and key
// attestations for tests: a test wallet provider with its own CA (root ->
// intermediate -> signing leaf) and a pinned key, and a key attester with its
// own CA. Options break or omit any header parameter or claim, so tests can
// probe every check of package wia.
//
// It is for tests and the wallet simulator only: keys are generated in
// memory and nothing is secret.
package wiatest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/wia"
)

var b64 = base64.RawURLEncoding

// Token is a JWT being minted. Options edit it before it is signed.
type Token struct {
	Header map[string]any
	Claims map[string]any
	// Key signs the token with ES256 (whatever Header["alg"] says).
	Key *ecdsa.PrivateKey
	// BadSignature flips a bit of the signature; NoSignature leaves it empty.
	BadSignature bool
	NoSignature  bool

	now time.Time
	alt *alternates
}

// alternates are the other signers a provider offers to options.
type alternates struct {
	pinned        *ecdsa.PrivateKey
	pinnedKID     string
	selfSigned    *x509.Certificate
	selfSignedKey *ecdsa.PrivateKey
	foreign       []*x509.Certificate
	foreignKey    *ecdsa.PrivateKey
	expired       []*x509.Certificate
	expiredKey    *ecdsa.PrivateKey
}

// Option edits a Token.
type Option func(*Token)

// WithHeader sets a JOSE header parameter.
func WithHeader(name string, v any) Option { return func(t *Token) { t.Header[name] = v } }

// WithoutHeader removes a JOSE header parameter.
func WithoutHeader(name string) Option { return func(t *Token) { delete(t.Header, name) } }

// WithClaim sets a claim to any JSON value.
func WithClaim(name string, v any) Option { return func(t *Token) { t.Claims[name] = v } }

// WithoutClaim removes a claim.
func WithoutClaim(name string) Option { return func(t *Token) { delete(t.Claims, name) } }

// WithTyp sets typ; WithAlg sets the alg header only (the signature stays
// ES256; "none" also empties the signature).
func WithTyp(typ string) Option { return WithHeader("typ", typ) }
func WithAlg(alg string) Option {
	return func(t *Token) {
		t.Header["alg"] = alg
		if alg == "none" {
			t.NoSignature = true
		}
	}
}

// Time claims.
func WithIat(at time.Time) Option { return WithClaim("iat", at.Unix()) }
func WithExp(at time.Time) Option { return WithClaim("exp", at.Unix()) }
func WithNbf(at time.Time) Option { return WithClaim("nbf", at.Unix()) }

// At moves iat, exp and nbf (where present) so that the token looks minted
// at the given time.
func At(at time.Time) Option {
	return func(t *Token) {
		d := at.Unix() - t.now.Unix()
		for _, c := range []string{"iat", "exp", "nbf"} {
			if v, ok := t.Claims[c].(int64); ok {
				t.Claims[c] = v + d
			}
		}
		t.now = at
	}
}

// Other claims. WithAud takes a string or a []string.
func WithAud(aud any) Option        { return WithClaim("aud", aud) }
func WithJTI(jti string) Option     { return WithClaim("jti", jti) }
func WithIss(iss string) Option     { return WithClaim("iss", iss) }
func WithSub(sub string) Option     { return WithClaim("sub", sub) }
func WithChallenge(c string) Option { return WithClaim("challenge", c) }
func WithNonce(n string) Option     { return WithClaim("nonce", n) }

// WithCNF replaces cnf.jwk (see JWK, PrivateJWK).
func WithCNF(jwk map[string]any) Option { return WithClaim("cnf", map[string]any{"jwk": jwk}) }

// WithSigner signs with key instead of the default key.
func WithSigner(key *ecdsa.PrivateKey) Option { return func(t *Token) { t.Key = key } }

// WithBadSignature corrupts the signature.
func WithBadSignature() Option { return func(t *Token) { t.BadSignature = true } }

// WithX5C replaces the x5c header by the given chain.
func WithX5C(chain ...*x509.Certificate) Option {
	return func(t *Token) { t.Header["x5c"] = x5c(chain) }
}

// Pinned signs with the provider's pinned key, with its kid and no x5c.
func Pinned() Option {
	return func(t *Token) {
		delete(t.Header, "x5c")
		t.Header["kid"] = t.alt.pinnedKID
		t.Key = t.alt.pinned
	}
}

// SelfSigned signs with a key whose x5c is a single self-signed certificate.
func SelfSigned() Option {
	return func(t *Token) {
		t.Header["x5c"] = x5c([]*x509.Certificate{t.alt.selfSigned})
		t.Key = t.alt.selfSignedKey
	}
}

// Untrusted signs with a chain from a CA no verifier trusts.
func Untrusted() Option {
	return func(t *Token) {
		t.Header["x5c"] = x5c(t.alt.foreign)
		t.Key = t.alt.foreignKey
	}
}

// ExpiredCert signs with a leaf certificate (of the trusted CA) that has
// expired.
func ExpiredCert() Option {
	return func(t *Token) {
		t.Header["x5c"] = x5c(t.alt.expired)
		t.Key = t.alt.expiredKey
	}
}

func x5c(chain []*x509.Certificate) []string {
	s := make([]string, len(chain))
	for i, c := range chain {
		s[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	return s
}

// sign serialises and signs the token after applying opts.
func (t *Token) sign(opts []Option) string {
	for _, o := range opts {
		o(t)
	}
	h, err := json.Marshal(t.Header)
	if err != nil {
		panic(err)
	}
	c, err := json.Marshal(t.Claims)
	if err != nil {
		panic(err)
	}
	in := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	if t.NoSignature {
		return in + "."
	}
	sig := SignES256(t.Key, []byte(in))
	if t.BadSignature {
		sig[len(sig)/2] ^= 0x01
	}
	return in + "." + b64.EncodeToString(sig)
}

// SignES256 returns the JWS ES256 signature (R||S) of in. Keys on other
// curves produce signatures of their size (ES384/ES512).
func SignES256(key *ecdsa.PrivateKey, in []byte) []byte {
	var digest []byte
	switch key.Curve {
	case elliptic.P384():
		h := crypto.SHA384.New()
		h.Write(in)
		digest = h.Sum(nil)
	case elliptic.P521():
		h := crypto.SHA512.New()
		h.Write(in)
		digest = h.Sum(nil)
	default:
		h := sha256.Sum256(in)
		digest = h[:]
	}
	r, s, err := ecdsa.Sign(rand.Reader, key, digest)
	if err != nil {
		panic(err)
	}
	size := (key.Curve.Params().BitSize + 7) / 8
	sig := make([]byte, 2*size)
	r.FillBytes(sig[:size])
	s.FillBytes(sig[size:])
	return sig
}

// NewKey returns a fresh P-256 key (a holder or instance key).
func NewKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// JWK returns the public JWK of pub as a JSON object.
func JWK(pub *ecdsa.PublicKey) map[string]any {
	pt, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	size := (len(pt) - 1) / 2
	return map[string]any{
		"kty": "EC",
		"crv": pub.Curve.Params().Name,
		"x":   b64.EncodeToString(pt[1 : 1+size]),
		"y":   b64.EncodeToString(pt[1+size:]),
	}
}

// PrivateJWK returns the JWK of key including the private d.
func PrivateJWK(key *ecdsa.PrivateKey) map[string]any {
	m := JWK(&key.PublicKey)
	d, err := key.Bytes()
	if err != nil {
		panic(err)
	}
	m["d"] = b64.EncodeToString(d)
	return m
}

func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return b64.EncodeToString(b[:])
}

// PoP mints a Client Attestation PoP JWT (ABCA-07 §5.2) signed by holder:
// typ oauth-client-attestation-pop+jwt, alg ES256, aud, a random jti and
// iat now. It carries no iss (ABCA -08+); add WithIss(clientID) for -07.
func PoP(holder *ecdsa.PrivateKey, aud string, opts ...Option) string {
	now := time.Now()
	t := &Token{
		Header: map[string]any{"typ": oauth.TypClientAttestPoP, "alg": "ES256"},
		Claims: map[string]any{"aud": aud, "jti": randomID(), "iat": now.Unix()},
		Key:    holder,
		now:    now,
		alt:    &alternates{},
	}
	return t.sign(opts)
}

// ca is a certificate authority of a test provider.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCert(tmpl *x509.Certificate, parent *ca, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	tmpl.SerialNumber = sn
	p := tmpl
	if parent != nil {
		p = parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p, pub, signer)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return c
}

func newRoot(cn string, now time.Time) *ca {
	k := NewKey()
	c := newCert(&x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil, &k.PublicKey, k)
	return &ca{cert: c, key: k}
}

func (p *ca) issueCA(cn string, now time.Time) *ca {
	k := NewKey()
	c := newCert(&x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.AddDate(5, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, MaxPathLenZero: true,
	}, p, &k.PublicKey, p.key)
	return &ca{cert: c, key: k}
}

func (p *ca) issueLeaf(cn string, notBefore, notAfter time.Time) (*x509.Certificate, *ecdsa.PrivateKey) {
	k := NewKey()
	c := newCert(&x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}, p, &k.PublicKey, p.key)
	return c, k
}

// newAlternates makes the other signers; issuer (with the certificates
// between it and the root in up) issues the expired leaf.
func newAlternates(name string, issuer *ca, up []*x509.Certificate, now time.Time) *alternates {
	a := &alternates{pinned: NewKey(), pinnedKID: name + "-pinned"}
	ssKey := NewKey()
	a.selfSigned = newCert(&x509.Certificate{
		Subject: pkix.Name{CommonName: name + " self-signed"}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}, nil, &ssKey.PublicKey, ssKey)
	a.selfSignedKey = ssKey
	foreign := newRoot(name+" foreign root", now)
	fl, fk := foreign.issueLeaf(name+" foreign signer", now.Add(-time.Hour), now.AddDate(1, 0, 0))
	a.foreign, a.foreignKey = []*x509.Certificate{fl}, fk
	el, ek := issuer.issueLeaf(name+" expired signer", now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0))
	a.expired, a.expiredKey = append([]*x509.Certificate{el}, up...), ek
	return a
}

// WalletProvider is a test wallet provider (Client Attester).
type WalletProvider struct {
	Name string
	// Now is the minting clock (default time.Now).
	Now func() time.Time
	// RedirectURIs go into Provider().
	RedirectURIs []string
	// Lifetime of attestations (default 1 h).
	Lifetime time.Duration

	root  *ca
	inter *ca
	leaf  *x509.Certificate
	key   *ecdsa.PrivateKey
	alt   *alternates
}

// NewProvider creates a provider with a fresh CA: root -> intermediate ->
// signing leaf, plus a pinned key.
func NewProvider(name string) *WalletProvider {
	now := time.Now()
	root := newRoot(name+" root", now)
	inter := root.issueCA(name+" intermediate", now)
	leaf, key := inter.issueLeaf(name+" attestation signer", now.Add(-time.Hour), now.AddDate(2, 0, 0))
	return &WalletProvider{
		Name: name, RedirectURIs: []string{"https://wallet.example/cb"},
		root: root, inter: inter, leaf: leaf, key: key,
		alt: newAlternates(name, inter, []*x509.Certificate{inter.cert}, now),
	}
}

// Root is the provider's trust anchor.
func (p *WalletProvider) Root() *x509.Certificate { return p.root.cert }

// Chain is the x5c chain sent in attestations (leaf, intermediate; no root).
func (p *WalletProvider) Chain() []*x509.Certificate {
	return []*x509.Certificate{p.leaf, p.inter.cert}
}

// PinnedKey is the provider's pinned public key (kid PinnedKID).
func (p *WalletProvider) PinnedKey() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &p.alt.pinned.PublicKey, KeyID: p.alt.pinnedKID, Algorithm: "ES256", Use: "sig"}
}

// Provider is the trust configuration for wia.Options.Providers: the root
// and the pinned key.
func (p *WalletProvider) Provider() wia.Provider {
	return wia.Provider{
		Name:         p.Name,
		Roots:        []*x509.Certificate{p.root.cert},
		Keys:         []jose.JSONWebKey{p.PinnedKey()},
		RedirectURIs: append([]string(nil), p.RedirectURIs...),
	}
}

// Attestation mints a Client Attestation JWT (ABCA-07 §5.1, OpenID4VCI E)
// for client sub bound to holder: header typ, alg ES256, x5c (leaf and
// intermediate); claims iss (the provider name), sub, iat, exp, cnf.jwk and
// wallet_name.
func (p *WalletProvider) Attestation(sub string, holder *ecdsa.PrivateKey, opts ...Option) string {
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	life := p.Lifetime
	if life <= 0 {
		life = time.Hour
	}
	t := &Token{
		Header: map[string]any{"typ": oauth.TypClientAttestation, "alg": "ES256", "x5c": x5c(p.Chain())},
		Claims: map[string]any{
			"iss": p.Name, "sub": sub, "iat": now.Unix(), "exp": now.Add(life).Unix(),
			"cnf": map[string]any{"jwk": JWK(&holder.PublicKey)}, "wallet_name": p.Name + " wallet",
		},
		Key: p.key,
		now: now,
		alt: p.alt,
	}
	return t.sign(opts)
}

// KeyAttester is a test key attestation issuer (a wallet provider or key
// storage component) with its own CA: root -> signing leaf.
type KeyAttester struct {
	Name string
	Now  func() time.Time
	// KeyStorage and UserAuthentication are asserted by default
	// (iso_18045_high).
	KeyStorage, UserAuthentication []string

	root *ca
	leaf *x509.Certificate
	key  *ecdsa.PrivateKey
	alt  *alternates
}

// NewKeyAttester creates a key attester with a fresh CA.
func NewKeyAttester(name string) *KeyAttester {
	now := time.Now()
	root := newRoot(name+" root", now)
	leaf, key := root.issueLeaf(name+" key attestation signer", now.Add(-time.Hour), now.AddDate(2, 0, 0))
	return &KeyAttester{
		Name: name, KeyStorage: []string{"iso_18045_high"}, UserAuthentication: []string{"iso_18045_high"},
		root: root, leaf: leaf, key: key, alt: newAlternates(name, root, nil, now),
	}
}

// Roots are the trust anchors for wia.KeyAttestationOptions.Roots.
func (k *KeyAttester) Roots() []*x509.Certificate { return []*x509.Certificate{k.root.cert} }

// PinnedKey is the attester's pinned public key for
// wia.KeyAttestationOptions.Keys (use with the Pinned option).
func (k *KeyAttester) PinnedKey() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.alt.pinned.PublicKey, KeyID: k.alt.pinnedKID, Algorithm: "ES256", Use: "sig"}
}

// KeyAttestation mints a key attestation JWT (OpenID4VCI D.1): typ
// key-attestation+jwt, alg ES256, x5c (leaf only), iss, iat, exp (+1 h),
// attested_keys, key_storage and user_authentication.
func (k *KeyAttester) KeyAttestation(keys []*ecdsa.PublicKey, opts ...Option) string {
	now := time.Now()
	if k.Now != nil {
		now = k.Now()
	}
	jwks := make([]any, len(keys))
	for i, pk := range keys {
		jwks[i] = JWK(pk)
	}
	t := &Token{
		Header: map[string]any{"typ": oauth.TypKeyAttestation, "alg": "ES256", "x5c": x5c([]*x509.Certificate{k.leaf})},
		Claims: map[string]any{
			"iss": k.Name, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "attested_keys": jwks,
			"key_storage": k.KeyStorage, "user_authentication": k.UserAuthentication,
		},
		Key: k.key,
		now: now,
		alt: k.alt,
	}
	return t.sign(opts)
}

// String describes the attester (no key material).
func (k *KeyAttester) String() string { return fmt.Sprintf("wiatest.KeyAttester(%s)", k.Name) }
