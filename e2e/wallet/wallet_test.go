package wallet

import (
	"strings"
	"testing"
	"time"
)

func TestWellKnownInsertsBeforePath(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"https://issuer.example", "https://issuer.example/.well-known/openid-credential-issuer"},
		{"https://issuer.example/", "https://issuer.example/.well-known/openid-credential-issuer"},
		{"https://issuer.example/tenant/a", "https://issuer.example/.well-known/openid-credential-issuer/tenant/a"},
	} {
		got, err := wellKnown(tc.id, "openid-credential-issuer")
		if err != nil || got != tc.want {
			t.Errorf("wellKnown(%q) = %q, %v; want %q", tc.id, got, err, tc.want)
		}
	}
	if _, err := wellKnown("not a url", "x"); err == nil {
		t.Error("accepted an identifier without host")
	}
}

func TestParseFormFindsInputsAndButtons(t *testing.T) {
	page := `<html><body><form id="login" method="post" action="/authorize/login">
<input type="hidden" name="csrf" value="tok">
<input id="username" name="username"><input type="password" name="password">
<button id="submit" name="action" value="login">Sign in</button>
<button id="cancel" name="action" value="cancel">Cancel</button></form></body></html>`
	f, err := parseForm(page)
	if err != nil {
		t.Fatal(err)
	}
	if f.action != "/authorize/login" || f.values.Get("csrf") != "tok" || !f.has("username") || !f.has("password") {
		t.Fatalf("form %+v", f)
	}
	if n, v, ok := f.button("login"); !ok || n != "action" || v != "login" {
		t.Fatalf("login button %q %q %v", n, v, ok)
	}
	if _, v, ok := f.button("cancel"); !ok || v != "cancel" {
		t.Fatal("no cancel button")
	}
	consent, err := parseForm(`<form method="post"><button id="approve" name="action" value="approve">OK</button></form>`)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := consent.button("cancel"); ok {
		t.Fatal("found a cancel button on a page without one")
	}
	if _, v, ok := consent.button("approve"); !ok || v != "approve" {
		t.Fatal("no approve button")
	}
	if _, err := parseForm("<p>no form</p>"); err == nil {
		t.Fatal("accepted a page without a form")
	}
}

func TestRedactHidesSecrets(t *testing.T) {
	in := `{"access_token":"abc.def","c_nonce":"n0nce","token_type":"DPoP"} code=xyz&state=s`
	out := redact(in)
	for _, secret := range []string{"abc.def", "n0nce", "xyz"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q not redacted: %s", secret, out)
		}
	}
	if !strings.Contains(out, `"token_type":"DPoP"`) || !strings.Contains(out, "state=s") {
		t.Errorf("redacted too much: %s", out)
	}
}

func TestDPoPProofClaims(t *testing.T) {
	k := NewKey()
	p, err := DPoPProof(k, "POST", "https://as.example/token", "at", "n", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	c, err := claimsOf(p)
	if err != nil {
		t.Fatal(err)
	}
	if c["htm"] != "POST" || c["htu"] != "https://as.example/token" || c["nonce"] != "n" || c["ath"] == nil || c["jti"] == nil {
		t.Fatalf("claims %v", c)
	}
}
