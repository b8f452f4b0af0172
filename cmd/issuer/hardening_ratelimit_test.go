package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/config"
)

// TestHardeningRateLimitsAcrossInstances runs two issuer instances on one
// Redis and checks that the per-address and per-wallet budgets are shared:
// requests split between the instances are counted together, the request
// over the limit gets 429 with Retry-After and a JSON error naming the
// rule, and metadata is never limited.
func TestHardeningRateLimitsAcrossInstances(t *testing.T) {
	rd := startRedisServer(t, 0)
	prefix := randomPrefix()
	on := true
	instance := func() running {
		cfg := devConfig(t, map[string]string{config.EnvStore: "redis", config.EnvRedisURL: rd.url(), config.EnvKeyPrefix: prefix})
		// A one-hour window: the test does not straddle a window boundary.
		cfg.RateLimits = config.RateLimits{Enabled: &on, Window: config.Duration(time.Hour), ClientAddress: 8, Wallet: 3}
		return start(t, cfg)
	}
	a, b := instance(), instance()
	// Wallet instances are told apart by their attestation's cnf key (all
	// share the wallet solution's sub, HAIP §4.4.1).
	attestation := func(instance string) string {
		coord := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		p := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"wallet-solution","cnf":{"jwk":{"kty":"EC","crv":"P-256","x":"` +
			coord(instance) + `","y":"` + coord("y") + `"}}}`))
		return "eyJhbGciOiJFUzI1NiJ9." + p + ".c2ln"
	}
	send := func(base, sub string) (*http.Response, string) {
		var hdr []string
		if sub != "" {
			hdr = []string{"OAuth-Client-Attestation", attestation(sub)}
		}
		res, body := post(t, base+"/nonce", "", "", hdr...)
		var eb struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if res.StatusCode == http.StatusTooManyRequests {
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error != "too_many_requests" {
				t.Fatalf("429 without a JSON error: %s", body)
			}
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
		return res, eb.Description
	}
	// Wallet budget 3: a, b, a pass; the fourth (on b) is over.
	for i, base := range []string{a.base, b.base, a.base} {
		if res, _ := send(base, "wallet-1"); res.StatusCode != 200 {
			t.Fatalf("wallet request %d: %d", i, res.StatusCode)
		}
	}
	res, desc := send(b.base, "wallet-1")
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(desc, "wallet") {
		t.Fatalf("4th request of wallet-1 across instances: %d %q", res.StatusCode, desc)
	}
	// Another wallet has its own budget, the address budget (8) is shared.
	if res, _ := send(a.base, "wallet-2"); res.StatusCode != 200 {
		t.Fatalf("wallet-2: %d", res.StatusCode)
	}
	for i := 0; i < 3; i++ {
		if res, _ := send([]string{a.base, b.base}[i%2], ""); res.StatusCode != 200 {
			t.Fatalf("address request %d: %d", i, res.StatusCode)
		}
	}
	res, desc = send(b.base, "")
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(desc, "address") {
		t.Fatalf("9th request from the address: %d %q", res.StatusCode, desc)
	}
	for _, base := range []string{a.base, b.base} {
		if res, _ := get(t, base+"/.well-known/openid-credential-issuer"); res.StatusCode != 200 {
			t.Fatalf("metadata limited: %d", res.StatusCode)
		}
	}
}
