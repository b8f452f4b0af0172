// Package metadata builds and serves the Credential Issuer Metadata
// (OpenID4VCI 1.0 §12.2, Appendix A.2.2 for mso_mdoc, HAIP 1.0 §4.1) and the
// OAuth 2.0 Authorization Server Metadata (RFC 8414, RFC 9126 §5, RFC 9207,
// RFC 9449 §5.1, OpenID4VCI §12.3, attestation-based client authentication
// -07 §10.1) as values built once from Options, and the signed form of the
// issuer metadata (OpenID4VCI §12.2.3) when a Signer is configured.
//
// It advertises only what Options say is configured: an endpoint URL left
// empty is omitted. It does not read the configuration file, route requests
// (web mounts its handlers at the well-known paths) or own any key: the
// metadata-signing key and chain come from the PKI through Options.Signer.
package metadata
