package ratelimit

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// unverifiedSub reads the sub claim of a compact JWS without verifying it.
func unverifiedSub(jws string) (string, error) {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 || len(parts[1]) > 8192 {
		return "", errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
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
	parts := strings.Split(jws, ".")
	if len(parts) != 3 || len(parts[1]) > 8192 {
		return "", errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
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
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", err
	}
	k := c.Cnf.JWK
	if k.Kty != "EC" || k.Crv == "" || k.X == "" || k.Y == "" || len(k.X)+len(k.Y) > 512 {
		return "", errors.New("no EC cnf.jwk")
	}
	// RFC 7638 §3.2: required members in lexicographic order, no spaces.
	canon, err := json.Marshal(struct {
		Crv string `json:"crv"`
		Kty string `json:"kty"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}{k.Crv, k.Kty, k.X, k.Y})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
