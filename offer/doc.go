// Package offer is the back office of the issuer: it creates credential offers
// (OpenID4VCI 1.0 §4.1), keeps them in the store, serves them by reference at
// the credential_offer_uri (§4.1.3), renders the offer URI as QR codes (PNG,
// SVG, terminal) and a public offer page, and exposes the admin API
// (/admin/v1) that creates, inspects and cancels offers and approves or
// rejects deferred issuance.
//
// It owns: offer records (kind "offer", and "offer-is" indexing issuer_state),
// their lifecycle (created -> fetched -> redeemed, or expired / cancelled;
// each step one store operation appending an event, see state.go), the
// redemption that uses up an offer's pre-authorized code (MarkRedeemed),
// the claims attached to pre-authorized offers (validated against the doctype
// catalogue when the offer is created), transaction code generation, and the
// admin API's authentication (static bearer tokens).
//
// It does not own: pre-authorized code issuance, storage of the tx_code hash
// and tx_code attempt counting (authz, via PreAuthCodeIssuer), the meaning of
// claims (mdoc, via ClaimsValidator), deferred transactions (credential, via
// DeferredApprover), and HTTP routing and listeners (web mounts
// Service.AdminHandler and Service.PublicHandler).
//
// Policy choices (not fixed by the specifications):
//   - the credential_offer_uri, its QR codes and page answer 404 once the offer
//     is expired, cancelled or redeemed (spec note OFF-09);
//   - the offer id in the credential_offer_uri is 256 bits of randomness: it
//     is the capability to read the pre-authorized code. A pre-authorized
//     offer's id is derived one-way from its code (SHA-256), so the token
//     endpoint finds the offer, which keeps the code's grant record, from
//     the code alone;
//   - the tx_code is returned once in the creation response and never stored
//     here; only its shape (length, input_mode, description) is kept;
//   - the admin API answers with RFC 6749 §5.2-shaped JSON errors.
package offer
