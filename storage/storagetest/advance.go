package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
)

// advance steps (kind, key) and checks the value before, the state before
// and the error.
func advance(t *testing.T, s storage.Store, key string, from storage.States, to uint8, event []byte, extendTo time.Time, wantBefore []byte, wantState uint8, wantErr error) {
	t.Helper()
	v, st, err := s.Advance(t.Context(), "offer", key, from, to, event, extendTo)
	what := fmt.Sprintf("Advance(%b -> %d)", from, to)
	wantValue(t, what, v, err, wantBefore, wantErr)
	if st != wantState {
		t.Fatalf("%s: state before %d, want %d", what, st, wantState)
	}
}

// advancing: a record's state steps atomically with an appended event and
// without a read before the write.
var advancing = []testCase{
	{"StepsAndAppends", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "offer", "k", []byte("rec"), exp)
		advance(t, s, "k", storage.StateSet(0), 1, []byte("+f"), time.Time{}, []byte("rec"), 0, nil)
		get(t, s, "offer", "k", []byte("rec+f"), nil)
		advance(t, s, "k", storage.StateSet(0, 1), 2, []byte("+r"), time.Time{}, []byte("rec+f"), 1, nil)
		get(t, s, "offer", "k", []byte("rec+f+r"), nil)
		advance(t, s, "k", storage.StateSet(2), 15, nil, time.Time{}, []byte("rec+f+r"), 2, nil)
		get(t, s, "offer", "k", []byte("rec+f+r"), nil)
	}},
	{"ConflictWritesNothing", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "offer", "k", []byte("rec"), exp)
		advance(t, s, "k", storage.StateSet(0), 3, []byte("+x"), time.Time{}, []byte("rec"), 0, nil)
		advance(t, s, "k", storage.StateSet(0, 1, 2), 1, []byte("+f"), c.Now().Add(time.Hour), []byte("rec+x"), 3, storage.ErrConflict)
		get(t, s, "offer", "k", []byte("rec+x"), nil)
		// The expiry was not extended either.
		c.Advance(time.Minute)
		get(t, s, "offer", "k", nil, storage.ErrNotFound)
	}},
	{"ExtendsExpiryOnlyLater", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", a, c.Now().Add(time.Minute))
		advance(t, s, "k", storage.StateSet(0), 1, nil, c.Now().Add(time.Second), a, 0, nil)
		c.Advance(30 * time.Second)
		get(t, s, "offer", "k", a, nil)
		advance(t, s, "k", storage.StateSet(1), 2, nil, c.Now().Add(time.Hour), a, 1, nil)
		c.Advance(time.Minute)
		get(t, s, "offer", "k", a, nil)
		c.Advance(time.Hour)
		get(t, s, "offer", "k", nil, storage.ErrNotFound)
	}},
	{"Missing", func(t *testing.T, s storage.Store, c *Clock) {
		advance(t, s, "absent", storage.StateSet(0), 1, a, time.Time{}, nil, 0, storage.ErrNotFound)
		get(t, s, "offer", "absent", nil, storage.ErrNotFound)
	}},
	{"Expired", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", a, c.Now().Add(time.Minute))
		c.Advance(time.Minute)
		advance(t, s, "k", storage.StateSet(0), 1, b, c.Now().Add(time.Hour), nil, 0, storage.ErrNotFound)
		get(t, s, "offer", "k", nil, storage.ErrNotFound)
	}},
	{"Consumed", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", a, c.Now().Add(time.Minute))
		_, err := s.Consume(t.Context(), "offer", "k")
		want(t, "Consume", err, nil)
		advance(t, s, "k", storage.StateSet(0), 1, b, time.Time{}, a, 0, storage.ErrAlreadyUsed)
		v, err := s.Get(t.Context(), "offer", "k")
		wantValue(t, "Get", v, err, a, storage.ErrAlreadyUsed)
	}},
	{"WritesResetState", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "offer", "k", a, exp)
		advance(t, s, "k", storage.StateSet(0), 5, nil, time.Time{}, a, 0, nil)
		want(t, "Swap", s.Swap(t.Context(), "offer", "k", a, b, exp), nil)
		advance(t, s, "k", storage.StateSet(0), 5, nil, time.Time{}, b, 0, nil)
		want(t, "Put", s.Put(t.Context(), "offer", "k", a, exp), nil)
		advance(t, s, "k", storage.StateSet(0), 5, nil, time.Time{}, a, 0, nil)
		// Consume keeps the state; a consumed value is not stepped.
		_, err := s.Consume(t.Context(), "offer", "k")
		want(t, "Consume", err, nil)
		advance(t, s, "k", storage.StateSet(5), 6, nil, time.Time{}, a, 5, storage.ErrAlreadyUsed)
	}},
	{"StateOutOfRange", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", a, c.Now().Add(time.Minute))
		_, _, err := s.Advance(t.Context(), "offer", "k", storage.StateSet(0), storage.MaxState+1, nil, time.Time{})
		want(t, "Advance to 16", err, storage.ErrBadState)
		advance(t, s, "k", storage.StateSet(0), storage.MaxState, nil, time.Time{}, a, 0, nil)
	}},
	{"BinaryEvents", func(t *testing.T, s storage.Store, c *Clock) {
		ev := []byte{0, 0xff, '\r', '\n', 0x80}
		create(t, s, "offer", "k", nil, c.Now().Add(time.Minute))
		advance(t, s, "k", storage.StateSet(0), 1, ev, time.Time{}, nil, 0, nil)
		get(t, s, "offer", "k", ev, nil)
	}},
	{"CanceledContext", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", a, c.Now().Add(time.Minute))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, _, err := s.Advance(ctx, "offer", "k", storage.StateSet(0), 1, b, time.Time{})
		want(t, "Advance with canceled context", err, storage.ErrUnavailable)
		get(t, s, "offer", "k", a, nil)
	}},
	// Racers step the same record from state 0: exactly one wins, the
	// others see the winner's state, and the record holds one event.
	{"RaceOneWinner", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "offer", "k", a, c.Now().Add(time.Minute))
		states := make([]uint8, Racers)
		count, errs := outcomes(t, func(ctx context.Context, i int) error {
			_, st, err := s.Advance(ctx, "offer", "k", storage.StateSet(0, 1), 2, []byte("+r"), time.Time{})
			states[i] = st
			return err
		})
		oneWinner(t, count, storage.ErrConflict)
		for i, err := range errs {
			if want := uint8(2); err != nil && states[i] != want {
				t.Fatalf("loser %d saw state %d, want %d", i, states[i], want)
			}
		}
		get(t, s, "offer", "k", append(a, "+r"...), nil)
	}},
}
