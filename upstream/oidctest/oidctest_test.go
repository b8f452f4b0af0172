package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const cb = "https://rp.example/cb"

var verifier = strings.Repeat("v", 43)

func challenge(v string) string {
	h := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func authQuery(s *Server) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {s.ClientID()}, "redirect_uri": {cb},
		"scope": {"openid"}, "state": {"st"}, "nonce": {"no"}, "code_challenge": {challenge(verifier)},
		"code_challenge_method": {"S256"}}
}

func getCode(t *testing.T, s *Server) string {
	t.Helper()
	u, err := s.Authorize(s.Issuer() + "/authorize?" + authQuery(s).Encode())
	if err != nil {
		t.Fatal(err)
	}
	if u.Query().Get("code") == "" || u.Query().Get("state") != "st" {
		t.Fatalf("callback %s lacks code or state", u)
	}
	return u.Query().Get("code")
}

func tokenRequest(t *testing.T, s *Server, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.Issuer()+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(s.ClientID(), s.ClientSecret())
	}
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func TestAuthorizeChecks(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(url.Values)
		deny      string
		status    int    // direct answer (no redirect)
		wantError string // error on the redirect
	}{
		{name: "unknown client", edit: func(q url.Values) { q.Set("client_id", "x") }, status: http.StatusBadRequest},
		{name: "unregistered redirect", edit: func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, status: http.StatusBadRequest},
		{name: "implicit flow", edit: func(q url.Values) { q.Set("response_type", "token") }, wantError: "unsupported_response_type"},
		{name: "no openid scope", edit: func(q url.Values) { q.Set("scope", "profile") }, wantError: "invalid_scope"},
		{name: "no PKCE", edit: func(q url.Values) { q.Del("code_challenge") }, wantError: "invalid_request"},
		{name: "plain PKCE", edit: func(q url.Values) { q.Set("code_challenge_method", "plain") }, wantError: "invalid_request"},
		{name: "denied", deny: "access_denied", wantError: "access_denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, Options{RedirectURIs: []string{cb}})
			s.Deny(tc.deny)
			q := authQuery(s)
			if tc.edit != nil {
				tc.edit(q)
			}
			c := *s.Client()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			res, err := c.Get(s.Issuer() + "/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if tc.status != 0 {
				if res.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
				}
				return
			}
			loc, _ := url.Parse(res.Header.Get("Location"))
			if res.StatusCode != http.StatusFound || loc.Query().Get("error") != tc.wantError || loc.Query().Has("code") {
				t.Fatalf("answer %d %s, want redirect with error %s", res.StatusCode, loc, tc.wantError)
			}
		})
	}
}

func TestTokenChecks(t *testing.T) {
	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	assertion := func(s *Server, key *ecdsa.PrivateKey, aud, jti string) string {
		sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
		p, _ := json.Marshal(map[string]any{"iss": s.ClientID(), "sub": s.ClientID(), "aud": aud, "jti": jti,
			"exp": time.Now().Add(time.Minute).Unix()})
		jws, _ := sg.Sign(p)
		out, _ := jws.CompactSerialize()
		return out
	}
	tests := []struct {
		name   string
		opts   Options
		edit   func(s *Server, f url.Values) (basic bool)
		twice  bool
		status int
		code   string
	}{
		{name: "valid basic", edit: func(*Server, url.Values) bool { return true }, status: 200},
		{name: "valid post", edit: func(s *Server, f url.Values) bool {
			f.Set("client_id", s.ClientID())
			f.Set("client_secret", s.ClientSecret())
			return false
		}, status: 200},
		{name: "valid private_key_jwt", opts: Options{ClientKey: clientKey.Public()}, edit: func(s *Server, f url.Values) bool {
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			f.Set("client_assertion", assertion(s, clientKey, s.Issuer(), "j1"))
			return false
		}, status: 200},
		{name: "private_key_jwt wrong key", opts: Options{ClientKey: clientKey.Public()}, edit: func(s *Server, f url.Values) bool {
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			f.Set("client_assertion", assertion(s, otherKey, s.Issuer(), "j1"))
			return false
		}, status: 401, code: "invalid_client"},
		{name: "private_key_jwt wrong aud", opts: Options{ClientKey: clientKey.Public()}, edit: func(s *Server, f url.Values) bool {
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			f.Set("client_assertion", assertion(s, clientKey, "https://other.example", "j1"))
			return false
		}, status: 401, code: "invalid_client"},
		{name: "no client authentication", edit: func(*Server, url.Values) bool { return false }, status: 401, code: "invalid_client"},
		{name: "wrong secret post", edit: func(s *Server, f url.Values) bool {
			f.Set("client_id", s.ClientID())
			f.Set("client_secret", "wrong")
			return false
		}, status: 401, code: "invalid_client"},
		{name: "two methods", edit: func(s *Server, f url.Values) bool { f.Set("client_secret", s.ClientSecret()); return true }, status: 401, code: "invalid_client"},
		{name: "method not advertised", opts: Options{AuthMethods: []string{ClientSecretPost}}, edit: func(*Server, url.Values) bool { return true }, status: 401, code: "invalid_client"},
		{name: "wrong verifier", edit: func(_ *Server, f url.Values) bool { f.Set("code_verifier", strings.Repeat("w", 43)); return true }, status: 400, code: "invalid_grant"},
		{name: "short verifier", edit: func(_ *Server, f url.Values) bool { f.Set("code_verifier", "v"); return true }, status: 400, code: "invalid_grant"},
		{name: "wrong redirect_uri", edit: func(_ *Server, f url.Values) bool { f.Set("redirect_uri", cb+"/x"); return true }, status: 400, code: "invalid_grant"},
		{name: "unknown code", edit: func(_ *Server, f url.Values) bool { f.Set("code", "nope"); return true }, status: 400, code: "invalid_grant"},
		{name: "code reused", edit: func(*Server, url.Values) bool { return true }, twice: true, status: 400, code: "invalid_grant"},
		{name: "wrong grant type", edit: func(_ *Server, f url.Values) bool { f.Set("grant_type", "password"); return true }, status: 400, code: "unsupported_grant_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.RedirectURIs = []string{cb}
			s := New(t, o)
			code := getCode(t, s)
			f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cb}, "code_verifier": {verifier}}
			basic := tc.edit(s, f)
			status, body := tokenRequest(t, s, f, basic)
			if tc.twice {
				status, body = tokenRequest(t, s, f, basic)
			}
			if status != tc.status || (tc.code != "" && body["error"] != tc.code) {
				t.Fatalf("token answer %d %v, want %d %s", status, body["error"], tc.status, tc.code)
			}
			if status == 200 {
				checkIDToken(t, s, body["id_token"].(string), body["access_token"].(string))
			}
		})
	}
}

// checkIDToken verifies a token with the published JWKS.
func checkIDToken(t *testing.T, s *Server, raw, access string) {
	t.Helper()
	res, err := s.Client().Get(s.Issuer() + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid not in JWKS")
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	var c map[string]any
	_ = json.Unmarshal(payload, &c)
	h := sha256.Sum256([]byte(access))
	if c["iss"] != s.Issuer() || c["aud"] != s.ClientID() || c["nonce"] != "no" || c["sub"] != "upstream-user-1" ||
		c["at_hash"] != base64.RawURLEncoding.EncodeToString(h[:16]) {
		t.Fatalf("claims %v", c)
	}
}

func TestSigningModes(t *testing.T) {
	tests := []struct {
		name     string
		mode     Signing
		alg      string
		verifies bool
	}{
		{"valid", SignValid, "ES256", true},
		{"corrupt", SignCorrupt, "ES256", false},
		{"unknown key", SignUnknownKey, "ES256", false},
		{"none", SignNone, "none", false},
		{"HS256", SignHS256, "HS256", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, Options{RedirectURIs: []string{cb}})
			pub := s.keys[0].signer.Public()
			tok, err := s.sign(&Token{Claims: map[string]any{"a": 1}, Kid: s.keys[0].kid, Signing: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			hdr, _ := base64.RawURLEncoding.DecodeString(tok[:strings.IndexByte(tok, '.')])
			var h map[string]any
			_ = json.Unmarshal(hdr, &h)
			if h["alg"] != tc.alg {
				t.Fatalf("alg %v, want %s", h["alg"], tc.alg)
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
			ok := err == nil
			if ok {
				_, err = jws.Verify(pub)
				ok = err == nil
			}
			if ok != tc.verifies {
				t.Fatalf("verifies = %v, want %v", ok, tc.verifies)
			}
		})
	}
}
