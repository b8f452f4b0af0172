package authz

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mdoc-issuer/issuer/oauth"
)

// checkProtocolResponse asserts the invariants of every PAR/token answer:
// no 500 (a panic becomes 500 in the recoverer), errors are JSON with an
// error code and Cache-Control: no-store.
func checkProtocolResponse(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if rec.Code >= 400 {
		var b oauth.Body
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error == "" {
			t.Fatalf("error body %q", rec.Body)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatal("error without no-store")
		}
	}
}

// FuzzPARRequest feeds arbitrary PAR bodies, with valid client
// authentication and DPoP, to the PAR endpoint.
func FuzzPARRequest(f *testing.F) {
	e := newEnv(f)
	w := e.newWallet("fuzz-wallet")
	f.Add(w.parForm(testScope).Encode())
	f.Add("response_type=code&scope=mdl&redirect_uri=https%3A%2F%2Fwallet.example%2Fcb&code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 43) + "&state=s&authorization_details=%5B%7B%22type%22%3A%22openid_credential%22%2C%22credential_configuration_id%22%3A%22org.iso.18013.5.1.mDL%22%7D%5D")
	f.Add("request_uri=x&scope=%00%ff&state=%")
	f.Add("authorization_details=[null,1,{}]&dpop_jkt=" + strings.Repeat("-", 43))
	f.Add(strings.Repeat("a=b&", 200))
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, e.srv.Endpoints().PAR, strings.NewReader(body))
		req.Header.Set("Content-Type", oauth.MediaForm)
		e.clientAuth(req.Header, w, nil, nil)
		req.Header.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkProtocolResponse(t, rec)
	})
}

// FuzzTokenRequest feeds arbitrary token request bodies, with valid client
// authentication and DPoP, to the token endpoint.
func FuzzTokenRequest(f *testing.F) {
	e := newEnv(f)
	w := e.newWallet("fuzz-wallet")
	f.Add(w.codeForm("AAAA.BBBB").Encode())
	f.Add(preAuthForm(e.preAuthCode("1234"), "1234").Encode())
	f.Add(preAuthForm(e.preAuthCode(""), "").Encode() + "&authorization_details=%5B%5D")
	f.Add("grant_type=refresh_token&refresh_token=.")
	f.Add("grant_type=authorization_code&code=" + strings.Repeat(".", 300))
	f.Add("grant_type=%zz")
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, e.srv.Endpoints().Token, strings.NewReader(body))
		req.Header.Set("Content-Type", oauth.MediaForm)
		e.clientAuth(req.Header, w, nil, nil)
		req.Header.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().Token))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkProtocolResponse(t, rec)
	})
}

// FuzzAuthorizationDetails: the RFC 9396 parser never panics and returns
// only known, distinct configuration ids or invalid_authorization_details.
func FuzzAuthorizationDetails(f *testing.F) {
	e := newEnv(f)
	for _, s := range []string{
		`[{"type":"openid_credential","credential_configuration_id":"org.iso.18013.5.1.mDL"}]`,
		`[{"type":"openid_credential","credential_configuration_id":"eu.europa.ec.eudi.pid.1","claims":[{"path":["a","b"]}],"locations":["x"]}]`,
		`[{"type":"x"}]`, `[]`, `{}`, `[null]`, `[{"type":1}]`, `[{"type":"openid_credential","claims":{}}] `, `[{}] x`,
	} {
		f.Add(s)
	}
	known := func(id string) bool { _, ok := e.srv.byID[id]; return ok }
	f.Fuzz(func(t *testing.T, raw string) {
		ids, err := e.srv.parseAuthorizationDetails(raw, known)
		if err != nil {
			if oe := oauth.As(err); oe == nil || oe.Code != oauth.CodeInvalidAuthzDetails || oe.Status != 400 {
				t.Fatalf("error %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if !known(id) || seen[id] {
				t.Fatalf("ids %v", ids)
			}
			seen[id] = true
		}
		if len(ids) == 0 {
			t.Fatal("success without ids")
		}
	})
}
