package offer

import (
	"errors"
	"fmt"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
)

// An offer's lifecycle is written as events appended to its record by
// storage Advance (one store round trip, no read before the write): the
// stored value is a CBOR sequence (RFC 8742) of the record as created and
// one [state, at] array per step. The store keeps the current step's
// number beside the value and takes a step only from the states the
// transition allows, so of concurrent redemptions exactly one succeeds.
//
// Reading folds the events over the record: a step the lifecycle does not
// allow from the state reached so far is ignored, and so is a fetch or
// redemption at or after the offer's expiry (only a cancellation is
// recorded then). Records of version 1 carry their state in the record
// itself; the fold starts from it.

// Store states of an offer (storage.Records.Advance).
const (
	stCreated uint8 = iota
	stFetched
	stRedeemed
	stCancelled
)

// maxEvents bounds the events read back: the lifecycle takes at most three
// steps (fetched, redeemed, cancelled).
const maxEvents = 8

var stateNames = [...]string{stCreated: StateCreated, stFetched: StateFetched, stRedeemed: StateRedeemed, stCancelled: StateCancelled}

// steps lists, per target state, the states it may be reached from.
var steps = map[uint8]storage.States{
	stFetched:   storage.StateSet(stCreated),
	stRedeemed:  storage.StateSet(stCreated, stFetched),
	stCancelled: storage.StateSet(stCreated, stFetched, stRedeemed),
}

// event is one appended step.
type event struct {
	_     struct{} `cbor:",toarray"`
	State uint8
	At    int64 // unix ms
}

func encodeEvent(st uint8, at time.Time) ([]byte, error) {
	return storage.Encode(&event{State: st, At: at.UnixMilli()})
}

// apply folds one step into r.
func (r *record) apply(e event) {
	from := stCreated
	for i, name := range stateNames {
		if r.State == name {
			from = uint8(i)
		}
	}
	allowed, ok := steps[e.State]
	if !ok || !allowed.Has(from) || e.State != stCancelled && e.At >= r.ExpiresAt {
		return
	}
	r.State = stateNames[e.State]
	switch e.State {
	case stFetched:
		r.FetchedAt = e.At
	case stRedeemed:
		r.RedeemedAt = e.At
	case stCancelled:
		r.CancelledAt = e.At
	}
}

// decodeRecord reads a stored offer: the record, then its events.
func decodeRecord(b []byte) (*record, error) {
	var r record
	rest, err := storage.DecodeFirst(b, &r)
	if err != nil {
		return nil, fmt.Errorf("offer: decode record: %w", err)
	}
	switch r.V {
	case 1:
	case recordVersion:
		if r.State != "" || r.FetchedAt != 0 || r.RedeemedAt != 0 || r.CancelledAt != 0 {
			return nil, errors.New("offer: record of version 2 carries a state")
		}
	default:
		return nil, fmt.Errorf("offer: record version %d", r.V)
	}
	if r.State == "" {
		r.State = StateCreated
	}
	for n := 0; len(rest) > 0; n++ {
		if n == maxEvents {
			return nil, errors.New("offer: too many events")
		}
		var e event
		if rest, err = storage.DecodeFirst(rest, &e); err != nil {
			return nil, fmt.Errorf("offer: decode event: %w", err)
		}
		r.apply(e)
	}
	return &r, nil
}
