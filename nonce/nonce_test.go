package nonce

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustNew(t testing.TB, keys [][]byte, purpose string, life time.Duration, now func() time.Time) *Source {
	t.Helper()
	s, err := New(keys, purpose, life, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustIssue(t testing.TB, s *Source) string {
	t.Helper()
	n, err := s.Issue()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNewRejectsBadParameters(t *testing.T) {
	for _, tc := range []struct {
		name    string
		keys    [][]byte
		purpose string
		life    time.Duration
	}{
		{"no keys", nil, "dpop", time.Minute},
		{"short key", [][]byte{make([]byte, MinKeyLen-1)}, "dpop", time.Minute},
		{"short second key", [][]byte{key(1), {1, 2, 3}}, "dpop", time.Minute},
		{"empty purpose", [][]byte{key(1)}, "", time.Minute},
		{"zero lifetime", [][]byte{key(1)}, "dpop", 0},
		{"sub-second lifetime", [][]byte{key(1)}, "dpop", time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.keys, tc.purpose, tc.life, nil); err == nil {
				t.Fatal("New accepted bad parameters")
			}
		})
	}
}

func TestIssueFormat(t *testing.T) {
	c := newClock()
	s := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
	seen := map[string]bool{}
	for range 1000 {
		n := mustIssue(t, s)
		if len(n) != encodedLn {
			t.Fatalf("length %d, want %d", len(n), encodedLn)
		}
		// NQCHAR (RFC 9449 §8.1) and URL safe: base64url alphabet only.
		if strings.Trim(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("nonce %q has characters outside base64url", n)
		}
		if seen[n] {
			t.Fatal("nonce repeated")
		}
		seen[n] = true
		if err := s.Check(n); err != nil {
			t.Fatalf("Check(fresh) = %v", err)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		// run issues with src (and may advance the clock) and returns the nonce
		// and the source that checks it.
		run  func(t *testing.T, c *clock) (string, *Source)
		want error
	}{
		{"fresh", func(t *testing.T, c *clock) (string, *Source) {
			s := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
			return mustIssue(t, s), s
		}, nil},
		{"other instance same keys", func(t *testing.T, c *clock) (string, *Source) {
			a := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
			b := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
			return mustIssue(t, a), b
		}, nil},
		{"at lifetime end", func(t *testing.T, c *clock) (string, *Source) {
			s := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
			n := mustIssue(t, s)
			c.Add(time.Minute)
			return n, s
		}, nil},
		{"after lifetime", func(t *testing.T, c *clock) (string, *Source) {
			s := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
			n := mustIssue(t, s)
			c.Add(time.Minute + time.Second)
			return n, s
		}, ErrExpired},
		{"issued within future skew", func(t *testing.T, c *clock) (string, *Source) {
			ahead := func() time.Time { return c.Now().Add(MaxFutureSkew) }
			a := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, ahead)
			return mustIssue(t, a), mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
		}, nil},
		{"issued beyond future skew", func(t *testing.T, c *clock) (string, *Source) {
			ahead := func() time.Time { return c.Now().Add(MaxFutureSkew + time.Second) }
			a := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, ahead)
			return mustIssue(t, a), mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
		}, ErrInvalid},
		{"rotation: old key still verifies", func(t *testing.T, c *clock) (string, *Source) {
			old := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
			return mustIssue(t, old), mustNew(t, [][]byte{key(2), key(1)}, "dpop", time.Minute, c.Now)
		}, nil},
		{"rotation: new key verifies on not yet rotated instance", func(t *testing.T, c *clock) (string, *Source) {
			rotated := mustNew(t, [][]byte{key(2), key(1)}, "dpop", time.Minute, c.Now)
			return mustIssue(t, rotated), mustNew(t, [][]byte{key(1), key(2)}, "dpop", time.Minute, c.Now)
		}, nil},
		{"rotation: retired key rejected", func(t *testing.T, c *clock) (string, *Source) {
			old := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
			return mustIssue(t, old), mustNew(t, [][]byte{key(2)}, "dpop", time.Minute, c.Now)
		}, ErrInvalid},
		{"other purpose", func(t *testing.T, c *clock) (string, *Source) {
			cn := mustNew(t, [][]byte{key(1)}, "c_nonce", time.Minute, c.Now)
			return mustIssue(t, cn), mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
		}, ErrInvalid},
		{"empty", func(t *testing.T, c *clock) (string, *Source) {
			return "", mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
		}, ErrInvalid},
		{"random string of right length", func(t *testing.T, c *clock) (string, *Source) {
			return strings.Repeat("A", encodedLn), mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
		}, ErrInvalid},
		{"padded", func(t *testing.T, c *clock) (string, *Source) {
			s := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
			return mustIssue(t, s) + "=", s
		}, ErrInvalid},
		{"truncated", func(t *testing.T, c *clock) (string, *Source) {
			s := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
			n := mustIssue(t, s)
			return n[:len(n)-1], s
		}, ErrInvalid},
		{"std base64 alphabet", func(t *testing.T, c *clock) (string, *Source) {
			s := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
			for {
				n := mustIssue(t, s)
				if strings.ContainsAny(n, "-_") {
					raw, _ := base64.RawURLEncoding.DecodeString(n)
					return base64.RawStdEncoding.EncodeToString(raw), s
				}
			}
		}, ErrInvalid},
		{"wrong version", func(t *testing.T, c *clock) (string, *Source) {
			s := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
			raw, _ := base64.RawURLEncoding.DecodeString(mustIssue(t, s))
			raw[0] = 2
			return base64.RawURLEncoding.EncodeToString(raw), s
		}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			n, s := tc.run(t, c)
			if err := s.Check(n); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

// Every single-bit change of a nonce is rejected: the version, random part,
// time and tag are all authenticated.
func TestCheckRejectsEveryBitFlip(t *testing.T) {
	c := newClock()
	s := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
	raw, err := base64.RawURLEncoding.DecodeString(mustIssue(t, s))
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for b := range 8 {
			m := bytes.Clone(raw)
			m[i] ^= 1 << b
			if err := s.Check(base64.RawURLEncoding.EncodeToString(m)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("byte %d bit %d flipped: Check = %v, want ErrInvalid", i, b, err)
			}
		}
	}
}

// A nonce whose last base64 character carries non-zero padding bits decodes
// to the same bytes under a lax decoder; the strict decoder rejects it so that
// every nonce has exactly one encoding.
func TestCheckRejectsNonCanonicalEncoding(t *testing.T) {
	c := newClock()
	s := mustNew(t, [][]byte{key(1)}, "dpop", time.Minute, c.Now)
	n := mustIssue(t, s)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, n[len(n)-1])
	// rawLen = 41 bytes: the last character carries 4 data bits and 2 zero bits.
	alt := n[:len(n)-1] + string(alphabet[last|1])
	if alt == n {
		t.Fatal("test setup: alternative encoding equals original")
	}
	if err := s.Check(alt); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Check(non-canonical) = %v, want ErrInvalid", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := newClock()
	s := mustNew(t, [][]byte{key(1), key(2)}, "dpop", time.Minute, c.Now)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 100 {
				n, err := s.Issue()
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.Check(n); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzCheck(f *testing.F) {
	c := newClock()
	s := mustNew(f, [][]byte{key(1), key(2)}, "dpop", time.Minute, c.Now)
	other := mustNew(f, [][]byte{key(1)}, "c_nonce", time.Minute, c.Now)
	f.Add(mustIssue(f, s))
	f.Add(mustIssue(f, other))
	f.Add("")
	f.Add(strings.Repeat("A", encodedLn))
	f.Add(strings.Repeat("_", encodedLn+1))
	f.Add("AQ==")
	f.Fuzz(func(t *testing.T, n string) {
		err := s.Check(n)
		if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) {
			t.Fatalf("Check returned unexpected error %v", err)
		}
		if err == nil {
			// Only authentic nonces pass: the input must be one the source
			// could have issued, so re-encoding yields the same string.
			raw, derr := base64.RawURLEncoding.DecodeString(n)
			if derr != nil || base64.RawURLEncoding.EncodeToString(raw) != n || len(raw) != rawLen {
				t.Fatalf("Check accepted non-canonical %q", n)
			}
		}
	})
}

func BenchmarkIssue(b *testing.B) {
	s := mustNew(b, [][]byte{key(1)}, "dpop", time.Minute, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Issue(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	s := mustNew(b, [][]byte{key(1), key(2)}, "dpop", time.Minute, nil)
	n := mustIssue(b, s)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Check(n); err != nil {
			b.Fatal(err)
		}
	}
}
