package credential

import (
	"sort"

	"github.com/go-jose/go-jose/v4"
)

// IssuerMetadata holds the members of the Credential Issuer Metadata (VCI
// §12.2.4) that this service determines. The metadata package merges them
// into the document next to credential_issuer, display and
// credential_configurations_supported.
type IssuerMetadata struct {
	CredentialEndpoint           string                      `json:"credential_endpoint"`
	NonceEndpoint                string                      `json:"nonce_endpoint"`
	DeferredCredentialEndpoint   string                      `json:"deferred_credential_endpoint,omitempty"`
	NotificationEndpoint         string                      `json:"notification_endpoint"`
	CredentialRequestEncryption  *RequestEncryptionMetadata  `json:"credential_request_encryption,omitempty"`
	CredentialResponseEncryption *ResponseEncryptionMetadata `json:"credential_response_encryption,omitempty"`
	BatchCredentialIssuance      *BatchMetadata              `json:"batch_credential_issuance,omitempty"`
}

// RequestEncryptionMetadata is credential_request_encryption.
type RequestEncryptionMetadata struct {
	JWKS               jose.JSONWebKeySet `json:"jwks"`
	EncValuesSupported []string           `json:"enc_values_supported"`
	ZipValuesSupported []string           `json:"zip_values_supported,omitempty"`
	EncryptionRequired bool               `json:"encryption_required"`
}

// ResponseEncryptionMetadata is credential_response_encryption.
type ResponseEncryptionMetadata struct {
	AlgValuesSupported []string `json:"alg_values_supported"`
	EncValuesSupported []string `json:"enc_values_supported"`
	ZipValuesSupported []string `json:"zip_values_supported,omitempty"`
	EncryptionRequired bool     `json:"encryption_required"`
}

// BatchMetadata is batch_credential_issuance (HAIP §4: present iff batch
// issuance is supported).
type BatchMetadata struct {
	BatchSize int `json:"batch_size"`
}

// ProofTypeMetadata is one entry of proof_types_supported.
type ProofTypeMetadata struct {
	ProofSigningAlgValuesSupported []string                   `json:"proof_signing_alg_values_supported"`
	KeyAttestationsRequired        *KeyAttestationRequirement `json:"key_attestations_required,omitempty"`
}

// ConfigurationMetadata holds the key-binding members of one credential
// configuration (VCI §12.2.4): they are present together.
type ConfigurationMetadata struct {
	CryptographicBindingMethodsSupported []string                     `json:"cryptographic_binding_methods_supported"`
	ProofTypesSupported                  map[string]ProofTypeMetadata `json:"proof_types_supported"`
}

// Metadata returns the issuer-level metadata members of this service.
func (s *Service) Metadata() IssuerMetadata {
	m := IssuerMetadata{
		CredentialEndpoint:   s.Endpoint(PathCredential),
		NonceEndpoint:        s.Endpoint(PathNonce),
		NotificationEndpoint: s.Endpoint(PathNotification),
	}
	batch := 1
	for _, c := range s.o.Configurations {
		if c.Deferred {
			m.DeferredCredentialEndpoint = s.Endpoint(PathDeferred)
		}
		batch = max(batch, s.batchSize(c))
	}
	if batch >= 2 {
		m.BatchCredentialIssuance = &BatchMetadata{BatchSize: batch}
	}
	if e := s.o.Encryption; e != nil {
		var encs, zips []string
		for _, x := range s.encs {
			encs = append(encs, string(x))
		}
		if e.Deflate {
			zips = []string{zipDeflate}
		}
		keys := make([]jose.JSONWebKey, 0, len(e.Keys))
		for _, k := range e.Keys {
			p := k.Public()
			p.Use, p.Algorithm = "enc", encAlgECDHES
			keys = append(keys, p)
		}
		m.CredentialRequestEncryption = &RequestEncryptionMetadata{JWKS: jose.JSONWebKeySet{Keys: keys},
			EncValuesSupported: encs, ZipValuesSupported: zips, EncryptionRequired: e.RequestRequired}
		m.CredentialResponseEncryption = &ResponseEncryptionMetadata{AlgValuesSupported: []string{encAlgECDHES},
			EncValuesSupported: encs, ZipValuesSupported: zips, EncryptionRequired: e.ResponseRequired}
	}
	return m
}

// ConfigurationMetadata returns the key-binding members for a configuration
// id, and false if the id is unknown.
func (s *Service) ConfigurationMetadata(id string) (ConfigurationMetadata, bool) {
	c, ok := s.config(id)
	if !ok {
		return ConfigurationMetadata{}, false
	}
	pts := map[string]ProofTypeMetadata{}
	types := append([]string(nil), c.ProofTypes...)
	sort.Strings(types)
	for _, t := range types {
		pts[t] = ProofTypeMetadata{ProofSigningAlgValuesSupported: []string{string(jose.ES256)},
			KeyAttestationsRequired: c.KeyAttestationsRequired}
	}
	return ConfigurationMetadata{CryptographicBindingMethodsSupported: []string{"cose_key"}, ProofTypesSupported: pts}, true
}
