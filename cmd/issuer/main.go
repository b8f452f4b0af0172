// Command issuer is the mdoc credential issuer: one binary with subcommands.
//
//	issuer [serve] [--config FILE]          serve (the default; embedded dev config without --config)
//	issuer config validate [--config FILE]  print every configuration problem; exit 1 if any
//	issuer pki init [--config FILE]         create the IACA, Document Signer and metadata signer in pki.dir
//	issuer healthcheck [--url URL]          GET /healthz; exit 0 when it answers 200 (container HEALTHCHECK)
//	issuer audit verify [--config FILE]     check the hash chain of audit logs
//	issuer version                          print version and commit
//
// cmd/issuer reads the configuration and maps it into each package's
// Options; no other package reads config (see docs/internal-apis.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/mdoc-issuer/issuer/config"
	"github.com/mdoc-issuer/issuer/pki"
)

// Set with -ldflags "-X main.version=... -X main.commit=..." (see Makefile).
var (
	version = "dev"
	commit  = ""
)

func main() {
	setDefaultGOGC(os.LookupEnv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal starts the graceful shutdown, a second one
	// terminates at once.
	go func() { <-ctx.Done(); stop() }()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  issuer [serve] [--config FILE]           serve the issuer (embedded development config without --config)
  issuer config validate [--config FILE]   check a configuration, printing every problem
  issuer pki init [--config FILE]          create what is missing of the PKI in pki.dir (never overwrites)
  issuer offer [flags]                     create a credential offer on a running issuer and print its QR code
  issuer selftest [flags]                  run a complete issuance against an issuer as a HAIP wallet
  issuer healthcheck [--url URL]           exit 0 if URL (default http://127.0.0.1:8080/healthz) answers 200
  issuer audit verify [--config FILE] [LOG...]  check the hash chain of audit logs
  issuer version                           print the version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (len(args[0]) > 0 && args[0][0] == '-' && args[0] != "-h" && args[0] != "--help") {
		args = append([]string{"serve"}, args...)
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stderr)
	case "config":
		if len(args) < 2 || args[1] != "validate" {
			fmt.Fprint(stderr, usage)
			return 2
		}
		return cmdValidate(args[2:], stdout, stderr)
	case "pki":
		if len(args) < 2 || args[1] != "init" {
			fmt.Fprint(stderr, usage)
			return 2
		}
		return cmdPKIInit(args[2:], stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(ctx, args[1:], stderr)
	case "offer":
		return cmdOffer(ctx, args[1:], stdout, stderr)
	case "selftest":
		return cmdSelftest(ctx, args[1:], stdout, stderr)
	case "audit":
		return cmdAudit(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
	return 2
}

func configFlag(name string, args []string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML); default: the embedded development configuration")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return *path, nil
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) int {
	path, err := configFlag("serve", args, stderr)
	if err != nil {
		return 2
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		fmt.Fprintf(stderr, "configuration invalid:\n%v\n", err)
		return 1
	}
	// Log output is batched (logBuffer): one write per ~100 ms instead of
	// one per request.
	lb := newLogBuffer(stderr)
	defer lb.Close()
	log := slog.New(logHandler{Handler: newLogger(cfg.Log, lb).Handler(), buf: lb})
	if unknown := config.UnknownEnv(os.Environ()); len(unknown) > 0 {
		log.Warn("ignoring unknown ISSUER_* environment variables", "names", unknown)
	}
	if err := serve(ctx, cfg, log, nil); err != nil {
		log.Error("issuer stopped", "error", err.Error())
		return 1
	}
	return 0
}

// cmdValidate loads the configuration and also runs the checks that need the
// doctype catalogue (claims naming unknown elements), exactly as serve would.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	path, err := configFlag("config validate", args, stderr)
	if err != nil {
		return 2
	}
	cfg, err := config.Load(path, nil)
	if err == nil {
		_, _, err = resolveConfigurations(cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	name := path
	if name == "" {
		name = "embedded default configuration"
	}
	fmt.Fprintf(stdout, "%s: ok\n", name)
	return 0
}

// cmdPKIInit creates the PKI described by the pki section (what is absent
// only; existing keys and certificates are checked and kept).
func cmdPKIInit(args []string, stdout, stderr io.Writer) int {
	path, err := configFlag("pki init", args, stderr)
	if err != nil {
		return 2
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	c := cfg.PKI
	b, err := pki.Init(c.Dir, pki.InitOptions{Country: c.Country, State: c.State, Organization: c.Organization, IssuerURL: cfg.Issuer})
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "PKI in %s\n  IACA     %s (not after %s)\n  DS       %s (not after %s)\n  metadata %s (not after %s)\n",
		b.Dir, b.IACA.Subject, b.IACA.NotAfter.Format(time.DateOnly), b.DS.Subject, b.DS.NotAfter.Format(time.DateOnly),
		b.Meta.Subject, b.Meta.NotAfter.Format(time.DateOnly))
	return 0
}

func cmdHealthcheck(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	u := fs.String("url", "http://127.0.0.1:8080/healthz", "health endpoint to GET")
	timeout := fs.Duration("timeout", 3*time.Second, "request timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *u, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "unhealthy:", err)
		return 1
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "unhealthy: status", res.StatusCode)
		return 1
	}
	return 0
}

func versionString() string {
	v, c := version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("issuer %s (commit %s)", v, c)
}
