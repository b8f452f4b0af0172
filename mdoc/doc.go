// Package mdoc builds, verifies and hydrates ISO/IEC 18013-5 mdoc issuer data
// (the OpenID4VCI 1.0 `mso_mdoc` credential, Appendix A.2): IssuerSigned with
// tag-24 IssuerSignedItemBytes, the MobileSecurityObject (ISO 18013-5 §9.1.2.4)
// and the untagged COSE_Sign1 issuerAuth (RFC 9052 §4.2, RFC 9360 x5chain).
//
// It owns:
//   - the CBOR encoding and decoding modes used for mdoc bytes (cbor.go);
//   - the doctype catalogue (configuration of namespaces, element types and
//     mandatory flags) and the conversion of JSON-shaped claims into typed CBOR
//     values before anything is signed (catalogue.go, builtin.go);
//   - issuance (issuer.go): one or a batch of credentials, signed through a
//     crypto.Signer so the Document Signer key may live in an HSM or KMS;
//   - verification (verify.go) of an IssuerSigned against IACA trust anchors;
//   - hydration of IssuerSignedDehydrated + NameSpacedData per ISO/IEC TS
//     23220-3 §8.1 as publicly restated (hydrate.go).
//
// It does not own key material or certificates (package pki creates and loads
// them), the OpenID4VCI protocol (package credential turns errors returned here
// into protocol errors), claim sources, or status lists. It never logs; error
// messages name element paths but never element values (personal data).
package mdoc
