package upstream

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/upstream/oidctest"
)

func TestIDTokenChecks(t *testing.T) {
	now := newClock().Now()
	tests := []struct {
		name   string
		mod    func(*Options)
		tamper func(*oidctest.Token)
		tokRes func(map[string]any)
		stage  string
		check  string
	}{
		{name: "iss other issuer", tamper: func(tk *oidctest.Token) { tk.Claims["iss"] = "https://evil.example" }, check: "iss"},
		{name: "iss missing", tamper: func(tk *oidctest.Token) { delete(tk.Claims, "iss") }, check: "iss"},
		{name: "iss not a string", tamper: func(tk *oidctest.Token) { tk.Claims["iss"] = []string{"x"} }, check: "iss"},
		{name: "aud other client", tamper: func(tk *oidctest.Token) { tk.Claims["aud"] = "other-client" }, check: "aud"},
		{name: "aud missing", tamper: func(tk *oidctest.Token) { delete(tk.Claims, "aud") }, check: "aud"},
		{name: "aud empty array", tamper: func(tk *oidctest.Token) { tk.Claims["aud"] = []string{} }, check: "aud"},
		{name: "aud array with number", tamper: func(tk *oidctest.Token) { tk.Claims["aud"] = []any{"upstream-client", 7} }, check: "aud"},
		{name: "several audiences without azp", tamper: func(tk *oidctest.Token) { tk.Claims["aud"] = []string{"upstream-client", "other"} }, check: "azp"},
		{name: "several audiences, azp other", tamper: func(tk *oidctest.Token) {
			tk.Claims["aud"] = []string{"upstream-client", "other"}
			tk.Claims["azp"] = "other"
		}, check: "azp"},
		{name: "azp other client", tamper: func(tk *oidctest.Token) { tk.Claims["azp"] = "other" }, check: "azp"},
		{name: "exp past", tamper: func(tk *oidctest.Token) { tk.Claims["exp"] = now.Add(-2 * time.Minute).Unix() }, check: "exp"},
		{name: "exp missing", tamper: func(tk *oidctest.Token) { delete(tk.Claims, "exp") }, check: "exp"},
		{name: "exp string", tamper: func(tk *oidctest.Token) { tk.Claims["exp"] = "tomorrow" }, check: "exp"},
		{name: "exp negative", tamper: func(tk *oidctest.Token) { tk.Claims["exp"] = -1 }, check: "exp"},
		{name: "iat in the future", tamper: func(tk *oidctest.Token) { tk.Claims["iat"] = now.Add(5 * time.Minute).Unix() }, check: "iat"},
		{name: "iat too old", tamper: func(tk *oidctest.Token) {
			tk.Claims["iat"] = now.Add(-time.Hour).Unix()
			tk.Claims["exp"] = now.Add(time.Hour).Unix()
		}, check: "iat"},
		{name: "iat missing", tamper: func(tk *oidctest.Token) { delete(tk.Claims, "iat") }, check: "iat"},
		{name: "nbf in the future", tamper: func(tk *oidctest.Token) { tk.Claims["nbf"] = now.Add(10 * time.Minute).Unix() }, check: "nbf"},
		{name: "nonce other", tamper: func(tk *oidctest.Token) { tk.Claims["nonce"] = "replayed-nonce-from-another-login" }, check: "nonce"},
		{name: "nonce missing", tamper: func(tk *oidctest.Token) { delete(tk.Claims, "nonce") }, check: "nonce"},
		{name: "nonce not a string", tamper: func(tk *oidctest.Token) { tk.Claims["nonce"] = 1 }, check: "nonce"},
		{name: "sub missing", tamper: func(tk *oidctest.Token) { delete(tk.Claims, "sub") }, check: "sub"},
		{name: "sub empty", tamper: func(tk *oidctest.Token) { tk.Claims["sub"] = "" }, check: "sub"},
		{name: "sub number", tamper: func(tk *oidctest.Token) { tk.Claims["sub"] = 42 }, check: "sub"},
		{name: "at_hash wrong", tamper: func(tk *oidctest.Token) { tk.Claims["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }, check: "at_hash"},
		{name: "signature corrupt", tamper: func(tk *oidctest.Token) { tk.Signing = oidctest.SignCorrupt }, check: "signature"},
		{name: "signed by unknown key", tamper: func(tk *oidctest.Token) { tk.Signing = oidctest.SignUnknownKey }, check: "signature"},
		{name: "unknown key without kid", tamper: func(tk *oidctest.Token) {
			tk.Signing = oidctest.SignUnknownKey
			tk.OmitKid = true
		}, check: "signature"},
		{name: "known kid, other key", tamper: func(tk *oidctest.Token) {
			tk.Signing = oidctest.SignUnknownKey
			tk.Kid = ""
		}, check: "signature"},
		{name: "alg none", tamper: func(tk *oidctest.Token) { tk.Signing = oidctest.SignNone }, check: "alg"},
		{name: "alg HS256 with client secret", tamper: func(tk *oidctest.Token) { tk.Signing = oidctest.SignHS256 }, check: "alg"},
		{name: "subject claim missing", mod: func(o *Options) { o.SubjectClaim = "email" }, check: "email"},
		{name: "subject claim not a string", mod: func(o *Options) { o.SubjectClaim = "email" },
			tamper: func(tk *oidctest.Token) { tk.Claims["email"] = map[string]any{"a": "b"} }, check: "email"},
		{name: "subject claim empty", mod: func(o *Options) { o.SubjectClaim = "email" },
			tamper: func(tk *oidctest.Token) { tk.Claims["email"] = "" }, check: "email"},
		{name: "subject claim too long", mod: func(o *Options) { o.SubjectClaim = "email" },
			tamper: func(tk *oidctest.Token) { tk.Claims["email"] = strings.Repeat("a", 1025) }, check: "email"},
		{name: "acr missing", mod: func(o *Options) { o.ACRValues = []string{"urn:eudi:loa:high"} }, check: "acr"},
		{name: "acr too low", mod: func(o *Options) { o.ACRValues = []string{"urn:eudi:loa:high"} },
			tamper: func(tk *oidctest.Token) { tk.Claims["acr"] = "urn:eudi:loa:low" }, check: "acr"},
		{name: "auth_time missing with max_age", mod: func(o *Options) { o.MaxAge = 5 * time.Minute },
			tamper: func(tk *oidctest.Token) { delete(tk.Claims, "auth_time") }, check: "auth_time"},
		{name: "auth_time older than max_age", mod: func(o *Options) { o.MaxAge = 5 * time.Minute },
			tamper: func(tk *oidctest.Token) { tk.Claims["auth_time"] = now.Add(-time.Hour).Unix() }, check: "auth_time"},
		{name: "no id_token in token response", tokRes: func(m map[string]any) { delete(m, "id_token") }, stage: StageToken, check: "id_token"},
		{name: "encrypted id_token", tokRes: func(m map[string]any) { m["id_token"] = "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d" }, check: "format"},
		{name: "garbage id_token", tokRes: func(m map[string]any) { m["id_token"] = "not-a-jwt" }, check: "format"},
		{name: "header not JSON", tokRes: func(m map[string]any) { m["id_token"] = "bm90LWpzb24.e30.AA" }, check: "header"},
		{name: "payload not an object", tokRes: func(m map[string]any) {
			m["id_token"] = "eyJhbGciOiJFUzI1NiJ9.WzFd.AAAA"
		}, check: "signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, oidctest.Options{}, tc.mod)
			e.op.Tamper(tc.tamper)
			e.op.TamperTokenResponse(tc.tokRes)
			s, cb := e.login(t)
			id, err := e.p.Finish(context.Background(), cb, s)
			if err == nil {
				t.Fatalf("Finish accepted the login of %q", id.Subject)
			}
			stage := tc.stage
			if stage == "" {
				stage = StageIDToken
			}
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Stage != stage || ce.Check != tc.check {
				t.Fatalf("Finish: %v, want %s check %q", err, stage, tc.check)
			}
			assertNoSecrets(t, err, s.State, s.Nonce, s.CodeVerifier, cb.Get("code"))
			want := oauth.CodeAccessDenied
			if stage == StageToken {
				want = oauth.CodeServerError
			}
			if oe := OAuthError(err); oe.Code != want {
				t.Errorf("maps to %s, want %s", oe.Code, want)
			}
		})
	}
}

// TestIDTokenAcceptsEdges: values at the edge of the checks are accepted.
func TestIDTokenAcceptsEdges(t *testing.T) {
	now := newClock().Now()
	tests := []struct {
		name   string
		tamper func(*oidctest.Token)
	}{
		{"no kid", func(tk *oidctest.Token) { tk.OmitKid = true }},
		{"exp within skew", func(tk *oidctest.Token) { tk.Claims["exp"] = now.Add(-30 * time.Second).Unix() }},
		{"iat within skew", func(tk *oidctest.Token) { tk.Claims["iat"] = now.Add(30 * time.Second).Unix() }},
		{"fractional dates", func(tk *oidctest.Token) { tk.Claims["iat"] = float64(now.Unix()) + 0.5 }},
		{"aud array", func(tk *oidctest.Token) { tk.Claims["aud"] = []string{"upstream-client"} }},
		{"several audiences with azp", func(tk *oidctest.Token) {
			tk.Claims["aud"] = []string{"upstream-client", "api"}
			tk.Claims["azp"] = "upstream-client"
		}},
		{"no at_hash", func(tk *oidctest.Token) { delete(tk.Claims, "at_hash") }},
		{"no auth_time without max_age", func(tk *oidctest.Token) { delete(tk.Claims, "auth_time") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, oidctest.Options{}, nil)
			e.op.Tamper(tc.tamper)
			s, cb := e.login(t)
			if _, err := e.p.Finish(context.Background(), cb, s); err != nil {
				t.Fatalf("Finish: %v", err)
			}
		})
	}
}
