package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/storage/storagetest"
)

// quiet drops go-redis's own log lines (dial failures the tests provoke).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}

// needRedis skips t (or fails it under ISSUER_TEST_REQUIRE_REDIS=1).
func needRedis(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("ISSUER_TEST_REQUIRE_REDIS") == "1" {
		t.Fatalf("ISSUER_TEST_REQUIRE_REDIS=1 but %s", why)
	}
	t.Skip(why)
}

// testURL returns ISSUER_TEST_REDIS_URL or skips.
func testURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("ISSUER_TEST_REDIS_URL")
	if u == "" {
		needRedis(t, "ISSUER_TEST_REDIS_URL is not set")
	}
	return u
}

func newClient(t testing.TB, rawURL string) redis.UniversalClient {
	t.Helper()
	p, err := parseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return p.client()
}

func randomPrefix() string { return "issuertest:" + rand.Text() + ":" }

// deleteKeys removes every key under prefix, on every master of a cluster.
func deleteKeys(t testing.TB, c redis.UniversalClient, prefix string) {
	t.Helper()
	ctx := context.Background()
	del := func(ctx context.Context, n redis.Cmdable) error {
		iter := n.Scan(ctx, 0, prefix+"*", 200).Iterator()
		for iter.Next(ctx) {
			if err := n.Unlink(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return del(ctx, n) })
	} else {
		err = del(ctx, c)
	}
	if err != nil {
		t.Errorf("deleting test keys: %v", err)
	}
}

// runSuite runs the conformance suite with a fresh client and key prefix per
// subtest; admin deletes the keys afterwards.
func runSuite(t *testing.T, rawURL string) {
	admin := newClient(t, rawURL)
	t.Cleanup(func() { _ = admin.Close() })
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storage.Store {
		prefix := randomPrefix()
		s := New(Options{Client: newClient(t, rawURL), Prefix: prefix, Now: now})
		t.Cleanup(func() {
			_ = s.Close()
			deleteKeys(t, admin, prefix)
		})
		return s
	})
}

func TestConformance(t *testing.T) { runSuite(t, testURL(t)) }

// testStore returns a store on ISSUER_TEST_REDIS_URL with a fake clock, and a
// second client for looking at the raw keys.
func testStore(t *testing.T) (*Store, redis.UniversalClient, *storagetest.Clock) {
	rawURL := testURL(t)
	admin := newClient(t, rawURL)
	c := storagetest.NewClock(time.Now().Truncate(time.Millisecond))
	s := New(Options{Client: newClient(t, rawURL), Prefix: randomPrefix(), Now: c.Now})
	t.Cleanup(func() {
		_ = s.Close()
		deleteKeys(t, admin, s.prefix)
		_ = admin.Close()
	})
	return s, admin, c
}

func TestTTLIsGarbageCollectionOnly(t *testing.T) {
	s, admin, c := testStore(t)
	ctx := t.Context()
	c.Advance(-365 * 24 * time.Hour) // the TTL must not depend on the Redis clock
	exp := c.Now().Add(time.Minute)
	later := exp.Add(time.Hour)
	steps := []struct {
		name string
		do   func() error
		kind string
		ttl  time.Duration // expected TTL, as written
	}{
		{"Create", func() error { return s.Create(ctx, "code", "k", []byte("v"), exp) }, "code", time.Minute},
		{"Consume keeps TTL", func() error { _, err := s.Consume(ctx, "code", "k"); return err }, "code", time.Minute},
		{"Put", func() error { return s.Put(ctx, "offer", "k", []byte("v"), exp) }, "offer", time.Minute},
		{"Swap", func() error { return s.Swap(ctx, "offer", "k", []byte("v"), []byte("w"), later) }, "offer", time.Hour + time.Minute},
		{"Advance keeps TTL", func() error {
			_, _, err := s.Advance(ctx, "offer", "k", storage.StateSet(0), 1, []byte("e"), exp)
			return err
		}, "offer", time.Hour + time.Minute},
		{"Advance extends", func() error {
			_, _, err := s.Advance(ctx, "offer", "k", storage.StateSet(1), 2, nil, later.Add(time.Hour))
			return err
		}, "offer", 2*time.Hour + time.Minute},
		{"Remember", func() error { return s.Remember(ctx, "jti", "k", exp) }, "jti", time.Minute},
		{"CreateAll", func() error {
			return s.CreateAll(ctx, []storage.Item{{Kind: "issued", Key: "k", ExpiresAt: exp}, {Kind: "issued", Key: "k2", ExpiresAt: exp}})
		}, "issued", time.Minute},
		{"Incr", func() error { _, err := s.Incr(ctx, "rate", "k", exp); return err }, "rate", time.Minute},
		{"Incr keeps TTL", func() error { _, err := s.Incr(ctx, "rate", "k", later); return err }, "rate", time.Minute},
		{"Put in the past", func() error { return s.Put(ctx, "offer", "old", nil, c.Now().Add(-time.Hour)) }, "offer", 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			key := "k"
			if st.ttl == 0 {
				key = "old"
			}
			got, err := admin.PTTL(ctx, s.key(st.kind, key)).Result()
			if err != nil {
				t.Fatal(err)
			}
			want := st.ttl + GCGrace
			if got > want || got < want-5*time.Second {
				t.Fatalf("PTTL %v, want time to expiry + GCGrace = %v", got, want)
			}
		})
	}
}

// TestAdvanceWithoutCachedScript: a step with ride-along creates is
// pipelined with EVALSHA; on a server that lost its script cache (restart,
// SCRIPT FLUSH, failover) the step is retried with the script's source and
// the creates are still made once.
func TestAdvanceWithoutCachedScript(t *testing.T) {
	s, admin, c := testStore(t)
	ctx := t.Context()
	exp := c.Now().Add(time.Minute)
	if err := s.Create(ctx, "offer", "k", []byte("rec"), exp); err != nil {
		t.Fatal(err)
	}
	if err := admin.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	rctx, rd := storage.WithRider(ctx, s, []storage.Item{{Kind: "at", Key: "t", Value: []byte("tok"), ExpiresAt: exp}})
	before, st, err := s.Advance(rctx, "offer", "k", storage.StateSet(0), 1, []byte("+e"), time.Time{})
	if err != nil || string(before) != "rec" || st != 0 {
		t.Fatalf("Advance: %q, %d, %v", before, st, err)
	}
	if err := rd.Result(ctx); err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[string]string{"offer": "rec+e", "at": "tok"} {
		if got, err := s.Get(ctx, kind, map[string]string{"offer": "k", "at": "t"}[kind]); err != nil || string(got) != want {
			t.Fatalf("%s: %q, %v; want %q", kind, got, err, want)
		}
	}
}

// TestMemoryPerEntry measures what one-time artifacts cost in Redis (run
// with -v to see the figures): the project budget is 2 KB per live issuance
// flow, which holds a handful of such entries. The budgets below include the
// 38-byte test prefix.
func TestMemoryPerEntry(t *testing.T) {
	s, admin, c := testStore(t)
	ctx := t.Context()
	exp := c.Now().Add(time.Minute)
	key := rand.Text() // 26 characters, like a 128-bit code
	record := make([]byte, 300)
	cases := []struct {
		name, kind string
		do         func() error
		max        int64
	}{
		{"replay-cache jti", "jti", func() error { return s.Remember(ctx, "jti", key, exp) }, 160},
		{"tx_code counter", "txcode", func() error { _, err := s.Incr(ctx, "txcode", key, exp); return err }, 160},
		{"300-byte record", "code", func() error { return s.Create(ctx, "code", key, record, exp) }, 480},
		// Three 11-byte events appended by Advance, without a growth reserve.
		{"300-byte record after three steps", "offer", func() error {
			if err := s.Create(ctx, "offer", key, record, exp); err != nil {
				return err
			}
			for st := range uint8(3) {
				if _, _, err := s.Advance(ctx, "offer", key, storage.StateSet(st), st+1, make([]byte, 11), exp.Add(time.Minute)); err != nil {
					return err
				}
			}
			return nil
		}, 520},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			n, err := admin.MemoryUsage(ctx, s.key(tc.kind, key)).Result()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("MEMORY USAGE %s: %d bytes", tc.name, n)
			if n > tc.max {
				t.Fatalf("%s uses %d bytes, budget %d", tc.name, n, tc.max)
			}
		})
	}
}

func TestForeignValuesFailClosed(t *testing.T) {
	s, admin, c := testStore(t)
	ctx := t.Context()
	exp := c.Now().Add(time.Minute)
	foreign := map[string]func(key string) error{
		"short string": func(k string) error { return admin.Set(ctx, k, "x", time.Minute).Err() },
		"unknown format": func(k string) error {
			return admin.Set(ctx, k, "\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00v", time.Minute).Err()
		},
		"hash": func(k string) error { return admin.HSet(ctx, k, "f", "v").Err() },
	}
	for name, plant := range foreign {
		t.Run(name, func(t *testing.T) {
			if err := plant(s.key("code", name)); err != nil {
				t.Fatal(err)
			}
			_, getErr := s.Get(ctx, "code", name)
			_, consumeErr := s.Consume(ctx, "code", name)
			_, incrErr := s.Incr(ctx, "code", name, exp)
			for op, err := range map[string]error{
				"Get":      getErr,
				"Consume":  consumeErr,
				"Incr":     incrErr,
				"Create":   s.Create(ctx, "code", name, nil, exp),
				"Remember": s.Remember(ctx, "code", name, exp),
				"Swap":     s.Swap(ctx, "code", name, nil, nil, exp),
			} {
				if !errors.Is(err, storage.ErrUnavailable) {
					t.Errorf("%s: %v, want ErrUnavailable", op, err)
				}
			}
		})
	}
}

// TestScriptsReadFixture checks that the Lua scripts and Get read the
// committed format fixture as the Go decoder does.
func TestScriptsReadFixture(t *testing.T) {
	s, admin, _ := testStore(t)
	ctx := t.Context()
	for _, f := range readFixture(t) {
		t.Run(f.name, func(t *testing.T) {
			if err := admin.Set(ctx, s.key("fixture", f.name), f.stored, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			// The fixture instants are fixed; read them with a clock just before.
			c := storagetest.NewClock(time.UnixMilli(f.expMs - 1))
			fs := New(Options{Client: s.c, Prefix: s.prefix, Now: c.Now})
			v, err := fs.Consume(ctx, "fixture", f.name)
			if f.used && !errors.Is(err, storage.ErrAlreadyUsed) || !f.used && err != nil {
				t.Fatalf("Consume: %v (used=%v)", err, f.used)
			}
			if string(v) != string(f.value) {
				t.Fatalf("Consume = %x, want %x", v, f.value)
			}
			c.Advance(time.Millisecond)
			if _, err := fs.Get(ctx, "fixture", f.name); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Get at expiry: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestUnreachable checks that every operation against a Redis that refuses
// connections, or accepts them and never answers, fails quickly with
// storage.ErrUnavailable.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
		}
	}()

	opts := func(addr string) *redis.Options {
		return &redis.Options{
			Addr: addr, DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond,
			WriteTimeout: 100 * time.Millisecond, MaxRetries: -1, DialerRetries: 1,
			DialerRetryTimeout: time.Millisecond, ContextTimeoutEnabled: true,
		}
	}
	cases := []struct {
		name string
		opts *redis.Options
		ctx  func(context.Context) (context.Context, context.CancelFunc)
	}{
		{"refused", opts(closedAddr), nil},
		{"silent", opts(silent.Addr().String()), nil},
		{"deadline", func() *redis.Options { o := opts(silent.Addr().String()); o.ReadTimeout = 10 * time.Second; return o }(),
			func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 100*time.Millisecond)
			}},
	}
	exp := time.Now().Add(time.Minute)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{Client: redis.NewClient(tc.opts), Prefix: "x:"})
			defer s.Close()
			ops := map[string]func(ctx context.Context) error{
				"Ping":     s.Ping,
				"Create":   func(ctx context.Context) error { return s.Create(ctx, "k", "k", nil, exp) },
				"Put":      func(ctx context.Context) error { return s.Put(ctx, "k", "k", nil, exp) },
				"Get":      func(ctx context.Context) error { _, err := s.Get(ctx, "k", "k"); return err },
				"Consume":  func(ctx context.Context) error { _, err := s.Consume(ctx, "k", "k"); return err },
				"Swap":     func(ctx context.Context) error { return s.Swap(ctx, "k", "k", nil, nil, exp) },
				"Delete":   func(ctx context.Context) error { return s.Delete(ctx, "k", "k") },
				"Remember": func(ctx context.Context) error { return s.Remember(ctx, "k", "k", exp) },
				"Incr":     func(ctx context.Context) error { _, err := s.Incr(ctx, "k", "k", exp); return err },
			}
			for name, op := range ops {
				ctx, cancel := context.WithCancel(t.Context())
				if tc.ctx != nil {
					ctx, cancel = tc.ctx(t.Context())
				}
				start := time.Now()
				err := op(ctx)
				cancel()
				if !errors.Is(err, storage.ErrUnavailable) {
					t.Errorf("%s: %v, want ErrUnavailable", name, err)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("%s took %v", name, d)
				}
			}
		})
	}
}

func TestOpen(t *testing.T) {
	rawURL := testURL(t)
	s, err := Open(t.Context(), rawURL, randomPrefix(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Open(t.Context(), "redis://"+addr+"/0?dial_timeout=100ms&max_retries=-1", "x:", nil)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Open of a closed port: %v, want ErrUnavailable", err)
	}
}

func benchStore(b *testing.B) *Store {
	rawURL := testURL(b)
	admin := newClient(b, rawURL)
	s := New(Options{Client: newClient(b, rawURL), Prefix: randomPrefix()})
	b.Cleanup(func() {
		_ = s.Close()
		deleteKeys(b, admin, s.prefix)
		_ = admin.Close()
	})
	return s
}

func BenchmarkConsume(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	exp := time.Now().Add(time.Hour)
	keys := make([]string, b.N)
	pipe := s.c.Pipeline()
	for i := range keys {
		keys[i] = strconv.Itoa(i)
		pipe.Set(ctx, s.key("code", keys[i]), encodeValue([]byte("value"), exp.UnixMilli(), false), time.Hour)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Consume(ctx, "code", keys[i]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRemember(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	exp := time.Now().Add(time.Hour)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Remember(ctx, "jti", ids[i], exp); err != nil {
			b.Fatal(err)
		}
	}
}
