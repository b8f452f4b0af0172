package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

// Paths relative to this package's directory (go test runs in it).
const (
	npmWalletDir = "npmwallet"
	npmVerifyDir = "node"
	moduleRoot   = ".."
)

const (
	mdlConfigID   = "org.iso.18013.5.1.mDL"
	mdlDocType    = "org.iso.18013.5.1.mDL"
	mdlNamespace  = "org.iso.18013.5.1"
	testUser      = "interop-user"
	testPassword  = "interop-password-1"
	testSubject   = "interop-subject-1"
	walletClient  = "npm-interop-wallet"
	walletRedirct = "https://wallet.example/cb"
)

// requireNodeTools returns the node binary, or skips the test when node or
// the npm packages (e2e/npmwallet, e2e/node) are not installed; with
// ISSUER_TEST_REQUIRE_NODE=1 it fails instead.
func requireNodeTools(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	for _, p := range []string{
		filepath.Join(npmWalletDir, "node_modules", "@openid4vc", "openid4vci"),
		filepath.Join(npmWalletDir, "node_modules", "@openid4vc", "oauth2"),
		filepath.Join(npmWalletDir, "node_modules", "jose"),
		filepath.Join(npmVerifyDir, "node_modules", "@owf", "mdoc"),
		filepath.Join(npmVerifyDir, "node_modules", "@auth0", "mdl"),
	} {
		if err != nil {
			break
		}
		_, err = os.Stat(p)
	}
	if err != nil {
		if os.Getenv("ISSUER_TEST_REQUIRE_NODE") == "1" {
			t.Fatalf("npm interop required but unavailable: %v (run npm ci in e2e/npmwallet and e2e/node)", err)
		}
		t.Skipf("node or npm packages unavailable (%v); run npm ci in e2e/npmwallet and e2e/node, or set ISSUER_TEST_REQUIRE_NODE=1 to fail", err)
	}
	return node
}

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// issuerBinary builds ./cmd/issuer once per test process, or returns the
// prebuilt binary named by ISSUER_TEST_ISSUER_BIN.
func issuerBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("ISSUER_TEST_ISSUER_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "issuer-npm-interop-")
		if buildErr != nil {
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go command is needed to build cmd/issuer: %w", err)
			return
		}
		buildBin = filepath.Join(buildDir, "issuer")
		args := []string{"build", "-o", buildBin}
		if raceBuild {
			args = append(args, "-race")
		}
		cmd := exec.Command(goBin, append(args, "./cmd/issuer")...)
		cmd.Dir = moduleRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/issuer: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// testIssuer is a running issuer binary with the trust material the npm
// wallet needs.
type testIssuer struct {
	URL        string
	AdminToken string
	Provider   *wiatest.WalletProvider
	Attester   *wiatest.KeyAttester
	// MetadataCA is the trust anchor of signed issuer metadata (PEM), read
	// from the generated PKI; nil when the issuer has none.
	MetadataCA []byte
	logs       *lockedBuffer
	client     *http.Client

	mu      sync.Mutex
	exited  bool // the process ended before the test's cleanup
	exitErr error
}

// state describes the issuer process for failure messages.
func (ti *testIssuer) state() string {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if ti.exited {
		return fmt.Sprintf("issuer process exited: %v", ti.exitErr)
	}
	return "issuer process running"
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

func writePEM(t *testing.T, path string, certs ...*x509.Certificate) {
	t.Helper()
	var buf bytes.Buffer
	for _, c := range certs {
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func randomToken(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// mdlClaims are the element values of the test End-User (dataset) and of
// pre-authorized offers.
func mdlClaims() map[string]map[string]any {
	return map[string]map[string]any{mdlNamespace: {
		"family_name": "Doe", "given_name": "Jane", "birth_date": "1990-04-01",
		"issue_date": "2026-01-10", "expiry_date": "2031-01-09", "issuing_country": "UT",
		"issuing_authority": "Interop Test DMV", "document_number": "D1234567",
		"portrait": "/9j/4AAQSkZJRgABAQD/2Q==", "un_distinguishing_sign": "UTO",
		"age_over_18": true,
		"driving_privileges": []any{
			map[string]any{"vehicle_category_code": "B", "issue_date": "2010-05-01", "expiry_date": "2031-01-09"},
		},
	}}
}

// startIssuer writes a configuration trusting a fresh wallet provider and key
// attester, starts the issuer binary on a free loopback port and waits for
// /readyz.
func startIssuer(t *testing.T) *testIssuer {
	t.Helper()
	bin := issuerBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	ti := &testIssuer{
		URL:        fmt.Sprintf("http://127.0.0.1:%d", port),
		AdminToken: randomToken(t, 32),
		Provider:   wiatest.NewProvider("npm-interop-provider"),
		Attester:   wiatest.NewKeyAttester("npm-interop-keys"),
		logs:       &lockedBuffer{},
		client:     &http.Client{Timeout: 10 * time.Second},
	}
	writePEM(t, filepath.Join(dir, "wallet-root.pem"), ti.Provider.Root())
	writePEM(t, filepath.Join(dir, "key-root.pem"), ti.Attester.Roots()...)

	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	writeYAML(t, filepath.Join(dir, "users.yaml"), map[string]any{"users": []map[string]any{
		{"username": testUser, "password_hash": string(hash), "subject": testSubject},
	}})
	writeYAML(t, filepath.Join(dir, "claims.yaml"), map[string]any{testSubject: map[string]any{mdlConfigID: mdlClaims()}})

	cfg := map[string]any{
		"issuer":      ti.URL,
		"listen":      fmt.Sprintf("127.0.0.1:%d", port),
		"data_dir":    filepath.Join(dir, "data"),
		"development": true,
		"log":         map[string]any{"level": "warn", "format": "json"},
		"store":       map[string]any{"backend": "memory"},
		"pki":         map[string]any{"country": "UT", "organization": "npm Interop Test Issuer"},
		"display":     []any{map[string]any{"name": "npm Interop Test Issuer", "locale": "en-US"}},
		"credential_configurations": map[string]any{
			mdlConfigID: map[string]any{
				"doctype":     mdlDocType,
				"scope":       mdlConfigID,
				"display":     []any{map[string]any{"name": "Mobile Driving Licence", "locale": "en-US"}},
				"batch_size":  2,
				"validity":    "720h",
				"proof_types": []string{"jwt"},
			},
		},
		"oauth": map[string]any{"dpop": map[string]any{"nonce_required": true}},
		"wallet_providers": []any{map[string]any{
			"name":          ti.Provider.Name,
			"roots":         []string{"wallet-root.pem"},
			"redirect_uris": []string{walletRedirct},
		}},
		"key_attestation_issuers": []any{map[string]any{
			"name":  ti.Attester.Name,
			"roots": []string{"key-root.pem"},
		}},
		"users_file": "users.yaml",
		"claims":     map[string]any{"dataset": "claims.yaml"},
		"admin":      map[string]any{"tokens": []string{ti.AdminToken}},
	}
	cfgPath := filepath.Join(dir, "issuer.yaml")
	writeYAML(t, cfgPath, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfgPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = ti.logs, ti.logs
	// Only the variables the issuer needs: no ISSUER_* overrides from the
	// developer's shell leak into the test configuration.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		ti.mu.Lock()
		ti.exited, ti.exitErr = true, err
		ti.mu.Unlock()
		exited <- err
	}()
	t.Cleanup(func() {
		ti.mu.Lock()
		early := ti.exited
		ti.mu.Unlock()
		if !early {
			_ = cmd.Process.Signal(os.Interrupt)
		}
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cancel()
			<-exited
		}
		if early {
			t.Errorf("the issuer exited during the test: %v", ti.exitErr)
		}
		if t.Failed() {
			t.Logf("issuer log:\n%s", ti.logs.String())
		}
	})

	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("issuer exited before it was ready: %v\n%s", err, ti.logs.String())
		default:
		}
		res, err := ti.client.Get(ti.URL + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				if b, err := os.ReadFile(filepath.Join(dir, "data", "pki", "metadata-ca.pem")); err == nil {
					ti.MetadataCA = b
				}
				return ti
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("issuer not ready after 20 s (last error %v)\n%s", err, ti.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// getJSON fetches a JSON document from the issuer.
func (ti *testIssuer) getJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	res, err := ti.client.Get(ti.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", path, res.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: not JSON: %v", path, err)
	}
	return m
}

// missingEndpoints lists the metadata members the npm flows need that the
// issuer does not advertise.
func (ti *testIssuer) missingEndpoints(t *testing.T) []string {
	t.Helper()
	im := ti.getJSON(t, "/.well-known/openid-credential-issuer")
	as := ti.getJSON(t, "/.well-known/oauth-authorization-server")
	var missing []string
	for _, k := range []string{"credential_endpoint", "nonce_endpoint"} {
		if s, _ := im[k].(string); s == "" {
			missing = append(missing, "issuer metadata "+k)
		}
	}
	for _, k := range []string{"pushed_authorization_request_endpoint", "authorization_endpoint", "token_endpoint"} {
		if s, _ := as[k].(string); s == "" {
			missing = append(missing, "AS metadata "+k)
		}
	}
	return missing
}

// createOffer creates a credential offer through the admin API.
func (ti *testIssuer) createOffer(t *testing.T, req map[string]any) (offerURI, txCode string) {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := http.NewRequest(http.MethodPost, ti.URL+"/admin/v1/offers", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+ti.AdminToken)
	hr.Header.Set("Content-Type", "application/json")
	res, err := ti.client.Do(hr)
	if err != nil {
		t.Fatalf("POST /admin/v1/offers: %v (%s)", err, ti.state())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /admin/v1/offers: HTTP %d: %s", res.StatusCode, b)
	}
	var created struct {
		OfferURI string `json:"offer_uri"`
		TxCode   string `json:"tx_code"`
	}
	if err := json.Unmarshal(b, &created); err != nil || created.OfferURI == "" {
		t.Fatalf("POST /admin/v1/offers: no offer_uri in %s", b)
	}
	return created.OfferURI, created.TxCode
}

// iacaPEM fetches the IACA certificate the issuer publishes.
func (ti *testIssuer) iacaPEM(t *testing.T) []byte {
	t.Helper()
	res, err := ti.client.Get(ti.URL + "/pki/iaca.pem")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /pki/iaca.pem: HTTP %d", res.StatusCode)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatal("GET /pki/iaca.pem: not a PEM certificate")
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		t.Fatalf("IACA certificate: %v", err)
	}
	return b
}

// walletResult is the stdout of wallet.mjs.
type walletResult struct {
	Credentials       []string          `json:"credentials"`
	ConfigurationID   string            `json:"configurationId"`
	DocType           string            `json:"docType"`
	HolderPrivateJWKs []json.RawMessage `json:"holderPrivateJwks"`
	HolderPublicJWKs  []json.RawMessage `json:"holderPublicJwks"`
	RequestedBy       string            `json:"requestedBy"`
	SignedMetadata    bool              `json:"signedMetadata"`
	Notified          bool              `json:"notified"`
	Steps             []walletStep      `json:"steps"`
	Error             string            `json:"error"`
	Step              string            `json:"step"`
}

type walletStep struct {
	Step   string `json:"step"`
	Method string `json:"method"`
	URL    string `json:"url"`
	Status int    `json:"status"`
}

func (r *walletResult) trace() string {
	var sb strings.Builder
	for _, s := range r.Steps {
		fmt.Fprintf(&sb, "  %-32s %-4s %s -> %d\n", s.Step, s.Method, s.URL, s.Status)
	}
	return sb.String()
}

// runNode runs a node script in dir with in as JSON on stdin and decodes its
// JSON stdout into out.
func runNode(t *testing.T, node, dir, script string, in, out any) error {
	t.Helper()
	payload, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(payload)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), out); err != nil {
		t.Fatalf("%s: output is not JSON (%v; exit %v)\nstdout: %s\nstderr: %s", script, err, runErr, stdout.String(), stderr.String())
	}
	if runErr != nil {
		var ee *exec.ExitError
		if !errors.As(runErr, &ee) {
			t.Fatalf("%s: %v\nstderr: %s", script, runErr, stderr.String())
		}
	}
	return runErr
}

// walletInput is the stdin of wallet.mjs for a fresh wallet instance: a new
// instance key attested by the test provider.
func (ti *testIssuer) walletInput(t *testing.T, flow string) map[string]any {
	t.Helper()
	instance := wiatest.NewKey()
	in := map[string]any{
		"issuer":            ti.URL,
		"flow":              flow,
		"clientId":          walletClient,
		"redirectUri":       walletRedirct,
		"walletAttestation": ti.Provider.Attestation(walletClient, instance),
		"attestationKeyJwk": wiatest.PrivateJWK(instance),
	}
	if ti.MetadataCA != nil {
		in["metadataTrustPem"] = string(ti.MetadataCA)
	}
	return in
}
