// Package wallet is a wallet simulator: an OpenID4VCI 1.0 / HAIP 1.0 client that
// performs every flow the issuer supports the way a HAIP wallet does, over
// real HTTP. The end-to-end tests, the load benchmark and `issuer selftest`
// drive issuers with it.
//
// It is written from the specifications, independently of the issuer's own
// packages: it shares no parsing or verification code with the server, so a
// bug on one side is not mirrored on the other. It records every HTTP exchange
// (with secrets redacted) so a failed step can be shown to an operator.
//
// Negative and replay tests reach below the happy path through
// Config.Intercept (see and change every outgoing request),
// CredentialRequest.Edit (break the credential request body before it is
// encrypted), SetDPoPKey (switch the DPoP key) and the split
// Authorize/RedeemCode of the authorization code flow.
//
// It does not verify the credentials it receives; callers do that with
// mdoc.Verify or an independent verifier.
package wallet
