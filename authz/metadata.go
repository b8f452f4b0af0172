package authz

import "github.com/mdoc-issuer/issuer/oauth"

// Metadata is the part of the RFC 8414 authorization server metadata this
// package determines (HAIP §4.1, RFC 9126 §5, RFC 9207 §3, ABCA-07 §10.1).
// The algorithm lists (dpop_signing_alg_values_supported,
// client_attestation_*_signing_alg_values_supported) come from the dpop and
// wia configuration and are added by the metadata package.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	PushedAuthorizationRequestEndpoint         string   `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests         bool     `json:"require_pushed_authorization_requests"`
	ChallengeEndpoint                          string   `json:"challenge_endpoint,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	AuthorizationDetailsTypesSupported         []string `json:"authorization_details_types_supported"`
	ScopesSupported                            []string `json:"scopes_supported"`
	PreAuthorizedGrantAnonymousAccessSupported bool     `json:"pre-authorized_grant_anonymous_access_supported"`
}

// Metadata returns the authorization server metadata values of this server.
func (s *Server) Metadata() Metadata {
	return Metadata{
		Issuer:                                     s.o.Issuer,
		AuthorizationEndpoint:                      s.endpoints.Authorization,
		TokenEndpoint:                              s.endpoints.Token,
		PushedAuthorizationRequestEndpoint:         s.endpoints.PAR,
		RequirePushedAuthorizationRequests:         true,
		ChallengeEndpoint:                          s.endpoints.Challenge,
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        s.grantTypes(),
		CodeChallengeMethodsSupported:              []string{"S256"},
		TokenEndpointAuthMethodsSupported:          []string{oauth.ClientAssertionTypeABC},
		AuthorizationResponseIssParameterSupported: true,
		AuthorizationDetailsTypesSupported:         []string{oauth.AuthorizationDetailVCI},
		ScopesSupported:                            s.scopes(),
		PreAuthorizedGrantAnonymousAccessSupported: false,
	}
}
