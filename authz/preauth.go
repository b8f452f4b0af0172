package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ory/fosite"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// PreAuthorization is what a pre-authorized code stands for (OpenID4VCI
// §3.5, §4.1.1).
type PreAuthorization struct {
	OfferID          string
	Subject          string
	ConfigurationIDs []string
	// TxCode is the transaction code the wallet must send ("" = none).
	TxCode    string
	ExpiresAt time.Time
}

// maxPreAuthLifetime bounds pre-authorized codes: they are short-lived
// (OpenID4VCI §4.1.1).
const maxPreAuthLifetime = 24 * time.Hour

type preAuthDTO struct {
	V         int      `cbor:"0,keyasint"`
	OfferID   string   `cbor:"1,keyasint,omitempty"`
	Subject   string   `cbor:"2,keyasint,omitempty"`
	ConfigIDs []string `cbor:"3,keyasint"`
	TxMAC     []byte   `cbor:"4,keyasint,omitempty"` // HMAC of the tx_code, never the value
	Exp       int64    `cbor:"5,keyasint"`           // unix ms
	RequestID string   `cbor:"6,keyasint"`
}

// txMAC keys the tx_code hash with a secret: tx codes are short, so an
// unkeyed hash in a store dump would be brute-forced offline.
func txMAC(secret []byte, tx string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("authz tx_code\x00"))
	m.Write([]byte(tx))
	return m.Sum(nil)
}

// txCodeMatches compares in constant time under the current and the
// rotated secrets.
func (s *Server) txCodeMatches(tx string, stored []byte) bool {
	ok := hmac.Equal(txMAC(s.o.GlobalSecret, tx), stored)
	for _, k := range s.o.RotatedSecrets {
		ok = hmac.Equal(txMAC(k, tx), stored) || ok
	}
	return ok
}

// IssuePreAuthorizedCode stores a single-use pre-authorized code (256 bits)
// for an offer and returns it.
func (s *Server) IssuePreAuthorizedCode(ctx context.Context, p PreAuthorization) (string, error) {
	code, d, err := s.newPreAuth(p)
	if err != nil {
		return "", err
	}
	b, err := encode(d)
	if err != nil {
		return "", err
	}
	// The record outlives the code so that a replay is recognised and
	// revokes the tokens of the first redemption.
	if err := s.o.Store.Create(ctx, kindPreAuth, keyHash(code), b, p.ExpiresAt.Add(s.o.AccessTokenLifespan)); err != nil {
		return "", err
	}
	return code, nil
}

// MintPreAuthorizedCode returns a new pre-authorized code (256 bits) and its
// grant record without storing anything: the offer service keeps the record
// with its offer and hands it back through OfferLink.PreAuthorization when
// the code is redeemed, so one store key serves both. The record holds the
// tx_code only as a keyed MAC. p.OfferID is not recorded: the offer that
// returns the record names itself.
func (s *Server) MintPreAuthorizedCode(_ context.Context, p PreAuthorization) (string, []byte, error) {
	p.OfferID = ""
	code, d, err := s.newPreAuth(p)
	if err != nil {
		return "", nil, err
	}
	b, err := encode(d)
	if err != nil {
		return "", nil, err
	}
	return code, b, nil
}

// newPreAuth checks p and mints a code and its record.
func (s *Server) newPreAuth(p PreAuthorization) (string, preAuthDTO, error) {
	now := s.now()
	if len(p.ConfigurationIDs) == 0 {
		return "", preAuthDTO{}, errors.New("authz: pre-authorization without credential configurations")
	}
	for _, id := range p.ConfigurationIDs {
		if _, ok := s.byID[id]; !ok {
			return "", preAuthDTO{}, fmt.Errorf("authz: unknown credential configuration %q", id)
		}
	}
	if !p.ExpiresAt.After(now) || p.ExpiresAt.Sub(now) > maxPreAuthLifetime {
		return "", preAuthDTO{}, fmt.Errorf("authz: pre-authorized code expiry must be within (now, now+%s]", maxPreAuthLifetime)
	}
	if len(p.TxCode) > 64 {
		return "", preAuthDTO{}, errors.New("authz: tx_code longer than 64 characters")
	}
	code, err := randomToken()
	if err != nil {
		return "", preAuthDTO{}, err
	}
	d := preAuthDTO{V: recordVersion, OfferID: p.OfferID, Subject: p.Subject,
		ConfigIDs: slices.Compact(slices.Clone(p.ConfigurationIDs)), Exp: p.ExpiresAt.UnixMilli(), RequestID: preAuthGrantID(code)}
	if p.TxCode != "" {
		d.TxMAC = txMAC(s.o.GlobalSecret, p.TxCode)
	}
	return code, d, nil
}

// preAuthGrantID is the request id of the grant a pre-authorized code
// makes: 128 bits derived one-way from the code, so the grant can be
// revoked from the code alone after its record is gone (a cancelled offer
// whose code was deleted by the tx_code lockout). It names the grant in the
// store and the audit log and reveals nothing of the code.
func preAuthGrantID(code string) string {
	h := sha256.Sum256([]byte("authz pre-authorized grant\x00" + code))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// preAuthHandler is the fosite token endpoint handler of the
// urn:ietf:params:oauth:grant-type:pre-authorized_code grant (OpenID4VCI
// §6.1). Client authentication is required (HAIP §4.4.1: no anonymous
// access).
type preAuthHandler struct{ s *Server }

var _ fosite.TokenEndpointHandler = (*preAuthHandler)(nil)

func (h *preAuthHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (h *preAuthHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(oauth.GrantPreAuthorizedCode)
}

func (h *preAuthHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	s := h.s
	form := ar.GetRequestForm()
	code := form.Get("pre-authorized_code")
	if code == "" {
		return oauth.InvalidRequest("pre-authorized_code is required")
	}
	if len(code) > 256 {
		return oauth.InvalidGrant("the pre-authorized code is unknown, expired or used")
	}
	key := keyHash(code)
	d, fromOffer, err := s.lookupPreAuth(ctx, code, key)
	if err != nil {
		return err
	}
	if s.now().UnixMilli() >= d.Exp {
		return oauth.InvalidGrant("the pre-authorized code has expired")
	}
	// tx_code (OpenID4VCI §6.1, §6.3; errata §13.6.3 attempt limit).
	tx, hasTx := form["tx_code"]
	switch {
	case d.TxMAC != nil && (!hasTx || tx[0] == ""):
		return oauth.InvalidRequest("tx_code is required for this pre-authorized code")
	case d.TxMAC == nil && hasTx:
		return oauth.InvalidRequest("tx_code was sent but the offer requires none")
	case d.TxMAC != nil && !s.txCodeMatches(tx[0], d.TxMAC):
		n, err := s.o.Store.Incr(ctx, counterTx, key, time.UnixMilli(d.Exp))
		if err != nil {
			return err
		}
		if n >= int64(s.o.TxCodeMaxAttempts) {
			if fromOffer {
				// The offer keeps the code: cancelling it voids the code.
				if err := s.o.Offers.Cancel(ctx, d.OfferID); err != nil && outage(err) {
					return err
				}
			} else if err := s.o.Store.Delete(ctx, kindPreAuth, key); err != nil {
				return err
			}
			s.o.Logger.Warn("authz: tx_code attempts exhausted; pre-authorized code voided", "offer_ref", logRef(d.OfferID))
			return oauth.InvalidGrant("wrong tx_code; too many failed attempts, the pre-authorized code is now invalid")
		}
		return oauth.InvalidGrant("wrong tx_code")
	}
	ids := d.ConfigIDs
	sess, ok := ar.GetSession().(*Session)
	if !ok || sess == nil {
		return fosite.ErrServerError.WithDebug("pre-authorized code grant without session")
	}
	if raw, ok := form["authorization_details"]; ok {
		// OpenID4VCI §6.1.1: select a subset of the offered configurations.
		sel, err := s.parseAuthorizationDetails(raw[0], func(id string) bool { return slices.Contains(d.ConfigIDs, id) })
		if err != nil {
			return err
		}
		ids = sel
		if sess.CredentialIdentifiers, err = newCredentialIdentifiers(ids); err != nil {
			return err
		}
		sess.AuthorizationDetails = true
	}
	// The code is single-use. The code of an offer is used up by the
	// offer's redemption (OfferLink.MarkRedeemed: exactly one of concurrent
	// calls succeeds), taken once every check of the request has passed,
	// in the round trip that stores the token (PopulateTokenEndpointResponse);
	// its record stays unconsumed, and a cancellation revokes the grant by
	// its derived id (RevokePreAuthorizedCode). A code without an offer is
	// consumed here. A loser of concurrent redemptions revokes what the
	// winner gets: a code used twice is compromised (RFC 6749 §4.1.2 by
	// analogy; OpenID4VCI §13.6).
	if s.o.Offers != nil && d.OfferID != "" {
		sess.redeem = d
	} else if _, err := s.o.Store.Consume(ctx, kindPreAuth, key); err != nil {
		if errors.Is(err, storage.ErrAlreadyUsed) {
			return s.preAuthReused(ctx, d)
		}
		if errors.Is(err, storage.ErrNotFound) {
			return oauth.InvalidGrant("the pre-authorized code is unknown, expired or used")
		}
		return err
	}
	sess.Subject, sess.OfferID, sess.ConfigurationIDs = d.Subject, d.OfferID, ids
	ar.SetID(d.RequestID)
	for _, id := range ids {
		if c, ok := s.byID[id]; ok {
			ar.GrantScope(c.Scope)
		}
	}
	sess.SetExpiresAt(fosite.AccessToken, s.now().Add(s.o.AccessTokenLifespan))
	if s.o.RefreshTokens {
		sess.SetExpiresAt(fosite.RefreshToken, s.now().Add(s.o.RefreshTokenLifespan))
	}
	return nil
}

// lookupPreAuth finds the grant record of a pre-authorized code: with the
// offer that keeps it (codes minted for an offer, one store read), else in
// the code's own record (codes issued with IssuePreAuthorizedCode). It
// returns whether the offer keeps it, and the token endpoint's error for an
// unknown, expired or replayed code.
func (s *Server) lookupPreAuth(ctx context.Context, code, key string) (*preAuthDTO, bool, error) {
	if s.o.Offers != nil {
		offerID, b, err := s.o.Offers.PreAuthorization(ctx, code)
		switch {
		case err == nil:
			d, err := decodePreAuth(b)
			if err != nil {
				return nil, false, err
			}
			d.OfferID = offerID
			return d, true, nil
		case !errors.Is(err, ErrUnknownCode):
			return nil, false, err
		}
	}
	b, err := s.o.Store.Get(ctx, kindPreAuth, key)
	if errors.Is(err, storage.ErrAlreadyUsed) {
		d, derr := decodePreAuth(b)
		if derr != nil {
			return nil, false, oauth.InvalidGrant("the pre-authorized code was already used")
		}
		return nil, false, s.preAuthReused(ctx, d)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, false, oauth.InvalidGrant("the pre-authorized code is unknown, expired or used")
	}
	if err != nil {
		return nil, false, err
	}
	d, err := decodePreAuth(b)
	if err != nil {
		return nil, false, err
	}
	return d, false, nil
}

// preAuthReused answers a second redemption of a pre-authorized code: the
// grant of the first is revoked and the request refused.
func (s *Server) preAuthReused(ctx context.Context, d *preAuthDTO) error {
	s.o.Logger.Warn("authz: pre-authorized code used twice; revoking its grant", "offer_ref", logRef(d.OfferID))
	if err := s.store.revokeGrant(ctx, d.RequestID); err != nil {
		return err
	}
	return oauth.InvalidGrant("the pre-authorized code was already used; tokens issued for it are revoked")
}

// outage reports whether err from a collaborator is a dependency outage
// (to be answered with 503/500) rather than a verdict.
func outage(err error) bool {
	if errors.Is(err, storage.ErrUnavailable) {
		return true
	}
	e := oauth.As(err)
	return e != nil && e.Status >= 500
}

// RevokePreAuthorizedCode invalidates a pre-authorized code (a cancelled
// offer): the token endpoint refuses it afterwards, and tokens already
// issued for it are revoked, whether or not its record is still kept. An
// unknown or expired code is not an error.
func (s *Server) RevokePreAuthorizedCode(ctx context.Context, code string) error {
	key := keyHash(code)
	rid := preAuthGrantID(code)
	b, err := s.o.Store.Get(ctx, kindPreAuth, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err == nil || errors.Is(err, storage.ErrAlreadyUsed):
		// Codes minted before the derived id carry a random one.
		d, derr := decodePreAuth(b)
		if derr != nil {
			return derr
		}
		rid = d.RequestID
	default:
		return err
	}
	if err := s.store.revokeGrant(ctx, rid); err != nil {
		return err
	}
	return s.o.Store.Delete(ctx, kindPreAuth, key)
}

func decodePreAuth(b []byte) (*preAuthDTO, error) {
	var d preAuthDTO
	if err := storage.Decode(b, &d); err != nil {
		return nil, fmt.Errorf("authz: decode pre-authorization: %w", err)
	}
	if d.V != recordVersion {
		return nil, fmt.Errorf("authz: pre-authorization version %d not supported", d.V)
	}
	return &d, nil
}

func (h *preAuthHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	s := h.s
	access, accessSig, err := s.strategy.GenerateAccessToken(ctx, ar)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	stored := ar.Sanitize(nil)
	sess, _ := ar.GetSession().(*Session)
	if sess != nil && sess.redeem == nil && sess.OfferID != "" && s.o.Offers != nil {
		// HandleTokenEndpointRequest left the offer's redemption to this
		// step; a session that lost it must not yield a token.
		return fosite.ErrServerError.WithDebug("pre-authorized grant of an offer without its redemption")
	}
	if sess != nil && sess.redeem != nil {
		// The grant's first tokens ride along with the offer's redemption.
		at, exp, err := s.store.accessTokenRecord(stored)
		if err != nil {
			return err
		}
		toks := []firstToken{{kind: kindAT, sig: accessSig, record: at, exp: exp}}
		if s.o.RefreshTokens {
			refresh, refreshSig, err := s.strategy.GenerateRefreshToken(ctx, ar)
			if err != nil {
				return fosite.ErrServerError.WithWrap(err)
			}
			rt, rexp, err := s.store.refreshTokenRecord(stored)
			if err != nil {
				return err
			}
			toks = append(toks, firstToken{kind: kindRT, sig: refreshSig, record: rt, exp: rexp})
			resp.SetExtra("refresh_token", refresh)
		}
		if err := s.redeemWithTokens(ctx, sess.redeem, stored.GetID(), toks); err != nil {
			return err
		}
		access = withReadHint(access, sess.redeem.OfferID)
	} else {
		if err := s.store.CreateAccessTokenSession(ctx, accessSig, stored); err != nil {
			return err
		}
		if s.o.RefreshTokens {
			refresh, refreshSig, err := s.strategy.GenerateRefreshToken(ctx, ar)
			if err != nil {
				return fosite.ErrServerError.WithWrap(err)
			}
			if err := s.store.CreateRefreshTokenSession(ctx, refreshSig, accessSig, stored); err != nil {
				return err
			}
			resp.SetExtra("refresh_token", refresh)
		}
	}
	resp.SetAccessToken(access)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(s.o.AccessTokenLifespan)
	resp.SetScopes(ar.GetGrantedScopes())
	return nil
}

// redeemWithTokens redeems d's offer and stores the grant's first tokens,
// both in one store round trip: the tokens and their grant index ride along
// with the offer's step (storage.Rider). If the redemption is refused, the
// token records made with it are deleted; they were never handed out.
func (s *Server) redeemWithTokens(ctx context.Context, d *preAuthDTO, requestID string, toks []firstToken) error {
	items, err := firstTokenItems(requestID, toks)
	if err != nil {
		return err
	}
	rctx, rider := storage.WithRider(ctx, s.store.rec, items)
	if err := s.o.Offers.MarkRedeemed(rctx, d.OfferID); err != nil {
		if !rider.Cancel() {
			s.store.deleteTokens(ctx, toks)
		}
		if outage(err) {
			return err
		}
		if errors.Is(err, ErrOfferRedeemed) {
			return s.preAuthReused(ctx, d)
		}
		return oauth.InvalidGrant("the credential offer of this pre-authorized code is no longer valid").WithCause(err)
	}
	return s.store.settleFirstTokens(ctx, requestID, toks, rider.Result(ctx))
}
