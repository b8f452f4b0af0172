package authz

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/mdoc-issuer/issuer/authz/ui"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// Login flow stages.
const (
	stageLogin   = 1
	stageConsent = 2
)

// flowDTO is the server-side state of one visit of the authorization
// endpoint: which pushed request it completes, the browser it is bound to,
// its CSRF token and, after login, the End-User.
type flowDTO struct {
	V          int    `cbor:"0,keyasint"`
	RequestURI string `cbor:"1,keyasint"`
	ClientID   string `cbor:"2,keyasint"`
	Binding    string `cbor:"3,keyasint"` // hash of the browser cookie
	CSRF       string `cbor:"4,keyasint"`
	Stage      int    `cbor:"5,keyasint"`
	Subject    string `cbor:"6,keyasint,omitempty"`
	Exp        int64  `cbor:"7,keyasint"` // unix ms
}

func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func (s *Server) cookieName() string {
	if s.secure {
		return "__Host-authz_browser"
	}
	return "authz_browser"
}

// browserBinding returns the browser cookie value, setting a new cookie if
// the request has none. The cookie is HttpOnly, SameSite=Lax (the login
// must survive the cross-site redirect from the wallet) and Secure on https.
func (s *Server) browserBinding(w http.ResponseWriter, r *http.Request) (string, error) {
	if c, err := r.Cookie(s.cookieName()); err == nil && len(c.Value) == 43 {
		return c.Value, nil
	}
	v, err := randomToken()
	if err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: v, Path: "/", HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
	return v, nil
}

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set(oauth.HeaderCacheControl, oauth.CacheNoStore)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.o.Logger.Error("authz: render page", "template", name, "err", err)
		oauth.WriteError(w, oauth.ServerError(err))
		return
	}
	setPageHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage shows an error in the browser without redirecting: used when
// the redirect URI cannot be trusted (no valid pushed request).
func (s *Server) errorPage(w http.ResponseWriter, err error) {
	e := toOAuthError(err)
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if r, ok := w.(oauth.ErrorCodeRecorder); ok {
		r.RecordErrorCode(e.Code)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	s.render(w, status, "error.html", ui.ErrorData{Code: e.Code, Description: e.Body().ErrorDescription})
}

// handleAuthorize is the authorization endpoint (RFC 6749 §4.1.1). It accepts
// only client_id + request_uri from the PAR endpoint (RFC 9126 §4, FAPI 2.0);
// every other parameter is ignored. It renders the login page; the
// request_uri is consumed only when the flow completes, so reloading works.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.errorPage(w, oauth.New(http.StatusMethodNotAllowed, oauth.CodeInvalidRequest, "the authorization endpoint accepts GET only"))
		return
	}
	q := r.URL.Query()
	requestURI, clientID := q.Get("request_uri"), q.Get("client_id")
	if requestURI == "" {
		s.errorPage(w, oauth.InvalidRequest("authorization requests must be pushed: send client_id and the request_uri from the PAR endpoint"))
		return
	}
	ctx := r.Context()
	d, err := s.store.loadPAR(ctx, requestURI)
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			s.errorPage(w, err)
			return
		}
		s.errorPage(w, oauth.New(http.StatusBadRequest, oauth.CodeInvalidRequestURI, "the request_uri is unknown, expired or already used"))
		return
	}
	if clientID == "" || subtle.ConstantTimeCompare([]byte(clientID), []byte(d.ClientID)) != 1 {
		s.errorPage(w, oauth.InvalidRequest("client_id does not match the pushed authorization request"))
		return
	}
	binding, err := s.browserBinding(w, r)
	if err != nil {
		s.errorPage(w, oauth.ServerError(err))
		return
	}
	id, err1 := randomToken()
	csrf, err2 := randomToken()
	if err := errors.Join(err1, err2); err != nil {
		s.errorPage(w, oauth.ServerError(err))
		return
	}
	fl := flowDTO{V: recordVersion, RequestURI: requestURI, ClientID: d.ClientID, Binding: keyHash(binding),
		CSRF: csrf, Stage: stageLogin, Exp: d.Exp}
	b, err := encode(fl)
	if err == nil {
		err = s.o.Store.Create(ctx, kindFlow, id, b, time.UnixMilli(d.Exp))
	}
	if err != nil {
		s.errorPage(w, err)
		return
	}
	s.render(w, http.StatusOK, "login.html", s.loginPage(id, csrf, clientLabel(d)))
}

func clientLabel(d *requestDTO) string {
	if d.Session != nil && d.Session.Provider != "" {
		return d.ClientID + " (" + d.Session.Provider + ")"
	}
	return d.ClientID
}

// loadFlow returns the flow named by the request and checks that it belongs
// to this browser (cookie) and, for POSTs, that the CSRF token matches
// (constant-time).
func (s *Server) loadFlow(ctx context.Context, r *http.Request, id, csrf string, checkCSRF bool) (*flowDTO, []byte, error) {
	if id == "" || len(id) > 64 {
		return nil, nil, oauth.InvalidRequest("missing or malformed login flow")
	}
	b, err := s.o.Store.Get(ctx, kindFlow, id)
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			return nil, nil, err
		}
		return nil, nil, oauth.InvalidRequest("the login flow is unknown or expired; restart the authorization")
	}
	var fl flowDTO
	if err := storage.Decode(b, &fl); err != nil || fl.V != recordVersion {
		return nil, nil, oauth.ServerError(err)
	}
	if s.now().UnixMilli() >= fl.Exp {
		return nil, nil, oauth.InvalidRequest("the login flow has expired; restart the authorization")
	}
	c, cerr := r.Cookie(s.cookieName())
	if cerr != nil || subtle.ConstantTimeCompare([]byte(keyHash(c.Value)), []byte(fl.Binding)) != 1 {
		return nil, nil, oauth.New(http.StatusForbidden, oauth.CodeAccessDenied, "the login flow belongs to another browser session")
	}
	if checkCSRF && subtle.ConstantTimeCompare([]byte(csrf), []byte(fl.CSRF)) != 1 {
		return nil, nil, oauth.New(http.StatusForbidden, oauth.CodeAccessDenied, "invalid CSRF token")
	}
	return &fl, b, nil
}

// handleLogin shows (GET) and processes (POST) the login form.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		id := r.URL.Query().Get("flow")
		fl, _, err := s.loadFlow(ctx, r, id, "", false)
		if err != nil {
			s.errorPage(w, err)
			return
		}
		if fl.Stage != stageLogin {
			http.Redirect(w, r, s.endpoints.Consent+"?flow="+url.QueryEscape(id), http.StatusSeeOther)
			return
		}
		s.render(w, http.StatusOK, "login.html", s.loginPage(id, fl.CSRF, fl.ClientID))
	case http.MethodPost:
		s.postLogin(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, oauth.New(http.StatusMethodNotAllowed, oauth.CodeInvalidRequest, "method not allowed"))
	}
}

func (s *Server) postLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := parseBodyForm(w, r); err != nil {
		s.errorPage(w, err)
		return
	}
	id := r.PostForm.Get("flow")
	fl, old, err := s.loadFlow(ctx, r, id, r.PostForm.Get("csrf_token"), true)
	if err != nil {
		s.errorPage(w, err)
		return
	}
	if fl.Stage != stageLogin {
		s.errorPage(w, oauth.InvalidRequest("the login step of this flow is already complete"))
		return
	}
	switch r.PostForm.Get("action") {
	case "cancel":
		s.finishDenied(w, r, id, fl, "the End-User cancelled the login")
		return
	case "upstream":
		if s.o.Upstream == nil {
			s.errorPage(w, oauth.InvalidRequest("no upstream login is configured"))
			return
		}
		s.startUpstream(w, r, id, fl)
		return
	case "login":
		if s.o.Authenticator == nil {
			s.errorPage(w, oauth.InvalidRequest("password login is not enabled"))
			return
		}
	default:
		s.errorPage(w, oauth.InvalidRequest("unknown action"))
		return
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	page := s.loginPage(id, fl.CSRF, fl.ClientID)
	page.Username = username
	if username == "" || password == "" || len(username) > 256 || len(password) > 1024 {
		page.Error = "Enter username and password."
		s.render(w, http.StatusBadRequest, "login.html", page)
		return
	}
	// Throttle per username: LoginMaxAttempts failures within LoginWindow
	// lock the username until the window ends. Successful logins do not
	// count, so a test user can sign in any number of times.
	userKey := keyHash(strings.ToLower(username))
	if _, err := s.o.Store.Get(ctx, kindLock, userKey); err == nil {
		page.Error = "Too many failed sign-in attempts. Try again later."
		s.render(w, http.StatusTooManyRequests, "login.html", page)
		return
	} else if errors.Is(err, storage.ErrUnavailable) {
		s.errorPage(w, err)
		return
	}
	subject, err := s.o.Authenticator.Authenticate(ctx, username, password)
	if err != nil {
		if !errors.Is(err, ErrInvalidCredentials) {
			s.o.Logger.Error("authz: authenticator failed", "err", err)
			s.errorPage(w, toOAuthError(err))
			return
		}
		until := s.now().Add(s.o.LoginWindow)
		n, err := s.o.Store.Incr(ctx, counterUser, userKey, until)
		if err != nil {
			s.errorPage(w, err)
			return
		}
		if n >= int64(s.o.LoginMaxAttempts) {
			if err := s.o.Store.Put(ctx, kindLock, userKey, []byte{1}, until); err != nil {
				s.errorPage(w, err)
				return
			}
			s.o.Logger.Warn("authz: login attempts exhausted; username locked for the throttle window")
		}
		page.Error = "Invalid username or password."
		s.render(w, http.StatusUnauthorized, "login.html", page)
		return
	}
	s.completeLogin(w, r, id, fl, old, subject)
}

// loginPage is the data of the login page of a flow.
func (s *Server) loginPage(flowID, csrf, client string) ui.LoginData {
	d := ui.LoginData{Action: s.endpoints.Login, Flow: flowID, CSRF: csrf, Client: client,
		NoPassword: s.o.Authenticator == nil}
	if s.o.Upstream != nil {
		d.Upstream = s.o.Upstream.Name()
	}
	return d
}

// completeLogin records the authenticated End-User in the flow (old is the
// flow record as read; a concurrent change fails the swap), rotates the
// CSRF token and sends the browser to the consent page.
func (s *Server) completeLogin(w http.ResponseWriter, r *http.Request, id string, fl *flowDTO, old []byte, subject string) {
	ctx := r.Context()
	csrf, err := randomToken()
	if err != nil {
		s.errorPage(w, oauth.ServerError(err))
		return
	}
	fl.Stage, fl.Subject, fl.CSRF = stageConsent, subject, csrf
	b, err := encode(fl)
	if err == nil {
		err = s.o.Store.Swap(ctx, kindFlow, id, old, b, time.UnixMilli(fl.Exp))
	}
	if err != nil {
		if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrAlreadyUsed) {
			err = oauth.InvalidRequest("the login flow changed concurrently; restart the authorization")
		}
		s.errorPage(w, err)
		return
	}
	http.Redirect(w, r, s.endpoints.Consent+"?flow="+url.QueryEscape(id), http.StatusSeeOther)
}

// handleConsent shows (GET) and processes (POST) the consent page.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		id := r.URL.Query().Get("flow")
		fl, _, err := s.loadFlow(ctx, r, id, "", false)
		if err != nil {
			s.errorPage(w, err)
			return
		}
		if fl.Stage != stageConsent {
			s.errorPage(w, oauth.New(http.StatusForbidden, oauth.CodeAccessDenied, "sign in first"))
			return
		}
		d, err := s.store.loadPAR(ctx, fl.RequestURI)
		if err != nil {
			s.errorPage(w, oauth.New(http.StatusBadRequest, oauth.CodeInvalidRequestURI, "the request_uri is unknown, expired or already used"))
			return
		}
		s.render(w, http.StatusOK, "consent.html", ui.ConsentData{Action: s.endpoints.Consent, Flow: id, CSRF: fl.CSRF,
			Client: clientLabel(d), Items: s.consentItems(d)})
	case http.MethodPost:
		if err := parseBodyForm(w, r); err != nil {
			s.errorPage(w, err)
			return
		}
		id := r.PostForm.Get("flow")
		fl, _, err := s.loadFlow(ctx, r, id, r.PostForm.Get("csrf_token"), true)
		if err != nil {
			s.errorPage(w, err)
			return
		}
		if fl.Stage != stageConsent {
			s.errorPage(w, oauth.New(http.StatusForbidden, oauth.CodeAccessDenied, "sign in first"))
			return
		}
		switch r.PostForm.Get("action") {
		case "approve":
			s.finishApproved(w, r, id, fl)
		case "deny":
			s.finishDenied(w, r, id, fl, "the End-User denied consent")
		default:
			s.errorPage(w, oauth.InvalidRequest("unknown action"))
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, oauth.New(http.StatusMethodNotAllowed, oauth.CodeInvalidRequest, "method not allowed"))
	}
}

func (s *Server) consentItems(d *requestDTO) []ui.ConsentItem {
	var items []ui.ConsentItem
	if d.Session == nil {
		return nil
	}
	for _, id := range d.Session.ConfigIDs {
		it := ui.ConsentItem{ID: id, Display: id}
		if c, ok := s.byID[id]; ok && c.Display != "" {
			it.Display = c.Display
		}
		if s.o.ClaimNames != nil {
			it.Claims = s.o.ClaimNames(id)
		}
		items = append(items, it)
	}
	return items
}

// redirect sends the authorization response to the (validated) redirect
// URI: parameters appended to its query, which is otherwise preserved, `iss`
// always included (RFC 9207 §2), 303 (FAPI 2.0).
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	params.Set("iss", s.o.Issuer)
	u, err := url.Parse(redirectURI)
	if err != nil {
		s.errorPage(w, oauth.ServerError(err))
		return
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + params.Encode()
	} else {
		u.RawQuery = params.Encode()
	}
	w.Header().Set(oauth.HeaderCacheControl, oauth.CacheNoStore)
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusSeeOther)
}

// finishDenied consumes the pushed request and redirects with
// error=access_denied (RFC 6749 §4.1.2.1).
func (s *Server) finishDenied(w http.ResponseWriter, r *http.Request, flowID string, fl *flowDTO, why string) {
	s.finishError(w, r, flowID, fl, oauth.CodeAccessDenied, why)
}

// finishError ends the flow: it consumes the pushed request, deletes the
// flow and redirects with the error code and description, state and iss
// (RFC 6749 §4.1.2.1, RFC 9207 §2).
func (s *Server) finishError(w http.ResponseWriter, r *http.Request, flowID string, fl *flowDTO, code, why string) {
	ctx := r.Context()
	d, err := s.store.loadPAR(ctx, fl.RequestURI)
	if err == nil {
		err = s.store.DeletePARSession(ctx, fl.RequestURI)
	}
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			s.errorPage(w, err)
			return
		}
		s.errorPage(w, oauth.New(http.StatusBadRequest, oauth.CodeInvalidRequestURI, "the request_uri is unknown, expired or already used"))
		return
	}
	_ = s.o.Store.Delete(ctx, kindFlow, flowID)
	p := url.Values{"error": {code}}
	if why != "" {
		p.Set("error_description", why)
	}
	if d.State != "" && (d.Session == nil || !d.Session.NoState) {
		p.Set("state", d.State)
	}
	s.redirect(w, r, d.RedirectURI, p)
}

// finishApproved completes the authorization through fosite: the pushed
// request is loaded and consumed (fosite PAR path, DeletePARSession =
// Records.Consume), the authorization code and PKCE records are created and
// the browser is redirected with code, state and iss.
func (s *Server) finishApproved(w http.ResponseWriter, r *http.Request, flowID string, fl *flowDTO) {
	ctx := r.Context()
	q := url.Values{"client_id": {fl.ClientID}, "request_uri": {fl.RequestURI}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoints.Authorization+"?"+q.Encode(), nil)
	if err != nil {
		s.errorPage(w, oauth.ServerError(err))
		return
	}
	if err := req.ParseForm(); err != nil {
		s.errorPage(w, oauth.ServerError(err))
		return
	}
	ar, err := s.provider.NewAuthorizeRequest(ctx, req)
	if err != nil {
		e := toOAuthError(err)
		if e.Code == oauth.CodeServerError || e.Code == oauth.CodeTemporarilyUnavailable || ar == nil || ar.GetRedirectURI() == nil {
			s.errorPage(w, e)
			return
		}
		if e.Code == oauth.CodeInvalidRequestURI {
			s.errorPage(w, e)
			return
		}
		s.redirectError(w, r, ar.GetRedirectURI().String(), responseState(ar), e)
		return
	}
	_ = s.o.Store.Delete(ctx, kindFlow, flowID)
	sess, ok := ar.GetSession().(*Session)
	if !ok || sess == nil {
		s.errorPage(w, oauth.ServerError(errors.New("authz: stored request without session")))
		return
	}
	sess.Subject = fl.Subject
	if err := s.linkOffer(ctx, sess); err != nil {
		s.errorPage(w, err)
		return
	}
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.redirectError(w, r, ar.GetRedirectURI().String(), responseState(ar), toOAuthError(err))
		return
	}
	p := url.Values{"code": {resp.GetCode()}}
	if st := responseState(ar); st != "" {
		p.Set("state", st)
	}
	s.redirect(w, r, ar.GetRedirectURI().String(), p)
}

// linkOffer resolves the issuer_state of the request to the offer it came
// from (OpenID4VCI §5.1.3). issuer_state is untrusted input: an unknown,
// expired or redeemed one, or one made for another End-User, is ignored
// (the authorization proceeds without offer link); only an outage fails.
func (s *Server) linkOffer(ctx context.Context, sess *Session) error {
	if s.o.Offers == nil || sess.IssuerState == "" {
		return nil
	}
	id, subject, err := s.o.Offers.ResolveIssuerState(ctx, sess.IssuerState)
	if err != nil {
		if outage(err) {
			return err
		}
		return nil
	}
	if subject != "" && subject != sess.Subject {
		s.o.Logger.Warn("authz: issuer_state of an offer made for another End-User ignored")
		return nil
	}
	if err := s.o.Offers.MarkRedeemed(ctx, id); err != nil {
		if outage(err) {
			return err
		}
		return nil
	}
	sess.OfferID = id
	return nil
}

// responseState is the state to return: the client's, or none if it sent
// none (RFC 6749 §4.1.2: state is REQUIRED only if present in the request).
func responseState(ar fosite.AuthorizeRequester) string {
	if sess, ok := ar.GetSession().(*Session); ok && sess != nil && sess.NoState {
		return ""
	}
	return ar.GetState()
}

// redirectError sends an error authorization response (RFC 6749 §4.1.2.1)
// with iss (RFC 9207). Outages are shown as a page instead.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, e *oauth.Error) {
	if e.Code == oauth.CodeTemporarilyUnavailable {
		s.errorPage(w, e)
		return
	}
	p := url.Values{"error": {e.Code}}
	if d := e.Body().ErrorDescription; d != "" {
		p.Set("error_description", d)
	}
	if state != "" {
		p.Set("state", state)
	}
	s.redirect(w, r, redirectURI, p)
}
