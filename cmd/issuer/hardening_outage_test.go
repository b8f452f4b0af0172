package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/config"
	"github.com/mdoc-issuer/issuer/e2e/wallet"
)

func randomPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "hardening-" + hex.EncodeToString(b[:]) + ":"
}

// assertUnavailable checks a 503 with Retry-After and a JSON
// temporarily_unavailable body.
func assertUnavailable(t *testing.T, what string, res *http.Response, body []byte) {
	t.Helper()
	var eb struct {
		Error string `json:"error"`
	}
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
		res.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &eb) != nil ||
		eb.Error != "temporarily_unavailable" {
		t.Errorf("%s during outage: %d Retry-After=%q %s", what, res.StatusCode, res.Header.Get("Retry-After"), body)
	}
}

func post(t *testing.T, u, ct, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// wantUnavailable asserts that a wallet step failed and that the issuer's
// last answer on path was a 503 with Retry-After and a JSON error.
func wantUnavailable(t *testing.T, rt *recordingTransport, step, path string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s succeeded during the outage", step)
		return
	}
	r, ok := rt.get(path)
	if !ok {
		t.Errorf("%s: no response from %s (%v)", step, path, err)
		return
	}
	assertUnavailable(t, step, &http.Response{StatusCode: r.status, Header: r.header}, r.body)
}

// TestHardeningRedisOutage stops a real Redis under two running issuers
// (rate limits on and off), checks that every stateful endpoint answers 503
// with Retry-After and a JSON error, that no credential is issued without
// its replay checks, and that both recover without a restart once Redis is
// back on the same port.
func TestHardeningRedisOutage(t *testing.T) {
	rd := startRedisServer(t, 0)
	env := func(limits string) map[string]string {
		return map[string]string{
			config.EnvStore: "redis", config.EnvRedisURL: rd.url(), config.EnvKeyPrefix: randomPrefix(),
			config.EnvRateLimits: limits,
		}
	}
	limited := startIssuerProcess(t, "", env("true"))
	plain := startIssuerProcess(t, "", env("false"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	// Before the outage: a complete issuance, plus an access token and an
	// authorization code kept for the outage.
	rt := &recordingTransport{}
	w := plain.wallet(t, ctx, &http.Client{Transport: rt, Timeout: 20 * time.Second})
	tok, err := w.AuthorizationCode(ctx, wallet.AuthorizeOptions{Scope: "org.iso.18013.5.1.mDL"})
	if err != nil {
		t.Fatal(err)
	}
	if cr, err := w.Credential(ctx, tok, wallet.CredentialRequest{ConfigurationID: "org.iso.18013.5.1.mDL"}); err != nil || len(cr.Credentials) != 1 {
		t.Fatalf("credential before the outage: %v", err)
	}
	tok2, err := w.AuthorizationCode(ctx, wallet.AuthorizeOptions{Scope: "org.iso.18013.5.1.mDL"})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := w.Authorize(ctx, wallet.AuthorizeOptions{Scope: "org.iso.18013.5.1.mDL"})
	if err != nil {
		t.Fatal(err)
	}
	cNonce, err := w.Nonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wl := limited.wallet(t, ctx, nil)
	if _, err := wl.Nonce(ctx); err != nil {
		t.Fatalf("nonce on the rate-limited issuer before the outage: %v", err)
	}

	rd.kill()

	t.Run("rate-limited issuer", func(t *testing.T) {
		var wg sync.WaitGroup
		for _, ep := range []string{"/par", "/token", "/nonce", "/credential", "/notification", "/offers/x"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				method := http.MethodPost
				if strings.HasPrefix(ep, "/offers/") {
					method = http.MethodGet
				}
				req, _ := http.NewRequest(method, limited.base+ep, strings.NewReader("x=1"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				assertUnavailable(t, ep, res, b)
			}()
		}
		wg.Wait()
		res, b := get(t, limited.base+"/readyz")
		assertUnavailable(t, "/readyz", res, b)
		// Stateless endpoints stay up.
		if res, _ := get(t, limited.base+"/.well-known/openid-credential-issuer"); res.StatusCode != 200 {
			t.Errorf("metadata during outage: %d", res.StatusCode)
		}
	})
	t.Run("protocol endpoints without rate limits", func(t *testing.T) {
		// Each request is valid up to its first store access.
		_, err := w.Authorize(ctx, wallet.AuthorizeOptions{Scope: "org.iso.18013.5.1.mDL"})
		wantUnavailable(t, rt, "PAR", "/par", err)
		_, err = w.RedeemCode(ctx, pending)
		wantUnavailable(t, rt, "token", "/token", err)
		cr, err := w.Credential(ctx, tok2, wallet.CredentialRequest{ConfigurationID: "org.iso.18013.5.1.mDL", Nonce: cNonce})
		if cr != nil && len(cr.Credentials) > 0 {
			t.Fatal("a credential was issued while the store (replay checks) was down")
		}
		wantUnavailable(t, rt, "credential", "/credential", err)
		err = w.Notify(ctx, tok2, "some-notification-id", "credential_accepted")
		wantUnavailable(t, rt, "notification", "/notification", err)
		res, b := get(t, plain.base+"/offers/"+strings.Repeat("A", 43))
		assertUnavailable(t, "credential offer", res, b)
		res, b = get(t, plain.base+"/readyz")
		assertUnavailable(t, "/readyz", res, b)
	})

	rd.start(t, requireRedisServer(t))
	for _, p := range []*issuerProc{limited, plain} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			res, _ := get(t, p.base+"/readyz")
			if res.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready 5 s after Redis returned\n%s", p.base, p.logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Service resumed: a fresh issuance on each issuer.
	for _, p := range []*issuerProc{limited, plain} {
		w := p.wallet(t, ctx, nil)
		tok, err := w.AuthorizationCode(ctx, wallet.AuthorizeOptions{Scope: "org.iso.18013.5.1.mDL"})
		if err != nil {
			t.Fatalf("%s after recovery: %v", p.base, err)
		}
		if _, err := w.Credential(ctx, tok, wallet.CredentialRequest{ConfigurationID: "org.iso.18013.5.1.mDL"}); err != nil {
			t.Fatalf("%s credential after recovery: %v", p.base, err)
		}
	}
}
