package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
)

// NewStoreFunc returns a fresh, empty store reading time from now. It
// registers its own cleanup with t (Close must be idempotent: some subtests
// close the store themselves).
type NewStoreFunc func(t *testing.T, now func() time.Time) storage.Store

// Racers is how many goroutines the concurrency tier runs against one key.
const Racers = 64

type testCase struct {
	name string
	fn   func(t *testing.T, s storage.Store, c *Clock)
}

// Run runs the whole conformance suite against the backend newStore builds.
//
// The fake clock starts at the real time (rounded to the millisecond) and
// only moves forward, so a backend whose garbage collection runs on its own
// wall clock (Redis PEXPIREAT) never collects a value the fake clock still
// considers live.
func Run(t *testing.T, newStore NewStoreFunc) {
	tiers := []struct {
		name  string
		cases []testCase
	}{
		{"RoundTrip", roundTrip},
		{"Expiry", expiry},
		{"SingleUse", singleUse},
		{"Swap", swap},
		{"Advance", advancing},
		{"Counters", counters},
		{"Race", race},
		{"Batch", batch},
		{"Pending", pending},
		{"Rider", riding},
		{"Prefetch", prefetching},
		{"Close", closing},
	}
	for _, tier := range tiers {
		t.Run(tier.name, func(t *testing.T) {
			for _, tc := range tier.cases {
				t.Run(tc.name, func(t *testing.T) {
					c := NewClock(time.Now().Truncate(time.Millisecond))
					tc.fn(t, newStore(t, c.Now), c)
				})
			}
		})
	}
}

// want fails t unless err matches wantErr (nil: no error).
func want(t *testing.T, what string, err, wantErr error) {
	t.Helper()
	if wantErr == nil && err != nil || wantErr != nil && !errors.Is(err, wantErr) {
		t.Fatalf("%s: error %v, want %v", what, err, wantErr)
	}
}

// wantValue fails t unless got equals exp byte for byte (nil and empty are
// equal) and err matches wantErr.
func wantValue(t *testing.T, what string, got []byte, err error, exp []byte, wantErr error) {
	t.Helper()
	want(t, what, err, wantErr)
	if !bytes.Equal(got, exp) {
		t.Fatalf("%s: value %q, want %q", what, trim(got), trim(exp))
	}
}

func trim(b []byte) []byte {
	if len(b) > 32 {
		return append(b[:32:32], "..."...)
	}
	return b
}

func get(t *testing.T, s storage.Store, kind, key string, exp []byte, wantErr error) {
	t.Helper()
	v, err := s.Get(t.Context(), kind, key)
	wantValue(t, fmt.Sprintf("Get(%s)", kind), v, err, exp, wantErr)
}

func create(t *testing.T, s storage.Store, kind, key string, v []byte, exp time.Time) {
	t.Helper()
	want(t, "Create", s.Create(t.Context(), kind, key, v, exp), nil)
}

func incr(t *testing.T, s storage.Store, kind, key string, exp time.Time, n int64) {
	t.Helper()
	got, err := s.Incr(t.Context(), kind, key, exp)
	want(t, "Incr", err, nil)
	if got != n {
		t.Fatalf("Incr = %d, want %d", got, n)
	}
}

var (
	a = []byte("value-a")
	b = []byte("value-b")
)

var roundTrip = []testCase{
	{"CreateThenGet", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "par", "k", a, c.Now().Add(time.Minute))
		get(t, s, "par", "k", a, nil)
	}},
	{"CreateOverLiveValue", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "par", "k", a, c.Now().Add(time.Minute))
		want(t, "second Create", s.Create(t.Context(), "par", "k", b, c.Now().Add(time.Hour)), storage.ErrAlreadyExists)
		get(t, s, "par", "k", a, nil)
	}},
	{"CreateOverConsumedValue", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "code", "k", a, c.Now().Add(time.Minute))
		_, err := s.Consume(t.Context(), "code", "k")
		want(t, "Consume", err, nil)
		want(t, "Create", s.Create(t.Context(), "code", "k", b, c.Now().Add(time.Minute)), storage.ErrAlreadyExists)
		get(t, s, "code", "k", a, storage.ErrAlreadyUsed)
	}},
	{"PutCreatesAndOverwrites", func(t *testing.T, s storage.Store, c *Clock) {
		want(t, "Put", s.Put(t.Context(), "offer", "k", a, c.Now().Add(time.Minute)), nil)
		get(t, s, "offer", "k", a, nil)
		want(t, "Put", s.Put(t.Context(), "offer", "k", b, c.Now().Add(time.Minute)), nil)
		get(t, s, "offer", "k", b, nil)
	}},
	{"GetMissing", func(t *testing.T, s storage.Store, c *Clock) {
		get(t, s, "par", "absent", nil, storage.ErrNotFound)
	}},
	{"Delete", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "par", "k", a, c.Now().Add(time.Minute))
		want(t, "Delete", s.Delete(t.Context(), "par", "k"), nil)
		get(t, s, "par", "k", nil, storage.ErrNotFound)
		create(t, s, "par", "k", b, c.Now().Add(time.Minute))
		get(t, s, "par", "k", b, nil)
	}},
	{"DeleteMissing", func(t *testing.T, s storage.Store, c *Clock) {
		want(t, "Delete", s.Delete(t.Context(), "par", "absent"), nil)
	}},
	{"BinaryValues", func(t *testing.T, s storage.Store, c *Clock) {
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		big := make([]byte, 64<<10)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range big {
			big[i] = byte(r.Uint32())
		}
		values := []struct {
			name string
			v    []byte
		}{
			{"nil", nil},
			{"empty", []byte{}},
			{"zero", []byte{0}},
			{"allBytes", all},
			{"headerLike", []byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
			{"decimal", []byte("12")},
			{"64KiB", big},
		}
		for _, tc := range values {
			t.Run(tc.name, func(t *testing.T) {
				want(t, "Put", s.Put(t.Context(), "blob", tc.name, tc.v, c.Now().Add(time.Minute)), nil)
				get(t, s, "blob", tc.name, tc.v, nil)
				v, err := s.Consume(t.Context(), "blob", tc.name)
				wantValue(t, "Consume", v, err, tc.v, nil)
				get(t, s, "blob", tc.name, tc.v, storage.ErrAlreadyUsed)
			})
		}
	}},
	{"KindsAndKeysAreSeparate", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		keys := []string{"", "k", "k:", ":k", "a:b", "{tag}", "{tag}k", "ünïcode", "with space", string(bytes.Repeat([]byte("x"), 1024))}
		kinds := []string{"par", "code"}
		for _, kind := range kinds {
			for i, key := range keys {
				want(t, "Put", s.Put(t.Context(), kind, key, []byte(fmt.Sprintf("%s/%d", kind, i)), exp), nil)
			}
		}
		for _, kind := range kinds {
			for i, key := range keys {
				get(t, s, kind, key, []byte(fmt.Sprintf("%s/%d", kind, i)), nil)
			}
		}
	}},
	{"ValuesAreCopied", func(t *testing.T, s storage.Store, c *Clock) {
		buf := []byte("original")
		want(t, "Put", s.Put(t.Context(), "par", "k", buf, c.Now().Add(time.Minute)), nil)
		copy(buf, "mutated!")
		v, err := s.Get(t.Context(), "par", "k")
		wantValue(t, "Get", v, err, []byte("original"), nil)
		copy(v, "mutated!")
		get(t, s, "par", "k", []byte("original"), nil)
	}},
	{"TypedRecord", func(t *testing.T, s storage.Store, c *Clock) {
		in := sampleRecord{
			V: 1, ClientID: "wallet-1", Scopes: []string{"org.iso.18013.5.1.mDL"},
			Claims:  map[string]string{"family_name": "Doe"},
			Expires: c.Now().Add(time.Minute).Unix(), Binding: []byte{0xde, 0xad},
		}
		enc, err := storage.Encode(in)
		want(t, "Encode", err, nil)
		if again, _ := storage.Encode(in); !bytes.Equal(enc, again) {
			t.Fatal("Encode is not deterministic")
		}
		create(t, s, "grant", "k", enc, c.Now().Add(time.Minute))
		v, err := s.Consume(t.Context(), "grant", "k")
		want(t, "Consume", err, nil)
		var out sampleRecord
		want(t, "Decode", storage.Decode(v, &out), nil)
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("round trip: got %+v, want %+v", out, in)
		}
	}},
	{"Ping", func(t *testing.T, s storage.Store, c *Clock) {
		want(t, "Ping", s.Ping(t.Context()), nil)
	}},
}

// sampleRecord is a versioned DTO of the kind domain packages store.
type sampleRecord struct {
	V        int               `cbor:"1,keyasint"`
	ClientID string            `cbor:"2,keyasint"`
	Scopes   []string          `cbor:"3,keyasint"`
	Claims   map[string]string `cbor:"4,keyasint"`
	Expires  int64             `cbor:"5,keyasint"`
	Binding  []byte            `cbor:"6,keyasint,omitempty"`
}

var expiry = []testCase{
	{"GetAtBoundary", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "par", "k", a, c.Now().Add(time.Minute))
		c.Advance(time.Minute - time.Millisecond)
		get(t, s, "par", "k", a, nil)
		c.Advance(time.Millisecond)
		get(t, s, "par", "k", nil, storage.ErrNotFound)
	}},
	{"PutInThePast", func(t *testing.T, s storage.Store, c *Clock) {
		want(t, "Put", s.Put(t.Context(), "par", "k", a, c.Now().Add(-time.Second)), nil)
		get(t, s, "par", "k", nil, storage.ErrNotFound)
		create(t, s, "par", "k", b, c.Now().Add(time.Minute))
		get(t, s, "par", "k", b, nil)
	}},
	{"CreateOverExpired", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "par", "k", a, c.Now().Add(time.Minute))
		c.Advance(time.Minute)
		create(t, s, "par", "k", b, c.Now().Add(time.Minute))
		get(t, s, "par", "k", b, nil)
	}},
	{"ConsumeExpired", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "code", "k", a, c.Now().Add(time.Minute))
		c.Advance(time.Minute)
		v, err := s.Consume(t.Context(), "code", "k")
		wantValue(t, "Consume", v, err, nil, storage.ErrNotFound)
	}},
	{"UsedMarkLivesUntilExpiry", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "code", "k", a, c.Now().Add(time.Minute))
		c.Advance(30 * time.Second)
		_, err := s.Consume(t.Context(), "code", "k")
		want(t, "Consume", err, nil)
		c.Advance(30*time.Second - time.Millisecond)
		get(t, s, "code", "k", a, storage.ErrAlreadyUsed)
		c.Advance(time.Millisecond)
		get(t, s, "code", "k", nil, storage.ErrNotFound)
		create(t, s, "code", "k", b, c.Now().Add(time.Minute))
		v, err := s.Consume(t.Context(), "code", "k")
		wantValue(t, "Consume after expiry", v, err, b, nil)
	}},
	{"SwapExpired", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", a, c.Now().Add(time.Minute))
		c.Advance(time.Minute)
		want(t, "Swap", s.Swap(t.Context(), "offer", "k", a, b, c.Now().Add(time.Minute)), storage.ErrNotFound)
	}},
	{"SwapSetsExpiry", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", a, c.Now().Add(time.Minute))
		want(t, "Swap longer", s.Swap(t.Context(), "offer", "k", a, b, c.Now().Add(10*time.Minute)), nil)
		c.Advance(5 * time.Minute)
		get(t, s, "offer", "k", b, nil)
		want(t, "Swap shorter", s.Swap(t.Context(), "offer", "k", b, a, c.Now().Add(time.Second)), nil)
		c.Advance(time.Second)
		get(t, s, "offer", "k", nil, storage.ErrNotFound)
	}},
	{"RememberExpires", func(t *testing.T, s storage.Store, c *Clock) {
		want(t, "Remember", s.Remember(t.Context(), "jti", "id", c.Now().Add(time.Minute)), nil)
		c.Advance(time.Minute - time.Millisecond)
		want(t, "Remember before expiry", s.Remember(t.Context(), "jti", "id", c.Now().Add(time.Minute)), storage.ErrAlreadyUsed)
		c.Advance(time.Millisecond)
		want(t, "Remember after expiry", s.Remember(t.Context(), "jti", "id", c.Now().Add(time.Minute)), nil)
		c.Advance(time.Minute - time.Millisecond)
		want(t, "Remember within new window", s.Remember(t.Context(), "jti", "id", c.Now().Add(time.Minute)), storage.ErrAlreadyUsed)
	}},
	{"IncrWindowEnds", func(t *testing.T, s storage.Store, c *Clock) {
		end := c.Now().Add(time.Minute)
		incr(t, s, "txcode", "k", end, 1)
		incr(t, s, "txcode", "k", end, 2)
		c.Advance(time.Minute - time.Millisecond)
		incr(t, s, "txcode", "k", c.Now().Add(time.Minute), 3)
		c.Advance(time.Millisecond)
		incr(t, s, "txcode", "k", c.Now().Add(time.Minute), 1)
	}},
	{"DeleteExpired", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "par", "k", a, c.Now().Add(time.Minute))
		c.Advance(2 * time.Minute)
		want(t, "Delete", s.Delete(t.Context(), "par", "k"), nil)
	}},
}

var singleUse = []testCase{
	{"ConsumeThenGet", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "code", "k", a, c.Now().Add(time.Minute))
		v, err := s.Consume(t.Context(), "code", "k")
		wantValue(t, "Consume", v, err, a, nil)
		get(t, s, "code", "k", a, storage.ErrAlreadyUsed)
	}},
	{"ConsumeTwice", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "code", "k", a, c.Now().Add(time.Minute))
		_, err := s.Consume(t.Context(), "code", "k")
		want(t, "first Consume", err, nil)
		v, err := s.Consume(t.Context(), "code", "k")
		wantValue(t, "second Consume", v, err, a, storage.ErrAlreadyUsed)
	}},
	{"ConsumeMissing", func(t *testing.T, s storage.Store, c *Clock) {
		v, err := s.Consume(t.Context(), "code", "absent")
		wantValue(t, "Consume", v, err, nil, storage.ErrNotFound)
	}},
	{"SwapConsumed", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "code", "k", a, c.Now().Add(time.Minute))
		_, err := s.Consume(t.Context(), "code", "k")
		want(t, "Consume", err, nil)
		want(t, "Swap same old", s.Swap(t.Context(), "code", "k", a, b, c.Now().Add(time.Minute)), storage.ErrAlreadyUsed)
		want(t, "Swap other old", s.Swap(t.Context(), "code", "k", b, b, c.Now().Add(time.Minute)), storage.ErrAlreadyUsed)
		get(t, s, "code", "k", a, storage.ErrAlreadyUsed)
	}},
	{"PutClearsUsedMark", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "code", "k", a, c.Now().Add(time.Minute))
		_, err := s.Consume(t.Context(), "code", "k")
		want(t, "Consume", err, nil)
		want(t, "Put", s.Put(t.Context(), "code", "k", b, c.Now().Add(time.Minute)), nil)
		get(t, s, "code", "k", b, nil)
		v, err := s.Consume(t.Context(), "code", "k")
		wantValue(t, "Consume after Put", v, err, b, nil)
	}},
	{"DeleteClearsUsedMark", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "code", "k", a, c.Now().Add(time.Minute))
		_, err := s.Consume(t.Context(), "code", "k")
		want(t, "Consume", err, nil)
		want(t, "Delete", s.Delete(t.Context(), "code", "k"), nil)
		create(t, s, "code", "k", b, c.Now().Add(time.Minute))
		get(t, s, "code", "k", b, nil)
	}},
	{"RememberTwice", func(t *testing.T, s storage.Store, c *Clock) {
		want(t, "first", s.Remember(t.Context(), "jti", "id", c.Now().Add(time.Minute)), nil)
		want(t, "second", s.Remember(t.Context(), "jti", "id", c.Now().Add(time.Hour)), storage.ErrAlreadyUsed)
	}},
	{"RememberSeparatesKindsAndIDs", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		for _, k := range [][2]string{{"jti", "a"}, {"jti", "b"}, {"wia", "a"}, {"jti", ""}} {
			want(t, "Remember "+k[0], s.Remember(t.Context(), k[0], k[1], exp), nil)
		}
	}},
}

var swap = []testCase{
	{"Replaces", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", a, c.Now().Add(time.Minute))
		want(t, "Swap a->b", s.Swap(t.Context(), "offer", "k", a, b, c.Now().Add(time.Minute)), nil)
		get(t, s, "offer", "k", b, nil)
		want(t, "Swap b->a", s.Swap(t.Context(), "offer", "k", b, a, c.Now().Add(time.Minute)), nil)
		v, err := s.Consume(t.Context(), "offer", "k")
		wantValue(t, "Consume after Swap", v, err, a, nil)
	}},
	{"Conflict", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", []byte("abc"), c.Now().Add(time.Minute))
		for _, old := range [][]byte{nil, []byte("ab"), []byte("abcd"), []byte("abd"), []byte("ABC")} {
			want(t, fmt.Sprintf("Swap(old=%q)", old), s.Swap(t.Context(), "offer", "k", old, b, c.Now().Add(time.Minute)), storage.ErrConflict)
		}
		get(t, s, "offer", "k", []byte("abc"), nil)
	}},
	{"EmptyOld", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", nil, c.Now().Add(time.Minute))
		want(t, "Swap", s.Swap(t.Context(), "offer", "k", []byte{}, a, c.Now().Add(time.Minute)), nil)
		want(t, "Swap again", s.Swap(t.Context(), "offer", "k", nil, b, c.Now().Add(time.Minute)), storage.ErrConflict)
		get(t, s, "offer", "k", a, nil)
	}},
	{"Missing", func(t *testing.T, s storage.Store, c *Clock) {
		want(t, "Swap", s.Swap(t.Context(), "offer", "absent", a, b, c.Now().Add(time.Minute)), storage.ErrNotFound)
		get(t, s, "offer", "absent", nil, storage.ErrNotFound)
	}},
}

var counters = []testCase{
	{"Counts", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		for n := int64(1); n <= 5; n++ {
			incr(t, s, "txcode", "k", exp, n)
		}
	}},
	{"KeepsWindowEnd", func(t *testing.T, s storage.Store, c *Clock) {
		incr(t, s, "rate", "k", c.Now().Add(time.Minute), 1)
		incr(t, s, "rate", "k", c.Now().Add(time.Hour), 2)
		c.Advance(time.Minute)
		incr(t, s, "rate", "k", c.Now().Add(time.Hour), 1)
	}},
	{"SeparateKeys", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		incr(t, s, "rate", "a", exp, 1)
		incr(t, s, "rate", "a", exp, 2)
		incr(t, s, "rate", "b", exp, 1)
		incr(t, s, "txcode", "a", exp, 1)
	}},
	{"DeleteResets", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		incr(t, s, "txcode", "k", exp, 1)
		incr(t, s, "txcode", "k", exp, 2)
		want(t, "Delete", s.Delete(t.Context(), "txcode", "k"), nil)
		incr(t, s, "txcode", "k", exp, 1)
	}},
}

// together runs f(i) for i in [0, Racers) on Racers goroutines released at
// the same moment.
func together(f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range Racers {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// outcomes runs op on every racer and counts the errors it returned (nil
// counted under the key nil).
func outcomes(t *testing.T, op func(ctx context.Context, i int) error) (map[error]int, []error) {
	t.Helper()
	errs := make([]error, Racers)
	together(func(i int) { errs[i] = op(t.Context(), i) })
	count := make(map[error]int)
	for _, err := range errs {
		switch {
		case err == nil:
			count[nil]++
		case errors.Is(err, storage.ErrAlreadyUsed):
			count[storage.ErrAlreadyUsed]++
		case errors.Is(err, storage.ErrAlreadyExists):
			count[storage.ErrAlreadyExists]++
		case errors.Is(err, storage.ErrConflict):
			count[storage.ErrConflict]++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	return count, errs
}

func oneWinner(t *testing.T, count map[error]int, loser error) {
	t.Helper()
	if count[nil] != 1 || count[loser] != Racers-1 {
		t.Fatalf("%d winners and %d losers with %v, want 1 and %d", count[nil], count[loser], loser, Racers-1)
	}
}

var race = []testCase{
	{"ConsumeOneWinner", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "code", "k", a, c.Now().Add(time.Minute))
		values := make([][]byte, Racers)
		count, _ := outcomes(t, func(ctx context.Context, i int) error {
			v, err := s.Consume(ctx, "code", "k")
			values[i] = v
			return err
		})
		oneWinner(t, count, storage.ErrAlreadyUsed)
		for i, v := range values {
			if !bytes.Equal(v, a) {
				t.Fatalf("racer %d got %q, want %q", i, v, a)
			}
		}
	}},
	{"RememberOneWinner", func(t *testing.T, s storage.Store, c *Clock) {
		count, _ := outcomes(t, func(ctx context.Context, i int) error {
			return s.Remember(ctx, "jti", "id", c.Now().Add(time.Minute))
		})
		oneWinner(t, count, storage.ErrAlreadyUsed)
	}},
	{"CreateOneWinner", func(t *testing.T, s storage.Store, c *Clock) {
		count, errs := outcomes(t, func(ctx context.Context, i int) error {
			return s.Create(ctx, "par", "k", []byte(fmt.Sprint(i)), c.Now().Add(time.Minute))
		})
		oneWinner(t, count, storage.ErrAlreadyExists)
		for i, err := range errs {
			if err == nil {
				get(t, s, "par", "k", []byte(fmt.Sprint(i)), nil)
			}
		}
	}},
	{"SwapOneWinner", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", a, c.Now().Add(time.Minute))
		count, errs := outcomes(t, func(ctx context.Context, i int) error {
			return s.Swap(ctx, "offer", "k", a, []byte(fmt.Sprint(i)), c.Now().Add(time.Minute))
		})
		oneWinner(t, count, storage.ErrConflict)
		for i, err := range errs {
			if err == nil {
				get(t, s, "offer", "k", []byte(fmt.Sprint(i)), nil)
			}
		}
	}},
	{"IncrCountsEveryCall", func(t *testing.T, s storage.Store, c *Clock) {
		seen := make([]int64, Racers)
		count, _ := outcomes(t, func(ctx context.Context, i int) error {
			n, err := s.Incr(ctx, "rate", "k", c.Now().Add(time.Minute))
			seen[i] = n
			return err
		})
		if count[nil] != Racers {
			t.Fatalf("%d of %d Incr succeeded", count[nil], Racers)
		}
		got := make(map[int64]bool)
		for _, n := range seen {
			got[n] = true
		}
		for n := int64(1); n <= Racers; n++ {
			if !got[n] {
				t.Fatalf("no racer saw count %d; saw %v", n, seen)
			}
		}
		incr(t, s, "rate", "k", c.Now().Add(time.Minute), Racers+1)
	}},
}

var closing = []testCase{
	{"OperationsFailAfterClose", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "par", "k", a, c.Now().Add(time.Minute))
		want(t, "Close", s.Close(), nil)
		ctx, exp := t.Context(), c.Now().Add(time.Minute)
		_, getErr := s.Get(ctx, "par", "k")
		_, consumeErr := s.Consume(ctx, "par", "k")
		_, incrErr := s.Incr(ctx, "rate", "k", exp)
		_, _, advanceErr := s.Advance(ctx, "par", "k", storage.StateSet(0), 1, nil, time.Time{})
		for name, err := range map[string]error{
			"Ping":     s.Ping(ctx),
			"Get":      getErr,
			"Consume":  consumeErr,
			"Create":   s.Create(ctx, "par", "k2", a, exp),
			"Put":      s.Put(ctx, "par", "k", a, exp),
			"Swap":     s.Swap(ctx, "par", "k", a, b, exp),
			"Advance":  advanceErr,
			"Delete":   s.Delete(ctx, "par", "k"),
			"Remember": s.Remember(ctx, "jti", "id", exp),
			"Incr":     incrErr,
		} {
			want(t, name+" after Close", err, storage.ErrUnavailable)
		}
	}},
	{"CanceledContext", func(t *testing.T, s storage.Store, c *Clock) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.Consume(ctx, "code", "k")
		want(t, "Consume with canceled context", err, storage.ErrUnavailable)
		want(t, "Remember with canceled context", s.Remember(ctx, "jti", "id", c.Now().Add(time.Minute)), storage.ErrUnavailable)
		want(t, "Remember", s.Remember(t.Context(), "jti", "id", c.Now().Add(time.Minute)), nil)
	}},
}
