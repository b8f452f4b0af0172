package upstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxIDTokenLen bounds the compact ID token before any parsing.
const maxIDTokenLen = 64 << 10

// verifyIDToken validates the ID token of a token response per OpenID
// Connect Core 1.0 §3.1.3.7 and returns its claims:
//
//	step 1  an encrypted ID token is refused (no encryption is registered)
//	step 6  signature by a provider key (JWKS), alg in the allow-list
//	        (ES256, PS256, RS256 ∩ discovery ∩ Options.SigningAlgs);
//	        "none" and HS* are never accepted (steps 7-8)
//	step 2  iss identical to the issuer
//	step 3  aud contains client_id
//	step 4-5 several audiences: azp present; azp, if present, is client_id
//	step 9  exp in the future (with ClockSkew)
//	step 10 iat not in the future, not older than MaxIDTokenAge
//	        nbf, if present, not in the future
//	step 11 nonce present and equal to the login attempt's (constant time)
//	step 12 acr one of Options.ACRValues (if configured)
//	step 13 auth_time present and within Options.MaxAge (if configured)
//	§3.1.3.8 at_hash, if present, matches the access token
//	§2      sub present, a non-empty string
func (p *Provider) verifyIDToken(ctx context.Context, raw, nonce, accessToken string) (map[string]any, error) {
	fail := func(check, format string, args ...any) *CheckError {
		return checkErr(StageIDToken, check, format, args...)
	}
	if len(raw) > maxIDTokenLen {
		return nil, fail("format", "longer than %d bytes", maxIDTokenLen)
	}
	switch strings.Count(raw, ".") {
	case 2:
	case 4:
		return nil, fail("format", "encrypted ID tokens are not supported")
	default:
		return nil, fail("format", "not a compact JWS")
	}
	hdr, err := peekHeader(raw)
	if err != nil {
		return nil, fail("header", "the JOSE header is not a base64url JSON object")
	}
	alg := jose.SignatureAlgorithm(hdr.Alg)
	if !slices.Contains(p.algs, alg) {
		return nil, fail("alg", "algorithm %q is not accepted", clean(hdr.Alg, 16))
	}
	jws, err := jose.ParseSignedCompact(raw, p.algs)
	if err != nil {
		return nil, fail("format", "the JWS does not parse").with(err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fail("signature", "exactly one signature required")
	}
	keys, err := p.keys.candidates(ctx, hdr.Kid, alg)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		if hdr.Kid != "" {
			return nil, fail("signature", "no key with the token's kid in the provider's JWKS")
		}
		return nil, fail("signature", "no key in the provider's JWKS fits algorithm %s", alg)
	}
	var payload []byte
	for _, k := range keys {
		if payload, err = jws.Verify(k.Key); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fail("signature", "the signature does not verify with the provider's keys")
	}

	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil || dec.More() {
		return nil, fail("claims", "the payload is not a JSON object")
	}

	if iss, _ := claims["iss"].(string); iss != p.o.Issuer {
		return nil, fail("iss", "not identical to the provider's issuer")
	}
	if sub, ok := claims["sub"].(string); !ok || sub == "" {
		return nil, fail("sub", "missing or not a non-empty string")
	}
	aud, ok := audience(claims["aud"])
	if !ok {
		return nil, fail("aud", "missing or not a string or array of strings")
	}
	if !slices.Contains(aud, p.o.ClientID) {
		return nil, fail("aud", "does not contain this client's client_id")
	}
	azp, hasAzp := claims["azp"]
	if len(aud) > 1 && !hasAzp {
		return nil, fail("azp", "missing although the token has several audiences")
	}
	if hasAzp {
		if s, _ := azp.(string); s != p.o.ClientID {
			return nil, fail("azp", "not this client's client_id")
		}
	}

	now := p.o.Now()
	skew := p.o.ClockSkew
	exp, err := numericDate(claims, "exp", true)
	if err != nil {
		return nil, err
	}
	if !now.Before(exp.Add(skew)) {
		return nil, fail("exp", "the ID token has expired")
	}
	iat, err := numericDate(claims, "iat", true)
	if err != nil {
		return nil, err
	}
	if iat.After(now.Add(skew)) {
		return nil, fail("iat", "issued in the future")
	}
	if now.Sub(iat) > p.o.MaxIDTokenAge+skew {
		return nil, fail("iat", "issued more than %s ago", p.o.MaxIDTokenAge)
	}
	if nbf, err := numericDate(claims, "nbf", false); err != nil {
		return nil, err
	} else if !nbf.IsZero() && nbf.After(now.Add(skew)) {
		return nil, fail("nbf", "not yet valid")
	}

	got, ok := claims["nonce"].(string)
	if !ok || got == "" {
		return nil, fail("nonce", "missing")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return nil, fail("nonce", "does not match the login attempt")
	}

	if len(p.o.ACRValues) > 0 {
		if acr, _ := claims["acr"].(string); !slices.Contains(p.o.ACRValues, acr) {
			return nil, fail("acr", "missing or not one of the requested acr_values")
		}
	}
	if p.o.MaxAge > 0 {
		at, err := numericDate(claims, "auth_time", true)
		if err != nil {
			return nil, err
		}
		if now.Sub(at) > p.o.MaxAge+skew {
			return nil, fail("auth_time", "the End-User authenticated longer than max_age ago")
		}
		if at.After(now.Add(skew)) {
			return nil, fail("auth_time", "in the future")
		}
	}

	if v, ok := claims["at_hash"]; ok && accessToken != "" {
		s, _ := v.(string)
		if subtle.ConstantTimeCompare([]byte(s), []byte(tokenHash(accessToken))) != 1 {
			return nil, fail("at_hash", "does not match the access token")
		}
	}
	return claims, nil
}

type joseHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

func peekHeader(raw string) (*joseHeader, error) {
	b, err := base64.RawURLEncoding.DecodeString(raw[:strings.IndexByte(raw, '.')])
	if err != nil {
		return nil, err
	}
	var h joseHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// audience accepts a string or a non-empty array of strings (RFC 7519 §4.1.3).
func audience(v any) ([]string, bool) {
	switch a := v.(type) {
	case string:
		return []string{a}, a != ""
	case []any:
		out := make([]string, 0, len(a))
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, len(out) > 0
	}
	return nil, false
}

// numericDate reads a NumericDate claim (RFC 7519 §2): a JSON number of
// seconds, possibly fractional, between 0 and year 9999.
func numericDate(claims map[string]any, name string, required bool) (time.Time, error) {
	v, ok := claims[name]
	if !ok {
		if required {
			return time.Time{}, checkErr(StageIDToken, name, "missing")
		}
		return time.Time{}, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, checkErr(StageIDToken, name, "not a number")
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 253402300799 {
		return time.Time{}, checkErr(StageIDToken, name, "not a valid NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// tokenHash is the at_hash of an access token for the 256-bit algorithms
// this package accepts (Core §3.1.3.6): base64url of the left half of
// SHA-256.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}
