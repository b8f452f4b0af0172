package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse(Default(), dir, env(nil))
	if err != nil {
		t.Fatalf("embedded default invalid: %v", err)
	}
	if c.Issuer != "http://localhost:8080" || !c.Development || c.Store.Backend != "memory" {
		t.Fatalf("unexpected default: issuer=%s dev=%v store=%s", c.Issuer, c.Development, c.Store.Backend)
	}
	mdl := c.CredentialConfigurations["org.iso.18013.5.1.mDL"]
	if mdl == nil || mdl.Doctype != "org.iso.18013.5.1.mDL" {
		t.Fatal("default lacks the mDL configuration")
	}
	if c.CredentialConfigurations["eu.europa.ec.eudi.pid.1"] == nil {
		t.Fatal("default lacks the EU PID configuration")
	}
	if c.DataDir != filepath.Join(dir, "data") || c.PKI.Dir != filepath.Join(dir, "data", "pki") {
		t.Fatalf("paths not resolved: %s %s", c.DataDir, c.PKI.Dir)
	}
	if !Bool(c.PKI.AutoInit, false) || !Bool(c.OAuth.DPoP.NonceRequired, false) {
		t.Fatal("development defaults not applied")
	}
	if c.OAuth.CodeLifetime.D() != DefaultCodeLifetime || c.HTTP.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Fatal("defaults not applied")
	}
}

func TestEnvOverrides(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	key2 := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("k", 40)))
	c, err := Parse(Default(), t.TempDir(), env(map[string]string{
		EnvIssuer:      "http://127.0.0.1:9999/tenant",
		EnvListen:      "127.0.0.1:0",
		EnvStore:       "redis",
		EnvRedisURL:    "redis://127.0.0.1:6379/0",
		EnvDataDir:     "/var/lib/issuer",
		EnvLogLevel:    "debug",
		EnvAdminTokens: strings.Repeat("a", 32) + " , " + strings.Repeat("b", 40),
		EnvNonceKeys:   key + "," + key2,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "http://127.0.0.1:9999/tenant" || c.Listen != "127.0.0.1:0" || c.Store.Backend != "redis" ||
		c.Store.RedisURL != "redis://127.0.0.1:6379/0" || c.DataDir != "/var/lib/issuer" || c.Log.Level != "debug" {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if len(c.Admin.Tokens) != 2 || c.Admin.Tokens[0] != strings.Repeat("a", 32) {
		t.Fatalf("admin tokens %q", c.Admin.Tokens)
	}
	keys, err := c.NonceKeys()
	if err != nil || len(keys) != 2 || len(keys[1]) != 40 {
		t.Fatalf("nonce keys %v %v", keys, err)
	}
	if c.PKI.Dir != "/var/lib/issuer/pki" {
		t.Fatalf("pki dir follows data dir: %s", c.PKI.Dir)
	}
}

func TestBadEnvIsReported(t *testing.T) {
	_, err := Parse(Default(), t.TempDir(), env(map[string]string{EnvDevelopment: "maybe"}))
	if err == nil || !strings.Contains(err.Error(), "env ISSUER_DEVELOPMENT: must be true or false") {
		t.Fatalf("got %v", err)
	}
}

// TestAllProblemsReported: a configuration with three independent mistakes
// reports all three, each with its path.
func TestAllProblemsReported(t *testing.T) {
	doc := `
issuer: https://issuer.example/tenant?x=1
development: true
pki: {country: UT, organization: Org}
credential_configurations:
  mdl:
    scope: mdl
    batch_size: 0
    validity: 1m
`
	_, err := Parse([]byte(doc), t.TempDir(), env(nil))
	if err == nil {
		t.Fatal("accepted")
	}
	got := map[string]bool{}
	for _, p := range Problems(err) {
		got[p.Error()] = true
	}
	for _, want := range []string{
		"issuer: must not contain a query",
		"credential_configurations.mdl.doctype: required",
		"credential_configurations.mdl.validity: must be between 1h and 87600h",
	} {
		if !got[want] {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if len(got) != 3 {
		t.Errorf("want exactly 3 problems, got %d:\n%v", len(got), err)
	}
}

func TestDecodeStrict(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown key":        "issuer: https://a.example\nissuer_url: x\n",
		"unknown nested key": "store:\n  backend: memory\n  url: x\n",
		"bare number":        "oauth:\n  par_lifetime: 60\n",
		"bad duration":       "oauth:\n  par_lifetime: sixty\n",
		"two documents":      "issuer: https://a.example\n---\nissuer: https://b.example\n",
		"empty":              "",
		"wrong type":         "credential_configurations: [1]\n",
		"duplicate key":      "issuer: https://a.example\nissuer: https://b.example\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(doc)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	_, err := Decode([]byte("foo: 1\nbar: 2\n"))
	if err == nil || !strings.Contains(err.Error(), "foo") || !strings.Contains(err.Error(), "bar") {
		t.Fatalf("every unknown key must be reported: %v", err)
	}
}

func TestDecodeErrorsHideValues(t *testing.T) {
	_, err := Decode([]byte("secrets:\n  nonce_keys: c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw\n"))
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("got %v", err)
	}
}

func TestIssuerIdentifier(t *testing.T) {
	for _, tc := range []struct {
		name, issuer string
		dev          bool
		want         string // "" = valid
	}{
		{"ok/https", "https://issuer.example", false, ""},
		{"ok/https path", "https://issuer.example/tenant", false, ""},
		{"ok/https port", "https://issuer.example:8443/t", false, ""},
		{"ok/dev localhost", "http://localhost:8080", true, ""},
		{"ok/dev 127.0.0.2", "http://127.0.0.2:8080", true, ""},
		{"ok/dev ::1", "http://[::1]:8080", true, ""},
		{"fail/http not dev", "http://localhost:8080", false, "must use https"},
		{"fail/http non loopback in dev", "http://issuer.example", true, "loopback"},
		{"fail/query", "https://issuer.example?a=b", false, "query"},
		{"fail/empty query", "https://issuer.example?", false, "query"},
		{"fail/fragment", "https://issuer.example#x", false, "fragment"},
		{"fail/trailing slash", "https://issuer.example/", false, "must not end with '/'"},
		{"fail/userinfo", "https://u:p@issuer.example", false, "userinfo"},
		{"fail/no host", "https:///path", false, "host"},
		{"fail/path chars", "https://issuer.example/a:b/*", false, "path must be"},
		{"fail/escaped path", "https://issuer.example/a%20b", false, "path must be"},
		{"fail/ftp", "ftp://issuer.example", false, "https"},
		{"fail/empty", "", false, "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &checker{}
			k.issuer("issuer", tc.issuer, tc.dev)
			if tc.want == "" {
				if len(k.problems) != 0 {
					t.Fatalf("rejected: %v", k.problems)
				}
				return
			}
			if len(k.problems) == 0 || !strings.Contains(k.problems[0].Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, k.problems)
			}
		})
	}
}

func TestValidationRules(t *testing.T) {
	base := func() string {
		return "issuer: http://localhost:8080\ndevelopment: true\npki: {country: UT, organization: O}\n" +
			"credential_configurations:\n  mdl:\n    doctype: org.iso.18013.5.1.mDL\n    scope: mdl\n"
	}
	for _, tc := range []struct{ name, extra, want string }{
		{"par too short", "oauth: {par_lifetime: 1s}\n", "oauth.par_lifetime: must be between 5s and 10m0s"},
		{"code too long", "oauth: {code_lifetime: 61s}\n", "oauth.code_lifetime: must be between"},
		{"redis without url", "store: {backend: redis}\n", "store.redis_url: required"},
		{"bad backend", "store: {backend: etcd}\n", "store.backend: must be one of"},
		{"short nonce key", "secrets: {nonce_keys: [YWJj]}\n", "secrets.nonce_keys[0]: must decode to at least 32 bytes"},
		{"short admin token", "admin: {tokens: [short]}\n", "admin.tokens[0]: must be at least 32"},
		{"admin listen same", "listen: localhost:1\nadmin: {listen: \"localhost:1\"}\n", "admin.listen: must differ"},
		{"response without request", "encryption: {enabled: true, response_required: true}\n", "encryption.request_required: must be true"},
		{"bad enc", "encryption: {enabled: true, enc_values: [A1]}\n", "encryption.enc_values[0]: must be one of"},
		{"required but disabled", "encryption: {request_required: true}\n", "encryption.enabled: must be true"},
		{"tls half", "tls: {cert_file: a.pem}\n", "tls: cert_file and key_file must be set together"},
		{"wallet provider without anchors", "wallet_providers: [{name: w}]\n", "wallet_providers[0]: roots or jwks is required"},
		{"missing root file", "wallet_providers: [{name: w, roots: [nope.pem]}]\n", "wallet_providers[0].roots[0]: cannot read"},
		{"device as root", "wallet_providers: [{name: w, roots: [/dev/zero]}]\n", "wallet_providers[0].roots[0]: /dev/zero is not a regular file"},
		{"wildcard redirect", "wallet_providers: [{name: w, jwks: j.json, redirect_uris: ['https://a/*']}]\n", "redirect_uris[0]: must be an absolute URI without wildcards"},
		{"duplicate display locale", "display: [{name: a, locale: en}, {name: b, locale: EN}]\n", "display[1].locale: duplicate locale"},
		{"bad locale", "display: [{name: a, locale: 'en_US'}]\n", "display[0].locale: not a BCP 47"},
		{"logo without uri", "display: [{name: a, logo: {alt_text: x}}]\n", "display[0].logo.uri: required"},
		{"auto_init outside dev", "pki: {country: UT, organization: O, auto_init: true}\ndevelopment: false\n", "pki.auto_init: allowed only with development"},
		{"bad country", "pki: {country: uta, organization: O}\n", "pki.country: must be an ISO 3166-1"},
		{"missing users file", "users_file: users.yaml\n", "users_file: cannot read"},
		{"bad element type", "doctypes: [{doctype: x, namespaces: {ns: {el: {type: str}}}}]\n", "doctypes[0].namespaces.ns.el.type: must be one of"},
		{"tx attempts", "oauth: {pre_authorized: {tx_code_max_attempts: 50}}\n", "oauth.pre_authorized.tx_code_max_attempts: must be in 1..20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "j.json"), []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Parse([]byte(mergeYAML(base(), tc.extra)), dir, env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

// mergeYAML appends extra to base, dropping the base's top-level keys that
// extra sets again (yaml.v3 rejects duplicate keys).
func mergeYAML(base, extra string) string {
	keys := map[string]bool{}
	for _, l := range strings.Split(extra, "\n") {
		if k, _, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, " ") {
			keys[k] = true
		}
	}
	var out []string
	skipping := false
	for _, l := range strings.Split(base, "\n") {
		if !strings.HasPrefix(l, " ") {
			k, _, _ := strings.Cut(l, ":")
			skipping = keys[k]
		}
		if !skipping {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n" + extra
}

func TestClaimsCheckedAgainstConfiguredDoctype(t *testing.T) {
	doc := `
issuer: http://localhost:8080
development: true
pki: {country: UT, organization: O}
doctypes:
  - doctype: org.example.card.1
    namespaces:
      org.example.card.1:
        name: {type: string, mandatory: true, display: [{name: Name, locale: en}]}
credential_configurations:
  card:
    doctype: org.example.card.1
    scope: card
    claims:
      org.example.card.1: [name, colour, name]
      org.example.other: [x]
`
	_, err := Parse([]byte(doc), t.TempDir(), env(nil))
	for _, want := range []string{
		"credential_configurations.card.claims.org.example.card.1[1]: element colour not in doctype org.example.card.1",
		"credential_configurations.card.claims.org.example.card.1[2]: duplicate element name",
		"credential_configurations.card.claims.org.example.other: namespace not in doctype org.example.card.1",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}

func TestProductionRequirements(t *testing.T) {
	doc := `
issuer: https://issuer.example
pki: {country: UT, organization: O}
credential_configurations:
  mdl: {doctype: org.iso.18013.5.1.mDL, scope: mdl, proof_types: [attestation]}
admin: {pprof: true}
`
	_, err := Parse([]byte(doc), t.TempDir(), env(nil))
	for _, want := range []string{
		"admin.pprof: needs admin.tokens",
		"admin.pprof: needs admin.listen",
		"secrets.nonce_keys: required outside development",
		"wallet_providers: at least one trusted wallet provider is required outside development",
		"credential_configurations.mdl: key attestations are required",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}

// TestExampleConfig loads the shipped config.example.yaml with the trust
// files it names and the secrets it expects from the environment.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("config.yaml", data)
	certPEM, keyPEM, jwks := testTrust(t)
	write("trust/wallet-provider-root.pem", certPEM)
	write("trust/wallet-provider.jwks.json", jwks)
	write("trust/key-attestation-root.pem", certPEM)
	write("secrets/request-encryption-key.pem", keyPEM)
	write("tls/cert.pem", certPEM)
	write("tls/key.pem", keyPEM)
	write("users.yaml", []byte("users: []\n"))
	write("claims.yaml", []byte("subjects: {}\n"))
	c, err := Load(filepath.Join(dir, "config.yaml"), env(map[string]string{
		EnvNonceKeys:   base64.StdEncoding.EncodeToString([]byte(strings.Repeat("n", 32))),
		EnvAdminTokens: strings.Repeat("t", 43),
	}))
	if err != nil {
		t.Fatalf("config.example.yaml does not validate:\n%v", err)
	}
	if c.Development {
		t.Fatal("the example must be production-shaped (development: false)")
	}
	if c.WalletProviders[0].Roots[0] != filepath.Join(dir, "trust/wallet-provider-root.pem") {
		t.Fatalf("relative paths resolve against the config file: %s", c.WalletProviders[0].Roots[0])
	}
}

func testTrust(t *testing.T) (certPEM, keyPEM, jwks []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, Algorithm: "ES256", KeyID: "k1"}}})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), jwks
}

func FuzzDecode(f *testing.F) {
	f.Add(Default())
	f.Add([]byte("issuer: https://a.example\noauth: {par_lifetime: 5s}\n"))
	f.Add([]byte("credential_configurations: {a: {doctype: x, validity: 1h}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			return
		}
		c.baseDir = t.TempDir()
		c.applyDefaults()
		_ = c.validate()
	})
}

func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{"ISSUER_REDIS_URI=x", "ISSUER_REDIS_URL=y", "ISSUER_TEST_REDIS_URL=z", "HOME=/", "ISSUER_LISTEN="})
	if len(got) != 1 || got[0] != "ISSUER_REDIS_URI" {
		t.Fatalf("got %v", got)
	}
}
