package oauth

// Grant types (RFC 6749 §4.1.3, §6; OpenID4VCI 1.0 §3.5).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantPreAuthorizedCode = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
)

// Header names.
const (
	HeaderDPoP                 = "DPoP"
	HeaderDPoPNonce            = "DPoP-Nonce"
	HeaderClientAttestation    = "OAuth-Client-Attestation"
	HeaderClientAttestationPoP = "OAuth-Client-Attestation-PoP"
	HeaderAttestationChallenge = "OAuth-Client-Attestation-Challenge"
	HeaderWWWAuthenticate      = "WWW-Authenticate"
	HeaderCacheControl         = "Cache-Control"
	HeaderRetryAfter           = "Retry-After"
)

// CacheNoStore is the exact Cache-Control value for responses carrying tokens,
// nonces, offers or credentials (RFC 6749 §5.1; the conformance suite compares
// the whole string).
const CacheNoStore = "no-store"

// Token types and JWT typ values.
const (
	TokenTypeDPoP = "DPoP"

	TypDPoP                = "dpop+jwt"                         // RFC 9449 §4.2
	TypClientAttestation   = "oauth-client-attestation+jwt"     // ABCA §5.1
	TypClientAttestPoP     = "oauth-client-attestation-pop+jwt" // ABCA §5.2
	TypKeyProof            = "openid4vci-proof+jwt"             // OpenID4VCI F.1
	TypKeyAttestation      = "key-attestation+jwt"              // OpenID4VCI D.1
	TypSignedIssuerMeta    = "openidvci-issuer-metadata+jwt"    // OpenID4VCI 12.2.3
	AuthorizationDetailVCI = "openid_credential"                // OpenID4VCI 5.1.1
	FormatMsoMdoc          = "mso_mdoc"                         // OpenID4VCI A.2
	ClientAssertionTypeABC = "attest_jwt_client_auth"           // ABCA §13.3
)

// Media types.
const (
	MediaJSON = "application/json"
	MediaForm = "application/x-www-form-urlencoded"
	MediaJWT  = "application/jwt"
)
