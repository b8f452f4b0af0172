package authz

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/upstream"
	"github.com/mdoc-issuer/issuer/upstream/oidctest"
)

const upstreamName = "Test IdP"

// upstreamEnv is an authorization server whose login page offers an
// upstream login at an in-process OpenID Connect provider.
type upstreamEnv struct {
	*env
	op *oidctest.Server
}

// newUpstreamEnv starts the provider, then the server with Options.Upstream
// (redirect URL = issuer + PathUpstreamCallback); mutate edits the options
// further (after Upstream is set).
func newUpstreamEnv(t testing.TB, op oidctest.Options, mutate func(*Options), extra ...envOpt) *upstreamEnv {
	t.Helper()
	if op.Subject == "" {
		op.Subject = "upstream-user-1"
	}
	ue := &upstreamEnv{op: oidctest.New(t, op)}
	ue.env = newEnv(t, append(extra, withOptions(func(o *Options) {
		cb := o.Issuer + PathUpstreamCallback
		ue.op.AllowRedirectURI(cb)
		p, err := upstream.New(context.Background(), upstream.Options{
			Issuer: ue.op.Issuer(), ClientID: ue.op.ClientID(), ClientSecret: ue.op.ClientSecret(),
			RedirectURL: cb, Name: upstreamName, HTTPClient: ue.op.Client(),
		})
		if err != nil {
			t.Fatal(err)
		}
		o.Upstream = p
		if mutate != nil {
			mutate(o)
		}
	}))...)
	return ue
}

// startUpstream opens the authorization endpoint, checks the login page
// offers the upstream button and presses it; it returns the provider's
// authorization URL.
func (ue *upstreamEnv) startUpstream(w *wallet, requestURI string) string {
	ue.t.Helper()
	p := ue.browse(w, http.MethodGet, ue.authorizeURL(w.id, requestURI), nil)
	if p.status != http.StatusOK || p.flow == "" || p.csrf == "" {
		ue.t.Fatalf("login page: %d %s", p.status, p.body)
	}
	for _, want := range []string{`id="upstream" name="action" value="upstream"`, "Sign in with " + upstreamName} {
		if !strings.Contains(p.body, want) {
			ue.t.Fatalf("login page lacks %q:\n%s", want, p.body)
		}
	}
	s := ue.browse(w, http.MethodPost, ue.srv.Endpoints().Login, url.Values{"flow": {p.flow}, "csrf_token": {p.csrf},
		"action": {"upstream"}})
	if s.status != http.StatusSeeOther || !strings.HasPrefix(s.location, ue.op.Issuer()+"/authorize?") {
		ue.t.Fatalf("upstream button: %d %q %s", s.status, s.location, s.body)
	}
	return s.location
}

// atProvider is the browser at the provider: it returns the callback URL
// the provider redirects to.
func (ue *upstreamEnv) atProvider(w *wallet, authURL string) string {
	ue.t.Helper()
	res, err := w.browser.Get(authURL)
	if err != nil {
		ue.t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, ue.srv.Endpoints().UpstreamCallback+"?") {
		ue.t.Fatalf("provider: %d %q", res.StatusCode, loc)
	}
	return loc
}

// redeem approves consent and redeems the code; it returns the subject of
// the access token.
func (ue *upstreamEnv) redeem(t *testing.T, w *wallet, c page) string {
	t.Helper()
	p := ue.browse(w, http.MethodPost, ue.srv.Endpoints().Consent, url.Values{"flow": {c.flow}, "csrf_token": {c.csrf},
		"action": {"approve"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, redirectURI+"?") {
		t.Fatalf("approve: %d %q", p.status, p.location)
	}
	u, _ := url.Parse(p.location)
	q := u.Query()
	if q.Get("iss") != ue.issuer || q.Get("state") != "state-"+w.id || q.Get("code") == "" {
		t.Fatalf("authorization response %v", q)
	}
	tok := mustStatus(t, ue.token(w, tokenReq{form: w.codeForm(q.Get("code"))}), http.StatusOK)
	if tok.str("token_type") != oauth.TokenTypeDPoP {
		t.Fatalf("token response %v", tok)
	}
	g, err := ue.srv.ValidateAccessToken(context.Background(), tok.str("access_token"))
	if err != nil {
		t.Fatal(err)
	}
	if g.ClientID != w.id || !g.Covers(testConfigID) || g.JKT != w.dpop.JKT {
		t.Fatalf("grant %+v", g)
	}
	return g.Subject
}

func TestUpstreamLoginCodeFlow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		op      oidctest.Options
		mutate  func(*Options)
		subject string
	}{
		{"beside password login", oidctest.Options{}, nil, "oidc:upstream-user-1"},
		{"iss parameter and RS256", oidctest.Options{IssParameter: true, Alg: "RS256", Subject: "u-2"}, nil, "oidc:u-2"},
		{"upstream only without prefix", oidctest.Options{}, func(o *Options) {
			o.Authenticator = nil
			o.UpstreamSubjectPrefix = new(string)
		}, "upstream-user-1"},
		{"custom prefix", oidctest.Options{}, func(o *Options) {
			p := "idp-a/"
			o.UpstreamSubjectPrefix = &p
		}, "idp-a/upstream-user-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ue := newUpstreamEnv(t, tc.op, tc.mutate)
			w := ue.newWallet("wallet-upstream")
			authURL := ue.startUpstream(w, ue.pushed(w, w.parForm(testScope)))
			u, _ := url.Parse(authURL)
			q := u.Query()
			if q.Get("redirect_uri") != ue.srv.Endpoints().UpstreamCallback || q.Get("code_challenge_method") != "S256" ||
				q.Get("response_type") != "code" || q.Get("state") == "" || q.Get("nonce") == "" {
				t.Fatalf("authorization request %v", q)
			}
			cb := ue.atProvider(w, authURL)
			p := ue.browse(w, http.MethodGet, cb, nil)
			if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, ue.srv.Endpoints().Consent+"?") {
				t.Fatalf("callback: %d %q %s", p.status, p.location, p.body)
			}
			c := ue.browse(w, http.MethodGet, p.location, nil)
			if c.status != http.StatusOK || c.csrf == "" {
				t.Fatalf("consent: %d %s", c.status, c.body)
			}
			if got := ue.redeem(t, w, c); got != tc.subject {
				t.Fatalf("subject %q, want %q", got, tc.subject)
			}
			if ue.op.Hits(oidctest.HitToken) != 1 {
				t.Fatalf("token endpoint hits %d", ue.op.Hits(oidctest.HitToken))
			}
		})
	}
}

func TestUpstreamOnlyLoginPageHasNoPasswordForm(t *testing.T) {
	ue := newUpstreamEnv(t, oidctest.Options{}, func(o *Options) { o.Authenticator = nil; o.UpstreamSubjectPrefix = new(string) })
	w := ue.newWallet("wallet-upstream")
	p := ue.browse(w, http.MethodGet, ue.authorizeURL(w.id, ue.pushed(w, w.parForm(testScope))), nil)
	if p.status != http.StatusOK || strings.Contains(p.body, `id="password"`) || !strings.Contains(p.body, `id="upstream"`) ||
		!strings.Contains(p.body, `id="cancel"`) {
		t.Fatalf("login page: %d %s", p.status, p.body)
	}
	r := ue.browse(w, http.MethodPost, ue.srv.Endpoints().Login, url.Values{"flow": {p.flow}, "csrf_token": {p.csrf},
		"action": {"login"}, "username": {DevUsername}, "password": {DevPassword}})
	if r.status != http.StatusBadRequest || r.errorCode() != oauth.CodeInvalidRequest {
		t.Fatalf("password login without authenticator: %d %s", r.status, r.body)
	}
}

func TestUpstreamButtonNeedsCSRFAndConfiguration(t *testing.T) {
	t.Run("wrong csrf", func(t *testing.T) {
		ue := newUpstreamEnv(t, oidctest.Options{}, nil)
		w := ue.newWallet("wallet-upstream")
		p := ue.browse(w, http.MethodGet, ue.authorizeURL(w.id, ue.pushed(w, w.parForm(testScope))), nil)
		r := ue.browse(w, http.MethodPost, ue.srv.Endpoints().Login, url.Values{"flow": {p.flow}, "csrf_token": {"x" + p.csrf},
			"action": {"upstream"}})
		if r.status != http.StatusForbidden || r.errorCode() != oauth.CodeAccessDenied {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("no upstream configured", func(t *testing.T) {
		e := newEnv(t)
		w := e.newWallet("wallet-1")
		p := e.browse(w, http.MethodGet, e.authorizeURL(w.id, e.pushed(w, w.parForm(testScope))), nil)
		if strings.Contains(p.body, `id="upstream"`) {
			t.Fatal("upstream button without upstream login")
		}
		r := e.browse(w, http.MethodPost, e.srv.Endpoints().Login, url.Values{"flow": {p.flow}, "csrf_token": {p.csrf},
			"action": {"upstream"}})
		if r.status != http.StatusBadRequest || r.errorCode() != oauth.CodeInvalidRequest {
			t.Fatalf("%d %s", r.status, r.body)
		}
		cb := e.browse(w, http.MethodGet, e.issuer+PathUpstreamCallback+"?state=x&code=y", nil)
		if cb.status != http.StatusNotFound {
			t.Fatalf("callback served without upstream login: %d", cb.status)
		}
	})
}

// TestUpstreamLoginFailuresRedirectToWallet: a provider error or a failed
// check of its answer ends the flow with an error response to the wallet
// (RFC 6749 §4.1.2.1) carrying state and iss (RFC 9207); the pushed request
// is consumed.
func TestUpstreamLoginFailuresRedirectToWallet(t *testing.T) {
	for _, tc := range []struct {
		name  string
		op    oidctest.Options
		setup func(*oidctest.Server)
		after func(*oidctest.Server) // between the provider's redirect and the callback
		code  string
	}{
		{"provider denies", oidctest.Options{}, func(s *oidctest.Server) { s.Deny("access_denied") }, nil, oauth.CodeAccessDenied},
		{"login required", oidctest.Options{}, func(s *oidctest.Server) { s.Deny("login_required") }, nil, oauth.CodeAccessDenied},
		{"ID token for another audience", oidctest.Options{}, func(s *oidctest.Server) {
			s.Tamper(func(tk *oidctest.Token) { tk.Claims["aud"] = "someone-else" })
		}, nil, oauth.CodeAccessDenied},
		{"ID token with wrong nonce", oidctest.Options{}, func(s *oidctest.Server) {
			s.Tamper(func(tk *oidctest.Token) { tk.Claims["nonce"] = "other" })
		}, nil, oauth.CodeAccessDenied},
		{"ID token signed with unknown key", oidctest.Options{}, func(s *oidctest.Server) {
			s.Tamper(func(tk *oidctest.Token) { tk.Signing = oidctest.SignUnknownKey })
		}, nil, oauth.CodeAccessDenied},
		{"provider down at the token endpoint", oidctest.Options{}, nil, func(s *oidctest.Server) { s.SetDown(http.StatusServiceUnavailable) },
			oauth.CodeTemporarilyUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ue := newUpstreamEnv(t, tc.op, nil)
			if tc.setup != nil {
				tc.setup(ue.op)
			}
			w := ue.newWallet("wallet-upstream")
			requestURI := ue.pushed(w, w.parForm(testScope))
			cb := ue.atProvider(w, ue.startUpstream(w, requestURI))
			if tc.after != nil {
				tc.after(ue.op)
			}
			p := ue.browse(w, http.MethodGet, cb, nil)
			if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, redirectURI+"?") {
				t.Fatalf("callback: %d %q %s", p.status, p.location, p.body)
			}
			u, _ := url.Parse(p.location)
			q := u.Query()
			if q.Get("error") != tc.code || q.Get("iss") != ue.issuer || q.Get("state") != "state-"+w.id || q.Has("code") {
				t.Fatalf("error response %v", q)
			}
			if d := q.Get("error_description"); strings.Contains(d, "upstream-user-1") || strings.Contains(d, "the user did not log in") {
				t.Fatalf("description leaks the provider's words or the End-User: %q", d)
			}
			again := ue.browse(w, http.MethodGet, ue.authorizeURL(w.id, requestURI), nil)
			if again.errorCode() != oauth.CodeInvalidRequestURI {
				t.Fatalf("request_uri still usable after the failed login: %d %s", again.status, again.body)
			}
		})
	}
}

func TestUpstreamCallbackRejects(t *testing.T) {
	ue := newUpstreamEnv(t, oidctest.Options{}, nil)
	cbURL := ue.srv.Endpoints().UpstreamCallback

	t.Run("bad state", func(t *testing.T) {
		w := ue.newWallet("wallet-upstream")
		for name, q := range map[string]string{
			"unknown":  "state=not-a-known-state&code=abc",
			"missing":  "code=abc",
			"empty":    "state=&code=abc",
			"repeated": "state=a&state=b&code=abc",
			"too long": "state=" + strings.Repeat("s", 513) + "&code=abc",
		} {
			p := ue.browse(w, http.MethodGet, cbURL+"?"+q, nil)
			if p.status != http.StatusBadRequest || p.errorCode() != oauth.CodeInvalidRequest || p.location != "" {
				t.Fatalf("%s: %d %q %s", name, p.status, p.location, p.body)
			}
		}
		p := ue.browse(w, http.MethodPost, cbURL, url.Values{"state": {"x"}})
		if p.status != http.StatusMethodNotAllowed {
			t.Fatalf("POST: %d", p.status)
		}
	})

	t.Run("replayed callback", func(t *testing.T) {
		w := ue.newWallet("wallet-upstream")
		cb := ue.atProvider(w, ue.startUpstream(w, ue.pushed(w, w.parForm(testScope))))
		first := ue.browse(w, http.MethodGet, cb, nil)
		if first.status != http.StatusSeeOther || !strings.HasPrefix(first.location, ue.srv.Endpoints().Consent) {
			t.Fatalf("first: %d %s", first.status, first.body)
		}
		second := ue.browse(w, http.MethodGet, cb, nil)
		if second.status != http.StatusBadRequest || second.errorCode() != oauth.CodeInvalidRequest {
			t.Fatalf("replay: %d %q %s", second.status, second.location, second.body)
		}
		if n := ue.op.Hits(oidctest.HitToken); n != 1 {
			t.Fatalf("the replay reached the token endpoint (%d calls)", n)
		}
		// The first login still stands.
		c := ue.browse(w, http.MethodGet, first.location, nil)
		if sub := ue.redeem(t, w, c); sub != "oidc:upstream-user-1" {
			t.Fatalf("subject %q", sub)
		}
	})

	t.Run("callback in another browser", func(t *testing.T) {
		w := ue.newWallet("wallet-upstream")
		cb := ue.atProvider(w, ue.startUpstream(w, ue.pushed(w, w.parForm(testScope))))
		jar, _ := cookiejar.New(nil)
		other := *w
		other.browser = &http.Client{Jar: jar, CheckRedirect: w.browser.CheckRedirect}
		p := ue.browse(&other, http.MethodGet, cb, nil)
		if p.status != http.StatusForbidden || p.errorCode() != oauth.CodeAccessDenied {
			t.Fatalf("%d %q %s", p.status, p.location, p.body)
		}
		if n := ue.op.Hits(oidctest.HitToken); n > 1 {
			t.Fatalf("a foreign browser's callback reached the token endpoint")
		}
		// The attempt is spent: the right browser cannot use it either.
		if p := ue.browse(w, http.MethodGet, cb, nil); p.errorCode() != oauth.CodeInvalidRequest {
			t.Fatalf("spent attempt: %d %s", p.status, p.body)
		}
	})

	t.Run("flow already past login", func(t *testing.T) {
		w := ue.newWallet("wallet-upstream")
		lp := ue.browse(w, http.MethodGet, ue.authorizeURL(w.id, ue.pushed(w, w.parForm(testScope))), nil)
		up := ue.browse(w, http.MethodPost, ue.srv.Endpoints().Login, url.Values{"flow": {lp.flow}, "csrf_token": {lp.csrf},
			"action": {"upstream"}})
		if up.status != http.StatusSeeOther {
			t.Fatalf("upstream button: %d %s", up.status, up.body)
		}
		// The End-User signs in with the password on the same flow meanwhile.
		pw := ue.browse(w, http.MethodPost, ue.srv.Endpoints().Login, url.Values{"flow": {lp.flow}, "csrf_token": {lp.csrf},
			"action": {"login"}, "username": {DevUsername}, "password": {DevPassword}})
		if pw.status != http.StatusSeeOther || !strings.HasPrefix(pw.location, ue.srv.Endpoints().Consent) {
			t.Fatalf("password login: %d %s", pw.status, pw.body)
		}
		hits := ue.op.Hits(oidctest.HitToken)
		p := ue.browse(w, http.MethodGet, ue.atProvider(w, up.location), nil)
		if p.status != http.StatusBadRequest || p.errorCode() != oauth.CodeInvalidRequest {
			t.Fatalf("callback after password login: %d %q %s", p.status, p.location, p.body)
		}
		if ue.op.Hits(oidctest.HitToken) != hits {
			t.Fatal("the callback of a finished login step reached the token endpoint")
		}
		c := ue.browse(w, http.MethodGet, pw.location, nil)
		if sub := ue.redeem(t, w, c); sub != DevSubject {
			t.Fatalf("subject %q", sub)
		}
	})

	t.Run("expired attempt", func(t *testing.T) {
		w := ue.newWallet("wallet-upstream")
		cb := ue.atProvider(w, ue.startUpstream(w, ue.pushed(w, w.parForm(testScope))))
		ue.clock.Advance(maxUpstreamAttempt + defaultPARLifespan)
		p := ue.browse(w, http.MethodGet, cb, nil)
		if p.status != http.StatusBadRequest || p.errorCode() != oauth.CodeInvalidRequest {
			t.Fatalf("%d %q %s", p.status, p.location, p.body)
		}
	})
}

func TestUpstreamOptions(t *testing.T) {
	fake := fakeUpstream{}
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"no login at all", func(o *Options) { o.Authenticator = nil }, "an Authenticator or an Upstream login is required"},
		{"empty prefix beside passwords", func(o *Options) { o.Upstream = fake; o.UpstreamSubjectPrefix = new(string) }, "must not be empty"},
		{"callback path taken", func(o *Options) { o.Upstream = fake; o.Paths.UpstreamCallback = PathLogin }, "already another endpoint"},
		{"callback path relative", func(o *Options) { o.Upstream = fake; o.Paths.UpstreamCallback = "cb" }, "must start with /"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			o := e.srv.o
			o.Paths = Paths{}
			o.UpstreamSubjectPrefix = nil
			tc.mutate(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

// fakeUpstream is an UpstreamLogin for option checks only.
type fakeUpstream struct{}

func (fakeUpstream) Name() string                   { return "fake" }
func (fakeUpstream) Start() (upstream.Start, error) { return upstream.Start{}, nil }
func (fakeUpstream) Finish(context.Context, url.Values, upstream.Start) (*upstream.Identity, error) {
	return nil, nil
}

// FuzzUpstreamCallback sends arbitrary callback queries, with a live login
// attempt in the store and the right browser cookie: never a 500 or a
// panic, and a redirect only to the wallet's redirect URI or the consent
// page.
func FuzzUpstreamCallback(f *testing.F) {
	ue := newUpstreamEnv(f, oidctest.Options{}, nil)
	f.Add("state=x&code=y")
	f.Add("state=x&error=access_denied&error_description=%22%5C")
	f.Add("state=%ff%00&code=" + strings.Repeat("c", 9000))
	f.Add("state=x&state=x&iss=http%3A%2F%2Fevil")
	f.Add("%zz&;;state")
	f.Fuzz(func(t *testing.T, raw string) {
		ue.t = t // the helpers report to the running input (inputs run one at a time)
		w := ue.newWallet("wallet-fuzz")
		authURL := ue.startUpstream(w, ue.pushed(w, w.parForm(testScope)))
		u, _ := url.Parse(authURL)
		state := u.Query().Get("state")
		// Half of the inputs carry the live state, so the checks after the
		// store lookup are reached too.
		// What a browser sends: a query (no fragment), bytes outside
		// printable ASCII percent-encoded.
		var sb strings.Builder
		for i := 0; i < len(raw); i++ {
			if c := raw[i]; c <= ' ' || c >= 0x7f || c == '#' {
				fmt.Fprintf(&sb, "%%%02X", c)
			} else {
				sb.WriteByte(c)
			}
		}
		q := sb.String()
		if len(raw)%2 == 0 {
			q = "state=" + url.QueryEscape(state) + "&" + q
		}
		p := ue.browse(w, http.MethodGet, ue.srv.Endpoints().UpstreamCallback+"?"+q, nil)
		if p.status >= 500 && p.status != http.StatusServiceUnavailable {
			t.Fatalf("status %d for %q: %s", p.status, q, p.body)
		}
		if p.location != "" && !strings.HasPrefix(p.location, redirectURI+"?") &&
			!strings.HasPrefix(p.location, ue.srv.Endpoints().Consent+"?") {
			t.Fatalf("redirect to %q for %q", p.location, q)
		}
	})
}

// TestUpstreamLoginOnRedis: the login attempt record is created and
// consumed once on the shared store too.
func TestUpstreamLoginOnRedis(t *testing.T) {
	ue := newUpstreamEnv(t, oidctest.Options{}, nil, withStore(redisStore(redisURL(t))))
	w := ue.newWallet("wallet-upstream")
	cb := ue.atProvider(w, ue.startUpstream(w, ue.pushed(w, w.parForm(testScope))))
	p := ue.browse(w, http.MethodGet, cb, nil)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, ue.srv.Endpoints().Consent+"?") {
		t.Fatalf("callback: %d %q %s", p.status, p.location, p.body)
	}
	if again := ue.browse(w, http.MethodGet, cb, nil); again.errorCode() != oauth.CodeInvalidRequest {
		t.Fatalf("replay: %d %s", again.status, again.body)
	}
	c := ue.browse(w, http.MethodGet, p.location, nil)
	if sub := ue.redeem(t, w, c); sub != "oidc:upstream-user-1" {
		t.Fatalf("subject %q", sub)
	}
}
