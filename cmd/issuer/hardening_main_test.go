package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/config"
	"github.com/mdoc-issuer/issuer/e2e/wallet"
)

// envExecIssuer makes the test binary run the issuer's main instead of the
// tests: the hardening tests start the issuer as a real child process (own
// signals, own exit code) without a separate `go build`.
const envExecIssuer = "ISSUER_TEST_EXEC_ISSUER"

func TestMain(m *testing.M) {
	if os.Getenv(envExecIssuer) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// issuerProc is an issuer running as a child process.
type issuerProc struct {
	cmd     *exec.Cmd
	base    string
	dataDir string
	logs    *syncBuf
	exited  chan struct{}
	exitErr error
}

// startIssuerProcess runs `issuer serve --config FILE` where FILE is the
// embedded development configuration plus extraYAML (top-level blocks the
// default does not have), with env overrides, on a free loopback port. It
// waits until /healthz answers.
func startIssuerProcess(t *testing.T, extraYAML string, env map[string]string) *issuerProc {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "issuer.yaml")
	if err := os.WriteFile(cfgFile, append(config.Default(), "\n"+extraYAML...), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	p := &issuerProc{base: "http://" + addr, dataDir: filepath.Join(dir, "data"), logs: &syncBuf{}, exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "serve", "--config", cfgFile)
	p.cmd.Env = append(os.Environ(), envExecIssuer+"=1",
		config.EnvIssuer+"="+p.base, config.EnvListen+"="+addr, config.EnvDataDir+"="+p.dataDir)
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(p.base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("issuer exited: %v\n%s", p.exitErr, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("issuer not healthy: %v\n%s", err, p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig and waits for the exit; it returns the exit code.
func (p *issuerProc) stop(t *testing.T, sig os.Signal, within time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("issuer did not exit within %v\n%s", within, p.logs)
	}
	var ee *exec.ExitError
	if errors.As(p.exitErr, &ee) {
		return ee.ExitCode()
	}
	if p.exitErr != nil {
		t.Fatal(p.exitErr)
	}
	return 0
}

// devWallet returns a wallet of the development wallet provider of p.
func (p *issuerProc) wallet(t *testing.T, ctx context.Context, hc *http.Client) *wallet.Wallet {
	t.Helper()
	return newDevWallet(t, ctx, p.base, p.dataDir, hc)
}

// recordingTransport keeps the last response seen for each URL path, body
// included, so tests can check headers the wallet does not surface.
type recordingTransport struct {
	mu   sync.Mutex
	last map[string]recorded
}

type recorded struct {
	status int
	header http.Header
	body   []byte
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	rt.mu.Lock()
	if rt.last == nil {
		rt.last = map[string]recorded{}
	}
	rt.last[r.URL.Path] = recorded{res.StatusCode, res.Header.Clone(), b}
	rt.mu.Unlock()
	return res, nil
}

func (rt *recordingTransport) get(path string) (recorded, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	r, ok := rt.last[path]
	return r, ok
}

func newDevWallet(t *testing.T, ctx context.Context, issuer, dataDir string, hc *http.Client) *wallet.Wallet {
	t.Helper()
	prov, err := selftestProvider(dataDir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	w, err := wallet.New(wallet.Config{
		Issuer: issuer, Attester: prov, KeyAttester: prov, ClientID: devWalletClientID,
		RedirectURI: devRedirectURIs[0], Username: "testuser", Password: "testpass", HTTP: hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// redisServer is a redis-server child process on its own port, so a test
// can stop and restart it without touching the shared instance.
type redisServer struct {
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func requireRedisServer(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("ISSUER_TEST_REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server not installed (ISSUER_TEST_REQUIRE_REDIS=1)")
		}
		t.Skip("redis-server not installed")
	}
	return bin
}

func startRedisServer(t *testing.T, port int) *redisServer {
	t.Helper()
	bin := requireRedisServer(t)
	if port == 0 {
		port = freePort(t)
	}
	r := &redisServer{port: port, dir: t.TempDir()}
	r.start(t, bin)
	t.Cleanup(func() { r.kill() })
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start(t *testing.T, bin string) {
	t.Helper()
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir)
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, io.Discard
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(r.cmd, r.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), time.Second)
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if strings.HasPrefix(string(buf[:n]), "+PONG") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %d not up: %v", r.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server at once (SIGKILL: an outage, not a clean stop).
func (r *redisServer) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	r.cmd = nil
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
