package oauth

import "time"

// Grant is what an access token stands for, as the credential issuer (the
// resource server) sees it after validating the token.
type Grant struct {
	// ClientID is the wallet instance: the client attestation's sub.
	ClientID string
	// WalletProvider names the trusted wallet provider whose attestation
	// authenticated the client.
	WalletProvider string
	// Subject is the authenticated End-User (authorization code flow) or the
	// subject the offer was made for (pre-authorized code flow); may be empty.
	Subject string
	// JKT is the RFC 7638 thumbprint of the DPoP key the token is bound to
	// (RFC 9449 §6).
	JKT string
	// Scopes granted.
	Scopes []string
	// CredentialConfigurationIDs lists the configurations the grant covers,
	// from scope values or authorization_details (OpenID4VCI §5.1).
	CredentialConfigurationIDs []string
	// CredentialIdentifiers maps each credential_identifier returned in the
	// token response to its configuration id (OpenID4VCI §6.2).
	CredentialIdentifiers map[string]string
	// OfferID is the credential offer redeemed by a pre-authorized code.
	OfferID string
	// RequestID identifies the authorization (stable across refresh).
	RequestID string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Covers reports whether the grant covers the credential configuration id.
func (g *Grant) Covers(configurationID string) bool {
	for _, id := range g.CredentialConfigurationIDs {
		if id == configurationID {
			return true
		}
	}
	return false
}
