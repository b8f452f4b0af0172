// Package oauth is the protocol vocabulary shared by the authorization server,
// the credential issuer, DPoP and wallet attestation: the protocol error type
// and its codes, grant types, header names and media types.
//
// It imports no other package of this module, so every protocol package can use
// it without import cycles. It holds no behaviour beyond constructing errors.
package oauth
