// Package credential is the issuing half of OpenID for Verifiable Credential
// Issuance 1.0 for ISO 18013-5 mdocs (format mso_mdoc): the Nonce Endpoint
// (§7), the Credential Endpoint (§8) with the jwt and attestation proof types
// (Appendix F.1, F.3, F.4) and key attestations (Appendix D), batch issuance
// (§3.3.2, §8.2), encrypted requests and responses (§10), the Deferred
// Credential Endpoint (§9) and the Notification Endpoint (§11).
//
// It owns: request decoding and validation, key proof verification, the choice
// of device keys, deferred transactions, notification ids and the
// issued-credential records (kind "issued", no claim values) in the store.
//
// It does not own: access token issuance or validation (authz, via
// TokenValidator), DPoP proof verification (dpop; *dpop.Verifier is the
// DPoPVerifier), nonce
// construction (nonce, via NonceSource; *nonce.Source satisfies it), key
// attestation signature and trust checks (wia; *wia.KeyAttestationVerifier is
// the KeyAttestationVerifier), building and signing the mdoc
// (mdoc, via Signer; MdocSigner adapts *mdoc.Issuer), where claim values come from (ClaimsSource), the issuer
// metadata document (metadata, which embeds Service.Metadata), and HTTP
// routing (web mounts Service.Handler).
//
// Error codes follow OpenID4VCI 1.0 §8.3.1.2, §9.3 and §11.3; authorization
// problems are RFC 6750 / RFC 9449 errors (401 with WWW-Authenticate).
// Policy choices where the specification leaves the code open:
//   - a configuration the access token does not cover: 403 insufficient_scope
//     (VCI §8.3.1.1 points to RFC 6750 §3.1);
//   - more proofs than batch_size: invalid_credential_request; more distinct
//     proven keys than batch_size, or the same key proven twice: invalid_proof;
//   - a plain JSON request carrying credential_response_encryption:
//     invalid_encryption_parameters (VCI §8.2 requires request encryption then);
//   - every access token must be DPoP-bound (HAIP §4); the Bearer scheme is
//     refused with invalid_token.
package credential
