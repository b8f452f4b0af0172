// Package nonce issues and checks stateless server nonces: the OpenID4VCI
// c_nonce (VCI 1.0 §7, §13.8) and the DPoP-Nonce (RFC 9449 §8, §9).
//
// A nonce is base64url(version ‖ 16 random bytes ‖ issue time ‖ tag), where tag
// is HMAC-SHA-256 (truncated to 128 bits) under a key derived with HKDF-SHA-256
// from a shared secret and a purpose string. Any instance holding the secrets
// can check a nonce without shared state; a different purpose ("dpop",
// "c_nonce") derives a different key, so a nonce of one kind never passes for
// another. The first secret issues, every secret verifies, which allows key
// rotation without rejecting nonces already handed out.
//
// The package owns issuing and checking only. It does not make nonces
// single-use (VCI §13.8 lets a wallet reuse a c_nonce until it is rejected),
// does not store anything and does not map failures to protocol errors: callers
// turn ErrInvalid/ErrExpired into invalid_nonce or use_dpop_nonce.
package nonce
