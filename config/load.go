package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// defaultYAML is the development configuration used when no file is given:
// an http://localhost:8080 issuer on the in-memory store.
//
//go:embed default.yaml
var defaultYAML []byte

// Default returns the embedded default configuration file.
func Default() []byte { return bytes.Clone(defaultYAML) }

// Load reads the configuration: the YAML file at path (the embedded default
// when path is ""), decoded strictly; then ISSUER_* overrides from getenv
// (nil = os.Getenv); then defaults; then one validation pass. The returned
// error lists every problem found, one per line, each with its path.
func Load(path string, getenv func(string) string) (*Config, error) {
	var (
		data []byte
		base string
		err  error
	)
	if path == "" {
		data = defaultYAML
		base, err = os.Getwd()
		if err != nil {
			return nil, err
		}
	} else {
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		base = filepath.Dir(abs)
	}
	return Parse(data, base, getenv)
}

// Parse is Load on bytes; relative paths resolve against baseDir.
func Parse(data []byte, baseDir string, getenv func(string) string) (*Config, error) {
	c, err := Decode(data)
	if err != nil {
		return nil, err
	}
	c.baseDir = baseDir
	if getenv == nil {
		getenv = os.Getenv
	}
	var problems []error
	problems = append(problems, c.applyEnv(getenv)...)
	c.applyDefaults()
	problems = append(problems, c.validate()...)
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return c, nil
}

// Decode decodes one YAML document strictly: unknown keys, duplicate keys,
// wrong types and trailing documents are errors. yaml.v3 reports every
// unknown key of the document in one error.
func Decode(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	c := &Config{}
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("config: empty document")
		}
		// yaml.v3 quotes the offending value in backticks; the value may be
		// a secret put in the wrong place, so it is not repeated.
		return nil, fmt.Errorf("config: %s", yamlValueRE.ReplaceAllString(err.Error(), "`...`"))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("config: more than one YAML document")
	}
	return c, nil
}

var yamlValueRE = regexp.MustCompile("`[^`]*`")

// Environment overrides for deployment values. Lists are comma-separated.
const (
	EnvIssuer      = "ISSUER_ISSUER"
	EnvListen      = "ISSUER_LISTEN"
	EnvDevelopment = "ISSUER_DEVELOPMENT"
	EnvDataDir     = "ISSUER_DATA_DIR"
	EnvLogLevel    = "ISSUER_LOG_LEVEL"
	EnvLogFormat   = "ISSUER_LOG_FORMAT"
	EnvStore       = "ISSUER_STORE_BACKEND"
	EnvRedisURL    = "ISSUER_REDIS_URL"
	EnvKeyPrefix   = "ISSUER_STORE_KEY_PREFIX"
	EnvPKIDir      = "ISSUER_PKI_DIR"
	EnvNonceKeys   = "ISSUER_NONCE_KEYS"
	EnvAdminTokens = "ISSUER_ADMIN_TOKENS"
	EnvAdminListen = "ISSUER_ADMIN_LISTEN"
	EnvAdminPprof  = "ISSUER_ADMIN_PPROF"
	EnvAuditFile   = "ISSUER_AUDIT_FILE"
	EnvAuditKey    = "ISSUER_AUDIT_KEY"
	EnvRateLimits  = "ISSUER_RATE_LIMITS_ENABLED"
)

// KnownEnv lists the environment variables Load reads.
var KnownEnv = []string{
	EnvIssuer, EnvListen, EnvDevelopment, EnvDataDir, EnvLogLevel, EnvLogFormat, EnvStore,
	EnvRedisURL, EnvKeyPrefix, EnvPKIDir, EnvNonceKeys, EnvAdminTokens, EnvAdminListen, EnvAdminPprof,
	EnvAuditFile, EnvAuditKey, EnvRateLimits,
}

// UnknownEnv returns the ISSUER_* names in environ (KEY=VALUE entries) that
// Load does not read, such as a misspelt ISSUER_REDIS_URI. Test variables
// (ISSUER_TEST_*) are not reported.
func UnknownEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ISSUER_") && !strings.HasPrefix(k, "ISSUER_TEST_") && !slices.Contains(KnownEnv, k) {
			out = append(out, k)
		}
	}
	return out
}

func (c *Config) applyEnv(getenv func(string) string) []error {
	var problems []error
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	list := func(name string, dst *[]string) {
		if v := getenv(name); v != "" {
			var out []string
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			*dst = out
		}
	}
	str(EnvIssuer, &c.Issuer)
	str(EnvListen, &c.Listen)
	str(EnvDataDir, &c.DataDir)
	str(EnvLogLevel, &c.Log.Level)
	str(EnvLogFormat, &c.Log.Format)
	str(EnvStore, &c.Store.Backend)
	str(EnvRedisURL, &c.Store.RedisURL)
	str(EnvKeyPrefix, &c.Store.KeyPrefix)
	str(EnvPKIDir, &c.PKI.Dir)
	str(EnvAdminListen, &c.Admin.Listen)
	str(EnvAuditFile, &c.Audit.File)
	str(EnvAuditKey, &c.Audit.Key)
	list(EnvNonceKeys, &c.Secrets.NonceKeys)
	list(EnvAdminTokens, &c.Admin.Tokens)
	boolean := func(name string, set func(bool)) {
		if v := getenv(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				problems = append(problems, &FieldError{Path: "env " + name, Msg: "must be true or false"})
			} else {
				set(b)
			}
		}
	}
	boolean(EnvDevelopment, func(b bool) { c.Development = b })
	boolean(EnvRateLimits, func(b bool) { c.RateLimits.Enabled = &b })
	boolean(EnvAdminPprof, func(b bool) { c.Admin.Pprof = b })
	return problems
}

// Path resolves a configured file path: absolute paths are kept, relative
// ones are taken relative to the config file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.baseDir, p)
}
