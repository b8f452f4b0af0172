// Package wia authenticates wallets and checks the keys they ask credentials
// for.
//
// It owns:
//   - Wallet Attestation as client authentication: OAuth 2.0 Attestation-Based
//     Client Authentication (draft-ietf-oauth-attestation-based-client-auth,
//     "ABCA"; -07 as pinned by OpenID4VCI 1.0, with the -04..-10 variants real
//     wallets send), OpenID4VCI 1.0 Appendix E and HAIP 1.0 §4.4.1:
//     Verifier.Authenticate checks the OAuth-Client-Attestation and
//     OAuth-Client-Attestation-PoP headers, the trust chain of the attestation
//     to a configured wallet provider (x5c to a root, or pinned keys), the PoP
//     signature by the attested instance key, its audience, freshness,
//     challenge and single use (jti in the shared storage.ReplayCache).
//   - Attestation challenges (ABCA-07 §8) through a ChallengeSource.
//   - Key attestations (OpenID4VCI 1.0 Appendix D, HAIP §4.5.1):
//     KeyAttestationVerifier.Verify and the key_attestations_required check
//     (CheckRequired).
//
// It does not own: the HTTP endpoints (authz serves the challenge endpoint,
// PAR and token and writes the errors returned here), the jwt key proof and
// c_nonce checks (credential), DPoP (dpop), status list checks of
// attestations (not implemented), and the wallet provider trust
// configuration (cmd/issuer fills Options from config).
//
// Every failure is an *oauth.Error whose description names the failed check
// and never echoes tokens, keys or claim values.
package wia
