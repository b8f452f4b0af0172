package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mdoc-issuer/issuer/pki"
)

// repoRoot is the module root relative to this package (go test runs in it).
const repoRoot = ".."

const conformanceGuide = repoRoot + "/docs/conformance.md"

// guideFiles returns the fenced blocks of docs/conformance.md that follow a
// "<!-- file: NAME -->" marker, by NAME.
func guideFiles(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(conformanceGuide)
	if err != nil {
		t.Fatalf("reading the conformance guide: %v", err)
	}
	re := regexp.MustCompile("(?s)<!-- file: ([^ ]+) -->\\s*```[a-z]*\\n(.*?)\\n```")
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	for _, name := range []string{"issuer.yaml", "users.yaml", "claims.yaml", "suite-config.json"} {
		if out[name] == "" {
			t.Fatalf("the guide has no <!-- file: %s --> block", name)
		}
	}
	return out
}

// TestConformanceGuideSuiteConfig checks the example suite configuration:
// valid JSON, and every element id its browser scripts use exists in the
// issuer's login, consent or error page templates.
func TestConformanceGuideSuiteConfig(t *testing.T) {
	files := guideFiles(t)
	var cfg struct {
		Browser  []browserEntry `json:"browser"`
		Override map[string]struct {
			Browser []browserEntry `json:"browser"`
		} `json:"override"`
	}
	if err := json.Unmarshal([]byte(files["suite-config.json"]), &cfg); err != nil {
		t.Fatalf("suite-config.json is not valid JSON: %v", err)
	}
	entries := cfg.Browser
	for _, o := range cfg.Override {
		entries = append(entries, o.Browser...)
	}
	var templates strings.Builder
	pages, err := filepath.Glob(filepath.Join(repoRoot, "authz", "ui", "*.html"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no authz/ui templates: %v", err)
	}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		templates.Write(b)
	}
	ids := 0
	for _, e := range entries {
		for _, task := range e.Tasks {
			for _, c := range task.Commands {
				if len(c) < 3 || c[1] != "id" || c[2] == "submission_complete" {
					continue // submission_complete is on the suite's callback page
				}
				ids++
				if !strings.Contains(templates.String(), fmt.Sprintf("id=%q", c[2])) {
					t.Errorf("task %q uses element id %q, which no authz/ui template has", task.Task, c[2])
				}
			}
		}
	}
	if ids == 0 {
		t.Fatal("the browser scripts use no element ids")
	}
}

type browserEntry struct {
	Match string `json:"match"`
	Tasks []struct {
		Task     string  `json:"task"`
		Commands [][]any `json:"commands"` // strings and numbers

	} `json:"tasks"`
}

// TestConformanceGuideDeployment deploys the guide's issuer.yaml, users.yaml
// and claims.yaml as written (deployment values overridden by ISSUER_*
// variables only), validates them with `issuer config validate`, creates the
// PKI with `issuer pki init` and runs the guide's `issuer selftest` command
// with a wallet attester made the way §3 makes it.
func TestConformanceGuideDeployment(t *testing.T) {
	skipProcessTests(t)
	files := guideFiles(t)
	bin := issuerBinary(t)
	dir := t.TempDir()
	for _, name := range []string{"issuer.yaml", "users.yaml", "claims.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(files[name]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"trust", "secrets", "tls"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	attester := newTestCA(t, "guide wallet attester", nil)
	writePEMFile(t, filepath.Join(dir, "trust", "suite-attester-ca.pem"), "CERTIFICATE", attester.Root.Raw)
	writePEMFile(t, filepath.Join(dir, "suite-attester.pem"), "CERTIFICATE", attester.Leaf.Raw)
	writeECKey(t, filepath.Join(dir, "suite-attester.key"), attester.LeafKey)
	writeECKey(t, filepath.Join(dir, "secrets", "request-encryption-key.pem"), newKeys(1)[0])
	tlsRoots := writeTLSFiles(t, filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem"))

	port := freeLoopbackPort(t)
	d := &deployment{
		Issuer: fmt.Sprintf("https://127.0.0.1:%d", port), Port: port, Dir: dir,
		ConfigPath: filepath.Join(dir, "issuer.yaml"), AdminToken: randomB64(t, 32),
		walletCA: attester, keyCA: attester, tlsRoots: tlsRoots, bin: bin,
	}
	d.env = []string{
		"ISSUER_ISSUER=" + d.Issuer,
		"ISSUER_DATA_DIR=" + filepath.Join(dir, "data"),
		"ISSUER_PKI_DIR=" + filepath.Join(dir, "pki"),
		"ISSUER_NONCE_KEYS=" + randomB64(t, 32),
		"ISSUER_ADMIN_TOKENS=" + d.AdminToken,
		"ISSUER_STORE_BACKEND=memory",
	}
	if u := redisURL(t); u != "" {
		d.env = append(d.env, "ISSUER_STORE_BACKEND=redis", "ISSUER_REDIS_URL="+u, "ISSUER_STORE_KEY_PREFIX=e2e-guide:"+randomB64(t, 9)+":")
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "ISSUER_LISTEN=127.0.0.1:" + fmt.Sprint(port)}, d.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("issuer %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("config", "validate", "--config", d.ConfigPath)
	run("pki", "init", "--config", d.ConfigPath)
	b, err := pki.Load(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	writePEMFile(t, filepath.Join(dir, "iaca.pem"), "CERTIFICATE", b.IACA.Raw)
	d.start(t, 0)

	// Signed metadata (§7: the signed metadata module runs).
	req, _ := http.NewRequest(http.MethodGet, d.Issuer+"/.well-known/openid-credential-issuer", nil)
	req.Header.Set("Accept", "application/jwt")
	res, err := d.httpClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/jwt") {
		t.Errorf("metadata with Accept: application/jwt has Content-Type %q; the guide says the signed metadata module runs", ct)
	}

	// The guide's selftest command, with SSL_CERT_FILE trusting the test
	// TLS CA.
	redirect := regexp.MustCompile(`--redirect-uri '([^']+)'`).FindStringSubmatch(mustRead(t, conformanceGuide))
	if redirect == nil {
		t.Fatal("the guide's selftest command has no --redirect-uri")
	}
	cmd := exec.Command(bin, "selftest", "--issuer", d.Issuer,
		"--wallet-key", "suite-attester.key", "--wallet-chain", "suite-attester.pem",
		"--iaca", "iaca.pem", "--username", "conformance", "--password", "conformance-password",
		"--redirect-uri", redirect[1], "--configuration", "org.iso.18013.5.1.mDL", "--batch", "2", "--encrypt")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "SSL_CERT_FILE=" + filepath.Join(dir, "tls", "cert.pem.ca")}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "selftest passed") {
		t.Fatalf("issuer selftest against the guide's configuration: %v\n%s", err, out)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
