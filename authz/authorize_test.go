package authz

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
)

// TestAuthorizeEndpoint covers the authorization endpoint rules (T32-T36,
// RFC 9126 §4, RFC 9207, FAPI 2.0): only pushed requests, single-use
// request_uri bound to the client, iss in every response, cancel/deny.
func TestAuthorizeEndpoint(t *testing.T) {
	t.Run("T32 plain authorization request without request_uri", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		q := w.parForm(testScope)
		p := e.browse(w, http.MethodGet, e.srv.Endpoints().Authorization+"?"+q.Encode(), nil)
		if p.status != 400 || p.location != "" || p.errorCode() != oauth.CodeInvalidRequest {
			t.Fatalf("%d %q %q", p.status, p.location, p.errorCode())
		}
	})
	t.Run("T33 other parameters are ignored", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		uri := e.pushed(w, w.parForm(testScope))
		p := e.browse(w, http.MethodGet, e.authorizeURL(w.id, uri)+"&state=outside&redirect_uri=https%3A%2F%2Fevil.example%2F&scope=pid", nil)
		if p.status != 200 || p.flow == "" {
			t.Fatalf("%d %s", p.status, p.body)
		}
		p = e.browse(w, http.MethodPost, e.srv.Endpoints().Login, url.Values{"flow": {p.flow}, "csrf_token": {p.csrf},
			"username": {DevUsername}, "password": {DevPassword}, "action": {"login"}})
		c := e.browse(w, http.MethodGet, p.location, nil)
		if strings.Contains(c.body, otherConfig) {
			t.Fatal("scope from the URL was used")
		}
		p = e.browse(w, http.MethodPost, e.srv.Endpoints().Consent, url.Values{"flow": {c.flow}, "csrf_token": {c.csrf}, "action": {"approve"}})
		u, _ := url.Parse(p.location)
		if !strings.HasPrefix(p.location, redirectURI+"?") || u.Query().Get("state") != "state-w1" || u.Query().Get("iss") != e.issuer {
			t.Fatalf("redirect %q", p.location)
		}
	})
	t.Run("T33 redirect URI query preserved", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		f := w.parForm(testScope)
		f.Set("redirect_uri", redirectURI2)
		f.Set("state", strings.Repeat("s", 1000))
		c := e.login(w, e.pushed(w, f))
		p := e.browse(w, http.MethodPost, e.srv.Endpoints().Consent, url.Values{"flow": {c.flow}, "csrf_token": {c.csrf}, "action": {"approve"}})
		if !strings.HasPrefix(p.location, redirectURI2+"&") {
			t.Fatalf("redirect %q", p.location)
		}
		u, _ := url.Parse(p.location)
		if u.Query().Get("state") != strings.Repeat("s", 1000) || u.Query().Get("dummy1") != "lorem" {
			t.Fatalf("query %v", u.Query())
		}
	})
	t.Run("request without state gets a response without state", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		f := w.parForm(testScope)
		f.Del("state")
		q := e.authorize(w, e.pushed(w, f))
		if _, ok := q["state"]; ok || q.Get("code") == "" || q.Get("iss") != e.issuer {
			t.Fatalf("%v", q)
		}
		f = w.parForm(testScope)
		f.Del("state")
		c := e.login(w, e.pushed(w, f))
		p := e.browse(w, http.MethodPost, e.srv.Endpoints().Consent, url.Values{"flow": {c.flow}, "csrf_token": {c.csrf}, "action": {"deny"}})
		u, _ := url.Parse(p.location)
		if _, ok := u.Query()["state"]; ok || u.Query().Get("error") != oauth.CodeAccessDenied {
			t.Fatalf("%q", p.location)
		}
	})
	t.Run("T34 request_uri used again after completion", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		uri := e.pushed(w, w.parForm(testScope))
		e.authorize(w, uri)
		p := e.browse(w, http.MethodGet, e.authorizeURL(w.id, uri), nil)
		if p.status != 400 || p.errorCode() != oauth.CodeInvalidRequestURI {
			t.Fatalf("%d %q", p.status, p.errorCode())
		}
	})
	t.Run("request_uri visited twice before completion works", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		uri := e.pushed(w, w.parForm(testScope))
		first := e.browse(w, http.MethodGet, e.authorizeURL(w.id, uri), nil)
		if first.status != 200 {
			t.Fatal(first.status)
		}
		if q := e.authorize(w, uri); q.Get("code") == "" {
			t.Fatalf("%v", q)
		}
		// The first flow can no longer complete: the request_uri is used.
		p := e.browse(w, http.MethodPost, e.srv.Endpoints().Login, url.Values{"flow": {first.flow}, "csrf_token": {first.csrf},
			"username": {DevUsername}, "password": {DevPassword}, "action": {"login"}})
		c := e.browse(w, http.MethodGet, p.location, nil)
		if c.status != 400 || c.errorCode() != oauth.CodeInvalidRequestURI {
			t.Fatalf("%d %q", c.status, c.errorCode())
		}
	})
	t.Run("T35 expired request_uri", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		uri := e.pushed(w, w.parForm(testScope))
		e.clock.Advance(defaultPARLifespan + time.Second)
		p := e.browse(w, http.MethodGet, e.authorizeURL(w.id, uri), nil)
		if p.status != 400 || p.errorCode() != oauth.CodeInvalidRequestURI {
			t.Fatalf("%d %q", p.status, p.errorCode())
		}
	})
	t.Run("T35 request_uri with another client_id", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		uri := e.pushed(w, w.parForm(testScope))
		p := e.browse(w, http.MethodGet, e.authorizeURL("w2", uri), nil)
		if p.status != 400 || p.location != "" || p.errorCode() != oauth.CodeInvalidRequest {
			t.Fatalf("%d %q", p.status, p.errorCode())
		}
	})
	t.Run("T36 user denies consent", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		uri := e.pushed(w, w.parForm(testScope))
		c := e.login(w, uri)
		p := e.browse(w, http.MethodPost, e.srv.Endpoints().Consent, url.Values{"flow": {c.flow}, "csrf_token": {c.csrf}, "action": {"deny"}})
		expectAccessDenied(t, e, p)
		if again := e.browse(w, http.MethodGet, e.authorizeURL(w.id, uri), nil); again.status != 400 {
			t.Fatalf("request_uri usable after denial: %d", again.status)
		}
	})
	t.Run("T36 user cancels login", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		p := e.browse(w, http.MethodGet, e.authorizeURL(w.id, e.pushed(w, w.parForm(testScope))), nil)
		p = e.browse(w, http.MethodPost, e.srv.Endpoints().Login, url.Values{"flow": {p.flow}, "csrf_token": {p.csrf}, "action": {"cancel"}})
		expectAccessDenied(t, e, p)
	})
	t.Run("login page has the stable element ids", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		p := e.browse(w, http.MethodGet, e.authorizeURL(w.id, e.pushed(w, w.parForm(testScope))), nil)
		for _, want := range []string{`<form id="login" method="post"`, `id="username" name="username"`, `id="password" name="password"`,
			`id="submit" name="action" value="login"`, `id="cancel" name="action" value="cancel"`} {
			if !strings.Contains(p.body, want) {
				t.Fatalf("login page lacks %q", want)
			}
		}
	})
}

func expectAccessDenied(t *testing.T, e *env, p page) {
	t.Helper()
	if p.status != http.StatusSeeOther {
		t.Fatalf("status %d %s", p.status, p.body)
	}
	u, _ := url.Parse(p.location)
	q := u.Query()
	if !strings.HasPrefix(p.location, redirectURI+"?") || q.Get("error") != oauth.CodeAccessDenied ||
		q.Get("state") != "state-w1" || q.Get("iss") != e.issuer || q.Get("code") != "" {
		t.Fatalf("redirect %q", p.location)
	}
}

// TestLoginSecurity: CSRF token and browser binding, no auto-login, wrong
// password, throttling per username.
func TestLoginSecurity(t *testing.T) {
	setup := func(t *testing.T) (*env, *wallet, page) {
		e := newEnv(t, withOptions(func(o *Options) { o.LoginMaxAttempts = 3 }))
		w := e.newWallet("w1")
		p := e.browse(w, http.MethodGet, e.authorizeURL(w.id, e.pushed(w, w.parForm(testScope))), nil)
		return e, w, p
	}
	loginForm := func(p page, user, pass string) url.Values {
		return url.Values{"flow": {p.flow}, "csrf_token": {p.csrf}, "username": {user}, "password": {pass}, "action": {"login"}}
	}
	t.Run("wrong CSRF token", func(t *testing.T) {
		e, w, p := setup(t)
		f := loginForm(p, DevUsername, DevPassword)
		f.Set("csrf_token", strings.Repeat("A", 43))
		r := e.browse(w, http.MethodPost, e.srv.Endpoints().Login, f)
		if r.status != 403 || r.location != "" {
			t.Fatalf("%d %q", r.status, r.location)
		}
	})
	t.Run("other browser (no cookie)", func(t *testing.T) {
		e, _, p := setup(t)
		other := e.newWallet("w1")
		r := e.browse(other, http.MethodPost, e.srv.Endpoints().Login, loginForm(p, DevUsername, DevPassword))
		if r.status != 403 {
			t.Fatalf("%d", r.status)
		}
	})
	t.Run("consent before login", func(t *testing.T) {
		e, w, p := setup(t)
		r := e.browse(w, http.MethodPost, e.srv.Endpoints().Consent, url.Values{"flow": {p.flow}, "csrf_token": {p.csrf}, "action": {"approve"}})
		if r.status != 403 || r.location != "" {
			t.Fatalf("%d %q", r.status, r.location)
		}
	})
	t.Run("wrong password then right", func(t *testing.T) {
		e, w, p := setup(t)
		r := e.browse(w, http.MethodPost, e.srv.Endpoints().Login, loginForm(p, DevUsername, "nope"))
		if r.status != 401 || !strings.Contains(r.body, `id="login-error"`) {
			t.Fatalf("%d", r.status)
		}
		r = e.browse(w, http.MethodPost, e.srv.Endpoints().Login, loginForm(r, DevUsername, DevPassword))
		if r.status != 303 {
			t.Fatalf("%d", r.status)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		e, w, p := setup(t)
		if r := e.browse(w, http.MethodPost, e.srv.Endpoints().Login, loginForm(p, "mallory", DevPassword)); r.status != 401 {
			t.Fatalf("%d", r.status)
		}
	})
	t.Run("throttled per username", func(t *testing.T) {
		e, w, p := setup(t)
		// Successful logins do not count.
		for i := 0; i < 4; i++ {
			o := e.newWallet("w1")
			op := e.browse(o, http.MethodGet, e.authorizeURL(o.id, e.pushed(o, o.parForm(testScope))), nil)
			if r := e.browse(o, http.MethodPost, e.srv.Endpoints().Login, loginForm(op, DevUsername, DevPassword)); r.status != 303 {
				t.Fatalf("login %d: %d", i, r.status)
			}
		}
		for i := 0; i < 3; i++ {
			p = e.browse(w, http.MethodPost, e.srv.Endpoints().Login, loginForm(p, DevUsername, "nope"))
			if p.status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i, p.status)
			}
		}
		r := e.browse(w, http.MethodPost, e.srv.Endpoints().Login, loginForm(p, DevUsername, DevPassword))
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("%d", r.status)
		}
		e.clock.Advance(defaultLoginWindow + time.Second)
		// The PAR expired meanwhile; the throttle window has ended.
		w2 := e.newWallet("w1")
		p2 := e.browse(w2, http.MethodGet, e.authorizeURL(w2.id, e.pushed(w2, w2.parForm(testScope))), nil)
		if r := e.browse(w2, http.MethodPost, e.srv.Endpoints().Login, loginForm(p2, DevUsername, DevPassword)); r.status != 303 {
			t.Fatalf("after window: %d", r.status)
		}
	})
	t.Run("cookie attributes", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("w1")
		uri := e.pushed(w, w.parForm(testScope))
		resp, err := http.Get(e.authorizeURL(w.id, uri))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c := resp.Header.Get("Set-Cookie")
		if !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Set-Cookie %q", c)
		}
	})
}
