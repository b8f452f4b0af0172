package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpstreamOIDC(t *testing.T) {
	base := func(dev bool) string {
		d := "true"
		iss := "http://localhost:8080"
		if !dev {
			d, iss = "false", "https://issuer.example"
		}
		return "issuer: " + iss + "\ndevelopment: " + d + "\npki: {country: UT, organization: O}\n" +
			"credential_configurations:\n  mdl:\n    doctype: org.iso.18013.5.1.mDL\n    scope: mdl\n"
	}
	for _, tc := range []struct {
		name  string
		dev   bool
		extra string
		want  string // "" = this block is valid
	}{
		{"minimal", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_secret: s}\n", ""},
		{"loopback http in development", true, "upstream_oidc: {issuer: 'http://127.0.0.1:9999/realms/x', client_id: c, client_secret: s}\n", ""},
		{"everything", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_key_file: key.pem, client_key_id: k1, " +
			"redirect_path: /authorize/idp/cb, scopes: [profile, email], subject_claim: email, subject_prefix: 'idp:', name: Example ID, " +
			"acr_values: [urn:high], max_age: 10m, timeout: 5s}\n", ""},
		{"http outside development", false, "upstream_oidc: {issuer: 'http://127.0.0.1:9999', client_id: c, client_secret: s}\n",
			"upstream_oidc.issuer: must use https"},
		{"http to a remote host", true, "upstream_oidc: {issuer: 'http://idp.example', client_id: c, client_secret: s}\n",
			"upstream_oidc.issuer: must use https"},
		{"issuer missing", true, "upstream_oidc: {client_id: c, client_secret: s}\n", "upstream_oidc.issuer: required"},
		{"issuer with query", true, "upstream_oidc: {issuer: 'https://idp.example?a=b', client_id: c, client_secret: s}\n",
			"upstream_oidc.issuer: must not contain userinfo, a query or a fragment"},
		{"client id missing", true, "upstream_oidc: {issuer: https://idp.example, client_secret: s}\n", "upstream_oidc.client_id: required"},
		{"no client authentication", true, "upstream_oidc: {issuer: https://idp.example, client_id: c}\n",
			"upstream_oidc: client_secret or client_key_file is required"},
		{"secret and key", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_secret: s, client_key_file: key.pem}\n",
			"upstream_oidc: set client_secret or client_key_file, not both"},
		{"key file missing", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_key_file: nope.pem}\n",
			"upstream_oidc.client_key_file: cannot read"},
		{"key id without key", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_secret: s, client_key_id: k}\n",
			"upstream_oidc.client_key_id: set without client_key_file"},
		{"redirect outside authorize", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_secret: s, redirect_path: /cb}\n",
			"upstream_oidc.redirect_path: must be a path under /authorize/"},
		{"redirect on the login page", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_secret: s, redirect_path: /authorize/login}\n",
			"upstream_oidc.redirect_path: /authorize/login is the authorization server's own page"},
		{"redirect with dot segment", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_secret: s, redirect_path: /authorize/../par}\n",
			"upstream_oidc.redirect_path: must not contain dot segments"},
		{"bad scope", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_secret: s, scopes: ['a b']}\n",
			"upstream_oidc.scopes[0]: must be a scope token"},
		{"empty prefix beside password login", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_secret: s, subject_prefix: ''}\n",
			"upstream_oidc.subject_prefix: must not be empty"},
		{"short max_age", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_secret: s, max_age: 10ms}\n",
			"upstream_oidc.max_age: must be between"},
		{"long timeout", true, "upstream_oidc: {issuer: https://idp.example, client_id: c, client_secret: s, timeout: 5m}\n",
			"upstream_oidc.timeout: must be between"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("k"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Parse([]byte(mergeYAML(base(tc.dev), tc.extra)), dir, env(nil))
			var mine []string
			for _, p := range Problems(err) {
				if strings.HasPrefix(p.Path, "upstream_oidc") {
					mine = append(mine, p.Error())
				}
			}
			if tc.want == "" {
				if len(mine) > 0 {
					t.Fatalf("unexpected problems %v", mine)
				}
				return
			}
			if !strings.Contains(strings.Join(mine, "\n"), tc.want) {
				t.Fatalf("want %q, got %v (all: %v)", tc.want, mine, err)
			}
		})
	}
}

func TestUpstreamOIDCDefaults(t *testing.T) {
	const dev = "issuer: http://localhost:8080\ndevelopment: true\npki: {country: UT, organization: O}\n" +
		"credential_configurations:\n  mdl:\n    doctype: org.iso.18013.5.1.mDL\n    scope: mdl\n"
	c, err := Parse([]byte(dev+
		"upstream_oidc: {issuer: https://idp.example, client_id: c, client_secret: s}\n"), t.TempDir(), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	u := c.UpstreamOIDC
	if u == nil || u.CallbackPath() != DefaultUpstreamRedirectPath || u.Prefix() != "oidc:" {
		t.Fatalf("defaults: %+v", u)
	}
	c, err = Parse([]byte(dev), t.TempDir(), env(nil))
	if err != nil || c.UpstreamOIDC != nil {
		t.Fatalf("upstream login must be off unless configured: %v %+v", err, c.UpstreamOIDC)
	}
}

// TestUpstreamOIDCExample validates the commented upstream_oidc block of
// config.example.yaml once uncommented, so the documentation stays valid.
func TestUpstreamOIDCExample(t *testing.T) {
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for _, l := range strings.Split(string(data), "\n") {
		switch {
		case l == "# upstream_oidc:":
			in = true
			block = append(block, "upstream_oidc:")
		case in && strings.HasPrefix(l, "#   # "):
		case in && strings.HasPrefix(l, "#   "):
			block = append(block, "  "+strings.TrimPrefix(l, "#   "))
		default:
			in = false
		}
	}
	if len(block) < 5 {
		t.Fatalf("no upstream_oidc block in the example: %v", block)
	}
	doc := "issuer: https://issuer.example\npki: {country: UT, organization: O}\n" +
		"credential_configurations:\n  mdl:\n    doctype: org.iso.18013.5.1.mDL\n    scope: mdl\n" + strings.Join(block, "\n") + "\n"
	d, err := Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if d.UpstreamOIDC == nil || d.UpstreamOIDC.Name != "Example Login" || d.UpstreamOIDC.ClientID != "mdoc-issuer" {
		t.Fatalf("example block not read: %+v", d.UpstreamOIDC)
	}
	_, err = Parse([]byte(doc), t.TempDir(), env(nil))
	for _, p := range Problems(err) {
		if strings.HasPrefix(p.Path, "upstream_oidc") {
			t.Errorf("example block: %v", p)
		}
	}
}
