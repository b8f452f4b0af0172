package authz

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"

	"github.com/ory/fosite"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

type proofKey struct{}

func proofFrom(ctx context.Context) *DPoPProof {
	p, _ := ctx.Value(proofKey{}).(*DPoPProof)
	return p
}

// tokenResponse is the token response (RFC 6749 §5.1, RFC 9449 §5,
// OpenID4VCI §6.2). It never carries an id_token.
type tokenResponse struct {
	AccessToken          string                     `json:"access_token"`
	TokenType            string                     `json:"token_type"`
	ExpiresIn            int64                      `json:"expires_in"`
	RefreshToken         string                     `json:"refresh_token,omitempty"`
	AuthorizationDetails []tokenAuthorizationDetail `json:"authorization_details,omitempty"`
}

// handleToken is the token endpoint. Checks run in this order so that a
// retry after use_dpop_nonce finds the grant intact: method and form, grant
// type, DPoP proof (RFC 9449 §5), client authentication by wallet
// attestation (HAIP §4.4.1), then fosite's grant handlers (code + PKCE,
// pre-authorized code, refresh) and the binding handler.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, http.MethodPost)
		return
	}
	if err := parseBodyForm(w, r); err != nil {
		oauth.WriteError(w, err)
		return
	}
	resp, err := s.token(r)
	if err != nil {
		oauth.WriteError(w, toOAuthError(err))
		return
	}
	s.setDPoPNonce(w, r)
	s.setAttestationChallenge(w)
	oauth.WriteJSON(w, http.StatusOK, resp, true)
}

func (s *Server) token(r *http.Request) (*tokenResponse, error) {
	f := r.PostForm
	gt := f.Get("grant_type")
	switch gt {
	case "":
		return nil, oauth.InvalidRequest("grant_type is required")
	case oauth.GrantAuthorizationCode, oauth.GrantPreAuthorizedCode:
	case oauth.GrantRefreshToken:
		if !s.o.RefreshTokens {
			return nil, oauth.New(http.StatusBadRequest, oauth.CodeUnsupportedGrantType, "the refresh_token grant is not enabled")
		}
	default:
		return nil, oauth.New(http.StatusBadRequest, oauth.CodeUnsupportedGrantType, "grant_type is not supported")
	}
	if gt != oauth.GrantPreAuthorizedCode && f.Has("tx_code") {
		return nil, oauth.InvalidRequest("tx_code is only allowed with the pre-authorized code grant")
	}
	proofs := r.Header.Values(oauth.HeaderDPoP)
	if len(proofs) == 0 {
		return nil, oauth.InvalidDPoPProof("a DPoP proof is required at the token endpoint (HAIP §4, RFC 9449 §5)")
	}
	// The replay-cache writes of the DPoP proof and the attestation PoP go
	// with the grant's first store read (storage.Pending), which answers
	// with a replay before anything is consumed; Settle below covers a grant
	// handler that read nothing.
	ctx, pending := storage.WithPending(r.Context())
	proof, err := s.o.DPoP.Verify(ctx, DPoPRequest{Method: http.MethodPost, URL: s.endpoints.Token, DPoP: proofs})
	if err != nil {
		return nil, err
	}
	if proof == nil || proof.JKT == "" {
		return nil, oauth.InvalidDPoPProof("the DPoP proof yielded no key thumbprint")
	}
	ctx, _ = withClientSlot(ctx)
	ctx = context.WithValue(ctx, proofKey{}, proof)
	if _, err := s.authenticateClient(ctx, r, f); err != nil {
		return nil, err
	}
	ar, err := s.provider.NewAccessRequest(ctx, r, &Session{})
	if err != nil {
		if perr := pending.Err(); perr != nil {
			return nil, perr
		}
		return nil, err
	}
	if err := pending.Settle(ctx); err != nil {
		return nil, err
	}
	ares, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		return nil, err
	}
	out := &tokenResponse{AccessToken: ares.GetAccessToken(), TokenType: oauth.TokenTypeDPoP,
		ExpiresIn: int64(s.o.AccessTokenLifespan.Seconds())}
	if rt, ok := ares.GetExtra("refresh_token").(string); ok {
		out.RefreshToken = rt
	}
	sess, _ := ar.GetSession().(*Session)
	if sess != nil && sess.AuthorizationDetails {
		out.AuthorizationDetails = responseAuthorizationDetails(sess.ConfigurationIDs, sess.CredentialIdentifiers)
	}
	if s.o.OnTokenIssued != nil && sess != nil {
		s.o.OnTokenIssued(ctx, TokenIssued{
			GrantType: gt, ClientID: ar.GetClient().GetID(), WalletProvider: sess.Provider,
			JKT: sess.JKT, OfferID: sess.OfferID, ConfigurationIDs: slices.Clone(sess.ConfigurationIDs),
			RequestID: ar.GetID(),
		})
	}
	return out, nil
}

// TokenIssued describes an access token just issued, for audit and metrics.
// It holds identifiers only: no token, code or personal data.
type TokenIssued struct {
	GrantType        string
	ClientID         string // the wallet attestation's sub, verified
	WalletProvider   string
	JKT              string // DPoP key thumbprint the token is bound to
	OfferID          string // pre-authorized code grant: the redeemed offer
	ConfigurationIDs []string
	RequestID        string // the grant, stable across refresh
}

// bindingHandler is a fosite token endpoint handler that runs after the
// grant handlers have loaded the stored grant. It enforces the key bindings
// and binds the new tokens:
//   - authorization code: the DPoP proof key must be the one bound at PAR
//     (RFC 9449 §10) and the wallet instance key the one that pushed the
//     request (ABCA-10 §9.4);
//   - refresh token: same DPoP key (RFC 9449 §5) and same wallet instance
//     (ABCA-07 §10.3);
//
// then records the proof key as the token's cnf.jkt (RFC 9449 §6).
type bindingHandler struct{ s *Server }

var _ fosite.TokenEndpointHandler = (*bindingHandler)(nil)

func (h *bindingHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (h *bindingHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	g := ar.GetGrantTypes()
	return g.ExactOne(oauth.GrantAuthorizationCode) || g.ExactOne(oauth.GrantRefreshToken) || g.ExactOne(oauth.GrantPreAuthorizedCode)
}

func (h *bindingHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	proof := proofFrom(ctx)
	sess, ok := ar.GetSession().(*Session)
	c, cok := ar.GetClient().(*client)
	if proof == nil || !ok || sess == nil || !cok {
		return fosite.ErrServerError.WithDebug("binding handler without proof, session or client")
	}
	switch {
	case ar.GetGrantTypes().ExactOne(oauth.GrantAuthorizationCode):
		if sess.JKT != "" && sess.JKT != proof.JKT {
			return h.burnCode(ctx, ar, oauth.InvalidGrant("the DPoP proof key differs from the key bound to the authorization request (RFC 9449 §10)"))
		}
		if sess.ClientKeyJKT != "" && sess.ClientKeyJKT != c.keyJKT {
			return h.burnCode(ctx, ar, oauth.InvalidGrant("the wallet instance key differs from the one that pushed the authorization request"))
		}
		if raw, ok := ar.GetRequestForm()["authorization_details"]; ok {
			if err := h.s.narrow(sess, raw[0]); err != nil {
				return err
			}
		}
	case ar.GetGrantTypes().ExactOne(oauth.GrantRefreshToken):
		if sess.JKT != proof.JKT {
			return oauth.InvalidGrant("the refresh token is bound to another DPoP key (RFC 9449 §5)")
		}
		if sess.ClientKeyJKT != c.keyJKT {
			return oauth.InvalidGrant("the refresh token is bound to another wallet instance (ABCA-07 §10.3)")
		}
	}
	sess.JKT = proof.JKT
	sess.ClientKeyJKT = c.keyJKT
	sess.Provider = c.provider
	return nil
}

// burnCode answers a code presented by a client other than the one it was
// issued to: the code has leaked. It is consumed and its grant revoked, so
// neither this presenter nor a concurrent or later redemption gets a usable
// token (RFC 6749 §4.1.2, RFC 9449 §10); the wallet starts a new
// authorization.
func (h *bindingHandler) burnCode(ctx context.Context, ar fosite.AccessRequester, refusal error) error {
	sig := h.s.strategy.AuthorizeCodeSignature(ctx, ar.GetRequestForm().Get("code"))
	if err := h.s.store.InvalidateAuthorizeCodeSession(ctx, sig); err != nil && !errors.Is(err, errCodeReused) {
		if !errors.Is(err, fosite.ErrNotFound) {
			return err
		}
	}
	if err := h.s.store.revokeGrant(ctx, ar.GetID()); err != nil {
		return err
	}
	return refusal
}

func (h *bindingHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	resp.SetTokenType(oauth.TokenTypeDPoP)
	return nil
}

// narrow applies authorization_details sent with a code redemption: they may
// select a subset of the authorized configurations (RFC 9396 §6, OpenID4VCI
// §6.1); asking for more is invalid_authorization_details. Identifiers
// already assigned at PAR are kept.
func (s *Server) narrow(sess *Session, raw string) error {
	sel, err := s.parseAuthorizationDetails(raw, func(id string) bool { return slices.Contains(sess.ConfigurationIDs, id) })
	if err != nil {
		return err
	}
	ids := map[string]string{}
	for ident, cid := range sess.CredentialIdentifiers {
		if slices.Contains(sel, cid) {
			ids[ident] = cid
		}
	}
	for _, cid := range sel {
		if !slices.Contains(slices.Collect(maps.Values(ids)), cid) {
			fresh, err := newCredentialIdentifiers([]string{cid})
			if err != nil {
				return err
			}
			maps.Copy(ids, fresh)
		}
	}
	sess.ConfigurationIDs, sess.CredentialIdentifiers, sess.AuthorizationDetails = sel, ids, true
	return nil
}
