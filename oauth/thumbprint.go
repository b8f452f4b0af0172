package oauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// ECThumbprint is the RFC 7638 JWK thumbprint with SHA-256, base64url
// without padding, of an EC public key given by its JWK curve name and its
// full-size big-endian coordinates (RFC 7518 §6.2.1.2): the hash of the
// required members in lexicographic order, no whitespace (RFC 7638 §3.2).
// It is the value of cnf.jkt (RFC 9449 §6) and dpop_jkt (RFC 9449 §10).
func ECThumbprint(crv string, x, y []byte) string {
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

// ECKeyThumbprint is ECThumbprint of a P-256, P-384 or P-521 public key.
func ECKeyThumbprint(pub *ecdsa.PublicKey) (string, error) {
	var crv string
	switch pub.Curve {
	case elliptic.P256():
		crv = "P-256"
	case elliptic.P384():
		crv = "P-384"
	case elliptic.P521():
		crv = "P-521"
	default:
		return "", errors.New("thumbprint of an unsupported curve")
	}
	pt, err := pub.Bytes() // 0x04 ‖ x ‖ y, each full-size
	if err != nil {
		return "", err
	}
	n := (len(pt) - 1) / 2
	return ECThumbprint(crv, pt[1:1+n], pt[1+n:]), nil
}
