package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mdoc-issuer/issuer/pki"
)

// options are the command-line settings of a benchmark run.
type options struct {
	backends    []string
	flows       int
	batchFlows  int
	batchSize   int
	concurrency int
	warmup      int
	freshWallet bool
	timeout     time.Duration
	issuerBin   string
	redisBin    string
	redisQuery  string
	floorIters  int
	keep        bool
	perf        string
	pacedFlows  int
	pacedLoad   float64
	issuerEnv   []string
	pprof       string
	pprofSecs   int
	rounds      int
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }
func (e *envList) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("issuer-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	backends := fs.String("backends", "memory,redis", "store backends to run, comma-separated (memory, redis)")
	fs.IntVar(&o.flows, "flows", 6000, "timed single-credential flows per backend")
	fs.IntVar(&o.rounds, "rounds", 4, "rounds the timed flows are split into, the backends taking turns (1 with -pprof or -perf)")
	fs.IntVar(&o.batchFlows, "batch-flows", 200, "timed batch flows per backend (0: no batch variant)")
	fs.IntVar(&o.batchSize, "batch-size", 10, "credentials per batch flow (one key attestation covers every key)")
	fs.IntVar(&o.concurrency, "c", 64, "concurrent wallets")
	fs.IntVar(&o.warmup, "warmup", 256, "untimed flows before the timed ones (connection pools and caches reach their steady state)")
	fs.BoolVar(&o.freshWallet, "fresh-wallet", false, "a new wallet instance (instance key, attestation, DPoP key, no cached DPoP nonce) for every flow")
	fs.DurationVar(&o.timeout, "timeout", 90*time.Second, "time limit of each timed run")
	fs.StringVar(&o.issuerBin, "issuer-bin", "", "issuer binary (default: go build ./cmd/issuer)")
	fs.StringVar(&o.redisBin, "redis-server", "redis-server", "redis-server binary for the redis backend (a child on a free loopback port)")
	fs.StringVar(&o.redisQuery, "redis-url-query", "", "query appended to the issuer's Redis URL, e.g. pool_size=64 or protocol=2 (go-redis options)")
	fs.IntVar(&o.floorIters, "floor-iterations", 2000, "iterations of each signature operation timed for the crypto floor")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (issuer logs, data) and print its path")
	fs.IntVar(&o.pacedFlows, "paced-flows", 400, "flows of the paced (open-loop) latency run per backend (0: none)")
	fs.Float64Var(&o.pacedLoad, "paced-load", 0.5, "offered load of the paced run as a fraction of the measured closed-loop throughput")
	var env envList
	fs.Var(&env, "issuer-env", "KEY=VALUE added to the issuer's environment (repeatable), e.g. GOGC=200")
	fs.StringVar(&o.perf, "perf", "", "record the issuer with `perf record -g` during the timed single-credential flows into FILE.<backend> (profiling costs CPU: do not read the figures of such a run)")
	fs.StringVar(&o.pprof, "pprof", "", "take a Go CPU profile of the issuer (its /debug/pprof/profile, admin.pprof on) from the start of the timed single-credential flows into FILE.<backend>; read it with go tool pprof")
	fs.IntVar(&o.pprofSecs, "pprof-seconds", 10, "length of the -pprof profile; choose -flows so that the timed flows last at least as long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.pprof != "" {
		env = append(env, "ISSUER_ADMIN_PPROF=true")
	}
	o.backends = strings.Split(*backends, ",")
	o.issuerEnv = env
	for _, b := range o.backends {
		if b != "memory" && b != "redis" {
			fmt.Fprintf(stderr, "unknown backend %q\n", b)
			return 2
		}
	}
	if o.flows < 1 || o.concurrency < 1 || o.batchSize < 1 || o.batchFlows < 0 || o.warmup < 0 || o.rounds < 1 || o.rounds > o.flows {
		fmt.Fprintln(stderr, "flows, c, batch-size and rounds must be positive, rounds at most flows")
		return 2
	}
	reports, err := bench(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "issuer-bench:", err)
		return 1
	}
	printReport(stdout, o, reports)
	for _, r := range reports {
		if r.errors() > 0 {
			return 1
		}
	}
	return 0
}

// backendReport is everything measured for one backend.
type backendReport struct {
	backend string
	floor   floor
	// runFloor is the floor timed during the timed single-credential flows
	// (floorProbe); zero when the run was too short for a burst.
	runFloor floor
	single   loadResult
	batch    *loadResult
	paced    *loadResult
	pacedAt  float64 // flows/s offered

	singleCPU, batchCPU, adminCPU time.Duration
	pacedCPU                      time.Duration
	rounds                        int           // the timed flows ran in this many rounds
	walletCPU                     time.Duration // this process (the wallets and the floor probe) over the timed flows
	redisCPU                      time.Duration // redis-server CPU over the timed single-credential flows
	adminOffers                   int
	adminWall                     time.Duration
	hwmKB                         int64
	goroutinesBefore, goroutines  float64
	heapBefore, heapAfter         float64 // go_memstats_heap_inuse_bytes
	redisBytes                    int64   // used_memory growth over the timed flows
	redisClientBytes              int64   // of it, growth of the client connections' buffers
	redisKeyBytes                 int64   // growth of the keys' own MEMORY USAGE (key, value, entry)
	redisKinds                    []redisKind
	redisCommands                 map[string]int64 // calls during the timed single-credential flows
	redisFlows                    int
}

// headFloor is the floor the overhead factor divides by: the one timed
// during the timed flows, under the load the issuer ran under (every
// operation costs more CPU on a busy machine, the issuer's signatures as
// much as the probe's); the idle-machine floor when the run was too short
// for a probe burst.
func (r *backendReport) headFloor() (floor, string) {
	if r.runFloor.verify > 0 {
		return r.runFloor, "during these flows (a bench thread, same machine load)"
	}
	return r.floor, "(idle machine, before the runs; the run was too short to time it during the flows)"
}

func (r *backendReport) errors() int {
	n := r.single.errorCount
	if r.batch != nil {
		n += r.batch.errorCount
	}
	if r.paced != nil {
		n += r.paced.errorCount
	}
	return n
}

func bench(ctx context.Context, o options, log io.Writer) ([]*backendReport, error) {
	dir, err := os.MkdirTemp("", "issuer-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintln(log, "work directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := o.issuerBin
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(log, "building ./cmd/issuer")
		if bin, err = buildIssuer(ctx, root, dir); err != nil {
			return nil, err
		}
	}
	// The floor first, on an otherwise idle benchmark.
	fmt.Fprintln(log, "timing the crypto floor")
	fl := measureFloor(o.floorIters)
	var stands []*stand
	defer func() {
		for _, st := range stands {
			st.close()
		}
	}()
	for _, b := range o.backends {
		fmt.Fprintf(log, "backend %s: starting, %d warm-up flows, %d offers\n", b, o.warmup, o.flows)
		st, err := openStand(ctx, o, bin, filepath.Join(dir, b), b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b, err)
		}
		st.r.floor = fl
		stands = append(stands, st)
	}
	// The timed flows in rounds, the backends taking turns (in reversed
	// order every other round), so that a drift of the machine's speed
	// over the run weighs on every backend alike.
	rounds := o.rounds
	if o.pprof != "" || o.perf != "" {
		rounds = 1 // a profile covers one uninterrupted run
	}
	fmt.Fprintf(log, "timed flows: %d per backend in %d rounds with %d wallets\n", o.flows, rounds, o.concurrency)
	for i := range rounds {
		order := slices.Clone(stands)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, st := range order {
			lo, hi := i*o.flows/rounds, (i+1)*o.flows/rounds
			if err := st.timed(ctx, o, st.offers[lo:hi], i == 0, i == rounds-1); err != nil {
				return nil, fmt.Errorf("%s: %w", st.backend, err)
			}
		}
	}
	var out []*backendReport
	for _, st := range stands {
		fmt.Fprintf(log, "backend %s: %d batch flows (batch of %d), %d paced flows\n", st.backend, o.batchFlows, o.batchSize, o.pacedFlows)
		if err := st.finish(ctx, o); err != nil {
			return nil, fmt.Errorf("%s: %w", st.backend, err)
		}
		out = append(out, st.r)
	}
	return out, nil
}

// stand is one backend's issuer (and redis-server), its wallets and what
// was measured on it so far.
type stand struct {
	backend string
	rds     *redisProc
	p       *issuerProc
	env     *flowEnv
	r       *backendReport
	offers  []string // for the timed flows

	redisBefore, clientsBefore, keysBefore int64
	cmdsBefore                             map[string]int64
	floors                                 []floor // of the probe, one per round
	perf                                   *perfRecorder
	prof                                   *pprofRecorder
}

func (st *stand) close() {
	st.p.stop()
	if st.rds != nil {
		st.rds.stop()
	}
}

// openStand starts the backend's issuer, warms it up and creates the
// offers of the timed flows.
func openStand(ctx context.Context, o options, bin, dir, backend string) (_ *stand, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	st := &stand{backend: backend, r: &backendReport{backend: backend}}
	redisURL := ""
	if backend == "redis" {
		if st.rds, err = startRedis(ctx, o.redisBin, dir); err != nil {
			return nil, err
		}
		redisURL = st.rds.url
		if o.redisQuery != "" {
			redisURL += "?" + o.redisQuery
		}
	}
	defer func() {
		if err != nil && st.rds != nil {
			st.rds.stop()
		}
	}()
	prov, err := newBenchProvider(dir)
	if err != nil {
		return nil, fmt.Errorf("wallet provider: %w", err)
	}
	if st.p, err = startIssuer(ctx, bin, dir, backend, redisURL, max(o.batchSize, 1), o.issuerEnv); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.p.stop()
		}
	}()
	dataDir := filepath.Join(dir, "data")
	bundle, err := pki.Load(filepath.Join(dataDir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("development PKI: %w", err)
	}
	lo := loadOptions{base: st.p.base, dataDir: dataDir, concurrency: o.concurrency, batch: 1, freshWallet: o.freshWallet, timeout: o.timeout}
	if st.env, err = newFlowEnv(ctx, lo, prov, bundle.IACA); err != nil {
		return nil, err
	}
	r, env, p, rds := st.r, st.env, st.p, st.rds

	// Warm up: connections, pools, the wallets' DPoP nonces.
	if o.warmup > 0 {
		offers, err := createOffers(ctx, env.http, p.base, o.warmup, 8)
		if err != nil {
			return nil, err
		}
		if w := env.run(ctx, offers, 0); w.errorCount > 0 {
			return nil, fmt.Errorf("warm-up failed: %v", w.errors)
		}
		env.rec.reset()
	}
	r.goroutinesBefore, r.heapBefore = scrapeGauges(p.base)
	if rds != nil {
		if st.redisBefore, st.clientsBefore, err = rds.usedMemory(ctx); err != nil {
			return nil, err
		}
		if st.keysBefore, err = rds.keyBytes(ctx); err != nil {
			return nil, err
		}
	}
	// Offers for the timed flows, created beforehand (admin time apart).
	cpu0, _ := procCPU(p.pid())
	t0 := time.Now()
	if st.offers, err = createOffers(ctx, env.http, p.base, o.flows, 8); err != nil {
		return nil, err
	}
	r.adminWall, r.adminOffers = time.Since(t0), o.flows
	cpu1, _ := procCPU(p.pid())
	r.adminCPU = cpu1 - cpu0
	if rds != nil {
		if st.cmdsBefore, err = rds.commandStats(ctx); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// timed runs one round of the timed single-credential flows and adds what
// it measured to the report. Profiles start with the first round and end
// with the last.
func (st *stand) timed(ctx context.Context, o options, offers []string, first, last bool) error {
	r, p, rds := st.r, st.p, st.rds
	var err error
	if first && o.perf != "" {
		if st.perf, err = startPerf(p.pid(), o.perf+"."+st.backend); err != nil {
			return err
		}
	}
	if first && o.pprof != "" {
		st.prof = startPprof(ctx, st.env.http, p.base, o.pprofSecs, o.pprof+"."+st.backend)
	}
	var rcpu0 time.Duration
	if rds != nil {
		rcpu0, _ = procCPU(rds.cmd.Process.Pid)
	}
	cpu0, _ := procCPU(p.pid())
	probe := startFloorProbe(50 * time.Millisecond)
	self0, _ := procCPU(os.Getpid())
	res := st.env.run(ctx, offers, 0)
	cpu1, _ := procCPU(p.pid())
	self1, _ := procCPU(os.Getpid())
	if f := probe.finish(); f.verify > 0 {
		st.floors = append(st.floors, f)
	}
	if rds != nil {
		rcpu1, _ := procCPU(rds.cmd.Process.Pid)
		r.redisCPU += rcpu1 - rcpu0
	}
	r.walletCPU += self1 - self0
	r.singleCPU += cpu1 - cpu0
	r.single.add(res)
	r.rounds++
	st.env.rec.reset()
	if !last {
		return nil
	}
	r.runFloor = medianFloor(st.floors)
	if st.perf != nil {
		if err := st.perf.stop(); err != nil {
			return err
		}
	}
	if st.prof != nil {
		if err := st.prof.wait(); err != nil {
			return err
		}
	}
	return nil
}

// finish measures what the timed flows left in Redis, runs the batch and
// paced variants and reads the issuer's memory figures.
func (st *stand) finish(ctx context.Context, o options) error {
	r, env, p, rds := st.r, st.env, st.p, st.rds
	var err error
	if rds != nil {
		after, clientsAfter, err := rds.usedMemory(ctx)
		if err != nil {
			return err
		}
		r.redisBytes, r.redisFlows = after-st.redisBefore, r.single.flows
		r.redisClientBytes = clientsAfter - st.clientsBefore
		cmds, err := rds.commandStats(ctx)
		if err != nil {
			return err
		}
		r.redisCommands = map[string]int64{}
		for k, v := range cmds {
			if d := v - st.cmdsBefore[k]; d > 0 && k != "info" {
				r.redisCommands[k] = d
			}
		}
		// After the command count: the inventory's own commands are not
		// the flows'.
		keysAfter, err := rds.keyBytes(ctx)
		if err != nil {
			return err
		}
		r.redisKeyBytes = keysAfter - st.keysBefore
	}

	if o.batchFlows > 0 {
		boffers, err := createOffers(ctx, env.http, p.base, o.batchFlows, 8)
		if err != nil {
			return err
		}
		env.o.batch = o.batchSize
		c0, _ := procCPU(p.pid())
		b := env.run(ctx, boffers, 0)
		c1, _ := procCPU(p.pid())
		r.batch, r.batchCPU = &b, c1-c0
		env.o.batch = 1
		env.rec.reset()
	}
	if o.pacedFlows > 0 && r.single.flows > 0 {
		poffers, err := createOffers(ctx, env.http, p.base, o.pacedFlows, 8)
		if err != nil {
			return err
		}
		r.pacedAt = o.pacedLoad * float64(r.single.flows) / r.single.wall.Seconds()
		c0, _ := procCPU(p.pid())
		pr := env.run(ctx, poffers, r.pacedAt)
		c1, _ := procCPU(p.pid())
		r.paced, r.pacedCPU = &pr, c1-c0
		env.rec.reset()
	}
	// Idle connections closed so the goroutine count shows what stays.
	env.http.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	r.goroutines, r.heapAfter = scrapeGauges(p.base)
	if r.hwmKB, err = procStatusKB(p.pid(), "VmHWM"); err != nil {
		return err
	}
	if rds != nil {
		if r.redisKinds, err = rds.inventory(ctx, "bench:"); err != nil {
			return err
		}
	}
	return nil
}

// medianFloor is the median of the rounds' probe floors (zero if none).
func medianFloor(fs []floor) floor {
	if len(fs) == 0 {
		return floor{}
	}
	vs, ss := make([]time.Duration, len(fs)), make([]time.Duration, len(fs))
	for i, f := range fs {
		vs[i], ss[i] = f.verify, f.sign
	}
	slices.Sort(vs)
	slices.Sort(ss)
	return floor{verify: vs[len(vs)/2], sign: ss[len(ss)/2]}
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.latencies, r.status = map[string][]time.Duration{}, map[string]map[int]int{}
	r.mu.Unlock()
}

// scrapeGauges reads go_goroutines and go_memstats_heap_inuse_bytes from the
// issuer's /metrics (0 when absent).
func scrapeGauges(base string) (goroutines, heap float64) {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			goroutines = f
		case "go_memstats_heap_inuse_bytes":
			heap = f
		}
	}
	return goroutines, heap
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

var endpointOrder = []string{"offer", "token", "nonce", "credential"}

func printReport(w io.Writer, o options, reports []*backendReport) {
	fmt.Fprintf(w, "\nmachine: %d CPUs (%s), %s %s/%s\n", runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "settings: %d flows + %d batch flows (batch %d) per backend, %d concurrent wallets, fresh wallet per flow: %v, issuer environment: %q\n",
		o.flows, o.batchFlows, o.batchSize, o.concurrency, o.freshWallet, o.issuerEnv)
	if len(reports) > 0 {
		fmt.Fprintf(w, "timed flows in %d rounds, the backends taking turns; throughput = flows / the rounds' summed wall time\n", reports[0].rounds)
	}
	if len(reports) > 0 {
		f := reports[0].floor
		fmt.Fprintf(w, "crypto floor on the idle machine before the runs: ES256 verify %s ms, sign %s ms; one flow = %d verify + 1 sign = %s ms; batch of %d = %d verify + %d sign = %s ms\n",
			ms4(f.verify), ms4(f.sign), floorVerifies, ms4(f.perFlow(1)), o.batchSize, floorVerifies, o.batchSize, ms4(f.perFlow(o.batchSize)))
	}
	var memTput float64
	for _, r := range reports {
		s := r.single
		tput := float64(s.flows) / s.wall.Seconds()
		if r.backend == "memory" {
			memTput = tput
		}
		cpuFlow := r.singleCPU / time.Duration(max(s.flows, 1))
		fmt.Fprintf(w, "\n== backend %s\n", r.backend)
		fmt.Fprintf(w, "flows %d in %s: %.1f flows/s, %.1f credentials/s, errors %d\n", s.flows, s.wall.Round(time.Millisecond), tput,
			float64(s.credentials)/s.wall.Seconds(), s.errorCount)
		for _, e := range s.errors {
			fmt.Fprintf(w, "  error: %s\n", e)
		}
		fmt.Fprintf(w, "%-11s %8s %8s %8s %8s %9s  %s\n", "endpoint", "requests", "p50 ms", "p95 ms", "p99 ms", "per flow", "statuses")
		for _, name := range sortedEndpoints(s.latencies) {
			ds := slices.Clone(s.latencies[name])
			slices.Sort(ds)
			fmt.Fprintf(w, "%-11s %8d %8s %8s %8s %9.2f  %s\n", name, len(ds), ms(percentile(ds, 50)), ms(percentile(ds, 95)), ms(percentile(ds, 99)),
				float64(len(ds))/float64(max(s.flows, 1)), statuses(s.status[name]))
		}
		fmt.Fprintf(w, "server CPU per flow: %s ms (%.2f s over the timed window)\n", ms(cpuFlow), r.singleCPU.Seconds())
		total := cpuFlow
		if r.backend == "redis" {
			rf := r.redisCPU / time.Duration(max(s.flows, 1))
			total += rf
			fmt.Fprintf(w, "redis-server CPU per flow: %s ms\n", ms(rf))
		}
		fmt.Fprintf(w, "wallets' CPU per flow (this benchmark process, same cores): %s ms\n", ms(r.walletCPU/time.Duration(max(s.flows, 1))))
		fmt.Fprintf(w, "server-bound capacity on this machine (%d CPUs / server CPU per flow%s): %.0f flows/s\n",
			runtime.NumCPU(), map[bool]string{true: " incl. redis-server", false: ""}[r.backend == "redis"], float64(runtime.NumCPU())/total.Seconds())
		hf, where := r.headFloor()
		fmt.Fprintf(w, "crypto floor %s: ES256 verify %s ms, sign %s ms; one flow %s ms\n", where, ms4(hf.verify), ms4(hf.sign), ms4(hf.perFlow(1)))
		fmt.Fprintf(w, "overhead factor (server CPU per flow / crypto floor): %.2f\n", float64(cpuFlow)/float64(hf.perFlow(1)))
		fmt.Fprintf(w, "  against the floor timed on the idle machine before the runs (%s ms): %.2f\n", ms4(r.floor.perFlow(1)), float64(cpuFlow)/float64(r.floor.perFlow(1)))
		performed := time.Duration(performedVerifies(o.freshWallet))*hf.verify + hf.sign
		fmt.Fprintf(w, "  against the %d verify + 1 sign the issuer performs with warm caches (%s ms): %.2f\n",
			performedVerifies(o.freshWallet), ms4(performed), float64(cpuFlow)/float64(performed))
		if r.backend == "redis" && memTput > 0 {
			fmt.Fprintf(w, "redis throughput / memory throughput: %.0f%%\n", 100*tput/memTput)
		}
		fmt.Fprintf(w, "admin: %d offers in %s (%.1f offers/s), server CPU %s ms per offer (not in the flow figures)\n",
			r.adminOffers, r.adminWall.Round(time.Millisecond), float64(r.adminOffers)/r.adminWall.Seconds(), ms(r.adminCPU/time.Duration(max(r.adminOffers, 1))))
		if b := r.batch; b != nil {
			bcpu := r.batchCPU / time.Duration(max(b.flows, 1))
			fmt.Fprintf(w, "batch of %d: %d flows in %s, %.1f credentials/s, errors %d; server CPU %s ms per flow, %s ms per credential; %.2fx one single-credential flow; overhead factor %.2f\n",
				o.batchSize, b.flows, b.wall.Round(time.Millisecond), float64(b.credentials)/b.wall.Seconds(), b.errorCount,
				ms(bcpu), ms(bcpu/time.Duration(o.batchSize)), float64(bcpu)/float64(max(cpuFlow, 1)), float64(bcpu)/float64(hf.perFlow(o.batchSize)))
			if d, ok := b.latencies["credential"]; ok {
				d = slices.Clone(d)
				slices.Sort(d)
				fmt.Fprintf(w, "batch credential endpoint: p50 %s ms, p95 %s ms, p99 %s ms\n", ms(percentile(d, 50)), ms(percentile(d, 95)), ms(percentile(d, 99)))
			}
			for _, e := range b.errors {
				fmt.Fprintf(w, "  batch error: %s\n", e)
			}
		}
		if pr := r.paced; pr != nil {
			fmt.Fprintf(w, "paced run: %d flows offered at %.1f flows/s (%.0f%% of the closed-loop throughput) to %d wallets in %s, errors %d\n",
				pr.flows, r.pacedAt, 100*o.pacedLoad, o.concurrency, pr.wall.Round(time.Millisecond), pr.errorCount)
			for _, name := range sortedEndpoints(pr.latencies) {
				ds := slices.Clone(pr.latencies[name])
				slices.Sort(ds)
				fmt.Fprintf(w, "  %-11s p50 %6s ms  p95 %6s ms  p99 %6s ms\n", name, ms(percentile(ds, 50)), ms(percentile(ds, 95)), ms(percentile(ds, 99)))
			}
			pcpu := r.pacedCPU / time.Duration(max(pr.flows, 1))
			fmt.Fprintf(w, "  server CPU per flow at this load: %s ms; overhead factor %.2f\n", ms(pcpu), float64(pcpu)/float64(hf.perFlow(1)))
			for _, e := range pr.errors {
				fmt.Fprintf(w, "  paced error: %s\n", e)
			}
		}
		fmt.Fprintf(w, "issuer peak RSS (VmHWM): %.1f MB; goroutines %.0f before the timed flows, %.0f after; heap in use %.1f MB before, %.1f MB after\n",
			float64(r.hwmKB)/1024, r.goroutinesBefore, r.goroutines, r.heapBefore/(1<<20), r.heapAfter/(1<<20))
		if r.backend == "redis" {
			n := int64(max(r.redisFlows, 1))
			fmt.Fprintf(w, "redis: used_memory grew %d bytes over the %d timed flows (their offers included) = %d bytes per flow\n",
				r.redisBytes, r.redisFlows, r.redisBytes/n)
			fmt.Fprintf(w, "  of it, client connection buffers (mem_clients_normal, per connection, not per flow) %d bytes; held by the flows: %d bytes per flow\n",
				r.redisClientBytes, (r.redisBytes-r.redisClientBytes)/n)
			fmt.Fprintf(w, "  the keys one flow adds (MEMORY USAGE: key, value, entry): %d bytes per flow; the rest is the key space's hash tables, which grow in steps\n",
				r.redisKeyBytes/n)
			var total int64
			var names []string
			for k, v := range r.redisCommands {
				total += v
				names = append(names, k)
			}
			sort.Strings(names)
			fmt.Fprintf(w, "redis commands per flow, counting those a script runs (INFO commandstats): %.1f (", float64(total)/float64(max(r.redisFlows, 1)))
			for i, k := range names {
				if i > 0 {
					fmt.Fprint(w, ", ")
				}
				fmt.Fprintf(w, "%s %.2f", k, float64(r.redisCommands[k])/float64(max(r.redisFlows, 1)))
			}
			fmt.Fprintln(w, ")")
			var keys, noTTL int64
			for _, k := range r.redisKinds {
				keys += k.keys
				noTTL += k.noTTL
			}
			fmt.Fprintf(w, "redis at the end (every run): %d keys, %d without a TTL; by kind (keys, MEMORY USAGE):", keys, noTTL)
			for _, k := range r.redisKinds {
				fmt.Fprintf(w, " %s %d/%dB", k.kind, k.keys, k.bytes)
			}
			fmt.Fprintln(w)
		}
	}
}

func ms4(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

func sortedEndpoints(m map[string][]time.Duration) []string {
	var names []string
	for _, n := range endpointOrder {
		if _, ok := m[n]; ok {
			names = append(names, n)
		}
	}
	var rest []string
	for n := range m {
		if !slices.Contains(endpointOrder, n) {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(names, rest...)
}

func statuses(m map[int]int) string {
	var codes []int
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d×%d", c, m[c])
	}
	return strings.Join(parts, " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
