package upstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/upstream/oidctest"
)

func TestLoginHappyPath(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name       string
		oo         oidctest.Options
		mod        func(*Options)
		subject    string
		wantMethod string
	}{
		{name: "ES256 client_secret_basic", subject: "upstream-user-1", wantMethod: AuthClientSecretBasic},
		{name: "RS256 client_secret_post", oo: oidctest.Options{Alg: "RS256", AuthMethods: []string{oidctest.ClientSecretPost}},
			subject: "upstream-user-1", wantMethod: AuthClientSecretPost},
		{name: "PS256 forced post", oo: oidctest.Options{Alg: "PS256"}, mod: func(o *Options) { o.AuthMethod = AuthClientSecretPost },
			subject: "upstream-user-1", wantMethod: AuthClientSecretPost},
		{name: "private_key_jwt ES256", oo: oidctest.Options{ClientKey: ecKey.Public()},
			mod: func(o *Options) { o.ClientSecret = ""; o.ClientKey = ecKey; o.ClientKeyID = "k1" }, subject: "upstream-user-1", wantMethod: AuthPrivateKeyJWT},
		{name: "private_key_jwt RSA to token endpoint", oo: oidctest.Options{ClientKey: rsaKey.Public()},
			mod: func(o *Options) {
				o.ClientSecret = ""
				o.ClientKey = rsaKey
				o.ClientAssertionAudience = o.Issuer + "/token"
			}, subject: "upstream-user-1", wantMethod: AuthPrivateKeyJWT},
		{name: "issuer with path and iss parameter", oo: oidctest.Options{Path: "/realms/test", IssParameter: true},
			subject: "upstream-user-1", wantMethod: AuthClientSecretBasic},
		{name: "acr and max_age required", oo: oidctest.Options{Claims: map[string]any{"acr": "urn:eudi:loa:high"}},
			mod: func(o *Options) {
				o.ACRValues = []string{"urn:eudi:loa:substantial", "urn:eudi:loa:high"}
				o.MaxAge = 10 * time.Minute
			},
			subject: "upstream-user-1", wantMethod: AuthClientSecretBasic},
		{name: "subject from email claim", oo: oidctest.Options{Subject: "pairwise-77", Claims: map[string]any{"email": "erika@example.org"}},
			mod: func(o *Options) { o.SubjectClaim = "email"; o.Scopes = []string{"email", "profile", "email"} }, subject: "erika@example.org", wantMethod: AuthClientSecretBasic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.oo, tc.mod)
			if e.p.AuthMethod() != tc.wantMethod {
				t.Fatalf("auth method %s, want %s", e.p.AuthMethod(), tc.wantMethod)
			}
			s, cb := e.login(t)
			req := e.op.LastAuthorizationRequest()
			for k, want := range map[string]string{
				"response_type": "code", "client_id": e.op.ClientID(), "redirect_uri": redirectURL,
				"state": s.State, "nonce": s.Nonce, "code_challenge": S256Challenge(s.CodeVerifier),
				"code_challenge_method": "S256",
			} {
				if got := req.Get(k); got != want {
					t.Errorf("authorization request %s = %q, want %q", k, got, want)
				}
			}
			if len(e.opts.ACRValues) > 0 && (req.Get("acr_values") != strings.Join(e.opts.ACRValues, " ") || req.Get("max_age") != "600") {
				t.Errorf("acr_values %q, max_age %q not sent", req.Get("acr_values"), req.Get("max_age"))
			}
			if sc := strings.Fields(req.Get("scope")); len(sc) == 0 || sc[0] != "openid" {
				t.Errorf("scope %q does not start with openid", req.Get("scope"))
			}
			id, err := e.p.Finish(context.Background(), cb, s)
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if id.Subject != tc.subject || id.Issuer != e.op.Issuer() {
				t.Errorf("identity %q from %q, want %q from %q", id.Subject, id.Issuer, tc.subject, e.op.Issuer())
			}
			if id.Claims["nonce"] != s.Nonce || id.Claims["aud"] != e.op.ClientID() {
				t.Errorf("claims nonce/aud not returned: %v", id.Claims)
			}
			// The code is single-use at the provider: replaying the callback fails.
			_, err = e.p.Finish(context.Background(), cb, s)
			var pe *ProviderError
			if !errors.As(err, &pe) || pe.Code != "invalid_grant" || pe.Endpoint != EndpointToken {
				t.Fatalf("replayed code: got %v, want token endpoint invalid_grant", err)
			}
			if oe := OAuthError(err); oe.Code != oauth.CodeAccessDenied {
				t.Errorf("replayed code maps to %s, want access_denied", oe.Code)
			}
		})
	}
}

func TestStartIsFreshAndComplete(t *testing.T) {
	e := newEnv(t, oidctest.Options{}, func(o *Options) {
		o.AuthParams = map[string]string{"prompt": "login", "ui_locales": "de"}
		o.Scopes = []string{"profile", "email"}
	})
	a, err := e.p.Start()
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.p.Start()
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2]string{"state": {a.State, b.State}, "nonce": {a.Nonce, b.Nonce}, "verifier": {a.CodeVerifier, b.CodeVerifier}} {
		if pair[0] == pair[1] || len(pair[0]) < 43 {
			t.Errorf("%s is reused or short", name)
		}
	}
	if a.State == a.Nonce || a.Nonce == a.CodeVerifier {
		t.Error("state, nonce and verifier must be independent")
	}
	if _, err := e.op.Authorize(a.URL); err != nil {
		t.Fatal(err)
	}
	q := e.op.LastAuthorizationRequest()
	if q.Get("prompt") != "login" || q.Get("ui_locales") != "de" || q.Get("scope") != "openid profile email" {
		t.Errorf("authorization request %v lacks configured parameters", q)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	op := oidctest.New(t, oidctest.Options{RedirectURIs: []string{redirectURL}})
	base := func() Options {
		return Options{Issuer: op.Issuer(), ClientID: "upstream-client", ClientSecret: "upstream-secret",
			RedirectURL: redirectURL, HTTPClient: op.Client()}
	}
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no client_id", func(o *Options) { o.ClientID = "" }, "client_id"},
		{"no credentials", func(o *Options) { o.ClientSecret = "" }, "client_secret"},
		{"issuer not https", func(o *Options) { o.Issuer = "http://idp.example.com" }, "https"},
		{"issuer with query", func(o *Options) { o.Issuer += "?x=1" }, "query"},
		{"issuer with fragment", func(o *Options) { o.Issuer += "#x" }, "fragment"},
		{"redirect relative", func(o *Options) { o.RedirectURL = "/callback" }, "redirect URL"},
		{"reserved auth param", func(o *Options) { o.AuthParams = map[string]string{"nonce": "x"} }, "nonce"},
		{"bad scope", func(o *Options) { o.Scopes = []string{"a b"} }, "scope"},
		{"max_age via AuthParams", func(o *Options) { o.AuthParams = map[string]string{"max_age": "0"} }, "max_age"},
		{"max_age below a second", func(o *Options) { o.MaxAge = time.Millisecond }, "max_age"},
		{"acr with space", func(o *Options) { o.ACRValues = []string{"a b"} }, "acr"},
		{"HS256 not allowed", func(o *Options) { o.SigningAlgs = []string{"HS256"} }, "HS256"},
		{"alg not offered", func(o *Options) { o.SigningAlgs = []string{"RS256"} }, "id_token_signing_alg_values_supported"},
		{"auth method not offered", func(o *Options) { o.AuthMethod = AuthPrivateKeyJWT }, "token_endpoint_auth_methods_supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.mod(&o)
			_, err := New(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestDiscoveryChecks(t *testing.T) {
	tests := []struct {
		name  string
		meta  func(map[string]any)
		check string
	}{
		{"issuer mismatch", func(m map[string]any) { m["issuer"] = "https://evil.example" }, "issuer"},
		{"issuer trailing slash", func(m map[string]any) { m["issuer"] = m["issuer"].(string) + "/" }, "issuer"},
		{"issuer missing", func(m map[string]any) { delete(m, "issuer") }, "issuer"},
		{"no token endpoint", func(m map[string]any) { delete(m, "token_endpoint") }, "token_endpoint"},
		{"jwks over plain http", func(m map[string]any) { m["jwks_uri"] = "http://idp.example.com/jwks" }, "jwks_uri"},
		{"no code response type", func(m map[string]any) { m["response_types_supported"] = []string{"id_token"} }, "response_types_supported"},
		{"no S256", func(m map[string]any) { m["code_challenge_methods_supported"] = []string{"plain"} }, "code_challenge_methods_supported"},
		{"only HS256", func(m map[string]any) { m["id_token_signing_alg_values_supported"] = []string{"HS256", "none"} }, "id_token_signing_alg_values_supported"},
		{"no secret method", func(m map[string]any) { m["token_endpoint_auth_methods_supported"] = []string{"tls_client_auth"} }, "token_endpoint_auth_methods_supported"},
		{"wrong type", func(m map[string]any) { m["response_types_supported"] = "code" }, "body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := oidctest.New(t, oidctest.Options{RedirectURIs: []string{redirectURL}})
			op.TamperMetadata(tc.meta)
			_, err := New(context.Background(), Options{Issuer: op.Issuer(), ClientID: op.ClientID(),
				ClientSecret: op.ClientSecret(), RedirectURL: redirectURL, HTTPClient: op.Client()})
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Stage != StageDiscovery || ce.Check != tc.check {
				t.Fatalf("New: %v, want discovery check %q", err, tc.check)
			}
		})
	}
}

func TestDiscoveryTransport(t *testing.T) {
	t.Run("not found", func(t *testing.T) {
		op := oidctest.New(t, oidctest.Options{})
		_, err := New(context.Background(), Options{Issuer: op.URL() + "/nowhere", ClientID: "c", ClientSecret: "s",
			RedirectURL: redirectURL, HTTPClient: op.Client()})
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Check != "status" {
			t.Fatalf("got %v, want a status check error", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		op := oidctest.New(t, oidctest.Options{})
		op.SetDown(http.StatusServiceUnavailable)
		_, err := New(context.Background(), Options{Issuer: op.Issuer(), ClientID: "c", ClientSecret: "s",
			RedirectURL: redirectURL, HTTPClient: op.Client()})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
	})
	t.Run("response too large", func(t *testing.T) {
		op := oidctest.New(t, oidctest.Options{})
		_, err := New(context.Background(), Options{Issuer: op.Issuer(), ClientID: "c", ClientSecret: "s",
			RedirectURL: redirectURL, HTTPClient: op.Client(), MaxResponseBytes: 64})
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Check != "response size" {
			t.Fatalf("got %v, want a response size error", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		op := oidctest.New(t, oidctest.Options{})
		op.SetDelay(5 * time.Second)
		start := time.Now()
		_, err := New(context.Background(), Options{Issuer: op.Issuer(), ClientID: "c", ClientSecret: "s",
			RedirectURL: redirectURL, HTTPClient: op.Client(), Timeout: 100 * time.Millisecond})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("timeout took %s", d)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		op := oidctest.New(t, oidctest.Options{})
		iss := op.Issuer()
		op.Close()
		_, err := New(context.Background(), Options{Issuer: iss, ClientID: "c", ClientSecret: "s", RedirectURL: redirectURL})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnavailable", err)
		}
	})
}
