// Package ratelimit limits requests per key (client address, wallet
// attestation subject) in fixed windows counted in the shared store, so the
// limit holds across every issuer instance. Over the limit a request gets
// 429 with Retry-After and a JSON error; when the store is unreachable the
// request gets 503 (fail closed), never an unlimited pass.
package ratelimit
