package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"math"
	"strings"

	"github.com/go-jose/go-jose/v4/json"
)

// Limits on wallet input.
const (
	// MaxProofLen bounds the DPoP header field value. An ES256 proof with a
	// P-256 jwk is about 600 bytes; the rest is room for extra claims.
	MaxProofLen = 8 << 10
	// MaxJTILen bounds the jti claim (RFC 9449 §11.1: bound what is cached).
	MaxJTILen = 256
	// typ is the explicit JWT type of a proof (RFC 9449 §4.2, §4.3 step 4).
	typ = "dpop+jwt"
)

var b64 = base64.RawURLEncoding.Strict()

// header is the JOSE header of a proof. The go-jose json fork matches member
// names case-sensitively and rejects duplicate members (RFC 7515 §4).
type header struct {
	Typ  string          `json:"typ"`
	Alg  string          `json:"alg"`
	JWK  *jwk            `json:"jwk"`
	Crit json.RawMessage `json:"crit"`
}

type jwk struct {
	Kty string          `json:"kty"`
	Crv string          `json:"crv"`
	X   string          `json:"x"`
	Y   string          `json:"y"`
	D   json.RawMessage `json:"d"`
}

// claims are the proof claims of RFC 9449 §4.2. Other claims (nbf, exp, …)
// are ignored. iat is a float so that a string or other type is rejected.
type claims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   string   `json:"ath"`
	Nonce string   `json:"nonce"`
}

// parsed is a proof whose structure, header and key were checked but whose
// signature was not verified yet.
type parsed struct {
	claims
	iat  int64
	pub  *ecdsa.PublicKey
	x, y []byte // P-256 coordinates, 32 bytes each
	// digest is SHA-256 of the JWS signing input (RFC 7515 §5.2 step 8).
	digest [sha256.Size]byte
	sig    []byte // r ‖ s, 32 bytes each (RFC 7518 §3.4)
}

// parse checks RFC 9449 §4.3 steps 2-7 except the signature itself: one
// well-formed compact JWS, typ, alg, a public P-256 jwk, and required claims
// of the right types. The token is decoded once into one buffer.
func parse(tok string) (*parsed, *failure) {
	if len(tok) > MaxProofLen {
		return nil, invalid("DPoP proof too large")
	}
	d1 := strings.IndexByte(tok, '.')
	if d1 < 0 {
		return nil, invalid("DPoP proof is not a compact JWS")
	}
	d2 := strings.IndexByte(tok[d1+1:], '.')
	if d2 < 0 {
		return nil, invalid("DPoP proof is not a compact JWS")
	}
	d2 += d1 + 1
	if strings.IndexByte(tok[d2+1:], '.') >= 0 {
		return nil, invalid("DPoP proof is not a compact JWS (JWE or extra parts)")
	}
	if d1 == 0 || d2 == d1+1 || d2 == len(tok)-1 {
		return nil, invalid("DPoP proof has an empty JWS part")
	}

	tb := []byte(tok)
	buf := make([]byte, b64.DecodedLen(d1)+b64.DecodedLen(d2-d1-1)+b64.DecodedLen(len(tok)-d2-1))
	hdrJSON, rest, ok := decode(buf, tb[:d1])
	if !ok {
		return nil, invalid("DPoP proof header is not base64url")
	}
	var h header
	if err := json.Unmarshal(hdrJSON, &h); err != nil {
		return nil, invalid("DPoP proof header is not a JSON object")
	}
	// RFC 9449 §4.3 step 4; media types compare case-insensitively and an
	// "application/" prefix may be present (RFC 7515 §4.1.9).
	t := h.Typ
	if len(t) > len("application/") && strings.EqualFold(t[:len("application/")], "application/") {
		t = t[len("application/"):]
	}
	if !strings.EqualFold(t, typ) {
		return nil, invalid(`DPoP proof typ is not "dpop+jwt"`)
	}
	// Step 5: asymmetric, not none, supported (ES256 only, HAIP 1.0 §7).
	if h.Alg != Algs {
		return nil, invalid(`DPoP proof alg is not "ES256"`)
	}
	// RFC 7515 §4.1.11: no extension is understood, so crit cannot be honoured.
	if h.Crit != nil {
		return nil, invalid("DPoP proof header has unsupported crit")
	}
	p := &parsed{}
	if f := p.key(h.JWK); f != nil {
		return nil, f
	}

	payload, rest, ok := decode(rest, tb[d1+1:d2])
	if !ok {
		return nil, invalid("DPoP proof payload is not base64url")
	}
	if err := json.Unmarshal(payload, &p.claims); err != nil {
		return nil, invalid("DPoP proof claims are not a JSON object of the expected types")
	}
	sig, _, ok := decode(rest, tb[d2+1:])
	if !ok || len(sig) != 64 {
		return nil, invalid("DPoP proof signature is not a 64-byte ES256 signature")
	}
	p.sig = sig

	// Step 3: required claims.
	switch {
	case p.JTI == "":
		return nil, invalid("DPoP proof jti missing")
	case len(p.JTI) > MaxJTILen:
		return nil, invalid("DPoP proof jti too long")
	case p.HTM == "":
		return nil, invalid("DPoP proof htm missing")
	case p.HTU == "":
		return nil, invalid("DPoP proof htu missing")
	case p.IAT == nil:
		return nil, invalid("DPoP proof iat missing")
	}
	// NumericDate (RFC 7519 §2), possibly fractional; bounded so the
	// conversion is exact and time arithmetic cannot overflow.
	if f := *p.IAT; f < 0 || f > 1<<40 || math.IsNaN(f) {
		return nil, invalid("DPoP proof iat out of range")
	}
	p.iat = int64(*p.IAT)

	p.digest = sha256.Sum256(tb[:d2])
	return p, nil
}

// decode base64url-decodes s (unpadded, canonical) into the front of buf and
// returns the decoded bytes and the rest of buf.
func decode(buf, s []byte) (out, rest []byte, ok bool) {
	n, err := b64.Decode(buf, s)
	if err != nil {
		return nil, nil, false
	}
	return buf[:n:n], buf[n:], true
}

// key checks the jwk header (RFC 9449 §4.3 steps 5 and 7): present, EC P-256
// with full-size coordinates on the curve, and no private key member.
func (p *parsed) key(k *jwk) *failure {
	if k == nil {
		return invalid("DPoP proof jwk header missing")
	}
	if k.D != nil {
		return invalid("DPoP proof jwk contains a private key")
	}
	if k.Kty != "EC" || k.Crv != "P-256" {
		return invalid("DPoP proof jwk is not an EC P-256 key")
	}
	// RFC 7518 §6.2.1.2-3: coordinates are full-size, 32 bytes for P-256.
	var pt [65]byte
	pt[0] = 4
	if len(k.X) != 43 || len(k.Y) != 43 {
		return invalid("DPoP proof jwk coordinates are not 32 bytes")
	}
	var enc [43]byte
	copy(enc[:], k.X)
	if n, err := b64.Decode(pt[1:33], enc[:]); err != nil || n != 32 {
		return invalid("DPoP proof jwk x is not base64url")
	}
	copy(enc[:], k.Y)
	if n, err := b64.Decode(pt[33:65], enc[:]); err != nil || n != 32 {
		return invalid("DPoP proof jwk y is not base64url")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt[:])
	if err != nil {
		return invalid("DPoP proof jwk is not a point on P-256")
	}
	p.pub = pub
	p.x = pt[1:33:33]
	p.y = pt[33:65:65]
	return nil
}

// verify checks the ES256 signature (RFC 9449 §4.3 step 6; RFC 7518 §3.4).
func (p *parsed) verify() bool {
	var der [72]byte
	return ecdsa.VerifyASN1(p.pub, p.digest[:], asn1Sig(der[:0], p.sig[:32], p.sig[32:]))
}

// asn1Sig appends the DER ECDSA-Sig-Value SEQUENCE { r INTEGER, s INTEGER }
// for the fixed-size big-endian r and s (at most 32 bytes each).
func asn1Sig(dst, r, s []byte) []byte {
	r, s = trimZeros(r), trimZeros(s)
	dst = append(dst, 0x30, byte(intLen(r)+intLen(s)))
	dst = appendInt(dst, r)
	return appendInt(dst, s)
}

func trimZeros(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	return v
}

// intLen is the DER length of INTEGER v: tag, length, an optional zero byte
// keeping it positive, and v.
func intLen(v []byte) int {
	if v[0]&0x80 != 0 {
		return 3 + len(v)
	}
	return 2 + len(v)
}

func appendInt(dst, v []byte) []byte {
	dst = append(dst, 0x02, byte(intLen(v)-2))
	if v[0]&0x80 != 0 {
		dst = append(dst, 0)
	}
	return append(dst, v...)
}
