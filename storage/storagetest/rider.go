package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
)

// riding: creates deferred with storage.WithRider travel with the store's
// next Advance, whatever its outcome; Result creates them if no Advance
// took them; Cancel withdraws them before.
var riding = []testCase{
	{"RidesWithAdvance", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "offer", "k", a, exp)
		ctx, rd := storage.WithRider(t.Context(), s, []storage.Item{item("at", "t1", b, exp), item("grant", "g1", a, exp)})
		_, _, err := s.Advance(ctx, "offer", "k", storage.StateSet(0), 1, nil, time.Time{})
		want(t, "Advance", err, nil)
		if rd.Cancel() {
			t.Fatal("Cancel after the Advance withdrew creates already sent")
		}
		want(t, "Result", rd.Result(ctx), nil)
		get(t, s, "at", "t1", b, nil)
		get(t, s, "grant", "g1", a, nil)
	}},
	{"RidesWhateverTheStep", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		ctx, rd := storage.WithRider(t.Context(), s, []storage.Item{item("at", "t1", b, exp)})
		_, _, err := s.Advance(ctx, "offer", "absent", storage.StateSet(0), 1, nil, time.Time{})
		want(t, "Advance of a missing record", err, storage.ErrNotFound)
		want(t, "Result", rd.Result(ctx), nil)
		get(t, s, "at", "t1", b, nil)
	}},
	{"ReportsItemErrors", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "offer", "k", a, exp)
		create(t, s, "grant", "g1", a, exp)
		ctx, rd := storage.WithRider(t.Context(), s, []storage.Item{item("at", "t1", b, exp), item("grant", "g1", b, exp)})
		_, _, err := s.Advance(ctx, "offer", "k", storage.StateSet(0), 1, nil, time.Time{})
		want(t, "Advance", err, nil)
		wantIndex(t, rd.Result(ctx), 1)
		get(t, s, "at", "t1", b, nil)
		get(t, s, "grant", "g1", a, nil)
	}},
	{"ResultCreatesUntaken", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "offer", "k", a, exp)
		ctx, rd := storage.WithRider(t.Context(), s, []storage.Item{item("at", "t1", b, exp)})
		// Get and Create do not take ride-along creates.
		get(t, s, "offer", "k", a, nil)
		create(t, s, "other", "k", a, exp)
		get(t, s, "at", "t1", nil, storage.ErrNotFound)
		want(t, "Result", rd.Result(ctx), nil)
		get(t, s, "at", "t1", b, nil)
		// Sent once: a later Advance does not create them again.
		want(t, "Delete", s.Delete(t.Context(), "at", "t1"), nil)
		_, _, err := s.Advance(ctx, "offer", "k", storage.StateSet(0), 1, nil, time.Time{})
		want(t, "Advance", err, nil)
		get(t, s, "at", "t1", nil, storage.ErrNotFound)
	}},
	{"CancelWithdraws", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "offer", "k", a, exp)
		ctx, rd := storage.WithRider(t.Context(), s, []storage.Item{item("at", "t1", b, exp)})
		if !rd.Cancel() {
			t.Fatal("Cancel before any Advance did not withdraw")
		}
		_, _, err := s.Advance(ctx, "offer", "k", storage.StateSet(0), 1, nil, time.Time{})
		want(t, "Advance", err, nil)
		get(t, s, "at", "t1", nil, storage.ErrNotFound)
		if err := rd.Result(ctx); err == nil || errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Result after Cancel: %v", err)
		}
		get(t, s, "at", "t1", nil, storage.ErrNotFound)
	}},
	{"OtherStoreDoesNotTake", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "offer", "k", a, exp)
		// Creates meant for a wrapper of s are not s's to send.
		ctx, rd := storage.WithRider(t.Context(), wrapped{s}, []storage.Item{item("at", "t1", b, exp)})
		_, _, err := s.Advance(ctx, "offer", "k", storage.StateSet(0), 1, nil, time.Time{})
		want(t, "Advance", err, nil)
		get(t, s, "at", "t1", nil, storage.ErrNotFound)
		want(t, "Result", rd.Result(ctx), nil)
		get(t, s, "at", "t1", b, nil)
	}},
}

// wrapped is another Records over the same data.
type wrapped struct{ storage.Store }
