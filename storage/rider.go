package storage

import (
	"context"
	"errors"
	"sync"
)

// Creates that ride along with a decision.
//
// A request that creates records once a step succeeds (the access token and
// its grant index once the offer's redemption is taken) can send the creates
// in the step's round trip: WithRider puts them into the context, and the
// next Advance of the store they belong to sends them after its own command.
// They are created whatever the step's outcome: a caller whose step failed
// deletes what it no longer wants. If no Advance takes them (another store
// made the decision), Result creates them then.

// Rider holds the creates of one request.
type Rider struct {
	mu    sync.Mutex
	r     Records
	items []Item
	// sent: claimed by a store or by Result; done: the outcome is known;
	// dropped: Cancel came first.
	sent, done, dropped bool
	err                 error
}

type riderKey struct{}

// WithRider returns ctx carrying a Rider of items for r.
func WithRider(ctx context.Context, r Records, items []Item) (context.Context, *Rider) {
	c := &Rider{r: r, items: items}
	return context.WithValue(ctx, riderKey{}, c), c
}

// TakeRider is for stores: it claims the creates ctx carries for the store
// r, if they were not sent or cancelled. The store sends them in the round
// trip of its step and reports the outcome with Report.
func TakeRider(ctx context.Context, r Records) (*Rider, []Item) {
	c, _ := ctx.Value(riderKey{}).(*Rider)
	if c == nil {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent || c.dropped || c.r != r {
		return nil, nil
	}
	c.sent = true
	return c, c.items
}

// Report records the outcome of the creates a store took, as CreateAll
// returns it.
func (c *Rider) Report(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err, c.done = err, true
}

// Cancel withdraws the creates if no store has taken them yet and reports
// whether it did; false means they were sent (and may exist).
func (c *Rider) Cancel() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sent {
		c.dropped = true
	}
	return c.dropped
}

var errRiderCancelled = errors.New("storage: creates cancelled")

// Result returns the outcome of the creates, as CreateAll returns it,
// creating them now (with CreateAll) if no store took them.
func (c *Rider) Result(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.dropped:
		c.mu.Unlock()
		return errRiderCancelled
	case c.sent:
		defer c.mu.Unlock()
		if !c.done {
			return errors.New("storage: ride-along creates taken but not reported")
		}
		return c.err
	}
	c.sent = true
	c.mu.Unlock()
	err := CreateAll(ctx, c.r, c.items)
	c.Report(err)
	return err
}
