package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/base64"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
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
	tp, err := oauth.ECKeyThumbprint(pub)
	if err != nil {
		return "", fmt.Errorf("dpop: %w", err)
	}
	return tp, nil
}
