package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/par"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/token/hmac"

	"github.com/mdoc-issuer/issuer/authz/ui"
	"github.com/mdoc-issuer/issuer/oauth"
)

// Server is the authorization server.
type Server struct {
	o        Options
	now      func() time.Time
	store    *fositeStore
	provider *fosite.Fosite
	strategy *oauth2.HMACSHAStrategyUnPrefixed
	config   *fositeConfig

	byScope map[string]CredentialConfiguration
	byID    map[string]CredentialConfiguration

	endpoints Endpoints
	basePath  string
	secure    bool
	tmpl      *template.Template
}

// Endpoints are the absolute URLs of the endpoints, for metadata (RFC 8414)
// and for DPoP htu checks (built from Options.Issuer, never from Host).
type Endpoints struct {
	Issuer, PAR, Authorization, Token, Challenge string
	// Login and Consent are the UI pages (stable prefixes for automation).
	Login, Consent string
	// UpstreamCallback is the redirect URI of the upstream OpenID Connect
	// login ("" without Options.Upstream).
	UpstreamCallback string
}

// fositeConfig is fosite's Config with the policy overrides of this profile.
type fositeConfig struct {
	*fosite.Config
}

// GetMinParameterEntropy accepts any non-empty state: FAPI 2.0 relies on
// PKCE for CSRF protection, and the state is returned verbatim. (fosite
// cannot be configured to accept an absent state; validatePAR substitutes
// a placeholder and flags Session.NoState.)
func (c *fositeConfig) GetMinParameterEntropy(context.Context) int { return 1 }

// New wires fosite by hand: HMAC-SHA tokens keyed by GlobalSecret, PKCE
// (S256 only, enforced), PAR (enforced), authorization code (+ refresh)
// handlers, the pre-authorized code grant and DPoP/client binding.
func New(o Options) (*Server, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	s := &Server{o: o, now: o.Now, byScope: map[string]CredentialConfiguration{}, byID: map[string]CredentialConfiguration{}}
	for _, c := range o.Credentials {
		s.byScope[c.Scope] = c
		s.byID[c.ID] = c
	}
	u, _ := url.Parse(o.Issuer)
	s.basePath = strings.TrimSuffix(u.Path, "/")
	s.secure = u.Scheme == "https"
	s.endpoints = Endpoints{
		Issuer:        o.Issuer,
		PAR:           o.Issuer + o.Paths.PAR,
		Authorization: o.Issuer + o.Paths.Authorize,
		Token:         o.Issuer + o.Paths.Token,
		Login:         o.Issuer + o.Paths.Login,
		Consent:       o.Issuer + o.Paths.Consent,
	}
	if o.ChallengeEndpoint {
		s.endpoints.Challenge = o.Issuer + o.Paths.Challenge
	}
	if o.Upstream != nil {
		s.endpoints.UpstreamCallback = o.Issuer + o.Paths.UpstreamCallback
	}
	tmpl, err := ui.Templates()
	if err != nil {
		return nil, err
	}
	s.tmpl = tmpl

	s.store = &fositeStore{s: s, rec: o.Store}
	cfg := &fositeConfig{Config: &fosite.Config{
		AccessTokenLifespan:            o.AccessTokenLifespan,
		RefreshTokenLifespan:           o.RefreshTokenLifespan,
		AuthorizeCodeLifespan:          o.AuthorizeCodeLifespan,
		PushedAuthorizeContextLifespan: o.PARLifespan,
		IsPushedAuthorizeEnforced:      true,
		EnforcePKCE:                    true,
		EnablePKCEPlainChallengeMethod: false,
		GlobalSecret:                   o.GlobalSecret,
		RotatedGlobalSecrets:           o.RotatedSecrets,
		TokenEntropy:                   32,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		RefreshTokenScopes:             []string{},
		OmitRedirectScopeParam:         true,
		SendDebugMessagesToClients:     false,
		ClientAuthenticationStrategy:   s.authenticateClient,
	}}
	s.config = cfg
	s.strategy = oauth2.NewHMACSHAStrategyUnPrefixed(&hmac.HMACStrategy{Config: cfg}, cfg)

	code := &oauth2.AuthorizeExplicitGrantHandler{
		AccessTokenStrategy: s.strategy, RefreshTokenStrategy: s.strategy, AuthorizeCodeStrategy: s.strategy,
		CoreStorage: s.store, TokenRevocationStorage: s.store, Config: cfg,
	}
	pk := &pkce.Handler{AuthorizeCodeStrategy: s.strategy, Storage: s.store, Config: cfg}
	cfg.AuthorizeEndpointHandlers = fosite.AuthorizeEndpointHandlers{code, pk}
	// Order matters: the grant handlers load the stored grant, the binding
	// handler then checks DPoP key and client instance against it, and PKCE
	// (which deletes its record) runs last.
	tokenHandlers := fosite.TokenEndpointHandlers{populateIfHandled{code}}
	if o.RefreshTokens {
		tokenHandlers = append(tokenHandlers, populateIfHandled{&oauth2.RefreshTokenGrantHandler{
			AccessTokenStrategy: s.strategy, RefreshTokenStrategy: s.strategy,
			TokenRevocationStorage: s.store, Config: cfg,
		}})
	}
	tokenHandlers = append(tokenHandlers, &preAuthHandler{s: s}, &bindingHandler{s: s}, pk)
	cfg.TokenEndpointHandlers = tokenHandlers
	cfg.PushedAuthorizeEndpointHandlers = fosite.PushedAuthorizeEndpointHandlers{
		&par.PushedAuthorizeHandler{Storage: s.store, Config: cfg},
	}
	s.provider = fosite.NewOAuth2Provider(s.store, cfg)
	return s, nil
}

// Endpoints returns the absolute endpoint URLs.
func (s *Server) Endpoints() Endpoints { return s.endpoints }

// Paths returns the endpoint paths relative to the issuer identifier.
func (s *Server) Paths() Paths { return s.o.Paths }

// Handler serves the endpoints at the issuer's path + Paths.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	p := s.o.Paths
	mux.HandleFunc(s.basePath+p.PAR, s.handlePAR)
	mux.HandleFunc(s.basePath+p.Authorize, s.handleAuthorize)
	mux.HandleFunc(s.basePath+p.Login, s.handleLogin)
	mux.HandleFunc(s.basePath+p.Consent, s.handleConsent)
	mux.HandleFunc(s.basePath+p.Token, s.handleToken)
	if s.o.ChallengeEndpoint {
		mux.HandleFunc(s.basePath+p.Challenge, s.Challenge)
	}
	if s.o.Upstream != nil {
		mux.HandleFunc(s.basePath+p.UpstreamCallback, s.handleUpstreamCallback)
	}
	return recoverer(mux)
}

// recoverer turns a panic into a 500 without internal detail: no input may
// crash the process (handlers are written not to panic; this is the net).
func recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				oauth.WriteError(w, oauth.ServerError(nil))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// Challenge is the ABCA challenge endpoint handler (ABCA-07 §8): POST, 200
// {"attestation_challenge": ...}, Cache-Control: no-store.
func (s *Server) Challenge(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauth.WriteError(w, oauth.New(http.StatusMethodNotAllowed, oauth.CodeInvalidRequest, "the challenge endpoint accepts POST only"))
		return
	}
	c, err := s.o.Attestation.Challenge()
	if err != nil {
		oauth.WriteError(w, toOAuthError(err))
		return
	}
	oauth.WriteJSON(w, http.StatusOK, map[string]string{"attestation_challenge": c}, true)
}

// ---- clients ----

type clientSlotKey struct{}

// clientSlot carries the client authenticated by the wallet attestation
// through fosite's calls (ClientAuthenticationStrategy, GetClient).
type clientSlot struct {
	client *client
	err    error
	done   bool
}

func withClientSlot(ctx context.Context) (context.Context, *clientSlot) {
	slot := &clientSlot{}
	return context.WithValue(ctx, clientSlotKey{}, slot), slot
}

func (s *Server) grantTypes() []string {
	g := []string{oauth.GrantAuthorizationCode, oauth.GrantPreAuthorizedCode}
	if s.o.RefreshTokens {
		g = append(g, oauth.GrantRefreshToken)
	}
	return g
}

func (s *Server) scopes() []string {
	out := make([]string, 0, len(s.o.Credentials))
	for _, c := range s.o.Credentials {
		out = append(out, c.Scope)
	}
	return out
}

func (s *Server) newClient(id, provider, keyJKT string, redirectURIs []string) *client {
	return &client{id: id, provider: provider, keyJKT: keyJKT, redirectURIs: redirectURIs,
		scopes: s.scopes(), grantTypes: s.grantTypes()}
}

// authenticateClient is fosite's ClientAuthenticationStrategy: wallet
// attestation based client authentication (ABCA-07 §6, HAIP §4.4.1) via the
// wia verifier. The result is memoised per request in the client slot.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	slot, _ := ctx.Value(clientSlotKey{}).(*clientSlot)
	if slot != nil && slot.done {
		if slot.err != nil {
			return nil, slot.err
		}
		return slot.client, nil
	}
	c, err := s.attest(ctx, r, form)
	if slot != nil {
		slot.client, slot.err, slot.done = c, err, true
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Server) attest(ctx context.Context, r *http.Request, form url.Values) (*client, error) {
	att := r.Header.Values(oauth.HeaderClientAttestation)
	pop := r.Header.Values(oauth.HeaderClientAttestationPoP)
	if len(att) == 0 && len(pop) == 0 {
		return nil, oauth.InvalidClient("client authentication required: missing %s and %s headers (HAIP §4.4.1)",
			oauth.HeaderClientAttestation, oauth.HeaderClientAttestationPoP)
	}
	if len(form["client_id"]) > 1 {
		return nil, oauth.InvalidRequest("client_id given more than once")
	}
	ac, err := s.o.Attestation.Authenticate(ctx, att, pop, form.Get("client_id"))
	if err != nil {
		if e := oauth.As(err); e != nil {
			return nil, e
		}
		return nil, toOAuthError(err)
	}
	if ac == nil || ac.ID == "" || ac.Key == nil {
		return nil, oauth.InvalidClient("wallet attestation yielded no client identifier or instance key")
	}
	jkt, err := thumbprint(ac.Key)
	if err != nil {
		return nil, oauth.InvalidClient("wallet attestation cnf key: %v", err)
	}
	return s.newClient(ac.ID, ac.Provider, jkt, ac.RedirectURIs), nil
}

// thumbprint is the RFC 7638 SHA-256 JWK thumbprint, base64url; EC keys
// (every wallet instance key under HAIP) without going through go-jose's
// JSON.
func thumbprint(k *jose.JSONWebKey) (string, error) {
	if pub, ok := k.Key.(*ecdsa.PublicKey); ok {
		return oauth.ECKeyThumbprint(pub)
	}
	b, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// populateIfHandled wraps a fosite grant handler whose
// PopulateTokenEndpointResponse answers a request of another grant type with
// ErrUnknownRequest wrapped with a captured stack trace, which fosite's
// NewAccessResponse then ignores. The grant type is checked here first (the
// same check the handler makes) and the bare sentinel returned instead.
type populateIfHandled struct{ fosite.TokenEndpointHandler }

func (h populateIfHandled) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, ar, resp)
}
