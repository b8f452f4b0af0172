package redis

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mdoc-issuer/issuer/storage"
)

// TestCreateAllWithoutCachedScript: on a server whose script cache was
// flushed (a restart, a failover), an item of CreateAll whose key exists
// goes through the create script, which must be loaded again; the result is
// as Create's. A dedicated server, so the flush touches no one else.
func TestCreateAllWithoutCachedScript(t *testing.T) {
	server, _ := redisBinaries(t)
	addr := startServer(t, server, "", freePort(t))
	admin := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = admin.Close() })
	s := New(Options{Client: redis.NewClient(&redis.Options{Addr: addr}), Prefix: randomPrefix()})
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	exp := time.Now().Add(time.Minute)
	item := func(key, v string) storage.Item {
		return storage.Item{Kind: "issued", Key: key, Value: []byte(v), ExpiresAt: exp}
	}

	tests := []struct {
		name    string
		items   []storage.Item
		wantErr error
		want    map[string]string
	}{
		{"fresh keys", []storage.Item{item("k1", "a"), item("k2", "b")}, nil, map[string]string{"k1": "a", "k2": "b"}},
		{"a live key", []storage.Item{item("k3", "c"), item("k1", "x")}, storage.ErrAlreadyExists, map[string]string{"k1": "a", "k3": "c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := admin.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			err := s.CreateAll(ctx, tc.items)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("CreateAll: %v, want %v", err, tc.wantErr)
			}
			for k, v := range tc.want {
				got, err := s.Get(ctx, "issued", k)
				if err != nil || string(got) != v {
					t.Fatalf("Get(%s) = %q, %v; want %q", k, got, err, v)
				}
			}
		})
	}
}

// TestCreateFastPathFormat: the SET NX of Create, Remember and CreateAll
// stores exactly the string the create script stores.
func TestCreateFastPathFormat(t *testing.T) {
	s, admin, c := testStore(t)
	ctx := t.Context()
	exp := c.Now().Add(time.Minute)
	tests := []struct {
		name string
		do   func() error
		key  string
		want []byte
	}{
		{"Create", func() error { return s.Create(ctx, "code", "k", []byte("v"), exp) }, s.key("code", "k"), encodeValue([]byte("v"), exp.UnixMilli(), false)},
		{"Remember", func() error { return s.Remember(ctx, "jti", "k", exp) }, s.key("jti", "k"), encodeValue(nil, exp.UnixMilli(), true)},
		{"CreateAll", func() error {
			return s.CreateAll(ctx, []storage.Item{{Kind: "issued", Key: "a", Value: []byte("x"), ExpiresAt: exp}, {Kind: "issued", Key: "b", ExpiresAt: exp}})
		}, s.key("issued", "a"), encodeValue([]byte("x"), exp.UnixMilli(), false)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			got, err := admin.Get(ctx, tc.key).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tc.want) {
				t.Fatalf("stored %x, want %x", got, tc.want)
			}
		})
	}
}

// BenchmarkCreateAll creates the records of one batch-of-10 issuance (10
// issued records and a notification) in one round trip; BenchmarkCreateEach
// is the same with one Create per record.
func BenchmarkCreateAll(b *testing.B)  { benchCreate(b, true) }
func BenchmarkCreateEach(b *testing.B) { benchCreate(b, false) }

func benchCreate(b *testing.B, batch bool) {
	s := benchStore(b)
	ctx := b.Context()
	exp := time.Now().Add(time.Hour)
	value := make([]byte, 200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		items := make([]storage.Item, 11)
		for j := range items {
			items[j] = storage.Item{Kind: "issued", Key: strconv.Itoa(i*11 + j), Value: value, ExpiresAt: exp}
		}
		if batch {
			if err := s.CreateAll(ctx, items); err != nil {
				b.Fatal(err)
			}
			continue
		}
		for _, it := range items {
			if err := s.Create(ctx, it.Kind, it.Key, it.Value, it.ExpiresAt); err != nil {
				b.Fatal(err)
			}
		}
	}
}
