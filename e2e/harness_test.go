package e2e

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/mdoc-issuer/issuer/e2e/wallet"
	"github.com/mdoc-issuer/issuer/pki"
)

// The process-based end-to-end tests run the real issuer binary (built once
// per test process by issuerBinary, shared with the npm interop tests in
// issuer_npm_test.go; ISSUER_TEST_ISSUER_BIN names a prebuilt one) with
// development: false, TLS on a
// loopback port and explicit trust: a wallet provider CA, a key attestation
// CA, a users file, a claims dataset, nonce keys, admin tokens, request
// encryption and a PKI made by `issuer pki init`.

// Credential configurations of the test issuer. All issue the mDL doctype.
const (
	confMDL      = "mdl"          // scope, batch of 3, jwt proofs
	confKA       = "mdl_attested" // key_attestations_required, jwt + attestation proofs
	confDeferred = "mdl_deferred" // deferred issuance
	docTypeMDL   = "org.iso.18013.5.1.mDL"
	nsMDL        = "org.iso.18013.5.1"

	e2eUser     = "e2e-user"
	e2ePassword = "e2e-password-7"
	e2eSubject  = "e2e-subject-1"
	e2eClientID = "e2e-go-wallet"
	e2eRedirect = "https://wallet.example/cb"
	// e2eRedirectWithQuery is registered too: the conformance suite's
	// second redirect URI carries a query that must come back unchanged.
	e2eRedirectWithQuery = "https://wallet.example/cb?dummy1=lorem&dummy2=ipsum"
)

// datasetClaims are the dataset values of the test End-User.
func datasetClaims() map[string]any {
	return map[string]any{
		"family_name": "Mustermann", "given_name": "Erika", "birth_date": "1984-01-26",
		"issue_date": "2024-03-01", "expiry_date": "2034-02-28", "issuing_country": "UT",
		"issuing_authority": "E2E Licensing Authority", "document_number": "E2E-0000001",
		"portrait":               "/9j/4AAQSkZJRgABAQD/2Q==",
		"un_distinguishing_sign": "UT", "age_over_18": true,
		"driving_privileges": []any{map[string]any{"vehicle_category_code": "B", "issue_date": "2004-05-01", "expiry_date": "2034-02-28"}},
	}
}

// skipProcessTests skips under -short: the tests below start processes.
func skipProcessTests(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("process-based end-to-end test: skipped with -short")
	}
}

// redisURL returns ISSUER_TEST_REDIS_URL, or "" (the caller skips) unless
// ISSUER_TEST_REQUIRE_REDIS=1, which makes a missing URL a failure.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("ISSUER_TEST_REDIS_URL")
	if u == "" && os.Getenv("ISSUER_TEST_REQUIRE_REDIS") == "1" {
		t.Fatal("ISSUER_TEST_REQUIRE_REDIS=1 but ISSUER_TEST_REDIS_URL is not set")
	}
	return u
}

// backends lists the store backends to test: memory always, redis when
// configured.
func backends(t *testing.T) []string {
	out := []string{"memory"}
	if redisURL(t) != "" {
		out = append(out, "redis")
	}
	return out
}

// testCA is a root CA with one signing leaf.
type testCA struct {
	Root    *x509.Certificate
	Leaf    *x509.Certificate
	LeafKey *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string, leafTmpl *x509.Certificate) *testCA {
	t.Helper()
	rootKey := wallet.NewKey()
	now := time.Now().Add(-time.Hour)
	rt := &x509.Certificate{
		SerialNumber: serialNumber(t), Subject: pkix.Name{CommonName: name + " root"},
		NotBefore: now, NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, rt, rt, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(der)
	leafKey := wallet.NewKey()
	if leafTmpl == nil {
		leafTmpl = &x509.Certificate{Subject: pkix.Name{CommonName: name + " signer"}, KeyUsage: x509.KeyUsageDigitalSignature}
	}
	leafTmpl.SerialNumber, leafTmpl.NotBefore, leafTmpl.NotAfter = serialNumber(t), now, now.Add(47*time.Hour)
	der, err = x509.CreateCertificate(rand.Reader, leafTmpl, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &testCA{Root: root, Leaf: leaf, LeafKey: leafKey}
}

func serialNumber(t *testing.T) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

// deployment is the shared material of one issuer deployment: every
// instance started from it has the same configuration, nonce keys, PKI and
// trust (as behind a load balancer).
type deployment struct {
	Issuer     string // identifier: https://127.0.0.1:<port>
	Port       int    // port of the identifier
	Dir        string
	ConfigPath string
	AdminToken string
	IACA       []*x509.Certificate

	walletCA *testCA
	keyCA    *testCA
	tlsRoots *x509.CertPool
	bin      string
	env      []string // extra environment of every process (ISSUER_* overrides)
}

// deploymentOptions vary the configuration.
type deploymentOptions struct {
	Backend string // memory | redis
	// DefaultValidity leaves credential validity at its default instead
	// of 720h.
	DefaultValidity bool
	// CodeLifetime is oauth.code_lifetime (default 60s).
	CodeLifetime string
	// EncryptionRequired sets encryption.request_required and
	// response_required.
	EncryptionRequired bool
}

// newDeployment writes the configuration and trust files into a fresh
// directory and creates the PKI with `issuer pki init`.
func newDeployment(t *testing.T, o deploymentOptions) *deployment {
	t.Helper()
	bin := issuerBinary(t)
	dir := t.TempDir()
	port := freeLoopbackPort(t)
	d := &deployment{
		Issuer: fmt.Sprintf("https://127.0.0.1:%d", port), Port: port, Dir: dir,
		ConfigPath: filepath.Join(dir, "issuer.yaml"),
		AdminToken: randomB64(t, 32),
		walletCA:   newTestCA(t, "e2e wallet provider", nil),
		keyCA:      newTestCA(t, "e2e key attester", nil),
		bin:        bin,
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	writePEMFile(t, path("wallet-root.pem"), "CERTIFICATE", d.walletCA.Root.Raw)
	writePEMFile(t, path("key-root.pem"), "CERTIFICATE", d.keyCA.Root.Raw)

	// TLS: a server certificate for 127.0.0.1 under its own CA.
	d.tlsRoots = writeTLSFiles(t, path("tls-cert.pem"), path("tls-key.pem"))

	writeECKey(t, path("request-encryption-key.pem"), wallet.NewKey())

	hash, err := bcrypt.GenerateFromPassword([]byte(e2ePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	writeYAMLFile(t, path("users.yaml"), map[string]any{"users": []any{
		map[string]any{"username": e2eUser, "password_hash": string(hash), "subject": e2eSubject},
	}})
	byConf := map[string]any{}
	for _, c := range []string{confMDL, confKA, confDeferred} {
		byConf[c] = map[string]any{nsMDL: datasetClaims()}
	}
	writeYAMLFile(t, path("claims.yaml"), map[string]any{e2eSubject: byConf})

	store := map[string]any{"backend": o.Backend}
	if o.Backend == "redis" {
		store["redis_url"] = redisURL(t)
		store["key_prefix"] = "e2e:" + randomB64(t, 9) + ":"
	}
	conf := func(scope string, extra map[string]any) map[string]any {
		c := map[string]any{
			"doctype": docTypeMDL, "scope": scope,
			"display": []any{map[string]any{"name": "E2E mDL " + scope, "locale": "en-US"}},
		}
		if !o.DefaultValidity {
			c["validity"] = "720h"
		}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	cfg := map[string]any{
		"issuer":      d.Issuer,
		"listen":      fmt.Sprintf("127.0.0.1:%d", port),
		"data_dir":    path("data"),
		"development": false,
		"log":         map[string]any{"level": "warn", "format": "json"},
		"store":       store,
		"pki":         map[string]any{"dir": path("pki"), "country": "UT", "organization": "E2E Test Issuer"},
		"secrets":     map[string]any{"nonce_keys": []string{randomB64(t, 32)}},
		"display":     []any{map[string]any{"name": "E2E Test Issuer", "locale": "en-US"}},
		"credential_configurations": map[string]any{
			confMDL: conf(confMDL, map[string]any{"batch_size": 3, "proof_types": []string{"jwt"}}),
			confKA: conf(confKA, map[string]any{
				"batch_size": 3, "proof_types": []string{"jwt", "attestation"},
				"key_attestations_required": map[string]any{"key_storage": []string{"iso_18045_high", "iso_18045_moderate"}},
			}),
			confDeferred: conf(confDeferred, map[string]any{"deferred": true}),
		},
		"oauth": map[string]any{"refresh_tokens": true, "code_lifetime": cmp.Or(o.CodeLifetime, "60s")},
		"wallet_providers": []any{map[string]any{
			"name": "e2e-wallet-provider", "roots": []string{path("wallet-root.pem")},
			"redirect_uris": []string{e2eRedirect, e2eRedirectWithQuery},
		}},
		"key_attestation_issuers": []any{map[string]any{"name": "e2e-key-attester", "roots": []string{path("key-root.pem")}}},
		"users_file":              path("users.yaml"),
		"claims":                  map[string]any{"dataset": path("claims.yaml")},
		"encryption": map[string]any{"enabled": true, "key_file": path("request-encryption-key.pem"),
			"request_required": o.EncryptionRequired, "response_required": o.EncryptionRequired},
		"admin": map[string]any{"tokens": []string{d.AdminToken}},
		"http":  map[string]any{"shutdown_grace": "3s"},
		"tls":   map[string]any{"cert_file": path("tls-cert.pem"), "key_file": path("tls-key.pem")},
	}
	writeYAMLFile(t, d.ConfigPath, cfg)

	if out, err := exec.Command(bin, "pki", "init", "--config", d.ConfigPath).CombinedOutput(); err != nil {
		t.Fatalf("issuer pki init: %v\n%s", err, out)
	}
	b, err := pki.Load(path("pki"))
	if err != nil {
		t.Fatalf("loading the PKI made by pki init: %v", err)
	}
	d.IACA = []*x509.Certificate{b.IACA}
	return d
}

// writeTLSFiles writes a server certificate for 127.0.0.1 and its key,
// issued by a fresh CA, and returns a pool holding that CA.
func writeTLSFiles(t *testing.T, certPath, keyPath string) *x509.CertPool {
	t.Helper()
	ca := newTestCA(t, "e2e tls", &x509.Certificate{
		Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	writePEMFile(t, certPath, "CERTIFICATE", ca.Leaf.Raw)
	writeECKey(t, keyPath, ca.LeafKey)
	writePEMFile(t, certPath+".ca", "CERTIFICATE", ca.Root.Raw)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Root)
	return pool
}

// instance is one running issuer process of a deployment.
type instance struct {
	Addr string // host:port it listens on
	logs *procLog

	once sync.Once
	stop func(t *testing.T)
}

// Stop sends SIGTERM and requires exit status 0 (once; later calls do
// nothing).
func (in *instance) Stop(t *testing.T) { in.once.Do(func() { in.stop(t) }) }

// start runs one issuer process of the deployment listening on port (0: the
// identifier's port) and waits for /readyz. At cleanup it sends SIGTERM and
// requires exit status 0.
func (d *deployment) start(t *testing.T, port int) *instance {
	t.Helper()
	if port == 0 {
		port = d.Port
	}
	in := &instance{Addr: fmt.Sprintf("127.0.0.1:%d", port), logs: &procLog{}}
	cmd := exec.Command(d.bin, "serve", "--config", d.ConfigPath)
	cmd.Dir = d.Dir
	cmd.Stdout, cmd.Stderr = in.logs, in.logs
	// Only what the issuer needs: no ISSUER_* variable of the developer's
	// shell changes the test configuration.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.Dir, "ISSUER_LISTEN=" + in.Addr}, d.env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	in.stop = func(t *testing.T) {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("issuer on %s did not exit cleanly after SIGTERM: %v\n%s", in.Addr, err, in.logs)
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("issuer on %s did not stop within 15 s of SIGTERM", in.Addr)
		}
		if t.Failed() {
			t.Logf("issuer %s log:\n%s", in.Addr, in.logs)
		}
	}
	t.Cleanup(func() { in.Stop(t) })
	client := d.httpClient(nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("issuer exited before it was ready: %v\n%s", err, in.logs)
		default:
		}
		res, err := client.Get("https://" + in.Addr + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return in
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("issuer not ready after 30 s (last error %v)\n%s", err, in.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpClient trusts the deployment's TLS CA. route, if set, picks the
// instance address for each request (the load balancer of multi-instance
// tests); the URL and Host header keep the identifier's authority.
func (d *deployment) httpClient(route func(r *http.Request) string) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: d.tlsRoots, MinVersion: tls.VersionTLS12}}
	var rt http.RoundTripper = tr
	if route != nil {
		rt = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r2 := r.Clone(r.Context())
			r2.URL.Host = route(r)
			r2.Host = r.URL.Host
			return tr.RoundTrip(r2)
		})
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// walletProvider and keyAttester are the simulator's signers for the
// deployment's trusted CAs.
func (d *deployment) walletProvider() *wallet.X509Provider {
	return &wallet.X509Provider{Key: d.walletCA.LeafKey, Chain: []*x509.Certificate{d.walletCA.Leaf}, Issuer: "e2e-wallet-provider"}
}

func (d *deployment) keyAttester() *wallet.X509Provider {
	return d.keyAttesterAsserting("iso_18045_high")
}

// keyAttesterAsserting attests keys with the given key storage level.
func (d *deployment) keyAttesterAsserting(level string) *wallet.X509Provider {
	return &wallet.X509Provider{Key: d.keyCA.LeafKey, Chain: []*x509.Certificate{d.keyCA.Leaf}, Issuer: "e2e-key-attester",
		KeyStorage: []string{level}, UserAuthentication: []string{"iso_18045_high"}}
}

// newWallet returns a discovered wallet instance of the trusted provider.
func (d *deployment) newWallet(t *testing.T, client *http.Client, intercept func(string, *http.Request)) *wallet.Wallet {
	t.Helper()
	return d.newWalletWith(t, client, intercept, d.keyAttester())
}

func (d *deployment) newWalletWith(t *testing.T, client *http.Client, intercept func(string, *http.Request), ka wallet.KeyAttester) *wallet.Wallet {
	t.Helper()
	if client == nil {
		client = d.httpClient(nil)
	}
	w, err := wallet.New(wallet.Config{
		Issuer: d.Issuer, HTTP: client, Attester: d.walletProvider(), KeyAttester: ka,
		ClientID: e2eClientID, RedirectURI: e2eRedirect, Username: e2eUser, Password: e2ePassword,
		Intercept: intercept,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	return w
}

// admin calls the admin API and decodes a JSON response into out.
func (d *deployment) admin(t *testing.T, client *http.Client, method, p string, body, out any) int {
	t.Helper()
	status, b, err := d.adminRaw(client, method, p, body)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, p, err)
	}
	if out != nil && status/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("admin %s %s: %v: %s", method, p, err, b)
		}
	}
	if status/100 != 2 {
		t.Logf("admin %s %s: HTTP %d %s", method, p, status, b)
	}
	return status
}

// adminRaw calls the admin API with the deployment's bearer token (safe
// from any goroutine).
func (d *deployment) adminRaw(client *http.Client, method, p string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.Issuer+"/admin/v1"+p, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.AdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// procLog collects a process's output, at most 1 MiB.
type procLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *procLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() < 1<<20 {
		l.buf.Write(p)
	}
	return len(p), nil
}

func (l *procLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomB64(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func writePEMFile(t *testing.T, p, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeECKey(t *testing.T, p string, k *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	writePEMFile(t, p, "PRIVATE KEY", der)
}

func writeYAMLFile(t *testing.T, p string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
