package authz

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// maxAccessTokenLen bounds presented tokens (ours are 87 characters, 131
// with a read hint).
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
	token, hint := splitReadHint(token)
	if hint != "" && s.o.Offers != nil {
		s.o.Offers.Prefetch(ctx, hint)
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
	if hint != "" && subtle.ConstantTimeCompare([]byte(hint), []byte(g.OfferID)) != 1 {
		return nil, oauth.InvalidToken("the access token was altered")
	}
	return g, nil
}

// An access token of a grant that redeemed a credential offer is
// "<key>.<mac>.<offer id>": fosite's HMAC token and a read hint. The hint
// lets the credential endpoint read the offer in the round trip that reads
// the token; it is no credential (the wallet fetched that offer) and it is
// checked against the token's grant, whose record names the offer.

func withReadHint(token, offerID string) string {
	if offerID == "" {
		return token
	}
	return token + "." + offerID
}

// splitReadHint returns the HMAC token and the read hint ("" if none).
func splitReadHint(token string) (string, string) {
	if strings.Count(token, ".") != 2 {
		return token, ""
	}
	i := strings.LastIndexByte(token, '.')
	if i == len(token)-1 {
		return token, "" // an empty hint: malformed, the HMAC check refuses it
	}
	return token[:i], token[i+1:]
}
