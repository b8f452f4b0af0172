package wia

import (
	"crypto/sha256"
	"sync"
)

// boundedCache remembers results of successful, time-independent
// verifications (trusted x5c chains, verified attestations) by the SHA-256
// of their exact input, so that an input seen before is not parsed and
// verified again. Only successes are stored: an attacker cannot fill it
// without inputs signed by a trusted party. Time-dependent checks are never
// cached; callers re-run them on every use.
type boundedCache[V any] struct {
	mu  sync.RWMutex
	max int
	m   map[[sha256.Size]byte]V
}

func newBoundedCache[V any](max int) *boundedCache[V] {
	return &boundedCache[V]{max: max, m: make(map[[sha256.Size]byte]V)}
}

func (c *boundedCache[V]) get(k [sha256.Size]byte) (V, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *boundedCache[V]) put(k [sha256.Size]byte, v V) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		// Evict an arbitrary entry (map iteration order is random).
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = v
	c.mu.Unlock()
}
