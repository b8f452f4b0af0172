package wia

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
)

// Limits on key attestations.
const (
	maxKeyAttestationLen = 64 << 10
	// MaxAttestedKeys bounds attested_keys (batch issuance never needs more).
	MaxAttestedKeys = 100
)

// KeyAttestationOptions configures a KeyAttestationVerifier.
type KeyAttestationOptions struct {
	// Roots are the trust anchors for x5c (HAIP §4.5.1 requires x5c).
	Roots []*x509.Certificate
	// Keys are pinned public keys for key attestations without x5c.
	Keys []jose.JSONWebKey
	Now  func() time.Time
	// MaxAge, if > 0, bounds now - iat.
	MaxAge time.Duration
	// ClockSkew is the tolerance for iat/nbf in the future and exp in the
	// past (default 10 s).
	ClockSkew time.Duration
	// Algs are the accepted algs (default ES256): the proof type's
	// proof_signing_alg_values_supported (OpenID4VCI F.3).
	Algs []string
}

// KeyAttestation is a verified key attestation (OpenID4VCI 1.0 Appendix D.1).
type KeyAttestation struct {
	// AttestedKeys are public EC P-256 keys.
	AttestedKeys       []jose.JSONWebKey
	KeyStorage         []string
	UserAuthentication []string
	// Nonce is the nonce claim ("" if absent); the caller checks it against
	// its c_nonce (OpenID4VCI F.3, F.4).
	Nonce string
	// Issuer is the iss claim ("" if absent).
	Issuer        string
	IssuedAt      time.Time
	Exp           time.Time // zero if absent
	Certification string
	// Status is the raw status claim (Token Status List reference); it is
	// not checked here.
	Status json.RawMessage
}

// KeyAttestationVerifier verifies key attestations. Every failure is 400
// invalid_proof (OpenID4VCI 8.3.1.2) naming the failed check.
type KeyAttestationVerifier struct {
	trust  *trustStore
	now    func() time.Time
	maxAge time.Duration
	skew   time.Duration
	algs   map[string]bool
}

// NewKeyAttestationVerifier checks o and returns a verifier.
func NewKeyAttestationVerifier(o KeyAttestationOptions) (*KeyAttestationVerifier, error) {
	if len(o.Roots) == 0 && len(o.Keys) == 0 {
		return nil, errors.New("wia: key attestation trust needs Roots or Keys")
	}
	v := &KeyAttestationVerifier{trust: newTrustStore(), now: o.Now, maxAge: o.MaxAge, skew: o.ClockSkew}
	if v.now == nil {
		v.now = time.Now
	}
	if v.skew <= 0 {
		v.skew = DefaultClockSkew
	}
	var err error
	if v.algs, _, err = algSet(o.Algs, []string{AlgES256}); err != nil {
		return nil, fmt.Errorf("wia: key attestation Algs: %w", err)
	}
	if err := v.trust.add(0, o.Roots, o.Keys); err != nil {
		return nil, fmt.Errorf("wia: key attestation trust: %w", err)
	}
	return v, nil
}

func kaErr(format string, args ...any) *oauth.Error {
	return oauth.InvalidProof("key attestation: "+format, args...)
}

// keyAttestationClaims are the claims of OpenID4VCI D.1.
type keyAttestationClaims struct {
	Iss                string            `json:"iss"`
	Iat                numericDate       `json:"iat"`
	Exp                numericDate       `json:"exp"`
	Nbf                numericDate       `json:"nbf"`
	AttestedKeys       []json.RawMessage `json:"attested_keys"`
	KeyStorage         *[]string         `json:"key_storage"`
	UserAuthentication *[]string         `json:"user_authentication"`
	Certification      *string           `json:"certification"`
	Nonce              *string           `json:"nonce"`
	Status             json.RawMessage   `json:"status"`
}

var p256Only = map[string]bool{"P-256": true}

// Verify checks a key attestation JWT (OpenID4VCI D.1; HAIP §4.5.1): typ
// key-attestation+jwt, an accepted asymmetric alg, a signature by a trusted
// x5c chain (leaf not self-signed) or pinned key, iat present and not in the
// future, exp (if present) not passed, attested_keys a non-empty array of
// public EC P-256 JWKs, key_storage/user_authentication non-empty string
// arrays if present. The nonce is returned for the caller to check; exp is
// required only with the jwt proof type (see CheckJWTProofUse).
func (v *KeyAttestationVerifier) Verify(ctx context.Context, jwt string) (*KeyAttestation, error) {
	j, err := parseJWS(jwt, maxKeyAttestationLen)
	if err != nil {
		return nil, kaErr("JWT %v", err)
	}
	if !typMatches(j.header.Typ, oauth.TypKeyAttestation) {
		return nil, kaErr("typ must be %s", oauth.TypKeyAttestation)
	}
	if !v.algs[j.header.Alg] {
		return nil, kaErr("alg %q is not accepted", trunc(j.header.Alg))
	}
	now := v.now()
	if _, err := v.trust.verify(j, -1, now); err != nil {
		return nil, kaErr("%v", err)
	}
	var cl keyAttestationClaims
	if err := json.Unmarshal(j.payload, &cl); err != nil {
		return nil, kaErr("payload is not a valid JWT claims set")
	}
	if !cl.Iat.set {
		return nil, kaErr("iat is missing")
	}
	if cl.Iat.t.After(now.Add(v.skew)) {
		return nil, kaErr("iat is in the future")
	}
	if v.maxAge > 0 && now.Sub(cl.Iat.t) > v.maxAge {
		return nil, kaErr("iat is older than %s", v.maxAge)
	}
	if cl.Exp.set && now.After(cl.Exp.t.Add(v.skew)) {
		return nil, kaErr("expired (exp is in the past)")
	}
	if cl.Nbf.set && cl.Nbf.t.After(now.Add(v.skew)) {
		return nil, kaErr("not yet valid (nbf is in the future)")
	}
	if len(cl.AttestedKeys) == 0 {
		return nil, kaErr("attested_keys is missing or empty")
	}
	if len(cl.AttestedKeys) > MaxAttestedKeys {
		return nil, kaErr("attested_keys has more than %d keys", MaxAttestedKeys)
	}
	ka := &KeyAttestation{
		AttestedKeys: make([]jose.JSONWebKey, len(cl.AttestedKeys)),
		Issuer:       cl.Iss,
		IssuedAt:     cl.Iat.t,
		Status:       cl.Status,
	}
	for i, raw := range cl.AttestedKeys {
		var k ecJWK
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, kaErr("attested_keys[%d] is not a JWK object", i)
		}
		pub, err := k.publicKey(p256Only)
		if err != nil {
			return nil, kaErr("attested_keys[%d] %v", i, err)
		}
		for _, prev := range ka.AttestedKeys[:i] {
			if prev.Key.(*ecdsa.PublicKey).Equal(pub.Key) {
				return nil, kaErr("attested_keys[%d] duplicates an earlier key", i)
			}
		}
		ka.AttestedKeys[i] = *pub
	}
	if cl.KeyStorage != nil {
		if len(*cl.KeyStorage) == 0 {
			return nil, kaErr("key_storage is an empty array")
		}
		ka.KeyStorage = *cl.KeyStorage
	}
	if cl.UserAuthentication != nil {
		if len(*cl.UserAuthentication) == 0 {
			return nil, kaErr("user_authentication is an empty array")
		}
		ka.UserAuthentication = *cl.UserAuthentication
	}
	if cl.Certification != nil {
		ka.Certification = *cl.Certification
	}
	if cl.Nonce != nil {
		if *cl.Nonce == "" {
			return nil, kaErr("nonce is empty")
		}
		ka.Nonce = *cl.Nonce
	}
	if cl.Exp.set {
		ka.Exp = cl.Exp.t
	}
	if len(cl.Status) > 0 && string(cl.Status) != "null" && cl.Status[0] != '{' {
		return nil, kaErr("status is not a JSON object")
	}
	return ka, nil
}

// CheckJWTProofUse enforces OpenID4VCI D.1: a key attestation used with the
// jwt proof type MUST contain exp.
func CheckJWTProofUse(ka *KeyAttestation) error {
	if ka == nil {
		return kaErr("is missing")
	}
	if ka.Exp.IsZero() {
		return kaErr("exp is missing (required with the jwt proof type)")
	}
	return nil
}

// Attests reports whether k is one of the attested keys (OpenID4VCI F.1: a
// jwt proof with key_attestation must be signed by an attested key).
func (ka *KeyAttestation) Attests(k *jose.JSONWebKey) bool {
	if ka == nil || k == nil {
		return false
	}
	pub, ok := k.Key.(*ecdsa.PublicKey)
	if !ok {
		return false
	}
	for _, a := range ka.AttestedKeys {
		if a.Key.(*ecdsa.PublicKey).Equal(pub) {
			return true
		}
	}
	return false
}

// CheckRequired implements key_attestations_required (OpenID4VCI 12.2.4):
// the parameters list the values "accepted by the Credential Issuer", so
// when requiredKeyStorage (requiredUserAuth) is non-empty the attestation
// must assert at least one of them in key_storage (user_authentication).
// An empty list means no constraint. A nil ka fails: a key attestation is
// required at all when key_attestations_required is present.
func CheckRequired(ka *KeyAttestation, requiredKeyStorage, requiredUserAuth []string) error {
	if ka == nil {
		return kaErr("is required (key_attestations_required) but missing")
	}
	if len(requiredKeyStorage) > 0 && !intersects(ka.KeyStorage, requiredKeyStorage) {
		return kaErr("key_storage asserts none of the accepted values")
	}
	if len(requiredUserAuth) > 0 && !intersects(ka.UserAuthentication, requiredUserAuth) {
		return kaErr("user_authentication asserts none of the accepted values")
	}
	return nil
}

func intersects(have, accepted []string) bool {
	for _, h := range have {
		for _, a := range accepted {
			if h == a {
				return true
			}
		}
	}
	return false
}
