// Package memory is the embedded storage backend: one process, no external
// service. It implements storage.Store over a mutex-guarded map.
//
// Values are stored as copies of the caller's bytes, never as live objects, so
// memory-backed tests see exactly the bytes the Redis backend would. Expiry is
// data: every entry keeps its expiry instant (millisecond resolution, as in
// the Redis backend) and every read checks it against the injected clock. A
// background sweeper removes expired entries so memory stays bounded; it is
// garbage collection only and never decides whether a value is live.
//
// It does not share state between processes: run several issuer instances
// against storage/redis instead.
package memory
