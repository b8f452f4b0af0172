package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	jose "github.com/go-jose/go-jose/v4"
)

// Thumbprint returns the RFC 7638 JWK thumbprint of k's public key with
// SHA-256, base64url without padding: the value of cnf.jkt (RFC 9449 §6) and
// of the dpop_jkt authorization parameter (RFC 9449 §10). EC keys are hashed
// directly from {"crv","kty","x","y"} (RFC 7638 §3.2, members in
// lexicographic order, coordinates full-size per RFC 7518 §6.2.1.2); other key
// types are delegated to go-jose.
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	if k == nil || k.Key == nil {
		return "", errors.New("dpop: thumbprint of empty key")
	}
	var pub *ecdsa.PublicKey
	switch key := k.Key.(type) {
	case *ecdsa.PublicKey:
		pub = key
	case *ecdsa.PrivateKey:
		pub = &key.PublicKey
	default:
		sum, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			return "", err
		}
		return base64.RawURLEncoding.EncodeToString(sum), nil
	}
	var crv string
	switch pub.Curve {
	case elliptic.P256():
		crv = "P-256"
	case elliptic.P384():
		crv = "P-384"
	case elliptic.P521():
		crv = "P-521"
	default:
		return "", errors.New("dpop: thumbprint of unsupported curve")
	}
	pt, err := pub.Bytes() // 0x04 ‖ x ‖ y, each full-size
	if err != nil {
		return "", err
	}
	n := (len(pt) - 1) / 2
	return ecThumbprint(crv, pt[1:1+n], pt[1+n:]), nil
}

// ecThumbprint hashes the RFC 7638 §3.2 input for an EC key with the given
// curve name and full-size big-endian coordinates.
func ecThumbprint(crv string, x, y []byte) string {
	b := make([]byte, 0, 160)
	b = append(b, `{"crv":"`...)
	b = append(b, crv...)
	b = append(b, `","kty":"EC","x":"`...)
	b = base64.RawURLEncoding.AppendEncode(b, x)
	b = append(b, `","y":"`...)
	b = base64.RawURLEncoding.AppendEncode(b, y)
	b = append(b, `"}`...)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
