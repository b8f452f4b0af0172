package ui

import (
	"bytes"
	"strings"
	"testing"
)

func TestTemplatesRenderStableIDsAndEscape(t *testing.T) {
	tm, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data any
		want []string
	}{
		{"login.html", LoginData{Action: "https://as.example/authorize/login", Flow: "f1", CSRF: "c1", Client: "w<1>", Username: `a"b`, Error: "bad"},
			[]string{`<form id="login" method="post" action="https://as.example/authorize/login"`, `id="username" name="username" type="text" value="a&#34;b"`,
				`id="password" name="password" type="password"`, `id="submit" name="action" value="login"`, `id="cancel" name="action" value="cancel"`,
				`name="csrf_token" value="c1"`, `name="flow" value="f1"`, `w&lt;1&gt;`, `id="login-error"`}},
		{"login.html", LoginData{Action: "/l", Flow: "f", CSRF: "c", Client: "w", Upstream: "Idp <X>", NoPassword: true},
			[]string{`id="upstream" name="action" value="upstream"`, `Sign in with Idp &lt;X&gt;`, `id="cancel"`, `name="csrf_token" value="c"`}},
		{"consent.html", ConsentData{Action: "/c", Flow: "f", CSRF: "c", Client: "w", Items: []ConsentItem{{ID: "mdl", Display: "mDL", Claims: []string{"given_name", "<script>"}}}},
			[]string{`<form id="consent" method="post"`, `id="approve" name="action" value="approve"`, `id="deny" name="action" value="deny"`,
				`data-configuration-id="mdl"`, `<li class="claim">given_name</li>`, `&lt;script&gt;`}},
		{"error.html", ErrorData{Code: "invalid_request_uri", Description: "x<y"}, []string{`<code id="error-code">invalid_request_uri</code>`, `x&lt;y`}},
	}
	for _, c := range cases {
		var b bytes.Buffer
		if err := tm.ExecuteTemplate(&b, c.name, c.data); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Fatalf("%s lacks %q:\n%s", c.name, w, b.String())
			}
		}
		if strings.Contains(b.String(), "<script>") {
			t.Fatalf("%s: unescaped markup", c.name)
		}
	}
}
