package metadata

import "github.com/go-jose/go-jose/v4"

// Wire types. Field order is the order members appear in the JSON.

// Logo of a display object (OpenID4VCI §12.2.4).
type Logo struct {
	URI     string `json:"uri"`
	AltText string `json:"alt_text,omitempty"`
}

// Display is an issuer display object for one locale.
type Display struct {
	Name   string `json:"name"`
	Locale string `json:"locale,omitempty"`
	Logo   *Logo  `json:"logo,omitempty"`
}

// CredentialDisplay is a credential_metadata.display object (OpenID4VCI
// §12.2.4).
type CredentialDisplay struct {
	Name            string `json:"name"`
	Locale          string `json:"locale,omitempty"`
	Logo            *Logo  `json:"logo,omitempty"`
	Description     string `json:"description,omitempty"`
	BackgroundColor string `json:"background_color,omitempty"`
	TextColor       string `json:"text_color,omitempty"`
}

// ClaimDisplay names a claim in one locale (OpenID4VCI B.2).
type ClaimDisplay struct {
	Name   string `json:"name,omitempty"`
	Locale string `json:"locale,omitempty"`
}

// Claim is a claims description (OpenID4VCI B.2); for mso_mdoc the path is
// [namespace, element identifier, ...] (C.2).
type Claim struct {
	Path      []any          `json:"path"`
	Mandatory bool           `json:"mandatory,omitempty"`
	Display   []ClaimDisplay `json:"display,omitempty"`
}

// KeyAttestationsRequired (OpenID4VCI D.2). An empty object means "a key
// attestation of any level".
type KeyAttestationsRequired struct {
	KeyStorage         []string `json:"key_storage,omitempty"`
	UserAuthentication []string `json:"user_authentication,omitempty"`
}

// ProofType is an entry of proof_types_supported (OpenID4VCI §12.2.4).
type ProofType struct {
	SigningAlgs             []string                 `json:"proof_signing_alg_values_supported"`
	KeyAttestationsRequired *KeyAttestationsRequired `json:"key_attestations_required,omitempty"`
}

// CredentialMetadata groups display and claims (OpenID4VCI 1.0 §12.2.4).
type CredentialMetadata struct {
	Display []CredentialDisplay `json:"display,omitempty"`
	Claims  []Claim             `json:"claims,omitempty"`
}

// CredentialConfiguration is an mso_mdoc entry of
// credential_configurations_supported (OpenID4VCI §12.2.4, A.2.2).
type CredentialConfiguration struct {
	Format                string   `json:"format"`
	Doctype               string   `json:"doctype"`
	Scope                 string   `json:"scope,omitempty"`
	BindingMethods        []string `json:"cryptographic_binding_methods_supported,omitempty"`
	CredentialSigningAlgs []int    `json:"credential_signing_alg_values_supported,omitempty"`
	// ProofTypes is present iff BindingMethods is (OpenID4VCI §12.2.4).
	ProofTypes         map[string]ProofType `json:"proof_types_supported,omitempty"`
	CredentialMetadata *CredentialMetadata  `json:"credential_metadata,omitempty"`
}

// BatchIssuance signals batch support; BatchSize >= 2 (OpenID4VCI §12.2.4).
type BatchIssuance struct {
	BatchSize int `json:"batch_size"`
}

// RequestEncryption is credential_request_encryption (OpenID4VCI §12.2.4).
type RequestEncryption struct {
	JWKS      jose.JSONWebKeySet `json:"jwks"`
	EncValues []string           `json:"enc_values_supported"`
	ZipValues []string           `json:"zip_values_supported,omitempty"`
	Required  bool               `json:"encryption_required"`
}

// ResponseEncryption is credential_response_encryption (OpenID4VCI §12.2.4).
type ResponseEncryption struct {
	AlgValues []string `json:"alg_values_supported"`
	EncValues []string `json:"enc_values_supported"`
	ZipValues []string `json:"zip_values_supported,omitempty"`
	Required  bool     `json:"encryption_required"`
}

// IssuerMetadata is the Credential Issuer Metadata document (OpenID4VCI
// §12.2.4).
type IssuerMetadata struct {
	CredentialIssuer             string                             `json:"credential_issuer"`
	AuthorizationServers         []string                           `json:"authorization_servers,omitempty"`
	CredentialEndpoint           string                             `json:"credential_endpoint,omitempty"`
	NonceEndpoint                string                             `json:"nonce_endpoint,omitempty"`
	DeferredCredentialEndpoint   string                             `json:"deferred_credential_endpoint,omitempty"`
	NotificationEndpoint         string                             `json:"notification_endpoint,omitempty"`
	CredentialRequestEncryption  *RequestEncryption                 `json:"credential_request_encryption,omitempty"`
	CredentialResponseEncryption *ResponseEncryption                `json:"credential_response_encryption,omitempty"`
	BatchCredentialIssuance      *BatchIssuance                     `json:"batch_credential_issuance,omitempty"`
	Display                      []Display                          `json:"display,omitempty"`
	CredentialConfigurations     map[string]CredentialConfiguration `json:"credential_configurations_supported"`
}

// ASMetadata is the OAuth 2.0 Authorization Server Metadata document.
type ASMetadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string `json:"token_endpoint,omitempty"`
	PAREndpoint           string `json:"pushed_authorization_request_endpoint,omitempty"`
	// RFC 9126 §5; FAPI 2.0 SP: only PAR requests are accepted.
	RequirePAR        bool   `json:"require_pushed_authorization_requests"`
	ChallengeEndpoint string `json:"challenge_endpoint,omitempty"`
	// RFC 8414 §2 (REQUIRED).
	ResponseTypes        []string `json:"response_types_supported"`
	ResponseModes        []string `json:"response_modes_supported,omitempty"`
	GrantTypes           []string `json:"grant_types_supported,omitempty"`
	CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
	// Attestation-based client authentication -07 §10.1: both algorithm
	// lists are REQUIRED once attest_jwt_client_auth is listed.
	TokenEndpointAuthMethods        []string `json:"token_endpoint_auth_methods_supported"`
	ClientAttestationSigningAlgs    []string `json:"client_attestation_signing_alg_values_supported"`
	ClientAttestationPoPSigningAlgs []string `json:"client_attestation_pop_signing_alg_values_supported"`
	DPoPSigningAlgs                 []string `json:"dpop_signing_alg_values_supported"`
	// RFC 9207 §3.
	IssParameterSupported     bool     `json:"authorization_response_iss_parameter_supported"`
	AuthorizationDetailsTypes []string `json:"authorization_details_types_supported"`
	ScopesSupported           []string `json:"scopes_supported,omitempty"`
	// OpenID4VCI §12.3: false, the token endpoint always authenticates the
	// wallet (HAIP §4.4).
	PreAuthorizedAnonymousAccess bool `json:"pre-authorized_grant_anonymous_access_supported"`
}
