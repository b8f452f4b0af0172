package nonce

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"
)

// Errors returned by Check. Callers branch on them with errors.Is.
var (
	// ErrInvalid: not a nonce issued by this source (wrong encoding, wrong
	// tag, other purpose, unknown key, or an issue time in the future).
	ErrInvalid = errors.New("nonce: invalid")
	// ErrExpired: authentic, but older than the source's lifetime.
	ErrExpired = errors.New("nonce: expired")
)

const (
	version   = 1
	randLen   = 16 // 128 bits of entropy (VCI §7.2: unpredictable)
	timeLen   = 8  // issue time, Unix seconds, big endian
	tagLen    = 16 // HMAC-SHA-256 truncated to 128 bits
	bodyLen   = 1 + randLen + timeLen
	rawLen    = bodyLen + tagLen
	encodedLn = (rawLen*8 + 5) / 6 // unpadded base64url length

	// MinKeyLen is the minimum length of a shared secret.
	MinKeyLen = 16
	// MaxFutureSkew is how far in the future an issue time may lie, to
	// tolerate clock differences between instances sharing the keys.
	MaxFutureSkew = 10 * time.Second

	hkdfSalt = "mdoc-issuer/nonce/v1"
)

var enc = base64.RawURLEncoding.Strict()

// Source issues and checks nonces of one purpose. It is safe for concurrent use.
type Source struct {
	macs     []*macKey // macs[0] issues
	lifetime time.Duration
	now      func() time.Time
}

type macKey struct {
	pool sync.Pool // of hash.Hash (HMAC-SHA-256 under the derived key)
}

func newMACKey(secret []byte, purpose string) (*macKey, error) {
	k, err := hkdf.Key(sha256.New, secret, []byte(hkdfSalt), "nonce:"+purpose, sha256.Size)
	if err != nil {
		return nil, err
	}
	m := &macKey{}
	m.pool.New = func() any { return hmac.New(sha256.New, k) }
	return m, nil
}

// tag writes the truncated MAC of body into out.
func (m *macKey) tag(out *[sha256.Size]byte, body []byte) {
	h := m.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(body)
	h.Sum(out[:0])
	m.pool.Put(h)
}

// New returns a Source. keys are the shared secrets (each at least MinKeyLen
// bytes): keys[0] issues, all verify. purpose separates kinds of nonces
// ("dpop", "c_nonce"). lifetime is how long a nonce is accepted after issue.
// now is the clock (nil: time.Now).
func New(keys [][]byte, purpose string, lifetime time.Duration, now func() time.Time) (*Source, error) {
	if len(keys) == 0 {
		return nil, errors.New("nonce: no keys")
	}
	if purpose == "" {
		return nil, errors.New("nonce: empty purpose")
	}
	if lifetime < time.Second {
		return nil, fmt.Errorf("nonce: lifetime %v below one second", lifetime)
	}
	if now == nil {
		now = time.Now
	}
	s := &Source{lifetime: lifetime, now: now}
	for i, k := range keys {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("nonce: key %d shorter than %d bytes", i, MinKeyLen)
		}
		m, err := newMACKey(k, purpose)
		if err != nil {
			return nil, fmt.Errorf("nonce: derive key %d: %w", i, err)
		}
		s.macs = append(s.macs, m)
	}
	return s, nil
}

// Lifetime is how long an issued nonce stays valid.
func (s *Source) Lifetime() time.Duration { return s.lifetime }

// Issue returns a fresh nonce: unpadded base64url (URL- and NQCHAR-safe), 128
// random bits plus the issue time, authenticated with the first key.
func (s *Source) Issue() (string, error) {
	var raw [rawLen]byte
	raw[0] = version
	if _, err := rand.Read(raw[1 : 1+randLen]); err != nil {
		return "", fmt.Errorf("nonce: random: %w", err)
	}
	binary.BigEndian.PutUint64(raw[1+randLen:bodyLen], uint64(s.now().Unix()))
	var sum [sha256.Size]byte
	s.macs[0].tag(&sum, raw[:bodyLen])
	copy(raw[bodyLen:], sum[:tagLen])
	return enc.EncodeToString(raw[:]), nil
}

// Check returns nil if n was issued by a Source with the same purpose and one
// of the same keys, no longer ago than the lifetime; ErrExpired if it is older;
// ErrInvalid otherwise (including an issue time more than MaxFutureSkew ahead).
func (s *Source) Check(n string) error {
	if len(n) != encodedLn {
		return ErrInvalid
	}
	var src [encodedLn]byte
	copy(src[:], n)
	var raw [rawLen]byte
	if k, err := enc.Decode(raw[:], src[:]); err != nil || k != rawLen {
		return ErrInvalid
	}
	if raw[0] != version {
		return ErrInvalid
	}
	var sum [sha256.Size]byte
	ok := 0
	for _, m := range s.macs {
		m.tag(&sum, raw[:bodyLen])
		ok |= subtle.ConstantTimeCompare(sum[:tagLen], raw[bodyLen:])
	}
	if ok == 0 {
		return ErrInvalid
	}
	issued := int64(binary.BigEndian.Uint64(raw[1+randLen : bodyLen]))
	now := s.now()
	if issued > now.Add(MaxFutureSkew).Unix() {
		return ErrInvalid
	}
	if now.Unix()-issued > int64(s.lifetime/time.Second) {
		return ErrExpired
	}
	return nil
}
