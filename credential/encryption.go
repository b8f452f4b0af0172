package credential

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
)

// Encryption vocabulary (VCI §10, RFC 7516, RFC 7518).
const (
	encAlgECDHES = "ECDH-ES"
	zipDeflate   = "DEF"
)

func encryptionError(format string, args ...any) *oauth.Error {
	return oauth.New(http.StatusBadRequest, oauth.CodeInvalidEncryptionParameters, format, args...)
}

// looksLikeCompactJWE reports whether b has the shape of a JWE Compact
// Serialization (five base64url parts).
func looksLikeCompactJWE(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] == '{' || bytes.Count(b, []byte{'.'}) != 4 {
		return false
	}
	for _, c := range b {
		if !(c == '.' || c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// openRequest returns the JSON request of a Credential or Deferred Credential
// Request: the body itself, or the decrypted payload of an encrypted request
// (VCI §10: a compact JWE sent as application/jwt). The OIDF conformance
// wallet labels encrypted requests application/json, so a JWE body is taken
// as encrypted whatever its label.
func (s *Service) openRequest(body []byte, mediaType, badCode string) (plain []byte, encrypted bool, err error) {
	switch mediaType {
	case oauth.MediaJWT:
		encrypted = true
	case oauth.MediaJSON:
		encrypted = looksLikeCompactJWE(body)
	default:
		return nil, false, oauth.New(http.StatusBadRequest, badCode, "Content-Type must be application/json or application/jwt")
	}
	if !encrypted {
		if s.o.Encryption != nil && s.o.Encryption.RequestRequired {
			return nil, false, encryptionError("request encryption is required (credential_request_encryption.encryption_required)")
		}
		return body, false, nil
	}
	if s.o.Encryption == nil {
		return nil, true, encryptionError("request encryption is not supported")
	}
	plain, err = s.decrypt(body)
	return plain, true, err
}

// decrypt opens a compact JWE addressed to one of the issuer's request
// encryption keys (VCI §10: kid names the key; alg ECDH-ES; enc and zip as
// advertised).
func (s *Service) decrypt(body []byte) ([]byte, error) {
	obj, err := jose.ParseEncryptedCompact(string(bytes.TrimSpace(body)), []jose.KeyAlgorithm{jose.ECDH_ES}, s.encs)
	if err != nil {
		return nil, encryptionError("encrypted request is not a compact JWE with alg ECDH-ES and a supported enc").WithCause(err)
	}
	if obj.Header.KeyID == "" {
		return nil, encryptionError("encrypted request has no kid")
	}
	key, ok := s.encKeys[obj.Header.KeyID]
	if !ok {
		return nil, encryptionError("encrypted request kid names no request encryption key of this issuer")
	}
	if z, ok := obj.Header.ExtraHeaders["zip"]; ok {
		if z != zipDeflate || !s.o.Encryption.Deflate {
			return nil, encryptionError("encrypted request zip value not supported")
		}
	}
	plain, err := obj.Decrypt(key)
	if err != nil {
		return nil, encryptionError("encrypted request cannot be decrypted").WithCause(err)
	}
	return plain, nil
}

// responseEncryption is a validated credential_response_encryption object.
type responseEncryption struct {
	key *jose.JSONWebKey
	enc jose.ContentEncryption
	zip bool
}

type responseEncryptionParams struct {
	JWK json.RawMessage `json:"jwk"`
	Enc *string         `json:"enc"`
	Zip *string         `json:"zip"`
}

// responseEncryption validates credential_response_encryption (VCI §8.2,
// §9.1): jwk (a public P-256 key whose alg is ECDH-ES), enc, optional zip.
// Missing while required, present in an unencrypted request, or any
// unsupported value: invalid_encryption_parameters (§8.3.1.2).
func (s *Service) responseEncryption(raw json.RawMessage, requestEncrypted bool) (*responseEncryption, error) {
	e := s.o.Encryption
	if isAbsent(raw) {
		if e != nil && e.ResponseRequired {
			return nil, encryptionError("response encryption is required: credential_response_encryption missing")
		}
		return nil, nil
	}
	if e == nil {
		return nil, encryptionError("response encryption is not supported")
	}
	if !requestEncrypted {
		return nil, encryptionError("credential_response_encryption requires an encrypted request (OpenID4VCI 1.0 section 8.2)")
	}
	var p responseEncryptionParams
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, encryptionError("credential_response_encryption is not an object with jwk, enc and zip")
	}
	if isAbsent(p.JWK) {
		return nil, encryptionError("credential_response_encryption.jwk missing")
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(p.JWK); err != nil {
		return nil, encryptionError("credential_response_encryption.jwk is not a valid JWK")
	}
	pub, ok := k.Key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, encryptionError("credential_response_encryption.jwk must be a public EC P-256 key")
	}
	if k.Algorithm != encAlgECDHES {
		return nil, encryptionError("credential_response_encryption.jwk alg must be ECDH-ES")
	}
	if k.Use != "" && k.Use != "enc" {
		return nil, encryptionError("credential_response_encryption.jwk use must be enc")
	}
	if p.Enc == nil || !slices.Contains(s.encs, jose.ContentEncryption(*p.Enc)) {
		return nil, encryptionError("credential_response_encryption.enc missing or not supported")
	}
	re := &responseEncryption{key: &k, enc: jose.ContentEncryption(*p.Enc)}
	if p.Zip != nil {
		if *p.Zip != zipDeflate || !e.Deflate {
			return nil, encryptionError("credential_response_encryption.zip not supported")
		}
		re.zip = true
	}
	return re, nil
}

// seal encrypts a JSON response to the wallet's key (VCI §10): JWE alg =
// the JWK's alg, kid = the JWK's kid if any, enc and zip as requested.
func (re *responseEncryption) seal(v any) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	opts := &jose.EncrypterOptions{}
	if re.zip {
		opts.Compression = jose.DEFLATE
	}
	enc, err := jose.NewEncrypter(re.enc, jose.Recipient{Algorithm: jose.ECDH_ES, Key: re.key.Key, KeyID: re.key.KeyID}, opts)
	if err != nil {
		return nil, err
	}
	obj, err := enc.Encrypt(plain)
	if err != nil {
		return nil, err
	}
	s, err := obj.CompactSerialize()
	return []byte(s), err
}

// setDPoPNonce sends a fresh DPoP-Nonce with a success response when server
// nonces are in use (RFC 9449 §8.2, §9), sparing the wallet a
// use_dpop_nonce round trip when its nonce ages out. The header is optional:
// if no nonce can be made, none is sent.
func (s *Service) setDPoPNonce(w http.ResponseWriter) {
	if !s.o.DPoP.NoncesRequired() {
		return
	}
	if n, err := s.o.DPoP.Nonce(); err == nil {
		w.Header().Set(oauth.HeaderDPoPNonce, n)
	}
}

// writeResult writes a success response, encrypted when requested.
func (s *Service) writeResult(w http.ResponseWriter, status int, v any, re *responseEncryption) error {
	s.setDPoPNonce(w)
	return writeResult(w, status, v, re)
}

func writeResult(w http.ResponseWriter, status int, v any, re *responseEncryption) error {
	if re == nil {
		oauth.WriteJSON(w, status, v, true)
		return nil
	}
	b, err := re.seal(v)
	if err != nil {
		return oauth.ServerError(err)
	}
	w.Header().Set("Content-Type", oauth.MediaJWT)
	w.Header().Set(oauth.HeaderCacheControl, oauth.CacheNoStore)
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

func isAbsent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}
