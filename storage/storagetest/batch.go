package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
)

// createAll calls storage.CreateAll, which uses the backend's own
// CreateAll when it has one.
func createAll(ctx context.Context, s storage.Store, items ...storage.Item) error {
	return storage.CreateAll(ctx, s, items)
}

func item(kind, key string, v []byte, exp time.Time) storage.Item {
	return storage.Item{Kind: kind, Key: key, Value: v, ExpiresAt: exp}
}

// wantIndex fails t unless err is a *storage.ItemError for item i.
func wantIndex(t *testing.T, err error, i int) {
	t.Helper()
	var ie *storage.ItemError
	if !errors.As(err, &ie) || ie.Index != i {
		t.Fatalf("CreateAll error %v (%T), want an ItemError for item %d", err, err, i)
	}
}

var batch = []testCase{
	{"IsBatchCreator", func(t *testing.T, s storage.Store, c *Clock) {
		if _, ok := s.(storage.BatchCreator); !ok {
			t.Fatalf("%T does not implement storage.BatchCreator", s)
		}
	}},
	{"CreateAllThenGet", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		want(t, "CreateAll", createAll(t.Context(), s, item("issued", "k1", a, exp), item("issued", "k2", b, exp),
			item("notification", "k1", b, exp)), nil)
		get(t, s, "issued", "k1", a, nil)
		get(t, s, "issued", "k2", b, nil)
		get(t, s, "notification", "k1", b, nil)
	}},
	{"CreateAllEmpty", func(t *testing.T, s storage.Store, c *Clock) {
		want(t, "CreateAll", createAll(t.Context(), s), nil)
	}},
	{"CreateAllSingle", func(t *testing.T, s storage.Store, c *Clock) {
		want(t, "CreateAll", createAll(t.Context(), s, item("issued", "k", a, c.Now().Add(time.Minute))), nil)
		get(t, s, "issued", "k", a, nil)
		err := createAll(t.Context(), s, item("issued", "k", b, c.Now().Add(time.Minute)))
		want(t, "second CreateAll", err, storage.ErrAlreadyExists)
		wantIndex(t, err, 0)
		get(t, s, "issued", "k", a, nil)
	}},
	{"CreateAllOverLiveValue", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "issued", "k2", a, exp)
		err := createAll(t.Context(), s, item("issued", "k1", b, exp), item("issued", "k2", b, exp), item("issued", "k3", b, exp))
		want(t, "CreateAll", err, storage.ErrAlreadyExists)
		wantIndex(t, err, 1)
		// The live value is kept; the other items are attempted.
		get(t, s, "issued", "k2", a, nil)
		get(t, s, "issued", "k1", b, nil)
		get(t, s, "issued", "k3", b, nil)
	}},
	{"CreateAllOverConsumedValue", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		create(t, s, "code", "k", a, exp)
		_, err := s.Consume(t.Context(), "code", "k")
		want(t, "Consume", err, nil)
		err = createAll(t.Context(), s, item("code", "k2", b, exp), item("code", "k", b, exp))
		want(t, "CreateAll", err, storage.ErrAlreadyExists)
		wantIndex(t, err, 1)
		get(t, s, "code", "k", a, storage.ErrAlreadyUsed)
	}},
	{"CreateAllOverExpiredValue", func(t *testing.T, s storage.Store, c *Clock) {
		create(t, s, "issued", "k", a, c.Now().Add(time.Second))
		c.Advance(time.Second)
		exp := c.Now().Add(time.Minute)
		want(t, "CreateAll", createAll(t.Context(), s, item("issued", "k", b, exp), item("issued", "k2", b, exp)), nil)
		get(t, s, "issued", "k", b, nil)
	}},
	{"CreateAllValuesExpire", func(t *testing.T, s storage.Store, c *Clock) {
		want(t, "CreateAll", createAll(t.Context(), s, item("issued", "short", a, c.Now().Add(time.Second)),
			item("issued", "long", b, c.Now().Add(time.Minute))), nil)
		c.Advance(time.Second)
		get(t, s, "issued", "short", nil, storage.ErrNotFound)
		get(t, s, "issued", "long", b, nil)
	}},
	{"CreateAllCanceledContext", func(t *testing.T, s storage.Store, c *Clock) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		exp := c.Now().Add(time.Minute)
		want(t, "CreateAll", createAll(ctx, s, item("issued", "k1", a, exp), item("issued", "k2", a, exp)), storage.ErrUnavailable)
		get(t, s, "issued", "k1", nil, storage.ErrNotFound)
	}},
	{"CreateAllAfterClose", func(t *testing.T, s storage.Store, c *Clock) {
		want(t, "Close", s.Close(), nil)
		exp := c.Now().Add(time.Minute)
		want(t, "CreateAll", createAll(t.Context(), s, item("issued", "k1", a, exp), item("issued", "k2", a, exp)), storage.ErrUnavailable)
	}},
	// Race tier: racers batch one shared key with a key of their own.
	// Exactly one creates the shared key; every own key is created.
	{"RaceCreateAllOneWinner", func(t *testing.T, s storage.Store, c *Clock) {
		exp := c.Now().Add(time.Minute)
		count, _ := outcomes(t, func(ctx context.Context, i int) error {
			return createAll(ctx, s, item("issued", "shared", []byte(fmt.Sprint(i)), exp),
				item("issued", fmt.Sprint("own-", i), a, exp))
		})
		oneWinner(t, count, storage.ErrAlreadyExists)
		for i := range Racers {
			get(t, s, "issued", fmt.Sprint("own-", i), a, nil)
		}
	}},
}
