package upstream

import (
	"context"
	"slices"
	"strings"
)

// Metadata is the part of the provider's discovery document (OpenID Connect
// Discovery 1.0 §3, RFC 8414 §2, RFC 9207 §3) this package uses.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
}

// DiscoveryURL is the configuration URL of an issuer (Discovery §4.1: a
// terminating "/" of the issuer is removed before appending).
func DiscoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// discover fetches and checks the discovery document.
func (p *Provider) discover(ctx context.Context) (*Metadata, error) {
	var md Metadata
	if err := p.getJSON(ctx, DiscoveryURL(p.o.Issuer), StageDiscovery, &md); err != nil {
		return nil, err
	}
	// Discovery §4.3: the issuer value returned MUST be identical to the
	// issuer used to retrieve the configuration.
	if md.Issuer != p.o.Issuer {
		return nil, checkErr(StageDiscovery, "issuer", "the document's issuer is not identical to the configured issuer")
	}
	for _, e := range []struct{ name, v string }{
		{"authorization_endpoint", md.AuthorizationEndpoint},
		{"token_endpoint", md.TokenEndpoint},
		{"jwks_uri", md.JWKSURI},
	} {
		if e.v == "" {
			return nil, checkErr(StageDiscovery, e.name, "missing")
		}
		if err := checkBaseURL(e.v, e.name); err != nil {
			return nil, checkErr(StageDiscovery, e.name, "not an https URL").with(err)
		}
	}
	if len(md.ResponseTypesSupported) > 0 && !slices.Contains(md.ResponseTypesSupported, "code") {
		return nil, checkErr(StageDiscovery, "response_types_supported", "the provider does not support response_type code")
	}
	// RFC 8414 §2: absent means PKCE is not advertised; many providers
	// support it without saying so, so only an explicit list without S256
	// is refused.
	if len(md.CodeChallengeMethodsSupported) > 0 && !slices.Contains(md.CodeChallengeMethodsSupported, "S256") {
		return nil, checkErr(StageDiscovery, "code_challenge_methods_supported", "the provider does not support PKCE S256")
	}
	return &md, nil
}
