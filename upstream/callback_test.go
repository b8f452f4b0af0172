package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/upstream/oidctest"
)

func TestCallbackChecks(t *testing.T) {
	tests := []struct {
		name     string
		oo       oidctest.Options
		edit     func(q url.Values, s *Start)
		deny     string
		check    string // CheckError check at the callback stage
		provider string // or ProviderError code at the authorization endpoint
		oauth    string
	}{
		{name: "state missing", edit: func(q url.Values, _ *Start) { q.Del("state") }, check: "state", oauth: oauth.CodeInvalidRequest},
		{name: "state other", edit: func(q url.Values, _ *Start) { q.Set("state", "forged-state-value-0123456789") }, check: "state", oauth: oauth.CodeInvalidRequest},
		{name: "state prefix", edit: func(q url.Values, s *Start) { q.Set("state", s.State[:20]) }, check: "state", oauth: oauth.CodeInvalidRequest},
		{name: "state repeated", edit: func(q url.Values, s *Start) { q.Add("state", s.State) }, check: "state", oauth: oauth.CodeInvalidRequest},
		{name: "code repeated", edit: func(q url.Values, _ *Start) { q.Add("code", "second-code") }, check: "code", oauth: oauth.CodeInvalidRequest},
		{name: "code missing", edit: func(q url.Values, _ *Start) { q.Del("code") }, check: "code", oauth: oauth.CodeInvalidRequest},
		{name: "code empty", edit: func(q url.Values, _ *Start) { q.Set("code", "") }, check: "code", oauth: oauth.CodeInvalidRequest},
		{name: "code with control character", edit: func(q url.Values, _ *Start) { q.Set("code", "abc\ndef") }, check: "code", oauth: oauth.CodeInvalidRequest},
		{name: "code too long", edit: func(q url.Values, _ *Start) { q.Set("code", strings.Repeat("c", maxCodeLen+1)) }, check: "code", oauth: oauth.CodeInvalidRequest},
		{name: "iss other", edit: func(q url.Values, _ *Start) { q.Set("iss", "https://evil.example") }, check: "iss", oauth: oauth.CodeInvalidRequest},
		{name: "iss other with advertised support", oo: oidctest.Options{IssParameter: true},
			edit: func(q url.Values, _ *Start) { q.Set("iss", "https://evil.example") }, check: "iss", oauth: oauth.CodeInvalidRequest},
		{name: "iss missing with advertised support", oo: oidctest.Options{IssParameter: true},
			edit: func(q url.Values, _ *Start) { q.Del("iss") }, check: "iss", oauth: oauth.CodeInvalidRequest},
		{name: "iss checked before state", edit: func(q url.Values, _ *Start) {
			q.Set("iss", "https://evil.example")
			q.Set("state", "forged")
		}, check: "iss", oauth: oauth.CodeInvalidRequest},
		{name: "no stored attempt", edit: func(_ url.Values, s *Start) { *s = Start{} }, check: "login attempt", oauth: oauth.CodeInvalidRequest},
		{name: "error with forged state", deny: "access_denied", edit: func(q url.Values, _ *Start) { q.Set("state", "forged") }, check: "state", oauth: oauth.CodeInvalidRequest},
		{name: "access_denied", deny: "access_denied", provider: "access_denied", oauth: oauth.CodeAccessDenied},
		{name: "login_required", deny: "login_required", provider: "login_required", oauth: oauth.CodeAccessDenied},
		{name: "temporarily_unavailable", deny: "temporarily_unavailable", provider: "temporarily_unavailable", oauth: oauth.CodeTemporarilyUnavailable},
		{name: "invalid_request from provider", deny: "invalid_request", provider: "invalid_request", oauth: oauth.CodeServerError},
		{name: "error wins over code", edit: func(q url.Values, _ *Start) { q.Set("error", "access_denied") }, provider: "access_denied", oauth: oauth.CodeAccessDenied},
		{name: "error code sanitized", edit: func(q url.Values, _ *Start) { q.Set("error", "access_denied\"<script>") }, provider: "access_denied<script>", oauth: oauth.CodeServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.oo, nil)
			e.op.Deny(tc.deny)
			s, cb := e.login(t)
			code := cb.Get("code")
			if tc.edit != nil {
				tc.edit(cb, &s)
			}
			tokenHits := e.op.Hits(oidctest.HitToken)
			_, err := e.p.Finish(context.Background(), cb, s)
			if err == nil {
				t.Fatal("Finish accepted the callback")
			}
			if e.op.Hits(oidctest.HitToken) != tokenHits {
				t.Error("a rejected callback reached the token endpoint")
			}
			if tc.check != "" {
				var ce *CheckError
				if !errors.As(err, &ce) || ce.Stage != StageCallback || ce.Check != tc.check {
					t.Fatalf("Finish: %v, want callback check %q", err, tc.check)
				}
			} else {
				var pe *ProviderError
				if !errors.As(err, &pe) || pe.Endpoint != EndpointAuthorization || pe.Code != tc.provider {
					t.Fatalf("Finish: %v, want provider error %q", err, tc.provider)
				}
			}
			assertNoSecrets(t, err, s.State, s.Nonce, s.CodeVerifier, code)
			if oe := OAuthError(err); oe.Code != tc.oauth {
				t.Errorf("maps to %s (%v), want %s", oe.Code, oe, tc.oauth)
			}
		})
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	tests := []struct {
		name     string
		oo       oidctest.Options
		mod      func(*Options)
		edit     func(*Start)
		provider string
		oauth    string
	}{
		{name: "wrong PKCE verifier", edit: func(s *Start) { s.CodeVerifier = strings.Repeat("v", 43) }, provider: "invalid_grant", oauth: oauth.CodeAccessDenied},
		{name: "wrong client secret basic", mod: func(o *Options) { o.ClientSecret = "wrong" }, provider: "invalid_client", oauth: oauth.CodeServerError},
		{name: "wrong client secret post", oo: oidctest.Options{AuthMethods: []string{oidctest.ClientSecretPost}},
			mod: func(o *Options) { o.ClientSecret = "wrong" }, provider: "invalid_client", oauth: oauth.CodeServerError},
		{name: "redirect_uri differs", oo: oidctest.Options{RedirectURIs: []string{redirectURL, "https://issuer.example/other"}},
			mod: func(o *Options) { o.RedirectURL = "https://issuer.example/other" }, provider: "", oauth: oauth.CodeAccessDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.oo, tc.mod)
			s, cb := e.loginTo(t)
			if tc.edit != nil {
				tc.edit(&s)
			}
			if tc.provider == "" {
				// Exchange with another redirect_uri than the authorization used.
				p2 := *e.p
				p2.o.RedirectURL = redirectURL
				_, err := p2.Finish(context.Background(), cb, s)
				var pe *ProviderError
				if !errors.As(err, &pe) || pe.Code != "invalid_grant" {
					t.Fatalf("Finish: %v, want invalid_grant", err)
				}
				return
			}
			_, err := e.p.Finish(context.Background(), cb, s)
			var pe *ProviderError
			if !errors.As(err, &pe) || pe.Endpoint != EndpointToken || pe.Code != tc.provider {
				t.Fatalf("Finish: %v, want token endpoint %q", err, tc.provider)
			}
			assertNoSecrets(t, err, s.State, s.Nonce, s.CodeVerifier, cb.Get("code"), e.opts.ClientSecret)
			if oe := OAuthError(err); oe.Code != tc.oauth {
				t.Errorf("maps to %s, want %s", oe.Code, tc.oauth)
			}
		})
	}
}

// loginTo is login for a Provider whose RedirectURL may differ from the
// default.
func (e *env) loginTo(t *testing.T) (Start, url.Values) {
	t.Helper()
	s, err := e.p.Start()
	if err != nil {
		t.Fatal(err)
	}
	cb, err := e.op.Authorize(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return s, cb.Query()
}

func TestProviderDownAtFinish(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*env)
	}{
		{"token endpoint 503", func(e *env) { e.op.SetDown(http.StatusServiceUnavailable) }},
		{"token endpoint 429", func(e *env) { e.op.SetDown(http.StatusTooManyRequests) }},
		{"token endpoint slow", func(e *env) { e.op.SetDelay(3 * time.Second) }},
		{"token endpoint gone", func(e *env) { e.op.Close() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, oidctest.Options{}, func(o *Options) { o.Timeout = 200 * time.Millisecond })
			s, cb := e.login(t)
			tc.setup(e)
			start := time.Now()
			_, err := e.p.Finish(context.Background(), cb, s)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Finish: %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Finish took %s despite the timeout", d)
			}
			oe := OAuthError(err)
			if oe.Code != oauth.CodeTemporarilyUnavailable || oe.Status != http.StatusServiceUnavailable || oe.Header.Get("Retry-After") == "" {
				t.Errorf("maps to %d %s, want 503 temporarily_unavailable with Retry-After", oe.Status, oe.Code)
			}
			assertNoSecrets(t, err, s.State, s.Nonce, s.CodeVerifier, cb.Get("code"))
		})
	}
}
