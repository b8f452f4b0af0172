package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mdoc-issuer/issuer/storage"
)

// GCGrace is how long Redis keeps a key past its stored expiry. Liveness is
// decided by the stored instant and the injected clock; the Redis TTL only
// frees memory. The TTL is relative (expiry minus the writer's now, plus
// GCGrace), so the Redis server's clock plays no part; the grace absorbs
// clock skew between issuer instances, so a replay-cache entry is not
// dropped while another instance still considers it live (unless their
// clocks differ by more than GCGrace).
const GCGrace = time.Minute

// Options configures a Store.
type Options struct {
	// Client is a standalone, Sentinel (failover) or Cluster client. The
	// Store owns it: Close closes it.
	Client redis.UniversalClient
	// Prefix is prepended verbatim to every key ("issuer:" gives
	// "issuer:<kind>:<key>").
	Prefix string
	// Now is the clock expiry is checked against; nil means time.Now.
	Now func() time.Time
}

// Store is a storage.Store on Redis. Every operation is one command or one
// Lua script on one key (Create and Remember: SET NX, then the script if the
// key exists); CreateAll pipelines one SET NX per key.
type Store struct {
	c         redis.UniversalClient
	prefix    string
	now       func() time.Time
	closeOnce sync.Once
	closeErr  error
}

var _ storage.Store = (*Store)(nil)

// New returns a Store using o.Client.
func New(o Options) *Store {
	s := &Store{c: o.Client, prefix: o.Prefix, now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Open connects to the Redis named by rawURL (forms in the package
// documentation), checks it answers PING within ctx, and returns a Store.
// Errors from an unreachable server wrap storage.ErrUnavailable.
func Open(ctx context.Context, rawURL, prefix string, now func() time.Time) (*Store, error) {
	p, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	s := New(Options{Client: p.client(), Prefix: prefix, Now: now})
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) key(kind, key string) string { return s.prefix + kind + ":" + key }

// fail wraps a backend error. Messages name the operation and kind only:
// keys are secrets (codes, jti) and never appear in errors.
func fail(op, kind string, err error) error {
	if kind != "" {
		op += " " + kind
	}
	return fmt.Errorf("%w: redis %s: %w", storage.ErrUnavailable, op, err)
}

// gcTTL is the Redis TTL in ms for a value expiring at expMs, written at nowMs.
func gcTTL(expMs, nowMs int64) int64 { return max(expMs-nowMs, 0) + GCGrace.Milliseconds() }

// start fails fast on a done context, so no command is sent for it.
func start(ctx context.Context, op, kind string) error {
	if err := ctx.Err(); err != nil {
		return fail(op, kind, err)
	}
	return nil
}

// Create implements storage.Records.
func (s *Store) Create(ctx context.Context, kind, key string, value []byte, expiresAt time.Time) error {
	return s.create(ctx, "create", kind, key, value, expiresAt, false, storage.ErrAlreadyExists)
}

// Remember implements storage.ReplayCache: a Create of an empty, used value.
func (s *Store) Remember(ctx context.Context, kind, id string, expiresAt time.Time) error {
	return s.create(ctx, "remember", kind, id, nil, expiresAt, true, storage.ErrAlreadyUsed)
}

func (s *Store) create(ctx context.Context, op, kind, key string, value []byte, expiresAt time.Time, used bool, exists error) error {
	if err := start(ctx, op, kind); err != nil {
		return err
	}
	exp, now := expiresAt.UnixMilli(), s.now().UnixMilli()
	k, v, ttl := s.key(kind, key), encodeValue(value, exp, used), gcTTL(exp, now)
	// Fast path: with no key at all, a plain SET NX makes the write the
	// script would make (the script is ten times the server CPU).
	created, err := s.c.SetNX(ctx, k, v, time.Duration(ttl)*time.Millisecond).Result()
	if err != nil {
		return fail(op, kind, err)
	}
	if created {
		return nil
	}
	return s.createExisting(ctx, op, kind, k, v, now, ttl, exists)
}

// createExisting runs the create script for a key that exists in Redis: it
// is replaced only if its stored expiry has passed by the injected clock.
func (s *Store) createExisting(ctx context.Context, op, kind, k string, v []byte, now, ttl int64, exists error) error {
	n, err := createScript.Run(ctx, s.c, []string{k}, now, v, ttl).Int()
	switch {
	case err != nil:
		return fail(op, kind, err)
	case n == 0:
		return exists
	}
	return nil
}

var _ storage.BatchCreator = (*Store)(nil)

// CreateAll implements storage.BatchCreator: one pipeline of SET NX, one
// command per key (Redis Cluster safe: a cluster client splits the pipeline
// by slot). An item whose key exists goes through the create script, as in
// Create.
func (s *Store) CreateAll(ctx context.Context, items []storage.Item) error {
	if len(items) == 0 {
		return nil
	}
	if err := start(ctx, "create", items[0].Kind); err != nil {
		return err
	}
	pipe := s.c.Pipeline()
	finish := s.queueCreates(ctx, pipe, items, s.now().UnixMilli())
	// Exec's error is that of the first failed command; each is read by
	// finish.
	_, _ = pipe.Exec(ctx)
	return finish()
}

// queueCreates adds one SET NX per item to pipe; once pipe has run, finish
// completes the items whose key existed and returns CreateAll's result.
func (s *Store) queueCreates(ctx context.Context, pipe redis.Pipeliner, items []storage.Item, now int64) (finish func() error) {
	keys, vals, ttls := make([]string, len(items)), make([][]byte, len(items)), make([]int64, len(items))
	cmds := make([]*redis.BoolCmd, len(items))
	for i, it := range items {
		exp := it.ExpiresAt.UnixMilli()
		keys[i], vals[i], ttls[i] = s.key(it.Kind, it.Key), encodeValue(it.Value, exp, false), gcTTL(exp, now)
		cmds[i] = pipe.SetNX(ctx, keys[i], vals[i], time.Duration(ttls[i])*time.Millisecond)
	}
	return func() error {
		var first error
		for i, cmd := range cmds {
			created, err := cmd.Result()
			switch {
			case err != nil:
				err = fail("create", items[i].Kind, err)
			case !created:
				err = s.createExisting(ctx, "create", items[i].Kind, keys[i], vals[i], now, ttls[i], storage.ErrAlreadyExists)
			}
			if first == nil && err != nil {
				first = &storage.ItemError{Index: i, Err: err}
			}
		}
		return first
	}
}

// Put implements storage.Records.
func (s *Store) Put(ctx context.Context, kind, key string, value []byte, expiresAt time.Time) error {
	if err := start(ctx, "put", kind); err != nil {
		return err
	}
	exp := expiresAt.UnixMilli()
	ttl := time.Duration(gcTTL(exp, s.now().UnixMilli())) * time.Millisecond
	err := s.c.Set(ctx, s.key(kind, key), encodeValue(value, exp, false), ttl).Err()
	if err != nil {
		return fail("put", kind, err)
	}
	return nil
}

// Get implements storage.Records. Pending marks (storage.Remember) and
// reads (storage.Prefetch) go in the same pipeline as the GET.
func (s *Store) Get(ctx context.Context, kind, key string) ([]byte, error) {
	if v, found, err := storage.Prefetched(ctx, s, kind, key); found {
		return v, err
	}
	if err := start(ctx, "get", kind); err != nil {
		return nil, err
	}
	pm, marks := storage.TakeMarks(ctx, s)
	pr, reads := storage.TakeReads(ctx, s, kind, key)
	if pm == nil && pr == nil {
		raw, err := s.c.Get(ctx, s.key(kind, key)).Bytes()
		return s.answer("get", kind, raw, err)
	}
	now := s.now().UnixMilli()
	pipe := s.c.Pipeline()
	keys, vals, ttls := make([]string, len(marks)), make([][]byte, len(marks)), make([]int64, len(marks))
	sets := make([]*redis.BoolCmd, len(marks))
	for i, m := range marks {
		exp := m.ExpiresAt.UnixMilli()
		keys[i], vals[i], ttls[i] = s.key(m.Kind, m.ID), encodeValue(nil, exp, true), gcTTL(exp, now)
		sets[i] = pipe.SetNX(ctx, keys[i], vals[i], time.Duration(ttls[i])*time.Millisecond)
	}
	get := pipe.Get(ctx, s.key(kind, key))
	ahead := make([]*redis.StringCmd, len(reads))
	for i, rd := range reads {
		ahead[i] = pipe.Get(ctx, s.key(rd.Kind, rd.Key))
	}
	// Exec's error is that of the first failed command; each is read below.
	_, _ = pipe.Exec(ctx)
	for i, rd := range reads {
		raw, err := ahead[i].Bytes()
		v, err := s.answer("get", rd.Kind, raw, err)
		pr.Fetched(s, rd, v, err)
	}
	if pm != nil {
		results := make([]error, len(marks))
		for i, cmd := range sets {
			created, err := cmd.Result()
			switch {
			case err != nil:
				results[i] = fail("remember", marks[i].Kind, err)
			case !created:
				results[i] = s.createExisting(ctx, "remember", marks[i].Kind, keys[i], vals[i], now, ttls[i], storage.ErrAlreadyUsed)
			}
		}
		if err := pm.Report(results); err != nil {
			return nil, err
		}
	}
	raw, err := get.Bytes()
	return s.answer("get", kind, raw, err)
}

// answer is Get's result for a GET's reply.
func (s *Store) answer(op, kind string, raw []byte, err error) ([]byte, error) {
	if errors.Is(err, redis.Nil) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, fail(op, kind, err)
	}
	return s.live(op, kind, raw)
}

// live decodes a stored string read now: the value, with ErrAlreadyUsed if
// it is marked used, or ErrNotFound if it has expired.
func (s *Store) live(op, kind string, raw []byte) ([]byte, error) {
	value, exp, used, err := decodeValue(raw)
	switch {
	case err != nil:
		return nil, fail(op, kind, err)
	case exp <= s.now().UnixMilli():
		return nil, storage.ErrNotFound
	case used:
		return value, storage.ErrAlreadyUsed
	}
	return value, nil
}

// Consume implements storage.Records.
func (s *Store) Consume(ctx context.Context, kind, key string) ([]byte, error) {
	if err := start(ctx, "consume", kind); err != nil {
		return nil, err
	}
	now := s.now().UnixMilli()
	raw, err := consumeScript.Run(ctx, s.c, []string{s.key(kind, key)}, now).Text()
	if errors.Is(err, redis.Nil) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, fail("consume", kind, err)
	}
	value, _, used, err := decodeValue([]byte(raw))
	switch {
	case err != nil:
		return nil, fail("consume", kind, err)
	case used:
		return value, storage.ErrAlreadyUsed
	}
	return value, nil
}

// Swap implements storage.Records.
func (s *Store) Swap(ctx context.Context, kind, key string, old, value []byte, expiresAt time.Time) error {
	if err := start(ctx, "swap", kind); err != nil {
		return err
	}
	exp, now := expiresAt.UnixMilli(), s.now().UnixMilli()
	n, err := swapScript.Run(ctx, s.c, []string{s.key(kind, key)}, now, old, encodeValue(value, exp, false), gcTTL(exp, now)).Int()
	if err != nil {
		return fail("swap", kind, err)
	}
	switch n {
	case swapDone:
		return nil
	case swapNotFound:
		return storage.ErrNotFound
	case swapUsed:
		return storage.ErrAlreadyUsed
	case swapConflict:
		return storage.ErrConflict
	}
	return fail("swap", kind, fmt.Errorf("unexpected script result %d", n))
}

// Advance implements storage.Records: one script run (scripts.go).
func (s *Store) Advance(ctx context.Context, kind, key string, from storage.States, to uint8, event []byte, extendTo time.Time) ([]byte, uint8, error) {
	if to > storage.MaxState {
		return nil, 0, storage.ErrBadState
	}
	if err := start(ctx, "advance", kind); err != nil {
		return nil, 0, err
	}
	now, ext := s.now().UnixMilli(), max(extendTo.UnixMilli(), 0)
	keys, args := []string{s.key(kind, key)}, []any{now, int(from), int(to), event, ext, gcTTL(ext, now)}
	var raw string
	var err error
	if rd, items := storage.TakeRider(ctx, s); rd != nil {
		// The step, then the ride-along creates, in one pipeline.
		pipe := s.c.Pipeline()
		step := advanceScript.EvalSha(ctx, pipe, keys, args...)
		finish := s.queueCreates(ctx, pipe, items, now)
		_, _ = pipe.Exec(ctx)
		rd.Report(finish())
		raw, err = step.Text()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			raw, err = advanceScript.Run(ctx, s.c, keys, args...).Text()
		}
	} else {
		raw, err = advanceScript.Run(ctx, s.c, keys, args...).Text()
	}
	if errors.Is(err, redis.Nil) {
		return nil, 0, storage.ErrNotFound
	}
	if err != nil {
		return nil, 0, fail("advance", kind, err)
	}
	b := []byte(raw)
	value, _, used, err := decodeValue(b)
	if err != nil {
		return nil, 0, fail("advance", kind, err)
	}
	// The script's decision, read back from the string it returned.
	st := stateOf(b)
	switch {
	case used:
		return value, st, storage.ErrAlreadyUsed
	case !from.Has(st):
		return value, st, storage.ErrConflict
	}
	return value, st, nil
}

// Delete implements storage.Records.
func (s *Store) Delete(ctx context.Context, kind, key string) error {
	if err := start(ctx, "delete", kind); err != nil {
		return err
	}
	if err := s.c.Del(ctx, s.key(kind, key)).Err(); err != nil {
		return fail("delete", kind, err)
	}
	return nil
}

// Incr implements storage.Counters.
func (s *Store) Incr(ctx context.Context, kind, key string, expiresAt time.Time) (int64, error) {
	if err := start(ctx, "incr", kind); err != nil {
		return 0, err
	}
	exp, now := expiresAt.UnixMilli(), s.now().UnixMilli()
	n, err := incrScript.Run(ctx, s.c, []string{s.key(kind, key)}, now, encodeValue(nil, exp, false), gcTTL(exp, now)).Int64()
	if err != nil {
		return 0, fail("incr", kind, err)
	}
	return n, nil
}

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := start(ctx, "ping", ""); err != nil {
		return err
	}
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fail("ping", "", err)
	}
	return nil
}

// Close closes the client; later operations fail with storage.ErrUnavailable.
// Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.c.Close() })
	return s.closeErr
}
