package storagetest

import (
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
)

// prefetching: reads noted with storage.Prefetch travel with the store's
// next Get and answer the first Get of their record, once.
var prefetching = []testCase{
	{"RidesWithGet", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "at", "k1", a, exp)
		create(t, s, "offer", "k2", b, exp)
		ctx, _ := storage.WithPending(t.Context())
		storage.Prefetch(ctx, s, "offer", "k2")
		v, err := s.Get(ctx, "at", "k1")
		wantValue(t, "Get", v, err, a, nil)
		// Changed after the first round trip: the prefetched answer is
		// the value at the time of that round trip.
		want(t, "Put", s.Put(t.Context(), "offer", "k2", []byte("changed"), exp), nil)
		v, err = s.Get(ctx, "offer", "k2")
		wantValue(t, "prefetched Get", v, err, b, nil)
		v, err = s.Get(ctx, "offer", "k2")
		wantValue(t, "second Get", v, err, []byte("changed"), nil)
	}},
	{"AnswersAsGet", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "at", "k1", a, exp)
		create(t, s, "code", "used", b, exp)
		_, err := s.Consume(t.Context(), "code", "used")
		want(t, "Consume", err, nil)
		ctx, _ := storage.WithPending(t.Context())
		storage.Prefetch(ctx, s, "code", "used")
		storage.Prefetch(ctx, s, "offer", "absent")
		_, err = s.Get(ctx, "at", "k1")
		want(t, "Get", err, nil)
		create(t, s, "offer", "absent", a, exp)
		v, err := s.Get(ctx, "offer", "absent")
		wantValue(t, "prefetched missing", v, err, nil, storage.ErrNotFound)
		v, err = s.Get(ctx, "code", "used")
		wantValue(t, "prefetched consumed", v, err, b, storage.ErrAlreadyUsed)
	}},
	{"OwnRecordNotCached", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "offer", "k", a, exp)
		ctx, _ := storage.WithPending(t.Context())
		storage.Prefetch(ctx, s, "offer", "k")
		v, err := s.Get(ctx, "offer", "k")
		wantValue(t, "Get", v, err, a, nil)
		want(t, "Put", s.Put(t.Context(), "offer", "k", b, exp), nil)
		v, err = s.Get(ctx, "offer", "k")
		wantValue(t, "second Get", v, err, b, nil)
	}},
	{"WithMarks", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "at", "k1", a, exp)
		create(t, s, "offer", "k2", b, exp)
		want(t, "remember", s.Remember(t.Context(), "jti", "seen", exp), nil)
		ctx, _ := storage.WithPending(t.Context())
		_ = storage.Remember(ctx, s, "jti", "seen", exp, errReplayA)
		storage.Prefetch(ctx, s, "offer", "k2")
		_, err := s.Get(ctx, "at", "k1")
		want(t, "Get with a replayed mark", err, errReplayA)
		v, err := s.Get(ctx, "offer", "k2")
		wantValue(t, "prefetched", v, err, b, nil)
	}},
	{"AnswersWithoutMarks", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "at", "k1", a, exp)
		create(t, s, "offer", "k2", b, exp)
		ctx, p := storage.WithPending(t.Context())
		storage.Prefetch(ctx, s, "offer", "k2")
		_, err := s.Get(ctx, "at", "k1")
		want(t, "Get", err, nil)
		want(t, "Settle", p.Settle(ctx), nil)
		actx := storage.WithAnswers(t.Context(), p)
		// A mark in the answers' context is written at once.
		want(t, "Remember", storage.Remember(actx, s, "jti", "x", exp, errReplayA), nil)
		want(t, "Remember again", s.Remember(t.Context(), "jti", "x", exp), storage.ErrAlreadyUsed)
		v, err := s.Get(actx, "offer", "k2")
		wantValue(t, "prefetched", v, err, b, nil)
	}},
	{"OtherStoreOrNoPending", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "at", "k1", a, exp)
		create(t, s, "offer", "k2", b, exp)
		storage.Prefetch(t.Context(), s, "offer", "k2") // no Pending: nothing noted
		ctx, _ := storage.WithPending(t.Context())
		storage.Prefetch(ctx, wrapped{s}, "offer", "k2")
		_, err := s.Get(ctx, "at", "k1")
		want(t, "Get", err, nil)
		want(t, "Put", s.Put(t.Context(), "offer", "k2", a, exp), nil)
		v, err := s.Get(ctx, "offer", "k2")
		wantValue(t, "not prefetched for this store", v, err, a, nil)
	}},
}
