package offer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

func errBody(t *testing.T, r resp) oauth.Body {
	t.Helper()
	var b oauth.Body
	mustJSON(t, r.body, &b)
	if b.Error == "" {
		t.Fatalf("error body without error code: %s", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("error response Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	return b
}

// mdlClaims is a complete mDL for the builtin catalogue (portrait: a JPEG
// signature).
const mdlClaims = `{"org.iso.18013.5.1":{"family_name":"Doe","given_name":"Jane","birth_date":"1990-04-01","issue_date":"2026-01-01","expiry_date":"2031-01-01","issuing_country":"DE","issuing_authority":"KBA","document_number":"D123","portrait":"/9j/4AAQSkZJRgABAQ==","driving_privileges":[{"vehicle_category_code":"B"}],"un_distinguishing_sign":"D","age_in_years":35}}`

// pidClaims is a complete EU PID for the builtin catalogue.
const pidClaims = `{"eu.europa.ec.eudi.pid.1":{"family_name":"Muster","given_name":"Erika","birth_date":"1964-08-12","place_of_birth":{"locality":"Berlin"},"nationality":["DE"],"issuing_authority":"DE","issuing_country":"DE"}}`

func TestNewOptions(t *testing.T) {
	base := func() Options {
		return Options{Issuer: testIssuer, Store: newTestStore(t, nil), Configurations: testConfigurations()}
	}
	tests := []struct {
		name    string
		mutate  func(*Options)
		wantErr string
	}{
		{"valid", func(*Options) {}, ""},
		{"no store", func(o *Options) { o.Store = nil }, "Store"},
		{"http issuer", func(o *Options) { o.Issuer = "http://issuer.example.com" }, "https"},
		{"loopback http issuer", func(o *Options) { o.Issuer = "http://127.0.0.1:8080" }, ""},
		{"issuer with query", func(o *Options) { o.Issuer = "https://issuer.example.com/?a=b" }, "query"},
		{"no configurations", func(o *Options) { o.Configurations = nil }, "Configurations"},
		{"configuration without doctype", func(o *Options) { o.Configurations = map[string]Configuration{"x": {}} }, "doctype"},
		{"short admin token", func(o *Options) { o.AdminTokens = []string{"short"} }, "shorter"},
		{"bad scheme", func(o *Options) { o.Scheme = "openid-credential-offer:" }, "Scheme"},
		{"haip scheme", func(o *Options) { o.Scheme = "haip-vci://" }, ""},
		{"default above max lifetime", func(o *Options) { o.DefaultLifetime = time.Hour; o.MaxLifetime = time.Minute }, "MaxLifetime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.mutate(&o)
			_, err := New(o)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestAdminAuthentication(t *testing.T) {
	e := newEnv(t)
	created := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","claims":`+mdlClaims+`}`)
	target := "/admin/v1/offers/" + created.ID
	tests := []struct {
		name       string
		header     []string
		wantStatus int
		wantChal   string
	}{
		{"no authorization", nil, 401, `Bearer realm="admin"`},
		{"wrong token", []string{"Bearer " + strings.Repeat("x", 44)}, 401, `Bearer realm="admin", error="invalid_token"`},
		{"token prefix", []string{"Bearer " + tokenA[:40]}, 401, `Bearer realm="admin", error="invalid_token"`},
		{"token with suffix", []string{"Bearer " + tokenA + "x"}, 401, `Bearer realm="admin", error="invalid_token"`},
		{"basic scheme", []string{"Basic " + tokenA}, 401, `Bearer realm="admin", error="invalid_token"`},
		{"empty bearer", []string{"Bearer "}, 401, `Bearer realm="admin", error="invalid_token"`},
		{"two headers", []string{"Bearer " + tokenA, "Bearer " + tokenB}, 401, `Bearer realm="admin", error="invalid_token"`},
		{"first token", []string{"Bearer " + tokenA}, 200, ""},
		{"second token", []string{"Bearer " + tokenB}, 200, ""},
		{"scheme case-insensitive", []string{"bearer " + tokenB}, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, target, nil)
			for _, h := range tc.header {
				req.Header.Add("Authorization", h)
			}
			rec := httptest.NewRecorder()
			e.admin.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tc.wantChal {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantChal)
			}
			if tc.wantStatus == 401 && !strings.Contains(rec.Body.String(), `"invalid_token"`) {
				t.Errorf("body %s", rec.Body)
			}
		})
	}
	t.Run("every protected route refuses without token", func(t *testing.T) {
		for _, rt := range adminRoutes {
			if rt.public {
				continue
			}
			path := strings.NewReplacer("{id}", created.ID, "{transaction_id}", "tx-1").Replace(rt.pattern)
			r := do(e.admin, rt.method, path, "", "application/json", "{}")
			if r.status != 401 {
				t.Errorf("%s %s without token: %d", rt.method, path, r.status)
			}
		}
		if len(e.deferred.approved)+len(e.deferred.rejected) != 0 {
			t.Error("unauthenticated request reached the deferred approver")
		}
	})
	t.Run("no tokens configured refuses all", func(t *testing.T) {
		e2 := newEnv(t, func(o *Options) { o.AdminTokens = nil })
		r := do(e2.admin, http.MethodPost, "/admin/v1/offers", "", "application/json", `{}`)
		if r.status != 401 {
			t.Fatalf("status %d", r.status)
		}
		r = do(e2.admin, http.MethodGet, "/admin/v1/offers/x", tokenA, "", "")
		if r.status != 401 {
			t.Fatalf("status %d with a token when none is configured", r.status)
		}
	})
	t.Run("method not allowed needs auth first", func(t *testing.T) {
		r := do(e.admin, http.MethodPut, target, "", "", "")
		if r.status != 401 {
			t.Fatalf("unauthenticated PUT: %d", r.status)
		}
		r = do(e.admin, http.MethodPut, target, tokenA, "", "")
		if r.status != 405 || !strings.Contains(r.header.Get("Allow"), "GET") || !strings.Contains(r.header.Get("Allow"), "DELETE") {
			t.Fatalf("PUT: %d Allow=%q", r.status, r.header.Get("Allow"))
		}
	})
	t.Run("unknown admin path", func(t *testing.T) {
		r := do(e.admin, http.MethodGet, "/admin/v1/nope", tokenA, "", "")
		if r.status != 404 || errBody(t, r).Error != "not_found" {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	})
}

func TestAdminCreateRejects(t *testing.T) {
	big := `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"` + strings.Repeat("a", 9000) + `"}`
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantDesc    []string
	}{
		{"wrong content type", "text/plain", `{}`, 415, []string{"application/json"}},
		{"form content type", "application/x-www-form-urlencoded", `a=b`, 415, []string{"application/json"}},
		{"missing content type", "", `{}`, 415, []string{"application/json"}},
		{"json with charset", "application/json; charset=utf-8", `{"grant":"pre-authorized_code"}`, 400, []string{"credential_configuration_ids"}},
		{"oversized body", "application/json", big, 413, []string{"exceeds"}},
		{"empty body", "application/json", ``, 400, []string{"malformed JSON"}},
		{"malformed json", "application/json", `{"grant":`, 400, []string{"malformed JSON"}},
		{"array body", "application/json", `[]`, 400, []string{"JSON object"}},
		{"trailing data", "application/json", `{"grant":"authorization_code"} {}`, 400, []string{"trailing"}},
		{"duplicate member", "application/json", `{"grant":"authorization_code","grant":"pre-authorized_code"}`, 400, []string{"duplicate member", "grant"}},
		{"nested duplicate", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","claims":{"a":{"b":1,"b":2}}}`, 400, []string{"duplicate member"}},
		{"too deep", "application/json", `{"claims":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, 400, []string{"nesting"}},
		{"unknown member", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","pin":"1"}`, 400, []string{"unknown member", "pin"}},
		{"wrong type", "application/json", `{"credential_configuration_ids":"` + cfgMDL + `","grant":"pre-authorized_code"}`, 400, []string{"credential_configuration_ids"}},
		{"no configurations", "application/json", `{"credential_configuration_ids":[],"grant":"pre-authorized_code"}`, 400, []string{"non-empty"}},
		{"unknown configurations named", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `","nope.1","nope.2"],"grant":"pre-authorized_code"}`, 400, []string{`'nope.1'`, `'nope.2'`}},
		{"duplicate configuration", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `","` + cfgMDL + `"],"grant":"pre-authorized_code"}`, 400, []string{"twice"}},
		{"grant missing", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"]}`, 400, []string{"grant is required"}},
		{"grant unknown", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"implicit"}`, 400, []string{"grant must be"}},
		{"tx_code with authorization code", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"authorization_code","tx_code":{}}`, 400, []string{"tx_code"}},
		{"claims with authorization code", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"authorization_code","claims":` + mdlClaims + `}`, 400, []string{"claims"}},
		{"authorization code without scope", "application/json", `{"credential_configuration_ids":["` + cfgNoScope + `"],"grant":"authorization_code"}`, 400, []string{"no scope", cfgNoScope}},
		{"tx_code too short", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"u","tx_code":{"length":3}}`, 400, []string{"tx_code.length"}},
		{"tx_code too long", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"u","tx_code":{"length":17}}`, 400, []string{"tx_code.length"}},
		{"tx_code input mode", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"u","tx_code":{"input_mode":"emoji"}}`, 400, []string{"input_mode"}},
		{"tx_code description too long", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"u","tx_code":{"description":"` + strings.Repeat("é", 301) + `"}}`, 400, []string{"300"}},
		{"tx_code unknown member", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"u","tx_code":{"value":"1234"}}`, 400, []string{"unknown member"}},
		{"neither claims nor subject", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code"}`, 400, []string{"neither claims nor a subject", cfgMDL}},
		{"claims cover one of two configurations", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `","` + cfgPID + `"],"grant":"pre-authorized_code","claims":{"` + cfgMDL + `":` + mdlClaims + `}}`, 400, []string{"neither claims nor a subject", cfgPID}},
		{"claims keyed by namespace with two configurations", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `","` + cfgPID + `"],"grant":"pre-authorized_code","claims":` + mdlClaims + `}`, 400, []string{"not offered", nsMDL}},
		{"claims unknown element path", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","claims":{"org.iso.18013.5.1":{"family_name":"Doe","given_name":"J","birth_date":"1990-01-01","shoe_size":44}}}`, 400, []string{"org.iso.18013.5.1/shoe_size", cfgMDL}},
		{"claims bad date path", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","claims":{"org.iso.18013.5.1":{"family_name":"Doe","given_name":"J","birth_date":"01/01/1990"}}}`, 400, []string{"org.iso.18013.5.1/birth_date", "full-date"}},
		{"claims missing mandatory", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","claims":{"org.iso.18013.5.1":{"family_name":"Doe","given_name":"J"}}}`, 400, []string{"org.iso.18013.5.1/birth_date", "mandatory"}},
		{"claims unknown namespace", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","claims":{"org.example":{"x":"y"}}}`, 400, []string{"org.example"}},
		{"claims not an object", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","claims":[1]}`, 400, []string{"claims must be a JSON object"}},
		{"claims namespace not an object", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","claims":{"org.iso.18013.5.1":"Doe"}}`, 400, []string{"object of namespaces"}},
		{"claims empty", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","claims":{}}`, 400, []string{"must not be empty"}},
		{"expires_in zero", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"u","expires_in":0}`, 400, []string{"expires_in"}},
		{"expires_in too large", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"u","expires_in":99999999999}`, 400, []string{"expires_in"}},
		{"expires_in fractional", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"u","expires_in":1.5}`, 400, []string{"expires_in"}},
		{"pre-authorized longer than a day", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"u","expires_in":86401}`, 400, []string{"at most 86400"}},
		{"subject too long", "application/json", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"` + strings.Repeat("s", 257) + `"}`, 400, []string{"subject"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := do(e.admin, http.MethodPost, "/admin/v1/offers", tokenA, tc.contentType, tc.body)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.body)
			}
			b := errBody(t, r)
			if b.Error != oauth.CodeInvalidRequest {
				t.Errorf("error = %q", b.Error)
			}
			for _, w := range tc.wantDesc {
				if !strings.Contains(b.ErrorDescription, w) {
					t.Errorf("description %q does not mention %q", b.ErrorDescription, w)
				}
			}
			if len(e.preauth.calls) != 0 {
				t.Errorf("a pre-authorized code was minted for a rejected request")
			}
			if strings.Contains(r.body, "Doe") {
				t.Errorf("error echoes a claim value: %s", r.body)
			}
		})
	}
}

func TestAdminCreatePreAuthorized(t *testing.T) {
	tests := []struct {
		name       string
		txCode     string
		wantMode   string
		wantLen    int
		wantDigits bool
	}{
		{"no tx_code", "", "", 0, false},
		{"empty tx_code object means default numeric 6", `{}`, "numeric", 6, true},
		{"numeric 8 with description", `{"length":8,"input_mode":"numeric","description":"Code from the SMS"}`, "numeric", 8, true},
		{"text 10", `{"length":10,"input_mode":"text"}`, "text", 10, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			body := `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"user-7","claims":` + mdlClaims
			if tc.txCode != "" {
				body += `,"tx_code":` + tc.txCode
			}
			body += `,"expires_in":600}`
			r := do(e.admin, http.MethodPost, "/admin/v1/offers", tokenA, "application/json", body)
			if r.status != 201 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
			var c Created
			mustJSON(t, r.body, &c)
			if r.header.Get("Location") != "/admin/v1/offers/"+c.ID {
				t.Errorf("Location %q", r.header.Get("Location"))
			}
			if len(c.ID) < 43 {
				t.Errorf("offer id %q shorter than 256 bits", c.ID)
			}
			wantURL := testIssuer + "/offers/" + c.ID
			if c.CredentialOfferURI != wantURL {
				t.Errorf("credential_offer_uri %q", c.CredentialOfferURI)
			}
			if c.OfferURI != "openid-credential-offer://?credential_offer_uri="+url.QueryEscape(wantURL) {
				t.Errorf("offer_uri %q", c.OfferURI)
			}
			u, err := url.Parse(c.OfferURI)
			if err != nil || u.Scheme != "openid-credential-offer" || len(u.Query()) != 1 || u.Query().Get("credential_offer_uri") != wantURL {
				t.Errorf("offer_uri does not parse to exactly one credential_offer_uri: %v %v", u, err)
			}
			if c.QRPNG != wantURL+"/qr.png" || c.QRSVG != wantURL+"/qr.svg" || c.Page != wantURL+"/page" {
				t.Errorf("QR/page URLs %q %q %q", c.QRPNG, c.QRSVG, c.Page)
			}
			if want := e.clock.Now().Add(600 * time.Second); !c.ExpiresAt.Equal(want) {
				t.Errorf("expires_at %v want %v", c.ExpiresAt, want)
			}
			pa := e.preauth.last(t)
			if pa.OfferID != c.ID || pa.Subject != "user-7" || len(pa.ConfigurationIDs) != 1 || pa.ConfigurationIDs[0] != cfgMDL || !pa.ExpiresAt.Equal(c.ExpiresAt) {
				t.Errorf("pre-authorization %+v", pa)
			}
			if pa.TxCode != c.TxCode {
				t.Errorf("authz got tx_code %q, response %q", pa.TxCode, c.TxCode)
			}
			g := c.CredentialOffer.Grants.PreAuthorizedCode
			if g == nil || g.PreAuthorizedCode == "" || c.CredentialOffer.Grants.AuthorizationCode != nil {
				t.Fatalf("grants %+v", c.CredentialOffer.Grants)
			}
			if c.CredentialOffer.CredentialIssuer != testIssuer {
				t.Errorf("credential_issuer %q", c.CredentialOffer.CredentialIssuer)
			}
			if tc.txCode == "" {
				if c.TxCode != "" || g.TxCode != nil {
					t.Errorf("unexpected tx_code %q %+v", c.TxCode, g.TxCode)
				}
			} else {
				if g.TxCode == nil || g.TxCode.InputMode != tc.wantMode || g.TxCode.Length != tc.wantLen {
					t.Errorf("tx_code object %+v", g.TxCode)
				}
				if len(c.TxCode) != tc.wantLen {
					t.Errorf("tx_code %d chars, want %d", len(c.TxCode), tc.wantLen)
				}
				digits := regexp.MustCompile(`^[0-9]+$`).MatchString(c.TxCode)
				if tc.wantDigits != digits {
					t.Errorf("tx_code digits=%v, want %v", digits, tc.wantDigits)
				}
				if tc.wantMode == "text" && !regexp.MustCompile(`^[`+textTxCodeAlphabet+`]+$`).MatchString(c.TxCode) {
					t.Errorf("text tx_code outside alphabet")
				}
				// The tx_code must not be stored: not in the record, not in
				// the by-reference offer, not in the offer URI.
				raw, err := e.store.Get(t.Context(), kindOffer, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				var rec record
				if err := storage.Decode(raw, &rec); err != nil {
					t.Fatal(err)
				}
				if tc.wantLen >= 8 && strings.Contains(string(raw), c.TxCode) {
					t.Errorf("stored record contains the tx_code")
				}
				if strings.Contains(c.OfferURI, c.TxCode) {
					t.Errorf("offer URI contains the tx_code")
				}
				pub := do(e.public, http.MethodGet, "/offers/"+c.ID, "", "", "")
				if strings.Contains(pub.body, `"`+c.TxCode+`"`) {
					t.Errorf("by-reference offer contains the tx_code")
				}
			}
			// Admin status carries no secrets.
			st := do(e.admin, http.MethodGet, "/admin/v1/offers/"+c.ID, tokenA, "", "")
			if st.status != 200 {
				t.Fatalf("status %d", st.status)
			}
			for _, secret := range []string{g.PreAuthorizedCode, "Doe", "user-7"} {
				if strings.Contains(st.body, secret) {
					t.Errorf("status response leaks %q: %s", secret, st.body)
				}
			}
			if tc.txCode != "" && strings.Contains(st.body, c.TxCode) {
				t.Errorf("status response leaks tx_code")
			}
		})
	}
}

func TestTxCodesDiffer(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","subject":"u","tx_code":{"length":12,"input_mode":"text"}}`)
		if seen[c.TxCode] || seen[c.ID] {
			t.Fatalf("repeated tx_code or id after %d offers", i)
		}
		seen[c.TxCode], seen[c.ID] = true, true
	}
}

func TestAdminCreateAuthorizationCode(t *testing.T) {
	forEachBackend(t, testAdminCreateAuthorizationCode)
}

func testAdminCreateAuthorizationCode(t *testing.T, newEnv envFactory) {
	e := newEnv(t)
	c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`","`+cfgPID+`"],"grant":"authorization_code","subject":"alice"}`)
	g := c.CredentialOffer.Grants.AuthorizationCode
	if g == nil || c.CredentialOffer.Grants.PreAuthorizedCode != nil {
		t.Fatalf("grants %+v", c.CredentialOffer.Grants)
	}
	if len(g.IssuerState) < 22 { // 22 base64url chars = 132 bits
		t.Errorf("issuer_state %q shorter than 128 bits", g.IssuerState)
	}
	if len(e.preauth.calls) != 0 {
		t.Error("pre-authorized code minted for an authorization_code offer")
	}
	got, err := e.svc.LookupIssuerState(t.Context(), g.IssuerState)
	if err != nil {
		t.Fatalf("LookupIssuerState: %v", err)
	}
	if got.OfferID != c.ID || got.Subject != "alice" || len(got.ConfigurationIDs) != 2 {
		t.Errorf("lookup %+v", got)
	}
	if _, err := e.svc.LookupIssuerState(t.Context(), g.IssuerState+"x"); err != ErrNotFound {
		t.Errorf("unknown issuer_state: %v", err)
	}
	if err := e.svc.MarkRedeemed(t.Context(), c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.LookupIssuerState(t.Context(), g.IssuerState); err != ErrAlreadyRedeemed {
		t.Errorf("redeemed issuer_state: %v", err)
	}
	week := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"authorization_code","expires_in":604800}`)
	if want := e.clock.Now().Add(7 * 24 * time.Hour); !week.ExpiresAt.Equal(want) {
		t.Errorf("authorization_code offer of a week expires at %v, want %v", week.ExpiresAt, want)
	}
	c2 := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"authorization_code"}`)
	e.clock.Advance(DefaultLifetime)
	if _, err := e.svc.LookupIssuerState(t.Context(), c2.CredentialOffer.Grants.AuthorizationCode.IssuerState); err != ErrExpired {
		t.Errorf("expired issuer_state: %v", err)
	}
}

func TestAdminCreateDependencies(t *testing.T) {
	body := `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"u"}`
	t.Run("authz store down", func(t *testing.T) {
		e := newEnv(t)
		e.preauth.fail = storage.ErrUnavailable
		r := do(e.admin, http.MethodPost, "/admin/v1/offers", tokenA, "application/json", body)
		if r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Fatalf("status %d %v", r.status, r.header)
		}
	})
	t.Run("offer store down revokes the code", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Store = downStore{o.Store} })
		r := do(e.admin, http.MethodPost, "/admin/v1/offers", tokenA, "application/json", body)
		if r.status != 503 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if len(e.preauth.revoked) != 1 {
			t.Errorf("revoked %v", e.preauth.revoked)
		}
	})
	t.Run("pre-authorized grant disabled", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.PreAuth = nil })
		r := do(e.admin, http.MethodPost, "/admin/v1/offers", tokenA, "application/json", body)
		if r.status != 400 || !strings.Contains(r.body, "not enabled") {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("claims without catalogue", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Validator = nil })
		r := do(e.admin, http.MethodPost, "/admin/v1/offers", tokenA, "application/json",
			`{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","claims":`+mdlClaims+`}`)
		if r.status != 400 || !strings.Contains(r.body, "catalogue") {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
}

// downStore fails every write and read as an outage.
type downStore struct{ storage.Store }

func (downStore) Create(_ context.Context, _, _ string, _ []byte, _ time.Time) error {
	return storage.ErrUnavailable
}
func (downStore) Get(_ context.Context, _, _ string) ([]byte, error) {
	return nil, storage.ErrUnavailable
}
func (downStore) Advance(context.Context, string, string, storage.States, uint8, []byte, time.Time) ([]byte, uint8, error) {
	return nil, 0, storage.ErrUnavailable
}

func TestStoreOutageIs503(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Store = downStore{o.Store} })
	for _, tc := range []struct {
		name string
		h    http.Handler
		path string
		tok  string
	}{
		{"admin status", e.admin, "/admin/v1/offers/abc", tokenA},
		{"offer fetch", e.public, "/offers/abc", ""},
		{"qr", e.public, "/offers/abc/qr.png", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(tc.h, http.MethodGet, tc.path, tc.tok, "", "")
			if r.status != 503 || r.header.Get("Retry-After") == "" || errBody(t, r).Error != oauth.CodeTemporarilyUnavailable {
				t.Fatalf("status %d %s", r.status, r.body)
			}
		})
	}
	if _, err := e.svc.OfferClaims(t.Context(), "abc", cfgMDL); oauth.As(err) == nil || oauth.As(err).Status != 503 {
		t.Fatalf("OfferClaims on outage: %v", err)
	}
}

func TestAdminDeferred(t *testing.T) {
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		noApprover  bool
		wantStatus  int
		wantApprove []string
		wantReject  []string
	}{
		{"approve", "/admin/v1/deferred/tx-1/approve", "", "", false, 200, []string{"tx-1"}, nil},
		{"approve with empty object", "/admin/v1/deferred/tx-1/approve", "application/json", "{}", false, 200, []string{"tx-1"}, nil},
		{"reject", "/admin/v1/deferred/tx-2/reject", "", "", false, 200, nil, []string{"tx-2"}},
		{"unknown transaction", "/admin/v1/deferred/tx-9/approve", "", "", false, 404, nil, nil},
		{"body not empty", "/admin/v1/deferred/tx-1/approve", "application/json", `{"ok":true}`, false, 400, nil, nil},
		{"body wrong type", "/admin/v1/deferred/tx-1/approve", "text/plain", `yes`, false, 415, nil, nil},
		{"not configured", "/admin/v1/deferred/tx-1/approve", "", "", true, 404, nil, nil},
		{"empty transaction id", "/admin/v1/deferred//approve", "", "", false, 404, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) {
				if tc.noApprover {
					o.Deferred = nil
				}
			})
			r := do(e.admin, http.MethodPost, tc.path, tokenA, tc.contentType, tc.body)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d want %d: %s", r.status, tc.wantStatus, r.body)
			}
			if !equalStrings(e.deferred.approved, tc.wantApprove) || !equalStrings(e.deferred.rejected, tc.wantReject) {
				t.Errorf("approved %v rejected %v", e.deferred.approved, e.deferred.rejected)
			}
			if r.status == 200 {
				var d DeferredDecision
				mustJSON(t, r.body, &d)
				want := "approved"
				if tc.wantReject != nil {
					want = "rejected"
				}
				if d.Decision != want || d.TransactionID == "" {
					t.Errorf("decision %+v", d)
				}
			}
		})
	}
	t.Run("decided twice", func(t *testing.T) {
		e := newEnv(t)
		do(e.admin, http.MethodPost, "/admin/v1/deferred/tx-1/approve", tokenA, "", "")
		r := do(e.admin, http.MethodPost, "/admin/v1/deferred/tx-1/reject", tokenA, "", "")
		if r.status != 409 {
			t.Fatalf("status %d", r.status)
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOpenAPIDocumentCoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	e := newEnv(t)
	r := do(e.admin, http.MethodGet, "/admin/v1/openapi.json", "", "", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d type %q", r.status, r.header.Get("Content-Type"))
	}
	mustJSON(t, r.body, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	inTable := map[string]bool{}
	for _, rt := range adminRoutes {
		m := strings.ToLower(rt.method)
		inTable[rt.pattern+" "+m] = true
		if _, ok := doc.Paths[rt.pattern][m]; !ok {
			t.Errorf("route %s %s is not in the OpenAPI document", rt.method, rt.pattern)
		}
	}
	methods := map[string]bool{"get": true, "post": true, "put": true, "delete": true, "patch": true, "head": true, "options": true}
	for p, ops := range doc.Paths {
		for m := range ops {
			if methods[m] && !inTable[p+" "+m] {
				t.Errorf("OpenAPI documents %s %s which the handler does not serve", m, p)
			}
		}
	}
}
