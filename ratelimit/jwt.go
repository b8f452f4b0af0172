package ratelimit

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/mdoc-issuer/issuer/oauth"
)

// unverifiedClaims decodes the payload of a compact JWS into v without
// verifying the JWS: a counting key only.
func unverifiedClaims(jws string, v any) error {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 || len(parts[1]) > 8192 {
		return errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return err
	}
	return json.Unmarshal(payload, v)
}

// unverifiedSub reads the sub claim of a compact JWS without verifying it.
func unverifiedSub(jws string) (string, error) {
	var c struct {
		Sub string `json:"sub"`
	}
	if err := unverifiedClaims(jws, &c); err != nil {
		return "", err
	}
	if len(c.Sub) > 256 {
		return "", errors.New("sub too long")
	}
	return c.Sub, nil
}

// unverifiedInstanceKey returns the RFC 7638 SHA-256 thumbprint of the EC
// cnf.jwk of a compact JWS, without verifying the JWS.
func unverifiedInstanceKey(jws string) (string, error) {
	var c struct {
		Cnf struct {
			JWK struct {
				Kty string `json:"kty"`
				Crv string `json:"crv"`
				X   string `json:"x"`
				Y   string `json:"y"`
			} `json:"jwk"`
		} `json:"cnf"`
	}
	if err := unverifiedClaims(jws, &c); err != nil {
		return "", err
	}
	k := c.Cnf.JWK
	if k.Kty != "EC" || (k.Crv != "P-256" && k.Crv != "P-384" && k.Crv != "P-521") || len(k.X)+len(k.Y) > 512 {
		return "", errors.New("no EC cnf.jwk")
	}
	b64 := base64.RawURLEncoding.Strict()
	x, err := b64.DecodeString(k.X)
	if err != nil || len(x) == 0 {
		return "", errors.New("cnf.jwk x is not base64url")
	}
	y, err := b64.DecodeString(k.Y)
	if err != nil || len(y) == 0 {
		return "", errors.New("cnf.jwk y is not base64url")
	}
	return oauth.ECThumbprint(k.Crv, x, y), nil
}
