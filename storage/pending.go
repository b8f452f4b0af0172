package storage

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Pending replay marks.
//
// An endpoint that checks several proofs before it reads its first record
// (the DPoP proof and the attestation PoP at the token endpoint, the DPoP
// proof before the access token at the credential endpoint) can send the
// proofs' replay-cache writes together with that read: one round trip
// instead of one per proof. The endpoint puts a Pending into the request's
// context (WithPending); Remember defers each mark into it; the first Get of
// the store the marks belong to writes them in the same round trip as its
// read and, if a mark was already remembered or could not be written,
// returns that outcome instead of the value; Settle writes whatever is left
// and returns the outcome. An endpoint must call Settle before it acts on a
// request whose marks may not have been written yet.

// Mark is one replay-cache write: Remember(Kind, ID, ExpiresAt).
type Mark struct {
	Kind, ID  string
	ExpiresAt time.Time
}

// Pending holds the deferred marks and reads of one request.
type Pending struct {
	mu    sync.Mutex
	marks []pendingMark
	reads []*prefetch // prefetch.go
}

type pendingMark struct {
	Mark
	cache    ReplayCache
	onReplay error
	// sent: claimed by a store (TakeMarks) or written by Settle; done: its
	// result is known.
	sent, done bool
	err        error
}

type pendingKey struct{}

// WithPending returns ctx carrying a new Pending, and the Pending.
func WithPending(ctx context.Context) (context.Context, *Pending) {
	p := &Pending{}
	return context.WithValue(ctx, pendingKey{}, p), p
}

// Remember remembers id under kind in c until expiresAt. With a Pending in
// ctx the write is deferred and Remember returns nil; the outcome comes from
// the store's next Get or from Settle. Otherwise it is written at once. Either
// way the outcome is nil, onReplay if id was remembered before, or the
// store's error (wrapping ErrUnavailable for an outage).
func Remember(ctx context.Context, c ReplayCache, kind, id string, expiresAt time.Time, onReplay error) error {
	if p, _ := ctx.Value(pendingKey{}).(*Pending); p != nil {
		p.mu.Lock()
		p.marks = append(p.marks, pendingMark{Mark: Mark{Kind: kind, ID: id, ExpiresAt: expiresAt}, cache: c, onReplay: onReplay})
		p.mu.Unlock()
		return nil
	}
	return outcome(c.Remember(ctx, kind, id, expiresAt), onReplay)
}

func outcome(err, onReplay error) error {
	if errors.Is(err, ErrAlreadyUsed) {
		return onReplay
	}
	return err
}

// TakeMarks is for stores: it claims the marks of ctx's Pending deferred to
// the replay cache c (the store itself, a pointer) and not yet sent. The
// store writes them in the round trip of its read and reports each result
// with Report. Without marks it returns nil, nil.
func TakeMarks(ctx context.Context, c ReplayCache) (*Pending, []Mark) {
	p, _ := ctx.Value(pendingKey{}).(*Pending)
	if p == nil {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Mark
	for i := range p.marks {
		m := &p.marks[i]
		if !m.sent && m.cache == c {
			m.sent = true
			out = append(out, m.Mark)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return p, out
}

// Report records the results of the marks TakeMarks returned, in the same
// order: nil (remembered now), ErrAlreadyUsed, or the write's error. It
// returns the outcome of the Pending so far (see Err).
func (p *Pending) Report(results []error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	j := 0
	for i := range p.marks {
		m := &p.marks[i]
		if m.sent && !m.done && j < len(results) {
			m.err, m.done = outcome(results[j], m.onReplay), true
			j++
		}
	}
	return p.errLocked()
}

// Settle writes the marks no store has sent yet, each with its cache's
// Remember, and returns the outcome: nil, the onReplay error of the first
// mark (in the order they were deferred) that was remembered before, or the
// first write error.
func (p *Pending) Settle(ctx context.Context) error {
	p.mu.Lock()
	var todo []int
	for i := range p.marks {
		if !p.marks[i].sent {
			p.marks[i].sent = true
			todo = append(todo, i)
		}
	}
	marks := append([]pendingMark(nil), p.marks...)
	p.mu.Unlock()
	results := make(map[int]error, len(todo))
	for _, i := range todo {
		m := marks[i]
		results[i] = outcome(m.cache.Remember(ctx, m.Kind, m.ID, m.ExpiresAt), m.onReplay)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, err := range results {
		p.marks[i].err, p.marks[i].done = err, true
	}
	return p.errLocked()
}

// Err is the outcome of the marks whose results are known: the first
// non-nil in deferral order.
func (p *Pending) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errLocked()
}

func (p *Pending) errLocked() error {
	for _, m := range p.marks {
		if m.done && m.err != nil {
			return m.err
		}
	}
	return nil
}
