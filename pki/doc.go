// Package pki creates and loads the issuer's X.509 material: an IACA root and a
// Document Signer (DS) certificate following the ISO/IEC 18013-5 Annex B
// profiles (Tables B.1 and B.3, as restated in mdoc.md §2), and a
// metadata-signing certificate issued by a separate small CA for signed
// OpenID4VCI metadata (x5c without the root). It also opens private keys by
// reference (OpenSigner) so callers hold only a crypto.Signer.
//
// It owns the on-disk layout of a PKI directory (PEM certificates, PKCS#8 keys
// with mode 0600) and the profile of every certificate it creates. It does not
// own signing of credentials (package mdoc), serving CRLs over HTTP (the web
// layer may serve the bytes from Bundle.CRL), or configuration parsing.
//
// Keys stored as files are a development and small-deployment convenience; the
// IACA key in particular belongs offline in production. OpenSigner is the seam
// for other key stores.
package pki
