// Command issuer-bench is the load benchmark of the issuer (make bench).
//
// It builds cmd/issuer, starts it as a child process on a loopback port
// (memory store, then Redis on a redis-server child of its own), creates the
// credential offers through the admin API before the timed window, and drives
// C concurrent simulated wallets (e2e/wallet) through the complete
// pre-authorized flow: offer fetch, token with wallet attestation and DPoP,
// nonce, credential with a jwt proof carrying a key attestation. It prints per
// backend the flows and credentials per second, p50/p95/p99 latency per
// endpoint, errors, the issuer's CPU time per flow (utime+stime of
// /proc/<pid>/stat over the timed window only), its peak RSS (VmHWM), the
// Redis memory left per flow, and the "crypto floor": the CPU time of the
// signature operations one flow needs on the server, timed in this process
// with the same key types. The overhead factor is server CPU per flow divided
// by the crypto floor.
//
// Traffic goes to loopback only; every run is bounded in flows and time.
// It owns nothing the issuer needs: it is a client and a process supervisor.
package main
