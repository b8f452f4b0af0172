package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs the whole benchmark with a tiny load, so that the program
// cannot rot: it builds and starts the issuer, runs every phase on every
// backend available and must report zero errors.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the issuer")
	}
	backends := "memory"
	if _, err := exec.LookPath("redis-server"); err == nil {
		backends += ",redis"
	} else if os.Getenv("ISSUER_TEST_REQUIRE_REDIS") == "1" {
		t.Fatal("redis-server not found and ISSUER_TEST_REQUIRE_REDIS=1")
	}
	// The build comes first, with its own generous limit: on a cold cache
	// (CI) it compiles the whole issuer.
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer bcancel()
	bin, err := buildIssuer(bctx, root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"-issuer-bin", bin, "-backends", backends, "-flows", "6", "-batch-flows", "2", "-batch-size", "3",
		"-c", "3", "-warmup", "2", "-paced-flows", "3", "-floor-iterations", "100", "-timeout", "60s"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	report := out.String()
	for _, b := range strings.Split(backends, ",") {
		if !strings.Contains(report, "== backend "+b) {
			t.Errorf("no section for backend %s:\n%s", b, report)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`flows 6 in \S+: [0-9.]+ flows/s, [0-9.]+ credentials/s, errors 0`),
		regexp.MustCompile(`(?m)^credential +6 `),
		regexp.MustCompile(`timed flows in 4 rounds, the backends taking turns`),
		regexp.MustCompile(`overhead factor \(server CPU per flow / crypto floor\): [0-9.]+`),
		regexp.MustCompile(`batch of 3: 2 flows in \S+, [0-9.]+ credentials/s, errors 0`),
		regexp.MustCompile(`paced run: 3 flows`),
		regexp.MustCompile(`issuer peak RSS \(VmHWM\): [1-9][0-9.]* MB`),
	} {
		if !want.MatchString(report) {
			t.Errorf("report lacks %s:\n%s", want, report)
		}
	}
	if strings.Contains(backends, "redis") && !regexp.MustCompile(`redis at the end \(every run\): [1-9][0-9]* keys, 0 without a TTL`).MatchString(report) {
		t.Errorf("redis inventory missing or keys without TTL:\n%s", report)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"unknown backend", []string{"-backends", "postgres"}},
		{"no flows", []string{"-flows", "0"}},
		{"no wallets", []string{"-c", "0"}},
		{"no rounds", []string{"-rounds", "0"}},
		{"more rounds than flows", []string{"-flows", "3", "-rounds", "4"}},
		{"unknown flag", []string{"-nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &out); code != 2 {
				t.Fatalf("exit %d, want 2:\n%s", code, out.String())
			}
		})
	}
}

func TestProcCPUAndStatus(t *testing.T) {
	pid := os.Getpid()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Spin until this thread has used 200 ms of CPU by its own clock, however
	// busy the machine is; /proc must then show at least most of it.
	t0, deadline := threadCPU(), time.Now().Add(20*time.Second)
	for threadCPU()-t0 < 200*time.Millisecond && time.Now().Before(deadline) {
	}
	spun := threadCPU() - t0
	after, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	if spun < 200*time.Millisecond {
		t.Skipf("only %s of CPU in 20 s: machine too busy", spun)
	}
	if got := after - before; got < spun-30*time.Millisecond {
		t.Errorf("%s of thread CPU counted as %s in /proc/<pid>/stat", spun, got)
	}
	hwm, err := procStatusKB(pid, "VmHWM")
	if err != nil || hwm <= 0 {
		t.Errorf("VmHWM = %d, %v", hwm, err)
	}
	if _, err := procStatusKB(pid, "NoSuchField"); err == nil {
		t.Error("a missing field was found")
	}
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}} {
		if got := percentile(ds, tc.p); got != tc.want {
			t.Errorf("p%v = %s, want %s", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %s", got)
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one = %s", got)
	}
}

func TestEndpointName(t *testing.T) {
	base := "http://127.0.0.1:1234"
	for _, tc := range []struct{ url, want string }{
		{base + "/offers/abc", "offer"},
		{base + "/token", "token"},
		{base + "/nonce", "nonce"},
		{base + "/credential", "credential"},
		{base + "/credential?x=1", "credential"},
		{base + "/admin/v1/offers", "admin"},
		{base + "/.well-known/openid-credential-issuer", "metadata"},
	} {
		if got := endpointName(base, tc.url); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestFloor(t *testing.T) {
	f := measureFloor(100)
	if f.verify <= 0 || f.sign <= 0 {
		t.Fatalf("floor %+v", f)
	}
	if got, want := f.perFlow(3), floorVerifies*f.verify+3*f.sign; got != want {
		t.Errorf("perFlow(3) = %s, want %s", got, want)
	}
}
