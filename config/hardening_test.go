package config

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHardeningValidation(t *testing.T) {
	base := "issuer: http://localhost:8080\ndevelopment: true\npki: {country: UT, organization: O}\n" +
		"credential_configurations:\n  mdl:\n    doctype: org.iso.18013.5.1.mDL\n    scope: mdl\n"
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	for _, tc := range []struct{ name, extra, want string }{
		{"window too short", "rate_limits: {window: 10ms}\n", "rate_limits.window: must be between 1s and 1h0m0s"},
		{"negative address limit", "rate_limits: {client_address: -1}\n", "rate_limits.client_address: must be positive"},
		{"negative wallet limit", "rate_limits: {wallet: -5}\n", "rate_limits.wallet: must be positive"},
		{"audit key without file", "audit: {key: " + key + "}\n", "audit.key: set without audit.file"},
		{"short audit key", "audit: {file: a.log, key: YWJj}\n", "audit.key: must decode to at least 32 bytes"},
		{"audit key not base64", "audit: {file: a.log, key: '!!!'}\n", "audit.key: not base64"},
		{"audit file is a directory", "audit: {file: .}\n", "audit.file: exists and is not a regular file"},
		{"shutdown delay too long", "http: {shutdown_delay: 2m}\n", "http.shutdown_delay: must be between"},
		{"tls reload too fast", "tls: {reload_interval: 1ms}\n", "tls.reload_interval: must be between"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(mergeYAML(base, tc.extra)), t.TempDir(), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

func TestHardeningDefaultsAndEnv(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse(Default(), dir, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimitsEnabled() {
		t.Error("rate limits on by default in development")
	}
	if c.RateLimits.Window.D() != time.Minute || c.RateLimits.ClientAddress != DefaultRateClientAddress || c.RateLimits.Wallet != DefaultRateWallet {
		t.Errorf("rate limit defaults %+v", c.RateLimits)
	}
	if c.TLS.ReloadInterval.D() != time.Minute || c.Audit.File != "" {
		t.Errorf("tls reload %v audit %q", c.TLS.ReloadInterval, c.Audit.File)
	}
	prod := *c
	prod.Development = false
	if !prod.RateLimitsEnabled() {
		t.Error("rate limits off by default outside development")
	}

	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", 32)))
	c, err = Parse(Default(), dir, env(map[string]string{
		EnvRateLimits: "true", EnvAuditFile: "logs/audit.log", EnvAuditKey: key,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.RateLimitsEnabled() || c.Audit.File != filepath.Join(dir, "logs/audit.log") {
		t.Fatalf("env not applied: %v %q", c.RateLimitsEnabled(), c.Audit.File)
	}
	if k, err := c.AuditKey(); err != nil || string(k) != strings.Repeat("a", 32) {
		t.Fatalf("audit key %q %v", k, err)
	}
	if _, err := Parse(Default(), dir, env(map[string]string{EnvRateLimits: "sometimes"})); err == nil ||
		!strings.Contains(err.Error(), "env ISSUER_RATE_LIMITS_ENABLED: must be true or false") {
		t.Fatalf("bad bool accepted: %v", err)
	}
	if got := UnknownEnv([]string{EnvAuditKey + "=x", EnvAuditFile + "=y", EnvRateLimits + "=1"}); len(got) != 0 {
		t.Fatalf("new variables reported unknown: %v", got)
	}
}
