package wia

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// Supported JWS algorithms (RFC 7518 §3.4, RFC 8037 §3.1). Only asymmetric
// signatures exist here: "none" and MAC algorithms (HS*) can never pass,
// whatever the configured allow-lists say (ABCA-07 §5.2, OpenID4VCI D.1).
const (
	AlgES256 = "ES256"
	AlgES384 = "ES384"
	AlgES512 = "ES512"
	AlgEdDSA = "EdDSA"
)

// knownAlg reports whether alg is one this package can verify.
func knownAlg(alg string) bool {
	switch alg {
	case AlgES256, AlgES384, AlgES512, AlgEdDSA:
		return true
	}
	return false
}

// jwsHeader is the JOSE header members this package reads. Unknown members
// are ignored, except crit (RFC 7515 §4.1.11): no extension is understood,
// so any crit makes the JWS invalid.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Typ  string          `json:"typ"`
	Kid  string          `json:"kid"`
	X5c  []string        `json:"x5c"`
	Crit json.RawMessage `json:"crit"`
}

// compactJWS is a parsed JWS Compact Serialization (RFC 7515 §7.1). The
// signature is not verified by parsing.
type compactJWS struct {
	header       jwsHeader
	payload      []byte
	signingInput []byte // ASCII(BASE64URL(header) || '.' || BASE64URL(payload))
	sig          []byte
}

var b64 = base64.RawURLEncoding

// parseJWS parses a compact JWS of at most maxLen bytes: three base64url
// parts, a JSON object header with a string alg, a payload and a signature.
// Errors describe the failed check without echoing input.
func parseJWS(s string, maxLen int) (*compactJWS, error) {
	if s == "" {
		return nil, errors.New("is empty")
	}
	if len(s) > maxLen {
		return nil, errors.New("is too large")
	}
	// Any byte outside the base64url alphabet fails the decoding below,
	// except CR and LF, which encoding/base64 skips: refuse them here.
	if strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0 {
		return nil, errors.New("is not a compact JWS (invalid character)")
	}
	d1 := strings.IndexByte(s, '.')
	d2 := strings.LastIndexByte(s, '.')
	if d1 < 0 || d1 == d2 || strings.IndexByte(s[d1+1:d2], '.') >= 0 {
		return nil, errors.New("is not a compact JWS (need three parts)")
	}
	if d1 == 0 || d2 == len(s)-1 {
		return nil, errors.New("is not a compact JWS (empty header or signature)")
	}
	// One allocation for a copy of the input (the signing input is its
	// prefix) and the three decoded parts.
	n := len(s)
	buf := make([]byte, n+b64.DecodedLen(d1)+b64.DecodedLen(d2-d1-1)+b64.DecodedLen(n-d2-1))
	in := buf[:copy(buf, s)]
	out := buf[n:]
	hn, err := b64.Decode(out, in[:d1])
	if err != nil {
		return nil, errors.New("header is not base64url")
	}
	hdr := out[:hn:hn]
	out = out[hn:]
	pn, err := b64.Decode(out, in[d1+1:d2])
	if err != nil {
		return nil, errors.New("payload is not base64url")
	}
	payload := out[:pn:pn]
	out = out[pn:]
	sn, err := b64.Decode(out, in[d2+1:])
	if err != nil {
		return nil, errors.New("signature is not base64url")
	}
	j := &compactJWS{payload: payload, signingInput: in[:d2:d2], sig: out[:sn:sn]}
	if err := json.Unmarshal(hdr, &j.header); err != nil {
		return nil, errors.New("header is not a valid JOSE header")
	}
	if len(j.header.Crit) > 0 {
		return nil, errors.New("header has crit parameters this server does not understand")
	}
	if j.header.Alg == "" {
		return nil, errors.New("header has no alg")
	}
	return j, nil
}

// typMatches compares a typ header with the expected media type: case
// insensitive, "application/" prefix optional (RFC 7515 §4.1.9).
func typMatches(typ, want string) bool {
	if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
		typ = typ[len("application/"):]
	}
	return strings.EqualFold(typ, want)
}

// keyFitsAlg reports whether key can verify alg: the EC curve must be the
// one alg names (RFC 7518 §3.4), EdDSA needs Ed25519.
func keyFitsAlg(key crypto.PublicKey, alg string) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch alg {
		case AlgES256:
			return k.Curve == elliptic.P256()
		case AlgES384:
			return k.Curve == elliptic.P384()
		case AlgES512:
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == AlgEdDSA && len(k) == ed25519.PublicKeySize
	}
	return false
}

var errBadSignature = errors.New("signature does not verify")

// verifySignature checks sig over signingInput with key under alg. ECDSA
// signatures are the fixed-length R||S of RFC 7518 §3.4.
func verifySignature(alg string, key crypto.PublicKey, signingInput, sig []byte) error {
	if !keyFitsAlg(key, alg) {
		return errors.New("key does not fit alg")
	}
	switch alg {
	case AlgES256:
		h := sha256.Sum256(signingInput)
		return verifyECDSA(key.(*ecdsa.PublicKey), h[:], sig, 32)
	case AlgES384:
		h := sha512.Sum384(signingInput)
		return verifyECDSA(key.(*ecdsa.PublicKey), h[:], sig, 48)
	case AlgES512:
		h := sha512.Sum512(signingInput)
		return verifyECDSA(key.(*ecdsa.PublicKey), h[:], sig, 66)
	case AlgEdDSA:
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(key.(ed25519.PublicKey), signingInput, sig) {
			return errBadSignature
		}
		return nil
	}
	return errors.New("unsupported alg")
}

func verifyECDSA(pub *ecdsa.PublicKey, hash, sig []byte, size int) error {
	if len(sig) != 2*size {
		return errBadSignature
	}
	var der [2*66 + 12]byte
	if !ecdsa.VerifyASN1(pub, hash, derSignature(der[:0], sig[:size], sig[size:])) {
		return errBadSignature
	}
	return nil
}

// derSignature appends the ASN.1 DER SEQUENCE{INTEGER r, INTEGER s} for the
// big-endian unsigned r and s (at most 66 bytes each, so lengths fit one or
// two octets).
func derSignature(dst, r, s []byte) []byte {
	r = trimInt(r)
	s = trimInt(s)
	lr := len(r) + int(r[0]>>7)
	ls := len(s) + int(s[0]>>7)
	body := 2 + lr + 2 + ls
	dst = append(dst, 0x30)
	if body >= 0x80 {
		dst = append(dst, 0x81)
	}
	dst = append(dst, byte(body))
	dst = appendInt(dst, r, lr)
	return appendInt(dst, s, ls)
}

func trimInt(b []byte) []byte {
	for len(b) > 1 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

func appendInt(dst, v []byte, l int) []byte {
	dst = append(dst, 0x02, byte(l))
	if l > len(v) {
		dst = append(dst, 0)
	}
	return append(dst, v...)
}
