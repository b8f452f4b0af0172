package memory

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
)

// DefaultSweepInterval is how often the background sweeper runs when
// Options.SweepInterval is zero.
const DefaultSweepInterval = time.Minute

// Options configures a Store.
type Options struct {
	// Now is the clock expiry is checked against; nil means time.Now.
	Now func() time.Time
	// SweepInterval is the period of the background sweeper (real time, not
	// the injected clock); zero means DefaultSweepInterval, negative disables
	// the background sweeper (Sweep can still be called).
	SweepInterval time.Duration
}

type id struct{ kind, key string }

type entry struct {
	value []byte
	exp   int64 // expiry instant, ms since the Unix epoch; live iff now < exp
	used  bool
	state uint8 // Advance's state
}

// Store is an in-memory storage.Store, safe for concurrent use.
type Store struct {
	now func() time.Time

	mu     sync.Mutex
	m      map[id]*entry
	closed bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ storage.Store = (*Store)(nil)

// New returns an empty store and starts its sweeper; Close stops it.
func New(o Options) *Store {
	s := &Store{now: o.Now, m: make(map[id]*entry), stop: make(chan struct{}), done: make(chan struct{})}
	if s.now == nil {
		s.now = time.Now
	}
	interval := o.SweepInterval
	if interval == 0 {
		interval = DefaultSweepInterval
	}
	if interval < 0 {
		close(s.done)
		return s
	}
	go s.sweepLoop(interval)
	return s
}

func (s *Store) sweepLoop(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep removes every entry expired by the injected clock.
func (s *Store) Sweep() {
	now := s.nowMs()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.m {
		if e.exp <= now {
			delete(s.m, k)
		}
	}
}

// Len returns the number of entries held, live or expired but not yet swept.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *Store) nowMs() int64 { return s.now().UnixMilli() }

var errClosed = fmt.Errorf("%w: memory store closed", storage.ErrUnavailable)

// lock takes the mutex and returns the live entry under (kind, key), or nil.
// The caller must unlock.
func (s *Store) lock(ctx context.Context, kind, key string) (*entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	now := s.nowMs()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	e := s.m[id{kind, key}]
	if e != nil && e.exp <= now {
		delete(s.m, id{kind, key})
		e = nil
	}
	return e, nil
}

func clone(b []byte) []byte { return append(make([]byte, 0, len(b)), b...) }

// Create implements storage.Records.
func (s *Store) Create(ctx context.Context, kind, key string, value []byte, expiresAt time.Time) error {
	e, err := s.lock(ctx, kind, key)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if e != nil {
		return storage.ErrAlreadyExists
	}
	s.m[id{kind, key}] = &entry{value: clone(value), exp: expiresAt.UnixMilli()}
	return nil
}

var _ storage.BatchCreator = (*Store)(nil)

// CreateAll implements storage.BatchCreator. The items are created under
// one lock, so here the batch happens to be atomic with respect to other
// operations; the first failing item's error is returned.
func (s *Store) CreateAll(ctx context.Context, items []storage.Item) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	now := s.nowMs()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	var first error
	for i, it := range items {
		k := id{it.Kind, it.Key}
		if e := s.m[k]; e != nil && e.exp > now {
			if first == nil {
				first = &storage.ItemError{Index: i, Err: storage.ErrAlreadyExists}
			}
			continue
		}
		s.m[k] = &entry{value: clone(it.Value), exp: it.ExpiresAt.UnixMilli()}
	}
	return first
}

// Put implements storage.Records.
func (s *Store) Put(ctx context.Context, kind, key string, value []byte, expiresAt time.Time) error {
	_, err := s.lock(ctx, kind, key)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.m[id{kind, key}] = &entry{value: clone(value), exp: expiresAt.UnixMilli()}
	return nil
}

// Get implements storage.Records. Reads noted with storage.Prefetch are
// made after the Get's own.
func (s *Store) Get(ctx context.Context, kind, key string) ([]byte, error) {
	if v, found, err := storage.Prefetched(ctx, s, kind, key); found {
		return v, err
	}
	if p, reads := storage.TakeReads(ctx, s, kind, key); p != nil {
		defer func() {
			for _, rd := range reads {
				v, err := s.get(ctx, rd.Kind, rd.Key)
				p.Fetched(s, rd, v, err)
			}
		}()
	}
	if p, marks := storage.TakeMarks(ctx, s); p != nil {
		results := make([]error, len(marks))
		for i, m := range marks {
			results[i] = s.Remember(ctx, m.Kind, m.ID, m.ExpiresAt)
		}
		if err := p.Report(results); err != nil {
			return nil, err
		}
	}
	return s.get(ctx, kind, key)
}

func (s *Store) get(ctx context.Context, kind, key string) ([]byte, error) {
	e, err := s.lock(ctx, kind, key)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	switch {
	case e == nil:
		return nil, storage.ErrNotFound
	case e.used:
		return clone(e.value), storage.ErrAlreadyUsed
	}
	return clone(e.value), nil
}

// Consume implements storage.Records.
func (s *Store) Consume(ctx context.Context, kind, key string) ([]byte, error) {
	e, err := s.lock(ctx, kind, key)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	switch {
	case e == nil:
		return nil, storage.ErrNotFound
	case e.used:
		return clone(e.value), storage.ErrAlreadyUsed
	}
	e.used = true
	return clone(e.value), nil
}

// Swap implements storage.Records.
func (s *Store) Swap(ctx context.Context, kind, key string, old, value []byte, expiresAt time.Time) error {
	e, err := s.lock(ctx, kind, key)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	switch {
	case e == nil:
		return storage.ErrNotFound
	case e.used:
		return storage.ErrAlreadyUsed
	case !bytes.Equal(e.value, old):
		return storage.ErrConflict
	}
	s.m[id{kind, key}] = &entry{value: clone(value), exp: expiresAt.UnixMilli()}
	return nil
}

// Advance implements storage.Records. Ride-along creates (storage.Rider)
// are made after the step, as the Redis backend's pipeline makes them.
func (s *Store) Advance(ctx context.Context, kind, key string, from storage.States, to uint8, event []byte, extendTo time.Time) ([]byte, uint8, error) {
	if to > storage.MaxState {
		return nil, 0, storage.ErrBadState
	}
	if rd, items := storage.TakeRider(ctx, s); rd != nil {
		defer func() { rd.Report(s.CreateAll(ctx, items)) }()
	}
	e, err := s.lock(ctx, kind, key)
	if err != nil {
		return nil, 0, err
	}
	defer s.mu.Unlock()
	switch {
	case e == nil:
		return nil, 0, storage.ErrNotFound
	case e.used:
		return clone(e.value), e.state, storage.ErrAlreadyUsed
	case !from.Has(e.state):
		return clone(e.value), e.state, storage.ErrConflict
	}
	before, st := clone(e.value), e.state
	e.value = append(e.value, event...)
	e.state = to
	e.exp = max(e.exp, extendTo.UnixMilli())
	return before, st, nil
}

// Delete implements storage.Records.
func (s *Store) Delete(ctx context.Context, kind, key string) error {
	_, err := s.lock(ctx, kind, key)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.m, id{kind, key})
	return nil
}

// Remember implements storage.ReplayCache.
func (s *Store) Remember(ctx context.Context, kind, key string, expiresAt time.Time) error {
	e, err := s.lock(ctx, kind, key)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if e != nil {
		return storage.ErrAlreadyUsed
	}
	s.m[id{kind, key}] = &entry{value: []byte{}, exp: expiresAt.UnixMilli(), used: true}
	return nil
}

// Incr implements storage.Counters. The count is kept as decimal bytes, as
// in the Redis backend.
func (s *Store) Incr(ctx context.Context, kind, key string, expiresAt time.Time) (int64, error) {
	e, err := s.lock(ctx, kind, key)
	if err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if e == nil {
		s.m[id{kind, key}] = &entry{value: []byte("1"), exp: expiresAt.UnixMilli()}
		return 1, nil
	}
	n, err := strconv.ParseInt(string(e.value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: memory: %s value is not a counter", storage.ErrUnavailable, kind)
	}
	n++
	e.value = strconv.AppendInt(e.value[:0], n, 10)
	return n, nil
}

// Ping implements storage.Store; it fails only after Close.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// Close stops the sweeper and drops every entry; later operations fail with
// storage.ErrUnavailable. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		s.closed = true
		s.m = nil
		s.mu.Unlock()
	})
	return nil
}
