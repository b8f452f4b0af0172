package wia

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"math"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// numericDate is an RFC 7519 §2 NumericDate claim. JSON null counts as
// absent; a non-number is an error.
type numericDate struct {
	set bool
	t   time.Time
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("not a number")
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return errors.New("out of range")
	}
	sec, frac := math.Modf(f)
	d.set = true
	d.t = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}

// audience is the aud claim: a string or an array of strings (RFC 7519
// §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = l
	return nil
}

func (a audience) contains(s string) bool {
	for _, v := range a {
		if v == s {
			return true
		}
	}
	return false
}

// ecJWK is a JSON Web Key as received from a wallet (cnf.jwk, attested
// keys). Private members are captured only to reject them.
type ecJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	// Private or symmetric key members (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
	D  json.RawMessage `json:"d"`
	P  json.RawMessage `json:"p"`
	Q  json.RawMessage `json:"q"`
	DP json.RawMessage `json:"dp"`
	DQ json.RawMessage `json:"dq"`
	QI json.RawMessage `json:"qi"`
	K  json.RawMessage `json:"k"`
}

// b64Strict rejects non-canonical encodings, so that one key has one JWK
// representation (and one RFC 7638 thumbprint).
var b64Strict = b64.Strict()

// curves accepted for wallet keys, by JWK crv name.
var curveByName = map[string]elliptic.Curve{
	"P-256": elliptic.P256(),
	"P-384": elliptic.P384(),
	"P-521": elliptic.P521(),
}

// ParsePublicJWK reads a JSON Web Key that must be a public EC key on one of
// curves (JWK crv names, e.g. "P-256"): no private or symmetric members,
// full-length base64url coordinates (RFC 7518 §6.2.1) of a point on the
// curve. The error text names the failed check, to follow "jwk ".
func ParsePublicJWK(raw []byte, curves ...string) (*jose.JSONWebKey, error) {
	var k ecJWK
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &k) != nil {
		return nil, errors.New("is not a JSON object of a JWK")
	}
	allowed := make(map[string]bool, len(curves))
	for _, c := range curves {
		allowed[c] = true
	}
	return k.publicKey(allowed)
}

// publicKey checks that k is a public EC key on one of the allowed curves
// (RFC 7518 §6.2.1: x and y are the full-length big-endian coordinates) and
// returns it. The error text names the failed check.
func (k *ecJWK) publicKey(allowed map[string]bool) (*jose.JSONWebKey, error) {
	if k.D != nil || k.P != nil || k.Q != nil || k.DP != nil || k.DQ != nil || k.QI != nil || k.K != nil {
		return nil, errors.New("contains private key material")
	}
	if k.Kty != "EC" {
		return nil, errors.New("is not an EC key (kty)")
	}
	curve, ok := curveByName[k.Crv]
	if !ok || !allowed[k.Crv] {
		return nil, errors.New("uses a curve that is not accepted (crv)")
	}
	size := (curve.Params().BitSize + 7) / 8
	// Uncompressed SEC 1 point: 0x04 || X || Y.
	var buf [1 + 2*66]byte
	pt := buf[:1+2*size]
	pt[0] = 4
	if b64.DecodedLen(len(k.X)) != size || b64.DecodedLen(len(k.Y)) != size {
		return nil, errors.New("has coordinates of the wrong length")
	}
	if n, err := b64Strict.Decode(pt[1:1+size], []byte(k.X)); err != nil || n != size {
		return nil, errors.New("has an x coordinate that is not base64url")
	}
	if n, err := b64Strict.Decode(pt[1+size:], []byte(k.Y)); err != nil || n != size {
		return nil, errors.New("has a y coordinate that is not base64url")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
	if err != nil {
		return nil, errors.New("is not a point on the curve")
	}
	return &jose.JSONWebKey{Key: pub, KeyID: k.Kid, Algorithm: k.Alg, Use: k.Use}, nil
}

// thumbprint returns the RFC 7638 §3 JWK thumbprint input for an EC key whose
// x and y members were validated by publicKey: the required members in
// lexicographic order, no whitespace.
func (k *ecJWK) thumbprintInput(dst []byte) []byte {
	dst = append(dst, `{"crv":"`...)
	dst = append(dst, k.Crv...)
	dst = append(dst, `","kty":"EC","x":"`...)
	dst = append(dst, k.X...)
	dst = append(dst, `","y":"`...)
	dst = append(dst, k.Y...)
	return append(dst, `"}`...)
}
