package wallet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
)

var b64 = base64.RawURLEncoding

// NewKey returns a fresh P-256 key.
func NewKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return k
}

// PublicJWK returns the public JWK of k.
func PublicJWK(k *ecdsa.PublicKey) jose.JSONWebKey {
	return jose.JSONWebKey{Key: k, Algorithm: string(jose.ES256)}
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of k, base64url.
func Thumbprint(k *ecdsa.PublicKey) string {
	jwk := jose.JSONWebKey{Key: k}
	tp, err := jwk.Thumbprint(crypto256)
	if err != nil {
		panic(err)
	}
	return b64.EncodeToString(tp)
}

// randomString returns n random bytes, base64url.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b64.EncodeToString(b)
}

// header holds the JOSE header members a signed JWT carries besides alg.
type header struct {
	typ       string
	embedJWK  bool
	x5c       []*x509.Certificate
	kid       string
	extra     map[jose.HeaderKey]any
	signerKey *ecdsa.PrivateKey
}

// sign returns a compact ES256 JWS over the JSON encoding of claims.
func sign(h header, claims any) (string, error) {
	opts := &jose.SignerOptions{EmbedJWK: h.embedJWK}
	opts.WithType(jose.ContentType(h.typ))
	if len(h.x5c) > 0 {
		chain := make([]string, len(h.x5c))
		for i, c := range h.x5c {
			chain[i] = base64.StdEncoding.EncodeToString(c.Raw)
		}
		opts.WithHeader("x5c", chain)
	}
	if h.kid != "" {
		opts.WithHeader("kid", h.kid)
	}
	for k, v := range h.extra {
		opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: h.signerKey}, opts)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// DPoPProof returns an RFC 9449 §4.2 proof for a request. accessToken sets ath,
// nonce the server nonce; both may be empty.
func DPoPProof(key *ecdsa.PrivateKey, method, url, accessToken, nonce string, now time.Time) (string, error) {
	claims := map[string]any{
		"jti": randomString(16),
		"htm": method,
		"htu": url,
		"iat": now.Unix(),
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = b64.EncodeToString(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return sign(header{typ: "dpop+jwt", embedJWK: true, signerKey: key}, claims)
}

// Attester issues client attestations (wallet attestations) for wallet
// instances: the wallet provider's backend in a real deployment.
type Attester interface {
	// Attestation returns an OAuth-Client-Attestation JWT for client id sub
	// whose cnf.jwk is instanceKey.
	Attestation(sub string, instanceKey *ecdsa.PublicKey) (string, error)
}

// KeyAttester issues key attestations (OpenID4VCI Appendix D) for keys held in
// the wallet's secure area.
type KeyAttester interface {
	KeyAttestation(keys []*ecdsa.PublicKey, nonce string) (string, error)
}

// X509Provider is a wallet provider (or key-storage attester) signing with a
// key whose certificate chain, leaf first and without the trust anchor, goes
// into x5c (HAIP §4.4.1, §4.5.1).
type X509Provider struct {
	Key      *ecdsa.PrivateKey
	Chain    []*x509.Certificate
	Issuer   string        // iss of attestations (ABCA -07); may be empty
	Lifetime time.Duration // default 1 hour
	// KeyStorage and UserAuthentication are asserted in key attestations.
	KeyStorage         []string
	UserAuthentication []string
	Now                func() time.Time
}

func (p *X509Provider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *X509Provider) lifetime() time.Duration {
	if p.Lifetime > 0 {
		return p.Lifetime
	}
	return time.Hour
}

// Attestation implements Attester (ABCA -07 §5.1).
func (p *X509Provider) Attestation(sub string, instanceKey *ecdsa.PublicKey) (string, error) {
	now := p.now()
	claims := map[string]any{
		"sub": sub,
		"iat": now.Unix(),
		"exp": now.Add(p.lifetime()).Unix(),
		"cnf": map[string]any{"jwk": PublicJWK(instanceKey)},
	}
	if p.Issuer != "" {
		claims["iss"] = p.Issuer
	}
	return sign(header{typ: "oauth-client-attestation+jwt", x5c: p.Chain, signerKey: p.Key}, claims)
}

// KeyAttestation implements KeyAttester (OpenID4VCI Appendix D.1).
func (p *X509Provider) KeyAttestation(keys []*ecdsa.PublicKey, nonce string) (string, error) {
	now := p.now()
	jwks := make([]jose.JSONWebKey, len(keys))
	for i, k := range keys {
		jwks[i] = PublicJWK(k)
	}
	claims := map[string]any{
		"iat":           now.Unix(),
		"exp":           now.Add(p.lifetime()).Unix(),
		"attested_keys": jwks,
	}
	if len(p.KeyStorage) > 0 {
		claims["key_storage"] = p.KeyStorage
	}
	if len(p.UserAuthentication) > 0 {
		claims["user_authentication"] = p.UserAuthentication
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return sign(header{typ: "key-attestation+jwt", x5c: p.Chain, signerKey: p.Key}, claims)
}

// attestationPoP returns an OAuth-Client-Attestation-PoP JWT (ABCA -07 §5.2):
// iss = client id, aud = the authorization server's issuer identifier.
func attestationPoP(key *ecdsa.PrivateKey, clientID, aud, challenge string, now time.Time) (string, error) {
	claims := map[string]any{
		"iss": clientID,
		"aud": aud,
		"jti": randomString(16),
		"iat": now.Unix(),
	}
	if challenge != "" {
		claims["challenge"] = challenge
	}
	return sign(header{typ: "oauth-client-attestation-pop+jwt", signerKey: key}, claims)
}

// keyProof returns an OpenID4VCI Appendix F.1 jwt proof signed by key, whose
// public key is in the jwk header (F.1: exactly one of jwk, kid, x5c names
// the signing key). With a key attestation, the attestation also goes in the
// key_attestation header and key must be one of its attested_keys.
func keyProof(key *ecdsa.PrivateKey, clientID, aud, nonce, keyAttestation string, now time.Time) (string, error) {
	claims := map[string]any{"aud": aud, "iat": now.Unix()}
	if clientID != "" {
		claims["iss"] = clientID
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	h := header{typ: "openid4vci-proof+jwt", signerKey: key, embedJWK: true}
	if keyAttestation != "" {
		h.extra = map[jose.HeaderKey]any{"key_attestation": keyAttestation}
	}
	return sign(h, claims)
}

// pkce returns an RFC 7636 S256 verifier and challenge.
func pkce() (verifier, challenge string) {
	verifier = randomString(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, b64.EncodeToString(sum[:])
}

// claimsOf decodes the payload of a compact JWS or JWT without verifying it.
func claimsOf(compact string) (map[string]any, error) {
	jws, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.RS256, jose.PS256})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &m); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return m, nil
}
