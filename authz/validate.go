package authz

import (
	"context"
	"errors"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// maxAccessTokenLen bounds presented tokens (ours are 87 characters).
const maxAccessTokenLen = 512

// ValidateAccessToken checks an access token presented to the credential
// issuer: HMAC (any current or rotated secret), existence (not revoked) and
// expiry. It returns the grant, or 401 invalid_token (RFC 6750 §3.1); a
// store outage is 503. The DPoP binding (Grant.JKT) is checked by the
// caller with the proof (RFC 9449 §7).
func (s *Server) ValidateAccessToken(ctx context.Context, token string) (*oauth.Grant, error) {
	if token == "" || len(token) > maxAccessTokenLen {
		return nil, oauth.InvalidToken("the access token is malformed")
	}
	if err := s.strategy.Enigma.Validate(ctx, token); err != nil {
		return nil, oauth.InvalidToken("the access token is not valid")
	}
	sig := s.strategy.AccessTokenSignature(ctx, token)
	d, _, err := s.store.loadToken(ctx, kindAT, sig)
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			return nil, oauth.Unavailable(retryAfterSeconds, err)
		}
		return nil, oauth.InvalidToken("the access token is unknown, expired or revoked")
	}
	if s.store.expired(d) {
		return nil, oauth.InvalidToken("the access token has expired")
	}
	g := &oauth.Grant{
		ClientID:  d.ClientID,
		Scopes:    d.Granted,
		RequestID: d.ID,
		IssuedAt:  time.Unix(d.IssuedAt, 0).UTC(),
		ExpiresAt: time.UnixMilli(d.Exp).UTC(),
	}
	if sd := d.Session; sd != nil {
		g.WalletProvider = sd.Provider
		g.Subject = sd.Subject
		g.JKT = sd.JKT
		g.CredentialConfigurationIDs = sd.ConfigIDs
		g.CredentialIdentifiers = sd.CredIDs
		g.OfferID = sd.OfferID
	}
	if g.JKT == "" {
		return nil, oauth.InvalidToken("the access token is not sender-constrained")
	}
	return g, nil
}
