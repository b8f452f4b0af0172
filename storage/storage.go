package storage

import (
	"context"
	"errors"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Sentinel errors. Callers branch only on these (with errors.Is).
var (
	// ErrNotFound: no such value, or it has expired.
	ErrNotFound = errors.New("storage: not found")
	// ErrAlreadyExists: Create found a live value under the key.
	ErrAlreadyExists = errors.New("storage: already exists")
	// ErrAlreadyUsed: a single-use value was consumed before, or a replay
	// cache entry was remembered before.
	ErrAlreadyUsed = errors.New("storage: already used")
	// ErrConflict: a compare-and-swap found a different current value.
	ErrConflict = errors.New("storage: conflict")
	// ErrUnavailable wraps every backend failure (connection refused, timeout):
	// the caller must fail closed and answer 503.
	ErrUnavailable = errors.New("storage: unavailable")
)

// Clock returns the current time. Every backend takes one; nil means time.Now.
type Clock func() time.Time

// Records keeps values under (kind, key) until they expire. kind names the
// aggregate ("par", "code", "offer", ...) and must not contain ':'.
type Records interface {
	// Create stores value unless a live value (used or not) exists under the
	// key, in which case it returns ErrAlreadyExists.
	Create(ctx context.Context, kind, key string, value []byte, expiresAt time.Time) error
	// Put stores value unconditionally, clearing any used mark.
	Put(ctx context.Context, kind, key string, value []byte, expiresAt time.Time) error
	// Get returns the live value. If it was consumed, Get returns the value it
	// held together with ErrAlreadyUsed (so a reused authorization code can be
	// traced to the grant it produced); if absent or expired, ErrNotFound.
	// A store that is also a ReplayCache first writes the marks ctx's Pending
	// holds for it (TakeMarks), in the same round trip where it can; if one
	// was remembered before or could not be written, Get returns that
	// outcome (Pending.Report) instead of the value.
	Get(ctx context.Context, kind, key string) ([]byte, error)
	// Consume atomically marks the value used and returns it. Exactly one of
	// any number of concurrent callers gets the value with a nil error; the
	// others get the value with ErrAlreadyUsed. The used mark lives until the
	// value's expiry.
	Consume(ctx context.Context, kind, key string) ([]byte, error)
	// Swap atomically replaces the live, unused value old with value (and new
	// expiry). ErrConflict if the current value differs from old, ErrNotFound
	// if there is none, ErrAlreadyUsed if it was consumed.
	Swap(ctx context.Context, kind, key string, old, value []byte, expiresAt time.Time) error
	// Delete removes the value; deleting an absent key is not an error.
	Delete(ctx context.Context, kind, key string) error
	// Advance atomically steps the state of the live, unused value (a
	// number 0..MaxState; Create, Put and Swap store state 0): if its state
	// is in from, the state becomes to, event is appended to the value, and
	// the expiry moves to extendTo if that is later. It returns the value as
	// it was before the step and the state it was in. If the state is not in
	// from, nothing is written and the error is ErrConflict (with the value
	// and state). ErrNotFound if there is no live value; ErrAlreadyUsed (with
	// the value) if it was consumed. Of concurrent callers stepping from the
	// same state to another, exactly one succeeds. One round trip: a record
	// whose changes are appended events needs no read before its update.
	Advance(ctx context.Context, kind, key string, from States, to uint8, event []byte, extendTo time.Time) ([]byte, uint8, error)
}

// MaxState is the largest state Advance stores.
const MaxState = 15

// States is a set of states for Advance: bit s is state s.
type States uint16

// StateSet returns the set of the given states (each <= MaxState).
func StateSet(states ...uint8) States {
	var s States
	for _, st := range states {
		s |= 1 << (st & MaxState)
	}
	return s
}

// Has reports whether st is in s.
func (s States) Has(st uint8) bool { return st <= MaxState && s&(1<<st) != 0 }

// ErrBadState is returned by Advance for a target state above MaxState.
var ErrBadState = errors.New("storage: state out of range")

// Item is one value of CreateAll.
type Item struct {
	Kind, Key string
	Value     []byte
	ExpiresAt time.Time
}

// BatchCreator is implemented by backends that create several values in one
// round trip (a Redis pipeline). Use the CreateAll function, which falls back
// to one Create per item.
type BatchCreator interface {
	// CreateAll creates every item as Create would, each on its own: the
	// batch is not atomic, and the keys may lie in different Redis Cluster
	// hash slots. Every item is attempted; the result is an *ItemError
	// naming the first item (in order) that failed (ErrAlreadyExists,
	// ErrUnavailable), and the other items may then be stored or not. A
	// failure of the whole batch (done context, closed store) may come
	// without an ItemError.
	CreateAll(ctx context.Context, items []Item) error
}

// ItemError is the failure of one item of CreateAll. errors.Is sees
// through it to the sentinel.
type ItemError struct {
	Index int // of the item in the batch
	Err   error
}

func (e *ItemError) Error() string { return e.Err.Error() }
func (e *ItemError) Unwrap() error { return e.Err }

// CreateAll creates items with r's CreateAll if r is a BatchCreator, else
// with one Create per item in order, stopping at the first error.
func CreateAll(ctx context.Context, r Records, items []Item) error {
	if b, ok := r.(BatchCreator); ok {
		return b.CreateAll(ctx, items)
	}
	for i, it := range items {
		if err := r.Create(ctx, it.Kind, it.Key, it.Value, it.ExpiresAt); err != nil {
			return &ItemError{Index: i, Err: err}
		}
	}
	return nil
}

// ReplayCache remembers identifiers (DPoP, attestation PoP and key proof jti)
// for their acceptance window.
type ReplayCache interface {
	// Remember records id under kind until expiresAt. It returns
	// ErrAlreadyUsed if id is already remembered and not expired. Exactly one
	// of any number of concurrent callers with the same id succeeds.
	Remember(ctx context.Context, kind, id string, expiresAt time.Time) error
}

// Counters counts events per key in a window (tx_code failures, rate limits).
type Counters interface {
	// Incr adds one to the counter under (kind, key) and returns the new
	// value. A counter that does not exist, or whose window has ended, starts
	// at zero with window end expiresAt; later increments keep that end.
	Incr(ctx context.Context, kind, key string, expiresAt time.Time) (int64, error)
}

// Store is everything a backend provides.
type Store interface {
	Records
	ReplayCache
	Counters
	// Ping reports whether the backend is reachable (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  32,
		MaxArrayElements: 4096,
		MaxMapPairs:      4096,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Encode is the one codec for stored records: deterministic CBOR. Records are
// versioned DTO structs with `cbor:"n,keyasint"`-style or short string keys.
func Encode(v any) ([]byte, error) { return encMode.Marshal(v) }

// Decode is the inverse of Encode.
func Decode(data []byte, v any) error { return decMode.Unmarshal(data, v) }

// DecodeFirst decodes the first item of a CBOR sequence (RFC 8742) into v
// and returns the bytes after it: a record followed by the events Advance
// appended.
func DecodeFirst(data []byte, v any) (rest []byte, err error) {
	return decMode.UnmarshalFirst(data, v)
}
