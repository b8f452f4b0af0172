package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The bench's wallet provider, subject and configuration.
const (
	benchProviderName = "bench-wallet-provider"
	benchClientID     = "bench-wallet"
	benchSubject      = "dev-subject-1" // in the embedded development claims dataset
	benchConfID       = "org.iso.18013.5.1.mDL"
	benchAdminToken   = "bench-admin-token-0123456789abcdefghijklmnopqrstuvwxyz"
)

// buildIssuer compiles cmd/issuer into dir and returns the binary's path.
func buildIssuer(ctx context.Context, moduleRoot, dir string) (string, error) {
	bin := filepath.Join(dir, "issuer")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/issuer")
	cmd.Dir = moduleRoot
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/issuer: %w", err)
	}
	return bin, nil
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("no go.mod above the working directory: run from the module")
		}
		d = p
	}
}

// freeAddr returns a free loopback host:port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// issuerConfig is the bench configuration: a development issuer on loopback
// whose mDL configuration requires key attestations and allows batches of
// batchSize.
func issuerConfig(addr, dataDir, backend, redisURL string, batchSize int) string {
	store := "  backend: memory\n"
	if backend == "redis" {
		store = fmt.Sprintf("  backend: redis\n  redis_url: %s\n  key_prefix: \"bench:\"\n", redisURL)
	}
	return fmt.Sprintf(`issuer: http://%[1]s
listen: %[1]s
data_dir: %[2]s
development: true
log:
  level: info
  format: json
store:
%[3]sadmin:
  tokens: [%[4]s]
pki:
  country: UT
  organization: Bench mdoc Issuer
display:
  - name: Bench mdoc Issuer
    locale: en-US
wallet_providers:
  - name: %[7]s
    roots: [root.pem]
    redirect_uris: [http://127.0.0.1/callback]
key_attestation_issuers:
  - name: %[7]s
    roots: [root.pem]
credential_configurations:
  %[5]s:
    doctype: org.iso.18013.5.1.mDL
    scope: org.iso.18013.5.1.mDL
    display:
      - name: Mobile Driving Licence
        locale: en-US
    batch_size: %[6]d
    validity: 2160h
    proof_types: [jwt]
    key_attestations_required: {}
`, addr, dataDir, store, benchAdminToken, benchConfID, batchSize, benchProviderName)
}

// issuerProc is a running issuer child process.
type issuerProc struct {
	cmd  *exec.Cmd
	base string
	log  *os.File
	done chan error
}

// startIssuer starts bin with the configuration and waits for /healthz.
func startIssuer(ctx context.Context, bin, dir, backend, redisURL string, batchSize int, env []string) (*issuerProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(issuerConfig(addr, dataDir, backend, redisURL, batchSize)), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "issuer.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A clean environment: no ISSUER_* overrides from the caller.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &issuerProc{cmd: cmd, base: "http://" + addr, log: logf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-p.done:
			logf.Close()
			tail, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("issuer exited before serving (%v):\n%s", err, lastLines(string(tail), 20))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		default:
		}
		if res, err := http.Get(p.base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, errors.New("issuer did not answer /healthz within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childAttr makes a child die with the bench (Linux PR_SET_PDEATHSIG), so
// that a killed bench leaves no issuer or redis-server behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// stop sends SIGTERM and waits (SIGKILL after 10 s).
func (p *issuerProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

func (p *issuerProc) pid() int { return p.cmd.Process.Pid }

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; 100
// on every Linux architecture Go supports.
const clockTick = 100

// procCPU returns utime+stime of pid (all threads) from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// comm (field 2) may contain spaces: fields after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat times")
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// procStatusKB returns a kB field (VmHWM, VmRSS) of /proc/<pid>/status.
func procStatusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == field {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// redisProc is a dedicated redis-server child without persistence.
type redisProc struct {
	cmd    *exec.Cmd
	url    string
	client *goredis.Client
}

func startRedis(ctx context.Context, bin, dir string) (*redisProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", dir, "--protected-mode", "yes", "--loglevel", "warning")
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	r := &redisProc{cmd: cmd, url: "redis://" + addr + "/0"}
	r.client = goredis.NewClient(&goredis.Options{Addr: addr})
	deadline := time.Now().Add(10 * time.Second)
	for r.client.Ping(ctx).Err() != nil {
		if time.Now().After(deadline) {
			r.stop()
			return nil, errors.New("redis-server did not answer within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r, nil
}

// usedMemory is INFO memory used_memory and, of it, mem_clients_normal (the
// query and output buffers of client connections), in bytes.
func (r *redisProc) usedMemory(ctx context.Context) (used, clients int64, err error) {
	s, err := r.client.Info(ctx, "memory").Result()
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			if used, err = strconv.ParseInt(v, 10, 64); err != nil {
				return 0, 0, err
			}
			found++
		}
		if v, ok := strings.CutPrefix(line, "mem_clients_normal:"); ok {
			if clients, err = strconv.ParseInt(v, 10, 64); err != nil {
				return 0, 0, err
			}
			found++
		}
	}
	if found != 2 {
		return 0, 0, errors.New("no used_memory or mem_clients_normal in INFO memory")
	}
	return used, clients, nil
}

// redisKind is the keys of one kind ("<prefix><kind>:<key>").
type redisKind struct {
	kind  string
	keys  int64
	bytes int64 // MEMORY USAGE, summed
	noTTL int64
}

// inventory scans the whole (dedicated) database and sums keys, memory and
// keys without an expiry (which would grow without bound) by kind.
func (r *redisProc) inventory(ctx context.Context, prefix string) ([]redisKind, error) {
	by := map[string]*redisKind{}
	iter := r.client.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		kind, _, _ := strings.Cut(strings.TrimPrefix(k, prefix), ":")
		rk := by[kind]
		if rk == nil {
			rk = &redisKind{kind: kind}
			by[kind] = rk
		}
		rk.keys++
		ttl, err := r.client.PTTL(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		if ttl < 0 {
			rk.noTTL++
		}
		n, err := r.client.MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			return nil, err
		}
		rk.bytes += n
	}
	if err := iter.Err(); err != nil {
		return nil, err
	}
	out := make([]redisKind, 0, len(by))
	for _, v := range by {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b redisKind) int { return int(b.bytes - a.bytes) })
	return out, nil
}

// keyBytes is the MEMORY USAGE of every key, summed (pipelined).
func (r *redisProc) keyBytes(ctx context.Context) (int64, error) {
	var keys []string
	iter := r.client.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return 0, err
	}
	var total int64
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		pipe := r.client.Pipeline()
		cmds := make([]*goredis.IntCmd, n)
		for i, k := range keys[:n] {
			cmds[i] = pipe.MemoryUsage(ctx, k, 0)
		}
		_, _ = pipe.Exec(ctx)
		for _, c := range cmds {
			v, err := c.Result()
			if err != nil && !errors.Is(err, goredis.Nil) {
				return 0, err
			}
			total += v
		}
		keys = keys[n:]
	}
	return total, nil
}

// commandStats is INFO commandstats: calls per command.
func (r *redisProc) commandStats(ctx context.Context) (map[string]int64, error) {
	s, err := r.client.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			continue
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out, nil
}

func (r *redisProc) stop() {
	_ = r.client.Close()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}

// benchProvider is the wallet provider (and key attestation issuer) of the
// benchmark: a root the issuer is configured to trust and a signer under it.
type benchProvider struct {
	root *x509.Certificate
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newBenchProvider creates the provider and writes its root to dir/root.pem.
func newBenchProvider(dir string) (*benchProvider, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bench Wallet Provider Root"},
		NotBefore: now, NotAfter: now.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Bench Wallet Attestation Signer"},
		NotBefore: now, NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &key.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}), 0o600); err != nil {
		return nil, err
	}
	return &benchProvider{root: root, cert: leaf, key: key}, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// perfRecorder is a `perf record` child attached to the issuer.
type perfRecorder struct{ cmd *exec.Cmd }

func startPerf(pid int, out string) (*perfRecorder, error) {
	cmd := exec.Command("perf", "record", "-g", "-F", "999", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf: %w", err)
	}
	time.Sleep(300 * time.Millisecond) // attached before the flows start
	return &perfRecorder{cmd: cmd}, nil
}

// stop interrupts perf, which writes its file and exits (with the signal's
// status, which is not an error here).
func (p *perfRecorder) stop() error {
	_ = p.cmd.Process.Signal(os.Interrupt)
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil
	}
	return err
}

// pprofRecorder fetches a CPU profile from the issuer's admin API.
type pprofRecorder struct{ done chan error }

// startPprof requests a CPU profile of secs seconds, written to out, and
// then the allocation profile (allocations since the start), written to
// out + ".allocs".
func startPprof(ctx context.Context, c *http.Client, base string, secs int, out string) *pprofRecorder {
	p := &pprofRecorder{done: make(chan error, 1)}
	go func() {
		err := fetchProfile(ctx, c, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), out)
		if err == nil {
			err = fetchProfile(ctx, c, base+"/debug/pprof/allocs", out+".allocs")
		}
		p.done <- err
	}()
	return p
}

// fetchProfile writes the profile at url to out.
func fetchProfile(ctx context.Context, c *http.Client, url, out string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+benchAdminToken)
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: HTTP %d", res.StatusCode)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// wait blocks until the profile is written.
func (p *pprofRecorder) wait() error { return <-p.done }
