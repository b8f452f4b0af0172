// Package audit keeps the issuance audit log: an append-only file of JSON
// lines, one per event (offer created, token issued, credential issued,
// notification, admin action), each carrying the hash of the record before it
// so that removing, reordering or editing a record is detectable by Verify.
//
// Records hold identifiers and metadata only: configuration ids, certificate
// serials, key thumbprints, wallet providers. Never claim values, tokens,
// codes or nonces; the Fields of an Event are written as given, so callers
// must not put personal data in them.
//
// With a key, each link is an HMAC-SHA256 instead of a plain SHA-256, so an
// attacker who can rewrite the file but does not hold the key cannot rebuild
// a valid chain. Without a key the chain detects accidental damage and
// tampering that does not rewrite every later record.
//
// Each issuer instance writes its own file; the package does not merge logs.
package audit
