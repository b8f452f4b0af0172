package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mdoc-issuer/issuer/config"
	"github.com/mdoc-issuer/issuer/e2e/wallet"
	"github.com/mdoc-issuer/issuer/upstream/oidctest"
)

const (
	upstreamSubject    = "upstream-user-7"
	upstreamFamilyName = "Upstreamfrau"
	mdlConfiguration   = "org.iso.18013.5.1.mDL"
)

// upstreamUser is the End-User's browser in front of the wallet: it checks
// that the login page offers the upstream login beside the password form
// and, where the wallet simulator presses "Sign in" (action=login), presses
// "Sign in with …" (action=upstream) instead. The wallet simulator then
// follows the redirects through the provider and back.
type upstreamUser struct {
	base string
	next http.RoundTripper

	mu          sync.Mutex
	sawButton   bool
	pressed     int
	atProvider  int
	sawCallback int
}

func (u *upstreamUser) RoundTrip(r *http.Request) (*http.Response, error) {
	path := strings.TrimPrefix(r.URL.String(), u.base)
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/authorize/login"):
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		f, err := url.ParseQuery(string(b))
		if err != nil || f.Get("action") != "login" {
			return nil, errors.New("test user agent: unexpected login form post")
		}
		f.Set("action", "upstream")
		f.Del("username")
		f.Del("password")
		body := f.Encode()
		r = r.Clone(r.Context())
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
		u.mu.Lock()
		u.pressed++
		u.mu.Unlock()
	case !strings.HasPrefix(r.URL.String(), u.base):
		u.mu.Lock()
		u.atProvider++
		u.mu.Unlock()
	case strings.HasPrefix(path, config.DefaultUpstreamRedirectPath+"?"):
		u.mu.Lock()
		u.sawCallback++
		u.mu.Unlock()
	}
	res, err := u.next.RoundTrip(r)
	if err != nil || r.Method != http.MethodGet || !strings.HasPrefix(path, "/authorize?") {
		return res, err
	}
	page, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(page))
	if bytes.Contains(page, []byte(`id="upstream"`)) && bytes.Contains(page, []byte("Sign in with Test Provider")) &&
		bytes.Contains(page, []byte(`id="password"`)) {
		u.mu.Lock()
		u.sawButton = true
		u.mu.Unlock()
	}
	return res, nil
}

// startWithUpstream starts the development issuer with an upstream_oidc
// block pointing at op and a claims dataset holding the upstream End-User
// under "oidc:" + upstreamSubject.
func startWithUpstream(t *testing.T, op *oidctest.Server, mutate func(*config.UpstreamOIDC)) (running, *config.Config) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := devConfig(t, map[string]string{config.EnvIssuer: "http://" + addr, config.EnvListen: addr})

	var data map[string]map[string]map[string]map[string]any
	if err := yaml.Unmarshal(devClaimsYAML, &data); err != nil {
		t.Fatal(err)
	}
	person := data["dev-subject-1"]
	for _, ns := range person {
		for _, elements := range ns {
			if _, ok := elements["family_name"]; ok {
				elements["family_name"] = upstreamFamilyName
			}
		}
	}
	b, err := yaml.Marshal(map[string]any{config.DefaultUpstreamSubjectPrefix + upstreamSubject: person})
	if err != nil {
		t.Fatal(err)
	}
	dataset := filepath.Join(t.TempDir(), "claims.yaml")
	if err := os.WriteFile(dataset, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Claims.Dataset = dataset
	cfg.UpstreamOIDC = &config.UpstreamOIDC{Issuer: op.Issuer(), ClientID: op.ClientID(), ClientSecret: op.ClientSecret(),
		Name: "Test Provider", Scopes: []string{"profile"}, Timeout: config.Duration(5 * time.Second)}
	if mutate != nil {
		mutate(cfg.UpstreamOIDC)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	op.AllowRedirectURI(cfg.Issuer + config.DefaultUpstreamRedirectPath)
	return start(t, cfg), cfg
}

func upstreamWallet(t *testing.T, r running, cfg *config.Config, ua *upstreamUser) *wallet.Wallet {
	t.Helper()
	prov, err := selftestProvider(cfg.DataDir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	w, err := wallet.New(wallet.Config{
		Issuer: r.base, HTTP: &http.Client{Transport: ua, Timeout: 30 * time.Second},
		Attester: prov, KeyAttester: prov, ClientID: devWalletClientID, RedirectURI: devRedirectURIs[0],
		Username: "testuser", Password: "testpass",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestUpstreamLoginEndToEnd runs the authorization code flow of a wallet
// through the upstream OpenID Connect login of a running issuer: PAR, login
// page, provider, callback, consent, token, credential. The credential
// carries the claims of the namespaced upstream subject.
func TestUpstreamLoginEndToEnd(t *testing.T) {
	op := oidctest.New(t, oidctest.Options{Subject: upstreamSubject, IssParameter: true})
	r, cfg := startWithUpstream(t, op, nil)
	ctx := context.Background()

	t.Run("code flow and credential", func(t *testing.T) {
		ua := &upstreamUser{base: r.base, next: http.DefaultTransport}
		w := upstreamWallet(t, r, cfg, ua)
		tok, err := w.AuthorizationCode(ctx, wallet.AuthorizeOptions{Scope: mdlConfiguration})
		if err != nil {
			t.Fatal(err)
		}
		if !ua.sawButton || ua.pressed != 1 || ua.atProvider != 1 || ua.sawCallback != 1 {
			t.Fatalf("browser path: %+v", ua)
		}
		if op.Hits(oidctest.HitToken) != 1 {
			t.Fatalf("provider token endpoint hits: %d", op.Hits(oidctest.HitToken))
		}
		res, err := w.Credential(ctx, tok, wallet.CredentialRequest{ConfigurationID: mdlConfiguration})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Credentials) != 1 || !bytes.Contains(res.Credentials[0], []byte(upstreamFamilyName)) {
			t.Fatalf("the credential does not carry the upstream End-User's claims (%d credentials)", len(res.Credentials))
		}
		logs := r.logs.String()
		if !strings.Contains(logs, "upstream OpenID Connect login enabled") {
			t.Error("no startup log of the upstream login")
		}
		for _, secret := range []string{upstreamFamilyName, upstreamSubject, op.ClientSecret()} {
			if strings.Contains(logs, secret) {
				t.Errorf("%q reached the log", secret)
			}
		}
	})

	t.Run("provider denies", func(t *testing.T) {
		op.Deny("access_denied")
		defer op.Deny("")
		ua := &upstreamUser{base: r.base, next: http.DefaultTransport}
		w := upstreamWallet(t, r, cfg, ua)
		_, err := w.AuthorizationCode(ctx, wallet.AuthorizeOptions{Scope: mdlConfiguration})
		var pe *wallet.ProtocolError
		if !errors.As(err, &pe) || pe.Code != "access_denied" {
			t.Fatalf("want access_denied at the wallet, got %v", err)
		}
		if ua.pressed != 1 || ua.sawCallback != 1 {
			t.Fatalf("browser path: %+v", ua)
		}
	})

	t.Run("password login still available", func(t *testing.T) {
		prov, err := selftestProvider(cfg.DataDir, "", "")
		if err != nil {
			t.Fatal(err)
		}
		w, err := wallet.New(wallet.Config{Issuer: r.base, Attester: prov, KeyAttester: prov, ClientID: devWalletClientID,
			RedirectURI: devRedirectURIs[0], Username: "testuser", Password: "testpass"})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Discover(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := w.AuthorizationCode(ctx, wallet.AuthorizeOptions{Scope: mdlConfiguration}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestUpstreamProviderUnreachableFailsStartup: discovery happens at start.
func TestUpstreamProviderUnreachableFailsStartup(t *testing.T) {
	op := oidctest.New(t, oidctest.Options{})
	issuer := op.Issuer()
	op.Close()
	cfg := devConfig(t, nil)
	cfg.UpstreamOIDC = &config.UpstreamOIDC{Issuer: issuer, ClientID: "c", ClientSecret: "s", Timeout: config.Duration(2 * time.Second)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := serve(ctx, cfg, newLogger(cfg.Log, io.Discard), func(net.Addr, net.Addr) { t.Error("serving without the upstream provider") })
	if err == nil || !strings.Contains(err.Error(), "upstream_oidc") {
		t.Fatalf("want an upstream_oidc startup error, got %v", err)
	}
}

// TestUpstreamLoginPrivateKeyJWT: client_key_file authenticates the issuer
// at the provider's token endpoint with private_key_jwt.
func TestUpstreamLoginPrivateKeyJWT(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "upstream-client-key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	op := oidctest.New(t, oidctest.Options{Subject: upstreamSubject, ClientKey: &key.PublicKey,
		AuthMethods: []string{oidctest.PrivateKeyJWT}})
	r, cfg := startWithUpstream(t, op, func(u *config.UpstreamOIDC) {
		u.ClientSecret, u.ClientKeyFile, u.ClientKeyID = "", keyFile, "issuer-key-1"
	})
	ua := &upstreamUser{base: r.base, next: http.DefaultTransport}
	w := upstreamWallet(t, r, cfg, ua)
	tok, err := w.AuthorizationCode(context.Background(), wallet.AuthorizeOptions{Scope: mdlConfiguration})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || ua.sawCallback != 1 || op.Hits(oidctest.HitToken) != 1 {
		t.Fatalf("flow: %+v, token endpoint hits %d", ua, op.Hits(oidctest.HitToken))
	}
	if !strings.Contains(r.logs.String(), `"auth_method":"private_key_jwt"`) {
		t.Error("the startup log does not show private_key_jwt")
	}
}
