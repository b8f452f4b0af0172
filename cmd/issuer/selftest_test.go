package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/mdoc-issuer/issuer/config"
	"github.com/mdoc-issuer/issuer/pki"
)

// startDev starts the development issuer with an identifier matching its
// loopback listener, as a wallet would reach it.
func startDev(t *testing.T, extra map[string]string) (running, *config.Config) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{config.EnvIssuer: "http://" + addr, config.EnvListen: addr}
	for k, v := range extra {
		env[k] = v
	}
	cfg := devConfig(t, env)
	return start(t, cfg), cfg
}

func selftest(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), append([]string{"selftest"}, args...), &out, &out)
	return code, out.String()
}

func TestSelftestAuthorizationCodeFlow(t *testing.T) {
	r, cfg := startDev(t, nil)
	code, out := selftest(t, "--issuer", r.base, "--data-dir", cfg.DataDir, "--batch", "3")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, step := range []string{"discovery", "authorization code flow", "credential", "credential verification", "notification"} {
		if !strings.Contains(out, "PASS  "+step) {
			t.Errorf("no PASS for %q:\n%s", step, out)
		}
	}
	if strings.Contains(r.logs.String(), "Mustermann") {
		t.Error("a claim value reached the log")
	}
}

func TestSelftestPreAuthorizedOffer(t *testing.T) {
	token := strings.Repeat("t", 40)
	r, cfg := startDev(t, map[string]string{config.EnvAdminTokens: token})
	body, _ := json.Marshal(map[string]any{
		"credential_configuration_ids": []string{"org.iso.18013.5.1.mDL"},
		"grant":                        "pre-authorized_code",
		"subject":                      "dev-subject-2",
		"tx_code":                      map[string]any{"length": 6, "input_mode": "numeric"},
	})
	req, _ := http.NewRequest(http.MethodPost, r.base+"/admin/v1/offers", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var created struct {
		OfferURI string `json:"offer_uri"`
		TxCode   string `json:"tx_code"`
	}
	if err := json.NewDecoder(res.Body).Decode(&created); err != nil || res.StatusCode != 201 {
		t.Fatalf("create offer: %d %v", res.StatusCode, err)
	}
	if code, out := selftest(t, "--issuer", r.base, "--data-dir", cfg.DataDir, "--offer", created.OfferURI, "--tx-code", "000000x"); code == 0 ||
		!strings.Contains(out, "FAIL  token (pre-authorized code)") || !strings.Contains(out, "invalid_grant") {
		t.Fatalf("a wrong tx_code passed or failed elsewhere (exit %d):\n%s", code, out)
	}
	code, out := selftest(t, "--issuer", r.base, "--data-dir", cfg.DataDir, "--offer", created.OfferURI, "--tx-code", created.TxCode)
	if code != 0 || !strings.Contains(out, "PASS  token (pre-authorized code)") || !strings.Contains(out, "PASS  credential verification") {
		t.Fatalf("exit %d\n%s\n%s", code, out, r.logs)
	}
	if code, out := selftest(t, "--issuer", r.base, "--data-dir", cfg.DataDir, "--offer", created.OfferURI, "--tx-code", created.TxCode); code == 0 {
		t.Fatalf("a redeemed offer was redeemed again:\n%s", out)
	}
}

func TestSelftestFindsBrokenIssuer(t *testing.T) {
	r, cfg := startDev(t, nil)
	t.Run("wrong issuer identifier", func(t *testing.T) {
		wrong := strings.Replace(r.base, "127.0.0.1", "localhost", 1)
		code, out := selftest(t, "--issuer", wrong, "--data-dir", cfg.DataDir)
		if code == 0 || !strings.Contains(out, "FAIL  discovery") || !strings.Contains(out, "want the issuer identifier") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("untrusted DS chain", func(t *testing.T) {
		other, err := pki.Init(t.TempDir(), pki.InitOptions{Country: "UT", Organization: "Another IACA", IssuerURL: "https://other.example"})
		if err != nil {
			t.Fatal(err)
		}
		iaca := t.TempDir() + "/iaca.pem"
		if err := writeFile(iaca, other.IACAPEM); err != nil {
			t.Fatal(err)
		}
		code, out := selftest(t, "--issuer", r.base, "--data-dir", cfg.DataDir, "--iaca", iaca)
		if code == 0 || !strings.Contains(out, "PASS  credential\n") && !strings.Contains(out, "PASS  credential ") ||
			!strings.Contains(out, "FAIL  credential verification") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
}

func TestOfferCommandWithDevelopmentToken(t *testing.T) {
	r, cfg := startDev(t, nil)
	var out bytes.Buffer
	if code := run(context.Background(), []string{"offer", "--issuer", r.base, "--data-dir", cfg.DataDir,
		"--subject", "dev-subject-2", "--tx-code-length", "6"}, &out, &out); code != 0 {
		t.Fatalf("offer: exit %d\n%s", code, out.String())
	}
	var offerURI, tx string
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "offer:      "); ok {
			offerURI = v
		}
		if v, ok := strings.CutPrefix(line, "tx_code:    "); ok {
			tx, _, _ = strings.Cut(v, " ")
		}
	}
	if !strings.HasPrefix(offerURI, "openid-credential-offer://?credential_offer_uri=") || len(tx) != 6 || !strings.Contains(out.String(), "█") {
		t.Fatalf("output:\n%s", out.String())
	}
	if code, out := selftest(t, "--issuer", r.base, "--data-dir", cfg.DataDir, "--offer", offerURI, "--tx-code", tx); code != 0 {
		t.Fatalf("selftest of the printed offer: exit %d\n%s", code, out)
	}
	var bad bytes.Buffer
	if code := run(context.Background(), []string{"offer", "--issuer", r.base, "--token", strings.Repeat("x", 43)}, &bad, &bad); code == 0 ||
		!strings.Contains(bad.String(), "401") {
		t.Fatalf("a wrong admin token was accepted: %s", bad.String())
	}
}

func TestSelftestWithAttestationChallenges(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := devConfig(t, map[string]string{config.EnvIssuer: "http://" + addr, config.EnvListen: addr})
	cfg.OAuth.AttestationChallenges = true
	r := start(t, cfg)
	res, body := get(t, r.base+"/.well-known/oauth-authorization-server")
	if res.StatusCode != 200 || !strings.Contains(string(body), `"challenge_endpoint":"`+r.base+`/challenge"`) {
		t.Fatalf("AS metadata without challenge_endpoint: %s", body)
	}
	code, out := selftest(t, "--issuer", r.base, "--data-dir", cfg.DataDir)
	if code != 0 || !strings.Contains(out, "PASS  authorization code flow") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.Contains(r.logs.String(), `"route":"challenge","status":200`) {
		t.Fatal("the wallet never fetched a challenge")
	}
}
