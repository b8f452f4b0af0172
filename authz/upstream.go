package authz

import (
	"errors"
	"net/http"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/upstream"
)

// kindUpstream records are login attempts at the upstream provider, keyed by
// upstream.StateKey(state) and consumed once by the callback.
const kindUpstream = "authz-upstream"

// maxUpstreamAttempt bounds a login attempt at the provider (the flow's own
// expiry, the PAR lifetime, usually ends it sooner).
const maxUpstreamAttempt = 10 * time.Minute

// maxCallbackState bounds the state of a callback before it is hashed.
const maxCallbackState = 512

// upstreamDTO is one login attempt at the upstream provider: the flow it
// belongs to and the secrets of upstream.Start (the URL is not kept).
type upstreamDTO struct {
	V        int    `cbor:"0,keyasint"`
	Flow     string `cbor:"1,keyasint"`
	State    string `cbor:"2,keyasint"`
	Nonce    string `cbor:"3,keyasint"`
	Verifier string `cbor:"4,keyasint"`
	Exp      int64  `cbor:"5,keyasint"` // unix ms
}

// startUpstream handles "Sign in with <provider>" (a login POST whose flow
// and CSRF token are already checked): it creates a login attempt at the
// provider (OpenID Connect Core 1.0 §3.1.2.1, PKCE per RFC 7636), keeps its
// state, nonce and verifier in the store bound to the flow, and redirects
// the browser to the provider (303).
func (s *Server) startUpstream(w http.ResponseWriter, r *http.Request, flowID string, fl *flowDTO) {
	ctx := r.Context()
	a, err := s.o.Upstream.Start()
	if err != nil {
		s.o.Logger.Error("authz: upstream login cannot start", "err", err)
		s.errorPage(w, oauth.ServerError(err))
		return
	}
	exp := min(fl.Exp, s.now().Add(maxUpstreamAttempt).UnixMilli())
	b, err := encode(upstreamDTO{V: recordVersion, Flow: flowID, State: a.State, Nonce: a.Nonce,
		Verifier: a.CodeVerifier, Exp: exp})
	if err == nil {
		err = s.o.Store.Create(ctx, kindUpstream, upstream.StateKey(a.State), b, time.UnixMilli(exp))
	}
	if err != nil {
		s.errorPage(w, err)
		return
	}
	w.Header().Set(oauth.HeaderCacheControl, oauth.CacheNoStore)
	w.Header().Set("Location", a.URL)
	w.WriteHeader(http.StatusSeeOther)
}

// handleUpstreamCallback is the redirect URI of the upstream login (OpenID
// Connect Core 1.0 §3.1.2.5-3.1.2.6). The attempt named by state is consumed
// (one use); an unknown, expired or used one is invalid_request on an error
// page, as is a flow of another browser. The provider's answer is then
// checked by Finish: on failure the flow ends with a redirect to the wallet
// carrying upstream.OAuthError's code, state and iss; on success the
// End-User (UpstreamSubjectPrefix + subject) goes on to consent exactly as
// after a password login.
func (s *Server) handleUpstreamCallback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.errorPage(w, oauth.New(http.StatusMethodNotAllowed, oauth.CodeInvalidRequest, "the upstream login callback accepts GET only"))
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	if len(q["state"]) != 1 || state == "" || len(state) > maxCallbackState {
		s.errorPage(w, oauth.InvalidRequest("the upstream login callback needs exactly one state of at most %d bytes", maxCallbackState))
		return
	}
	b, err := s.o.Store.Consume(ctx, kindUpstream, upstream.StateKey(state))
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			s.errorPage(w, err)
			return
		}
		s.errorPage(w, oauth.InvalidRequest("the upstream login attempt is unknown, expired or already used; restart the authorization"))
		return
	}
	var att upstreamDTO
	if err := storage.Decode(b, &att); err != nil || att.V != recordVersion {
		s.errorPage(w, oauth.ServerError(err))
		return
	}
	if s.now().UnixMilli() >= att.Exp {
		s.errorPage(w, oauth.InvalidRequest("the upstream login attempt has expired; restart the authorization"))
		return
	}
	fl, old, err := s.loadFlow(ctx, r, att.Flow, "", false)
	if err != nil {
		s.errorPage(w, err)
		return
	}
	if fl.Stage != stageLogin {
		s.errorPage(w, oauth.InvalidRequest("the login step of this flow is already complete"))
		return
	}
	id, err := s.o.Upstream.Finish(ctx, q, upstream.Start{State: att.State, Nonce: att.Nonce, CodeVerifier: att.Verifier})
	if err == nil && (id == nil || id.Subject == "") {
		err = errors.New("authz: upstream login returned no subject")
	}
	if err != nil {
		e := upstream.OAuthError(err)
		s.o.Logger.Warn("authz: upstream login failed", "error_code", e.Code, "err", err)
		s.finishError(w, r, att.Flow, fl, e.Code, e.Body().ErrorDescription)
		return
	}
	s.completeLogin(w, r, att.Flow, fl, old, *s.o.UpstreamSubjectPrefix+id.Subject)
}
