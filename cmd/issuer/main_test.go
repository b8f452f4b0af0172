package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/config"
	"github.com/mdoc-issuer/issuer/oauth"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// devConfig is the embedded default with its data dir in a temp dir and the
// listener on a free loopback port.
func devConfig(t *testing.T, extra map[string]string) *config.Config {
	t.Helper()
	env := map[string]string{config.EnvListen: "127.0.0.1:0"}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.Parse(config.Default(), t.TempDir(), envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type running struct {
	base, admin string
	logs        *syncBuf
}

// start runs serve as `go run ./cmd/issuer` would, until the test ends.
func start(t *testing.T, cfg *config.Config) running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuf{}
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil)), func(p, a net.Addr) { addrs <- [2]net.Addr{p, a} })
	}()
	var got [2]net.Addr
	select {
	case got = <-addrs:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after shutdown", err)
		}
	})
	r := running{base: "http://" + got[0].String(), logs: logs}
	if got[1] != nil {
		r.admin = "http://" + got[1].String()
	}
	return r
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func TestServeEmbeddedDefault(t *testing.T) {
	cfg := devConfig(t, nil)
	r := start(t, cfg)

	res, body := get(t, r.base+"/.well-known/openid-credential-issuer")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("issuer metadata: %d %s", res.StatusCode, body)
	}
	var md map[string]any
	if err := json.Unmarshal(body, &md); err != nil {
		t.Fatal(err)
	}
	if md["credential_issuer"] != "http://localhost:8080" {
		t.Fatalf("credential_issuer %v", md["credential_issuer"])
	}
	confs, _ := md["credential_configurations_supported"].(map[string]any)
	mdl, _ := confs["org.iso.18013.5.1.mDL"].(map[string]any)
	if mdl["doctype"] != "org.iso.18013.5.1.mDL" || confs["eu.europa.ec.eudi.pid.1"] == nil {
		t.Fatalf("configurations %v", confs)
	}

	res, body = get(t, r.base+"/.well-known/oauth-authorization-server")
	var as map[string]any
	if res.StatusCode != 200 || json.Unmarshal(body, &as) != nil || as["issuer"] != "http://localhost:8080" {
		t.Fatalf("AS metadata: %d %s", res.StatusCode, body)
	}

	res, body = get(t, r.base+"/.well-known/openid-credential-issuer", "Accept", "application/jwt")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/jwt" || strings.Count(string(body), ".") != 2 {
		t.Fatalf("signed metadata from the dev PKI: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}

	res, body = get(t, r.base+"/pki/iaca.pem")
	if blk, _ := pem.Decode(body); res.StatusCode != 200 || blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("IACA certificate: %d", res.StatusCode)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if res, body := get(t, r.base+p); res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", p, res.StatusCode, body)
		}
	}
	res, body = get(t, r.base+"/metrics")
	if res.StatusCode != 200 || !strings.Contains(string(body), `issuer_http_requests_total{error="",method="GET",route="readyz",status="200"} 1`) {
		t.Fatalf("metrics: %d\n%s", res.StatusCode, body)
	}
	if !strings.Contains(r.logs.String(), `"msg":"issuer listening","issuer":"http://localhost:8080"`) {
		t.Fatalf("start log: %s", r.logs.String())
	}
	// Development material is created once in data_dir.
	for _, f := range []string{"secrets/nonce-keys", "pki/iaca.pem", "pki/metadata.pem"} {
		st, err := os.Stat(filepath.Join(cfg.DataDir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.HasSuffix(f, "keys") && st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", f, st.Mode())
		}
	}
}

// TestRoutesRejectMalformed walks every mounted route with malformed
// requests: each answer is a 4xx with a JSON error body, never a 5xx.
func TestRoutesRejectMalformed(t *testing.T) {
	token := strings.Repeat("a", 40)
	cfg := devConfig(t, map[string]string{config.EnvAdminTokens: token})
	cfg.HTTP.MaxBodyBytes = 4096
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ts := httptest.NewServer(a.web.Handler())
	defer ts.Close()

	routes := a.web.Routes()
	if len(routes) < 6 {
		t.Fatalf("only %d routes mounted", len(routes))
	}
	big := strings.Repeat("x", 5000)
	for _, rt := range routes {
		path := strings.ReplaceAll(strings.ReplaceAll(rt.Path, ":id", "abc"), "*", "x")
		cases := []struct {
			name, method, ct, body string
			want                   int // 0 = any 4xx
		}{
			{"oversized", rt.Methods[0], "application/json", `{"a":"` + big + `"}`, 413},
			{"broken json", rt.Methods[0], "application/json", `{"a":`, 0},
			{"wrong content type", rt.Methods[0], "text/plain", "hello", 0},
			{"form as json", rt.Methods[0], "application/json", "a=b&c=d", 0},
		}
		if !slices.Contains(rt.Methods, http.MethodPut) {
			cases = append(cases, struct {
				name, method, ct, body string
				want                   int
			}{"wrong method", http.MethodPut, "application/json", "{}", 405})
		}
		for _, tc := range cases {
			t.Run(rt.Name+"/"+tc.name, func(t *testing.T) {
				req, _ := http.NewRequest(tc.method, ts.URL+path, strings.NewReader(tc.body))
				req.Header.Set("Content-Type", tc.ct)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				if res.StatusCode >= 500 {
					t.Fatalf("%d %s", res.StatusCode, b)
				}
				if tc.want == 0 && (tc.method == http.MethodGet || rt.Name == "nonce") {
					// A GET ignores the body, and so does the nonce
					// endpoint (OpenID4VCI §7.1: a POST with no defined
					// body): a success is correct.
					return
				}
				if res.StatusCode < 400 || (tc.want != 0 && res.StatusCode != tc.want) {
					t.Fatalf("got %d, want %d: %s", res.StatusCode, tc.want, b)
				}
				var eb oauth.Body
				if err := json.Unmarshal(b, &eb); err != nil || eb.Error == "" || res.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("error body %q (%s)", b, res.Header.Get("Content-Type"))
				}
			})
		}
	}
}

func TestConfigValidateCommand(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`
issuer: http://issuer.example
pki: {country: UT, organization: O}
credential_configurations:
  mdl: {doctype: org.iso.18013.5.1.mDL, scope: mdl, batch_size: 500}
oauth: {code_lifetime: 5m}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"config", "validate", "--config", bad}, &out, &errb); code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"issuer: must use https",
		"credential_configurations.mdl.batch_size: must be in 1..100",
		"oauth.code_lifetime: must be between",
		"secrets.nonce_keys: required outside development",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("missing %q in:\n%s", want, errb.String())
		}
	}

	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte(`
issuer: http://localhost:8080
development: true
pki: {country: UT, organization: O}
credential_configurations:
  mdl: {doctype: org.iso.18013.5.1.mDL, scope: mdl, claims: {org.iso.18013.5.1: [family_name, favourite_colour]}}
  card: {doctype: org.example.card, scope: card}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := run(context.Background(), []string{"config", "validate", "--config", unknown}, &out, &errb); code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"credential_configurations.mdl.claims.org.iso.18013.5.1[1]: element favourite_colour not in doctype",
		"credential_configurations.card.doctype: org.example.card is neither built in",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("missing %q in:\n%s", want, errb.String())
		}
	}

	out.Reset()
	if code := run(context.Background(), []string{"config", "validate"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "ok") {
		t.Fatalf("embedded default: exit %d %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"config", "frobnicate"}, &out, &errb); code != 2 {
		t.Fatalf("bad subcommand exit %d", code)
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "issuer ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run(context.Background(), []string{"nope"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}

func TestHealthcheckCommand(t *testing.T) {
	status := http.StatusOK
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer ts.Close()
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"healthcheck", "--url", ts.URL}, io.Discard, &errb); code != 0 {
		t.Fatalf("healthy: exit %d %s", code, errb.String())
	}
	status = http.StatusServiceUnavailable
	if code := run(context.Background(), []string{"healthcheck", "--url", ts.URL}, io.Discard, &errb); code != 1 {
		t.Fatalf("unhealthy: exit %d", code)
	}
	ts.Close()
	if code := run(context.Background(), []string{"healthcheck", "--url", ts.URL, "--timeout", "1s"}, io.Discard, &errb); code != 1 {
		t.Fatalf("down: exit %d", code)
	}
}

func TestResolveAllCatalogueElements(t *testing.T) {
	cfg := devConfig(t, nil)
	cfg.CredentialConfigurations["org.iso.18013.5.1.mDL"].Claims = nil
	_, confs, err := resolveConfigurations(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mdl *resolvedConf
	for i := range confs {
		if confs[i].ID == "org.iso.18013.5.1.mDL" {
			mdl = &confs[i]
		}
	}
	claims := mdl.Metadata.Claims
	if len(claims) < 11 || !claims[0].Mandatory || claims[len(claims)-1].Mandatory {
		t.Fatalf("all elements, mandatory first: %d claims", len(claims))
	}
}

func TestDevKeyCreatedOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s", "k")
	k1, err := devKey(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := devKey(p)
	if err != nil || !bytes.Equal(k1, k2) || len(k1) != 32 {
		t.Fatal("key not reused")
	}
	if err := os.WriteFile(p, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := devKey(p); err == nil {
		t.Fatal("corrupt key accepted")
	}
}

func TestServeOnRedis(t *testing.T) {
	url := os.Getenv("ISSUER_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("ISSUER_TEST_REQUIRE_REDIS") == "1" {
			t.Fatal("ISSUER_TEST_REDIS_URL not set but ISSUER_TEST_REQUIRE_REDIS=1")
		}
		t.Skip("ISSUER_TEST_REDIS_URL not set")
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	cfg := devConfig(t, map[string]string{
		config.EnvStore: "redis", config.EnvRedisURL: url,
		config.EnvKeyPrefix: "test-cmd-" + hex.EncodeToString(b[:]) + ":",
	})
	r := start(t, cfg)
	if res, body := get(t, r.base+"/readyz"); res.StatusCode != 200 {
		t.Fatalf("readyz on redis: %d %s", res.StatusCode, body)
	}
}

func TestSeparateAdminListener(t *testing.T) {
	cfg := devConfig(t, map[string]string{config.EnvAdminListen: "localhost:0"})
	r := start(t, cfg)
	if res, _ := get(t, r.base+"/metrics"); res.StatusCode != 404 {
		t.Fatalf("metrics on the public listener: %d", res.StatusCode)
	}
	if res, _ := get(t, r.admin+"/metrics"); res.StatusCode != 200 {
		t.Fatalf("metrics on the admin listener: %d", res.StatusCode)
	}
}

func TestPKIInitCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfgPath, []byte(`
issuer: http://localhost:8080
development: true
pki: {country: UT, organization: Test Authority, auto_init: false}
credential_configurations:
  mdl: {doctype: org.iso.18013.5.1.mDL, scope: mdl}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"pki", "init", "--config", cfgPath}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "IACA") {
		t.Fatalf("output %s", out.String())
	}
	before, err := os.ReadFile(filepath.Join(dir, "data", "pki", "iaca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), []string{"pki", "init", "--config", cfgPath}, &out, &errb); code != 0 {
		t.Fatalf("second run exit %d: %s", code, errb.String())
	}
	after, _ := os.ReadFile(filepath.Join(dir, "data", "pki", "iaca.pem"))
	if !bytes.Equal(before, after) {
		t.Fatal("pki init overwrote the IACA")
	}
}

// TestServeUnderPath: an identifier with a path moves every endpoint under
// it and the well-known documents to the inserted (and legacy) locations.
func TestServeUnderPath(t *testing.T) {
	cfg := devConfig(t, map[string]string{config.EnvIssuer: "http://localhost:8080/tenant"})
	r := start(t, cfg)
	for _, p := range []string{
		"/.well-known/openid-credential-issuer/tenant",
		"/tenant/.well-known/openid-credential-issuer",
		"/.well-known/oauth-authorization-server/tenant",
		"/tenant/.well-known/oauth-authorization-server",
		"/tenant/pki/iaca.pem",
	} {
		res, body := get(t, r.base+p)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", p, res.StatusCode, body)
		}
		if strings.Contains(p, "openid-credential-issuer") && !strings.Contains(string(body), `"credential_issuer":"http://localhost:8080/tenant"`) {
			t.Fatalf("%s: %s", p, body)
		}
	}
	if res, _ := get(t, r.base+"/.well-known/openid-credential-issuer"); res.StatusCode != 404 {
		t.Fatalf("root metadata served for a tenant issuer: %d", res.StatusCode)
	}
}

func TestExtraDoctypes(t *testing.T) {
	// The example's doctypes pass the mdoc catalogue's definition checks.
	b, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := config.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalogue(ex); err != nil {
		t.Fatalf("example doctypes: %v", err)
	}

	doc := `
issuer: http://localhost:8080
development: true
pki: {country: UT, organization: O}
doctypes:
  - doctype: org.example.card.1
    namespaces:
      org.example.card.1:
        holder: {type: string, mandatory: true, display: [{name: Holder, locale: en}]}
        tags: {type: array}
credential_configurations:
  card: {doctype: org.example.card.1, scope: card, claims: {org.example.card.1: [holder]}}
`
	cfg, err := config.Parse([]byte(doc), t.TempDir(), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := resolveConfigurations(cfg); err == nil || !strings.Contains(err.Error(), "array without items") {
		t.Fatalf("array without items accepted: %v", err)
	}
	cfg.Doctypes[0].Namespaces["org.example.card.1"]["tags"].Items = &config.Element{Type: "string"}
	_, confs, err := resolveConfigurations(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl := confs[0].Metadata.Claims
	if len(cl) != 1 || !cl[0].Mandatory || len(cl[0].Display) != 1 || cl[0].Display[0].Name != "Holder" {
		t.Fatalf("claims %+v", cl)
	}
}
