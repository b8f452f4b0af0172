package redis

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mdoc-issuer/issuer/storage"
)

// TestCreateAllWithoutCachedScript: on a server whose script cache was
// flushed (a restart, a failover), the pipelined EVALSHA of CreateAll finds
// no script; those items did not run and must still be created (or refused)
// exactly as Create would. A dedicated server, so the flush touches no one
// else.
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
