package storage

import "context"

// Read-ahead.
//
// A request that will read a record whose key it knows before its first
// read (the credential offer named by an access token's read hint) can
// have that read travel with the first one: Prefetch notes it in the
// request's Pending; the store's next Get in the context also reads the
// noted record, in the same round trip, and keeps the answer in the
// Pending; the first Get of that record in the context is then answered
// from it, once. Later Gets read the store again. A prefetched answer is
// exactly what a Get at the time of the first read returned.

// Read names a record to read ahead.
type Read struct{ Kind, Key string }

type prefetch struct {
	Read
	r          Records
	sent, done bool
	used       bool
	value      []byte
	err        error
}

// Prefetch notes a read of (kind, key) in r to travel with r's next Get in
// ctx. Without a Pending in ctx it does nothing.
func Prefetch(ctx context.Context, r Records, kind, key string) {
	p, _ := ctx.Value(pendingKey{}).(*Pending)
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.reads {
		if f.r == r && f.Read == (Read{kind, key}) {
			return
		}
	}
	p.reads = append(p.reads, &prefetch{Read: Read{kind, key}, r: r})
}

// TakeReads is for stores: it claims the reads noted in ctx for the store
// r and not yet sent, for the Get of (kind, key); a read of that record
// itself is dropped (the Get answers it). The store reads them in the round
// trip of its Get and reports each answer, as its Get would return it, with
// Fetched.
func TakeReads(ctx context.Context, r Records, kind, key string) (*Pending, []Read) {
	p, _ := ctx.Value(pendingKey{}).(*Pending)
	if p == nil {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Read
	for _, f := range p.reads {
		if !f.sent && f.r == r {
			f.sent = true
			if f.Read == (Read{kind, key}) {
				f.done, f.used = true, true
				continue
			}
			out = append(out, f.Read)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return p, out
}

// Fetched records the answer to a read TakeReads returned.
func (p *Pending) Fetched(r Records, rd Read, value []byte, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.reads {
		if f.r == r && f.Read == rd && f.sent && !f.done {
			f.value, f.err, f.done = value, err, true
			return
		}
	}
}

type answersKey struct{}

// WithAnswers returns ctx carrying the answers read ahead by p, without
// p itself: marks remembered in the returned context are written at once.
// An endpoint that has settled p passes this context on to the code that
// reads the prefetched records.
func WithAnswers(ctx context.Context, p *Pending) context.Context {
	return context.WithValue(ctx, answersKey{}, p)
}

// Prefetched is for stores, at the start of Get: the answer read ahead for
// (kind, key) in r (found), if there is one not handed out yet.
func Prefetched(ctx context.Context, r Records, kind, key string) (value []byte, found bool, err error) {
	p, _ := ctx.Value(pendingKey{}).(*Pending)
	if p == nil {
		p, _ = ctx.Value(answersKey{}).(*Pending)
	}
	if p == nil {
		return nil, false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.reads {
		if f.r == r && f.Read == (Read{kind, key}) && f.done && !f.used {
			f.used = true
			return f.value, true, f.err
		}
	}
	return nil, false, nil
}
