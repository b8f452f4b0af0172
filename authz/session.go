package authz

import (
	"maps"
	"slices"
	"time"

	"github.com/ory/fosite"
)

// Session is the fosite session of every grant: what the End-User authorized
// and what the resulting tokens are bound to. It is stored inside the
// request records (sessionDTO) and becomes the oauth.Grant of an access token.
type Session struct {
	Subject string
	// JKT is the RFC 7638 thumbprint of the DPoP key the grant is bound to:
	// from dpop_jkt or the DPoP proof at PAR (RFC 9449 §10), else the proof
	// key of the first token request (§5).
	JKT string
	// ClientKeyJKT is the thumbprint of the attestation's cnf key (wallet
	// instance): codes and refresh tokens are bound to it (ABCA-07 §10.3).
	ClientKeyJKT string
	// Provider is the wallet provider that attested the client.
	Provider string
	// ConfigurationIDs are the credential configurations requested (PAR)
	// and, once consented, granted.
	ConfigurationIDs []string
	// CredentialIdentifiers maps credential_identifier -> configuration id
	// for configurations requested by authorization_details (OpenID4VCI §6.2).
	CredentialIdentifiers map[string]string
	// AuthorizationDetails records that authorization_details were used, so
	// the token response must carry them (OpenID4VCI §6.2).
	AuthorizationDetails bool
	// OfferID is the credential offer a pre-authorized code redeems.
	OfferID string
	// IssuerState is the issuer_state of the offer the wallet sent at PAR
	// (OpenID4VCI §5.1.3); recorded, never trusted as authentication.
	IssuerState string
	// NoState records that the client sent no state: fosite needs a
	// non-empty one internally, the authorization response carries none.
	NoState bool

	ExpiresAt map[fosite.TokenType]time.Time

	// redeem is the pre-authorization whose offer the token response
	// redeems (preauth.go); never stored.
	redeem *preAuthDTO
}

var _ fosite.Session = (*Session)(nil)

// SetExpiresAt implements fosite.Session.
func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	if s.ExpiresAt == nil {
		s.ExpiresAt = map[fosite.TokenType]time.Time{}
	}
	s.ExpiresAt[key] = exp
}

// GetExpiresAt implements fosite.Session.
func (s *Session) GetExpiresAt(key fosite.TokenType) time.Time {
	if s.ExpiresAt == nil {
		return time.Time{}
	}
	return s.ExpiresAt[key]
}

// GetUsername implements fosite.Session.
func (s *Session) GetUsername() string { return "" }

// GetSubject implements fosite.Session.
func (s *Session) GetSubject() string { return s.Subject }

// Clone implements fosite.Session.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	c.ConfigurationIDs = slices.Clone(s.ConfigurationIDs)
	c.CredentialIdentifiers = maps.Clone(s.CredentialIdentifiers)
	c.ExpiresAt = maps.Clone(s.ExpiresAt)
	return &c
}

// client is the fosite client derived from a wallet attestation: a public
// client (no secret; authenticated by the attestation) whose redirect URIs
// come from the provider policy and whose scopes are the configured
// credential scopes.
type client struct {
	id           string
	provider     string
	keyJKT       string
	redirectURIs []string
	scopes       []string
	grantTypes   []string
}

var _ fosite.Client = (*client)(nil)

func (c *client) GetID() string                      { return c.id }
func (c *client) GetHashedSecret() []byte            { return nil }
func (c *client) GetRedirectURIs() []string          { return c.redirectURIs }
func (c *client) GetGrantTypes() fosite.Arguments    { return c.grantTypes }
func (c *client) GetResponseTypes() fosite.Arguments { return fosite.Arguments{"code"} }
func (c *client) GetScopes() fosite.Arguments        { return c.scopes }
func (c *client) IsPublic() bool                     { return true }
func (c *client) GetAudience() fosite.Arguments      { return nil }
