package mdoc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
)

// COSE_Key labels and values (RFC 9052 §7, RFC 9053 §7.1).
const (
	coseKeyKty    = 1
	coseKeyCrv    = -1
	coseKeyX      = -2
	coseKeyY      = -3
	coseKtyEC2    = 2
	coseCrvP256   = 1
	p256CoordSize = 32
)

// coseKeyFromJWK converts a public EC P-256 JWK into the COSE_Key
// {1: 2, -1: 1, -2: x, -3: y} with full 32-byte coordinates and integer labels
// only (mdoc.md §1.6, §4). The point is validated.
func coseKeyFromJWK(k *jose.JSONWebKey) ([]byte, *ecdsa.PublicKey, error) {
	if k == nil {
		return nil, nil, errors.New("device key missing")
	}
	if !k.IsPublic() {
		return nil, nil, errors.New("device key must be a public key")
	}
	pub, ok := k.Key.(*ecdsa.PublicKey)
	if !ok {
		return nil, nil, fmt.Errorf("device key must be an EC key, got %T", k.Key)
	}
	if pub.Curve != elliptic.P256() {
		return nil, nil, errors.New("device key must be on P-256")
	}
	ek, err := pub.ECDH() // rejects points not on the curve
	if err != nil {
		return nil, nil, fmt.Errorf("device key: %w", err)
	}
	raw := ek.Bytes() // 0x04 || x || y
	b, err := detEnc.Marshal(map[int]any{
		coseKeyKty: coseKtyEC2,
		coseKeyCrv: coseCrvP256,
		coseKeyX:   raw[1 : 1+p256CoordSize],
		coseKeyY:   raw[1+p256CoordSize:],
	})
	if err != nil {
		return nil, nil, err
	}
	return b, pub, nil
}

// jwkFromCOSEKey parses an EC2 P-256 COSE_Key (integer labels only) and
// returns the public key as a JWK.
func jwkFromCOSEKey(b []byte) (*jose.JSONWebKey, error) {
	var m map[int64]cbor.RawMessage
	if err := decMode.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("COSE_Key: %w", err)
	}
	var kty, crv int64
	var x, y []byte
	if err := decodeLabel(m, coseKeyKty, &kty); err != nil {
		return nil, err
	}
	if kty != coseKtyEC2 {
		return nil, fmt.Errorf("COSE_Key: kty %d, want 2 (EC2)", kty)
	}
	if err := decodeLabel(m, coseKeyCrv, &crv); err != nil {
		return nil, err
	}
	if crv != coseCrvP256 {
		return nil, fmt.Errorf("COSE_Key: crv %d, want 1 (P-256)", crv)
	}
	if err := decodeLabel(m, coseKeyX, &x); err != nil {
		return nil, err
	}
	if err := decodeLabel(m, coseKeyY, &y); err != nil {
		return nil, err
	}
	if len(x) != p256CoordSize || len(y) != p256CoordSize {
		return nil, errors.New("COSE_Key: x and y must be 32-byte byte strings")
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("COSE_Key: %w", err)
	}
	return &jose.JSONWebKey{Key: pub}, nil
}

func decodeLabel(m map[int64]cbor.RawMessage, label int64, v any) error {
	raw, ok := m[label]
	if !ok {
		return fmt.Errorf("COSE_Key: label %d missing", label)
	}
	if err := decMode.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("COSE_Key: label %d: %w", label, err)
	}
	return nil
}

// Thumbprint is the RFC 7638 SHA-256 JWK thumbprint, base64url without padding.
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	if pub, ok := k.Key.(*ecdsa.PublicKey); ok {
		return oauth.ECKeyThumbprint(pub)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}
