// Package storage declares the state the issuer keeps between requests, as a
// few small interfaces over opaque byte values, and the sentinel errors callers
// branch on. Backends live in storage/memory and storage/redis; the shared
// conformance suite in storage/storagetest runs against both.
//
// Values are opaque to backends: domain packages encode their own versioned
// records with Encode/Decode, so the memory backend stores exactly the bytes
// Redis would and memory-backed tests catch serialization bugs.
//
// Expiry is data: every value carries its expiry instant, checked on read
// against the backend's injected clock. Backend-side TTLs are garbage
// collection only. Every operation touches exactly one key (CreateAll is a
// batch of independent creates), so the Redis backend is safe on Redis
// Cluster without hash tags.
package storage
