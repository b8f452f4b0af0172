// Package storagetest is the conformance suite every storage.Store backend
// must pass, and a fake clock to drive expiry without sleeping.
//
// Run takes a constructor and gives every subtest a fresh store and a fresh
// clock. The tiers are: round trip, expiry (every operation, by advancing the
// clock), single use, compare-and-swap, counters, concurrency (64 goroutines
// on one key, exactly one winner) and closing. A backend test calls Run once;
// the suite asserts only on the contract in storage.go, never on a backend's
// internals.
//
// It does not start backends: the backend's own test provides the store.
package storagetest
