package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mdoc-issuer/issuer/audit"
	"github.com/mdoc-issuer/issuer/config"
)

const auditUsage = `usage: issuer audit verify [--config FILE] [--key-env NAME] [LOG...]

Checks audit logs record by record: sequence, link to the previous record and
hash (HMAC with audit.key when set). Without LOG, checks audit.file of the
configuration. Exit 0 when every log verifies, 1 at the first broken record.
`

// cmdAudit implements `issuer audit verify`.
func cmdAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, auditUsage)
		return 2
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (audit.file and audit.key)")
	keyEnv := fs.String("key-env", config.EnvAuditKey, "environment variable holding the base64 HMAC key, if the configuration has none")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := config.Load(*path, nil)
	if err != nil {
		fmt.Fprintf(stderr, "configuration invalid:\n%v\n", err)
		return 1
	}
	key, err := cfg.AuditKey()
	if err == nil && key == nil && *keyEnv != "" && os.Getenv(*keyEnv) != "" {
		key, err = config.DecodeKey(os.Getenv(*keyEnv))
	}
	if err != nil {
		fmt.Fprintf(stderr, "audit key: %v\n", err)
		return 1
	}
	files := fs.Args()
	if len(files) == 0 {
		if cfg.Audit.File == "" {
			fmt.Fprintln(stderr, "no log given and no audit.file configured")
			return 2
		}
		files = []string{cfg.Audit.File}
	}
	code := 0
	for _, f := range files {
		n, err := verifyFile(f, key)
		var ve *audit.VerifyError
		switch {
		case errors.As(err, &ve):
			fmt.Fprintf(stdout, "%s: BROKEN at line %d: %s (%d records verified before it)\n", f, ve.Line, ve.Reason, n)
			code = 1
		case err != nil:
			fmt.Fprintf(stderr, "%s: %v\n", f, err)
			code = 1
		default:
			fmt.Fprintf(stdout, "%s: ok, %d records\n", f, n)
		}
	}
	return code
}

func verifyFile(path string, key []byte) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return audit.Verify(f, key)
}
