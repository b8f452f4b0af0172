// Package redis is the shared storage backend: storage.Store on Redis
// (standalone, Sentinel or Cluster, Redis >= 6.0 for SET KEEPTTL),
// through a go-redis UniversalClient. Any number of issuer instances can use
// one Redis.
//
// Keys are Prefix + kind + ":" + key. Values are strings in the format of
// value.go: a 10-byte header (version, used flag, expiry instant in ms) and
// the caller's bytes. Liveness is decided by the stored instant against the
// injected clock, in Go for Get and inside the Lua script otherwise (the time
// is passed as ARGV); the Redis TTL (time to expiry + GCGrace) only frees
// memory. Every operation is one command (GET, SET, DEL, PING) or one Lua
// script (Create, Remember, Consume, Swap, Incr) on exactly one key, so each
// is atomic and safe on Redis Cluster without hash tags. Create and Remember
// first send SET NX, which stores the value when the key does not exist at
// all (the write the script would make, at a tenth of the server CPU); only
// if the key exists does the script decide by the stored expiry. CreateAll
// sends one SET NX per key in one pipeline (one round trip) and the script
// for keys that exist. Scripts are sent as EVALSHA with an EVAL fallback.
//
// Every failure of the backend (refused connection, timeout, done context,
// CLUSTERDOWN, a closed client, a stored string in an unknown format) is
// returned wrapping storage.ErrUnavailable; error messages never contain keys.
//
// Open accepts these URL forms; options are the go-redis query parameters
// (dial_timeout, read_timeout, write_timeout, pool_size, max_retries, ...):
//
//	redis://[user:password@]host[:port][/db][?options]
//	rediss://...                                  (TLS)
//	unix://[user:password@]/path/to/socket[?db=N&options]
//	redis+sentinel://[user:password@]host[:port][,host[:port]...]/master_name[/db][?options]
//	rediss+sentinel://...                         (TLS to Sentinels and master)
//	redis+cluster://[user:password@]host[:port][,host[:port]...][?options]
//	rediss+cluster://...                          (TLS)
//
// The port defaults to 6379 (for Sentinels too: write 26379 explicitly). In
// the Sentinel form the user and password authenticate to the master and
// replicas; the query parameters sentinel_username and sentinel_password
// authenticate to the Sentinels. The Cluster form lists seed nodes; the
// client discovers the others.
//
// It does not choose the key prefix or the record formats: the caller gives
// the prefix, and domain packages encode their values with storage.Encode.
package redis
