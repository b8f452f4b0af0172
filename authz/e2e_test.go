package authz

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mdoc-issuer/issuer/oauth"
)

// runCodeFlow drives PAR -> login form -> login -> consent -> code -> token
// over real HTTP and checks every step's contract.
func runCodeFlow(t *testing.T, e *env) {
	w := e.newWallet("wallet-e2e")
	form := w.parForm(testScope + " unknown-scope")
	form.Set("issuer_state", "offer-state-1")
	form.Set("x-extra", "ignored")
	resp := e.par(w, form)
	m := mustStatus(t, resp, http.StatusCreated)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("PAR response without no-store")
	}
	uri := m.str("request_uri")
	if !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") || len(uri) < 40 {
		t.Fatalf("request_uri %q", uri)
	}
	if ei, _ := m["expires_in"].(float64); ei < 5 || ei > 600 {
		t.Fatalf("expires_in %v", m["expires_in"])
	}

	consent := e.login(w, uri)
	for _, want := range []string{`id="approve"`, `id="deny"`, "Mobile driving licence", "family_name", "birth_date"} {
		if !strings.Contains(consent.body, want) {
			t.Fatalf("consent page lacks %q", want)
		}
	}
	p := e.browse(w, http.MethodPost, e.srv.Endpoints().Consent, url.Values{"flow": {consent.flow},
		"csrf_token": {consent.csrf}, "action": {"approve"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, redirectURI+"?") {
		t.Fatalf("approve: %d %q", p.status, p.location)
	}
	u, _ := url.Parse(p.location)
	q := u.Query()
	if q.Get("iss") != e.issuer || q.Get("state") != "state-"+w.id || len(q.Get("code")) < 43 {
		t.Fatalf("authorization response %v", q)
	}

	resp = e.token(w, tokenReq{form: w.codeForm(q.Get("code"))})
	tok := mustStatus(t, resp, http.StatusOK)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("token response without no-store")
	}
	if tok.str("token_type") != oauth.TokenTypeDPoP || len(tok.str("access_token")) < 43 || tok["expires_in"] == nil {
		t.Fatalf("token response %v", tok)
	}
	if _, ok := tok["id_token"]; ok {
		t.Fatal("id_token in token response")
	}
	if _, ok := tok["authorization_details"]; ok {
		t.Fatal("authorization_details for a scope-only request")
	}
	g, err := e.srv.ValidateAccessToken(context.Background(), tok.str("access_token"))
	if err != nil {
		t.Fatal(err)
	}
	if g.ClientID != w.id || g.Subject != DevSubject || g.JKT != w.dpop.JKT || !g.Covers(testConfigID) ||
		g.Covers(otherConfig) || g.WalletProvider != e.provider.Name || g.RequestID == "" ||
		len(g.Scopes) != 1 || g.Scopes[0] != testScope || !g.ExpiresAt.After(g.IssuedAt) {
		t.Fatalf("grant %+v", g)
	}
}

func TestEndToEndCodeFlowMemory(t *testing.T) {
	runCodeFlow(t, newEnv(t))
}
