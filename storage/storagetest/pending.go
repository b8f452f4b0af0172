package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
)

var errReplayA = errors.New("mark a replayed")
var errReplayB = errors.New("mark b replayed")

// pending: marks deferred with storage.Remember travel with the store's
// next Get, whose answer is their outcome when one fails; Settle writes
// what no Get took.
var pending = []testCase{
	{"RideAlongGet", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "rec", "k", a, exp)
		ctx, p := storage.WithPending(t.Context())
		want(t, "deferred a", storage.Remember(ctx, s, "jti", "a", exp, errReplayA), nil)
		want(t, "deferred b", storage.Remember(ctx, s, "jti", "b", exp, errReplayB), nil)
		v, err := s.Get(ctx, "rec", "k")
		wantValue(t, "Get with marks", v, err, a, nil)
		want(t, "Settle", p.Settle(ctx), nil)
		// Both were written by the Get: remembering them again is a replay.
		want(t, "a again", s.Remember(t.Context(), "jti", "a", exp), storage.ErrAlreadyUsed)
		want(t, "b again", s.Remember(t.Context(), "jti", "b", exp), storage.ErrAlreadyUsed)
		// The marks went once: a second Get is a plain read.
		v, err = s.Get(ctx, "rec", "k")
		wantValue(t, "second Get", v, err, a, nil)
	}},
	{"ReplayAnswersGet", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "rec", "k", a, exp)
		want(t, "remember b", s.Remember(t.Context(), "jti", "b", exp), nil)
		ctx, p := storage.WithPending(t.Context())
		_ = storage.Remember(ctx, s, "jti", "a", exp, errReplayA)
		_ = storage.Remember(ctx, s, "jti", "b", exp, errReplayB)
		if _, err := s.Get(ctx, "rec", "k"); !errors.Is(err, errReplayB) {
			t.Fatalf("Get with a replayed mark: %v, want the mark's error", err)
		}
		if err := p.Settle(ctx); !errors.Is(err, errReplayB) {
			t.Fatalf("Settle: %v, want the mark's error", err)
		}
		// The mark that was new is written all the same.
		want(t, "a again", s.Remember(t.Context(), "jti", "a", exp), storage.ErrAlreadyUsed)
	}},
	{"ReplayOfMissingRecord", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		want(t, "remember a", s.Remember(t.Context(), "jti", "a", exp), nil)
		ctx, _ := storage.WithPending(t.Context())
		_ = storage.Remember(ctx, s, "jti", "a", exp, errReplayA)
		if _, err := s.Get(ctx, "rec", "absent"); !errors.Is(err, errReplayA) {
			t.Fatalf("Get: %v, want the replay before ErrNotFound", err)
		}
	}},
	{"SettleWithoutGet", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		ctx, p := storage.WithPending(t.Context())
		_ = storage.Remember(ctx, s, "jti", "a", exp, errReplayA)
		want(t, "Settle", p.Settle(ctx), nil)
		want(t, "a again", s.Remember(t.Context(), "jti", "a", exp), storage.ErrAlreadyUsed)
		ctx2, p2 := storage.WithPending(t.Context())
		_ = storage.Remember(ctx2, s, "jti", "a", exp, errReplayA)
		if err := p2.Settle(ctx2); !errors.Is(err, errReplayA) {
			t.Fatalf("Settle of a replay: %v", err)
		}
	}},
	{"ExpiredMarkIsReplaced", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "rec", "k", a, c.Now().Add(time.Hour))
		want(t, "remember a", s.Remember(t.Context(), "jti", "a", c.Now().Add(time.Second)), nil)
		c.Advance(2 * time.Second)
		ctx, p := storage.WithPending(t.Context())
		_ = storage.Remember(ctx, s, "jti", "a", c.Now().Add(time.Minute), errReplayA)
		v, err := s.Get(ctx, "rec", "k")
		wantValue(t, "Get", v, err, a, nil)
		want(t, "Settle", p.Settle(ctx), nil)
	}},
	{"RideAlongRace", func(t *testing.T, s storage.Store, c *Clock) {
		// Racers requests carry the same mark with their reads: exactly one
		// read answers with the value, the others with the replay.
		exp := c.Now().Add(time.Minute)
		create(t, s, "rec", "k", a, exp)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, replayed := 0, 0
		for range Racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, p := storage.WithPending(t.Context())
				_ = storage.Remember(ctx, s, "jti", "same", exp, errReplayA)
				_, err := s.Get(ctx, "rec", "k")
				if serr := p.Settle(ctx); !errors.Is(serr, err) && !(err == nil && serr == nil) {
					t.Errorf("Get %v, Settle %v", err, serr)
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case errors.Is(err, errReplayA):
					replayed++
				default:
					t.Errorf("Get: %v", err)
				}
			}()
		}
		wg.Wait()
		if won != 1 || replayed != Racers-1 {
			t.Fatalf("%d reads won, %d saw the replay; want 1 and %d", won, replayed, Racers-1)
		}
	}},
	{"WithoutPendingAtOnce", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		want(t, "first", storage.Remember(t.Context(), s, "jti", "a", exp, errReplayA), nil)
		if err := storage.Remember(t.Context(), s, "jti", "a", exp, errReplayA); !errors.Is(err, errReplayA) {
			t.Fatalf("second Remember: %v, want the replay error", err)
		}
	}},
}
