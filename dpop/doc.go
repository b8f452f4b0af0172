// Package dpop verifies DPoP proofs (RFC 9449) at the authorization server
// (PAR, token) and at the credential issuer as a resource server (credential,
// deferred, notification endpoints), and hands out DPoP server nonces.
//
// Verify runs every check of RFC 9449 §4.3 on the request's DPoP header
// fields, binds the proof to an access token (ath, §4.3 step 12 / §7.1) and to
// a key thumbprint (cnf.jkt, dpop_jkt), requires server nonces when configured
// (§8, §9), and remembers each accepted proof in the shared replay cache
// (§11.1) so that a proof is accepted once across all instances. Failures are
// *oauth.Error values carrying the status, error code and the
// WWW-Authenticate / DPoP-Nonce headers the response must have.
//
// Check order: header-field count, size, JWS structure, header (typ, alg,
// jwk), claims (jti, htm, htu, iat, ath), signature, key binding, server
// nonce, and last the replay cache. A proof that fails any earlier check does
// not burn its jti: it would fail the same way when resent, and a wallet that
// retries after use_dpop_nonce builds a new proof with a new jti anyway (RFC
// 9449 §8). The replay cache is keyed by (key thumbprint, htu, jti), hashed,
// so that nobody can block another key's proofs by guessing its jti.
//
// Only ES256 is accepted (HAIP 1.0 §7; advertise dpop_signing_alg_values_supported
// ["ES256"]). The package does not parse Authorization headers, look up access
// tokens, or decide whether DPoP is required at an endpoint: callers pass the
// token and its bound thumbprint in Request, and call Verify only where a proof
// is required or present.
//
// Subpackage dpoptest builds proofs, valid or broken in any one way, for tests.
package dpop
