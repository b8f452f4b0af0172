package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/web/httpx"
)

// jsonEndpoint is a protocol-like handler: strict JSON body, answers the
// decoded member, and records the request id it saw.
func jsonEndpoint(code string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			A string `json:"a"`
		}
		if err := httpx.DecodeJSON(r, &body, code); err != nil {
			oauth.WriteError(w, err)
			return
		}
		oauth.WriteJSON(w, http.StatusOK, map[string]string{"a": body.A, "rid": httpx.RequestID(r.Context())}, false)
	})
}

func formEndpoint() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := httpx.Form(r); err != nil {
			oauth.WriteError(w, err)
			return
		}
		oauth.WriteJSON(w, http.StatusCreated, map[string]string{"ok": "1"}, true)
	})
}

func getEndpoint(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	})
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type fixture struct {
	srv  *Server
	ts   *httptest.Server
	logs *logBuf
	reg  *prometheus.Registry
}

func newFixture(t *testing.T, mutate func(*Options)) *fixture {
	t.Helper()
	logs := &logBuf{}
	reg := prometheus.NewRegistry()
	o := Options{
		PathPrefix: "/tenant",
		Handlers: Handlers{
			PAR:            formEndpoint(),
			Token:          formEndpoint(),
			Nonce:          jsonEndpoint(""),
			Credential:     jsonEndpoint(oauth.CodeInvalidCredentialRequest),
			Notification:   jsonEndpoint(oauth.CodeInvalidNotificationRequest),
			IssuerMetadata: getEndpoint(`{"credential_issuer":"x"}`),
			ASMetadata:     getEndpoint(`{"issuer":"x"}`),
			Offer:          getEndpoint(`{}`),
			Admin:          jsonEndpoint(""),
		},
		Logger:       slog.New(slog.NewJSONHandler(logs, nil)),
		Registry:     reg,
		MaxBodyBytes: 1024,
	}
	if mutate != nil {
		mutate(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &fixture{srv: srv, ts: ts, logs: logs, reg: reg}
}

func (f *fixture) do(t *testing.T, method, path, ct, body string, hdr ...string) (*http.Response, oauth.Body) {
	t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body = nil
	}
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
	var eb oauth.Body
	if res.StatusCode >= 400 {
		if err := json.Unmarshal(b, &eb); err != nil || eb.Error == "" {
			t.Fatalf("%s %s: %d without a JSON error body: %q", method, path, res.StatusCode, b)
		}
		if got := res.Header.Get("Content-Type"); got != "application/json" {
			t.Fatalf("error content type %q", got)
		}
	}
	return res, eb
}

func TestErrorMapping(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name, method, path, ct, body string
		status                       int
		code                         string
	}{
		{"unknown path", "GET", "/nope", "", "", 404, "not_found"},
		{"unknown under prefix", "POST", "/tenant/nope", "application/json", "{}", 404, "not_found"},
		{"unmounted route", "POST", "/tenant/deferred_credential", "application/json", "{}", 404, "not_found"},
		{"wrong method", "GET", "/tenant/credential", "", "", 405, "method_not_allowed"},
		{"wrong method metadata", "POST", "/.well-known/openid-credential-issuer/tenant", "application/json", "{}", 405, "method_not_allowed"},
		{"oversized", "POST", "/tenant/credential", "application/json", `{"a":"` + strings.Repeat("x", 2000) + `"}`, 413, "invalid_request"},
		{"broken json", "POST", "/tenant/credential", "application/json", `{"a":`, 400, "invalid_credential_request"},
		{"wrong content type", "POST", "/tenant/credential", "text/plain", `{}`, 415, "invalid_request"},
		{"form repeated", "POST", "/tenant/par", "application/x-www-form-urlencoded", "a=1&a=2", 400, "invalid_request"},
		{"form as json", "POST", "/tenant/token", "application/json", "{}", 415, "invalid_request"},
		{"admin broken json", "POST", "/tenant/admin/offers", "application/json", "[", 400, "invalid_request"},
		{"offer page wrong method", "POST", "/tenant/offers/abc/qr.png", "application/json", "{}", 405, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, eb := f.do(t, tc.method, tc.path, tc.ct, tc.body)
			if res.StatusCode != tc.status || eb.Error != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", res.StatusCode, eb.Error, eb.ErrorDescription, tc.status, tc.code)
			}
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Fatal("error without Cache-Control: no-store")
			}
			if tc.status == 405 && res.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
}

func TestSuccessPathsAndHeaders(t *testing.T) {
	f := newFixture(t, nil)
	res, _ := f.do(t, "POST", "/tenant/nonce", "application/json", `{"a":"b","unknown":1}`, HeaderRequestID, "abc-123")
	if res.StatusCode != 200 || res.Header.Get(HeaderRequestID) != "abc-123" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("got %d id=%q cc=%q", res.StatusCode, res.Header.Get(HeaderRequestID), res.Header.Get("Cache-Control"))
	}
	res, _ = f.do(t, "GET", "/.well-known/openid-credential-issuer/tenant", "", "", HeaderRequestID, "bad id with spaces")
	if res.StatusCode != 200 || !requestIDRE.MatchString(res.Header.Get(HeaderRequestID)) || res.Header.Get(HeaderRequestID) == "bad id with spaces" {
		t.Fatalf("request id not replaced: %q", res.Header.Get(HeaderRequestID))
	}
	if res.Header.Get("Cache-Control") != "" {
		t.Fatal("metadata must be cacheable")
	}
	for _, p := range []string{"/tenant/.well-known/openid-credential-issuer", "/.well-known/oauth-authorization-server/tenant", "/tenant/.well-known/oauth-authorization-server"} {
		if res, _ := f.do(t, "GET", p, "", "", ""); res.StatusCode != 200 {
			t.Fatalf("%s: %d", p, res.StatusCode)
		}
	}
	res, _ = f.do(t, "POST", "/tenant/admin/v1/offers", "application/json", `{"a":"x"}`)
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("admin: %d", res.StatusCode)
	}
	if res, _ = f.do(t, "GET", "/tenant/offers/abc/qr.png", "", ""); res.StatusCode != 200 {
		t.Fatalf("offer pages: %d", res.StatusCode)
	}
}

func TestPanicBecomes500AndIsLogged(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Handlers.Challenge = http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			var s []int
			_ = s[len(r.URL.Path)] // runtime error: index out of range
		})
		o.Handlers.Deferred = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			panic("secret-token-value")
		})
	})
	res, eb := f.do(t, "POST", "/tenant/challenge", "", "")
	if res.StatusCode != 500 || eb.Error != "server_error" || strings.Contains(eb.ErrorDescription, "index") {
		t.Fatalf("got %d %+v", res.StatusCode, eb)
	}
	res, _ = f.do(t, "POST", "/tenant/deferred_credential", "", "")
	if res.StatusCode != 500 {
		t.Fatalf("got %d", res.StatusCode)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "panic in handler") || !strings.Contains(logs, "index out of range") {
		t.Fatalf("panic not logged: %s", logs)
	}
	if strings.Contains(logs, "secret-token-value") {
		t.Fatal("arbitrary panic value logged")
	}
}

func TestAccessLogAndMetrics(t *testing.T) {
	f := newFixture(t, nil)
	f.do(t, "GET", "/tenant/offers/offer-secret-id?code=pre-auth-secret", "", "", "Authorization", "DPoP tok-secret", "DPoP", "proof-secret")
	f.do(t, "POST", "/tenant/credential", "application/json", `{"a":`)
	logs := f.logs.String()
	for _, secret := range []string{"pre-auth-secret", "offer-secret-id", "tok-secret", "proof-secret"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("access log leaks %q: %s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"route":"credential_offer"`) || !strings.Contains(logs, `"error":"invalid_credential_request"`) {
		t.Fatalf("access log lacks route/error: %s", logs)
	}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "issuer_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "credential" && labels["status"] == "400" && labels["error"] == "invalid_credential_request" && m.GetCounter().GetValue() == 1 {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("error code not counted in issuer_http_requests_total")
	}
	res, _ := f.do(t, "GET", "/metrics", "", "")
	b, _ := io.ReadAll(res.Body)
	_ = b
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: %d", res.StatusCode)
	}
}

func TestMetricsBody(t *testing.T) {
	f := newFixture(t, nil)
	f.do(t, "GET", "/nope", "", "")
	res, err := http.Get(f.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(b), `issuer_http_requests_total{error="not_found",method="GET",route="unmatched",status="404"} 1`) ||
		!strings.Contains(string(b), "issuer_http_request_duration_seconds_bucket") {
		t.Fatalf("metrics body:\n%s", b)
	}
}

type pinger struct{ err error }

func (p *pinger) Ping(context.Context) error { return p.err }

func TestHealthAndReadiness(t *testing.T) {
	p := &pinger{}
	f := newFixture(t, func(o *Options) { o.Ready = p.Ping })
	if res, _ := f.do(t, "GET", "/healthz", "", ""); res.StatusCode != 200 {
		t.Fatalf("healthz %d", res.StatusCode)
	}
	if res, _ := f.do(t, "GET", "/readyz", "", ""); res.StatusCode != 200 {
		t.Fatalf("readyz %d", res.StatusCode)
	}
	p.err = fmt.Errorf("%w: connection refused", storage.ErrUnavailable)
	res, eb := f.do(t, "GET", "/readyz", "", "")
	if res.StatusCode != 503 || eb.Error != "temporarily_unavailable" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz down: %d %+v", res.StatusCode, eb)
	}
	if strings.Contains(eb.ErrorDescription, "refused") {
		t.Fatal("internal cause leaked")
	}
}

func TestHandleErrorMapsSentinels(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"oauth", oauth.InvalidGrant("x"), 400, "invalid_grant"},
		{"store down", fmt.Errorf("op: %w", storage.ErrUnavailable), 503, "temporarily_unavailable"},
		{"unknown", errors.New("boom: secret"), 500, "server_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/x", nil)
			rec := httptest.NewRecorder()
			c := f.srv.main.NewContext(req, rec)
			f.srv.handleError(tc.err, c)
			var eb oauth.Body
			_ = json.Unmarshal(rec.Body.Bytes(), &eb)
			if rec.Code != tc.status || eb.Error != tc.code || strings.Contains(rec.Body.String(), "secret") {
				t.Fatalf("got %d %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestSeparateAdmin(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.SeparateAdmin = true })
	if res, _ := f.do(t, "GET", "/metrics", "", ""); res.StatusCode != 404 {
		t.Fatalf("metrics on public listener: %d", res.StatusCode)
	}
	if res, _ := f.do(t, "POST", "/tenant/admin/x", "application/json", "{}"); res.StatusCode != 404 {
		t.Fatalf("admin on public listener: %d", res.StatusCode)
	}
	admin := httptest.NewServer(f.srv.AdminHandler())
	defer admin.Close()
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		res, err := http.Get(admin.URL + p)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%s on admin listener: %v %v", p, res, err)
		}
		res.Body.Close()
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(h, Timeouts{ReadHeader: time.Second, Read: time.Second, Write: 5 * time.Second, Idle: time.Second}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, 5*time.Second, Listener{Server: srv, Listener: ln}) }()
	got := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if b := <-got; b != "done" {
		t.Fatalf("in-flight request not completed: %q", b)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if srv.ReadHeaderTimeout != time.Second {
		t.Fatal("timeouts not set")
	}
}

func TestAdminTokens(t *testing.T) {
	token := strings.Repeat("s", 32)
	f := newFixture(t, func(o *Options) { o.AdminTokens = []string{token, strings.Repeat("t", 40)} })
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no token", "", 401},
		{"wrong token", "Bearer " + strings.Repeat("x", 32), 401},
		{"prefix of token", "Bearer " + token[:31], 401},
		{"basic scheme", "Basic " + token, 401},
		{"ok", "Bearer " + token, 200},
		{"ok/case-insensitive scheme", "bearer " + strings.Repeat("t", 40), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.auth != "" {
				hdr = []string{"Authorization", tc.auth}
			}
			res, eb := f.do(t, "POST", "/tenant/admin/v1/offers", "application/json", `{"a":"x"}`, hdr...)
			if res.StatusCode != tc.status {
				t.Fatalf("got %d %+v", res.StatusCode, eb)
			}
			if tc.status == 401 && (eb.Error != "invalid_token" || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer")) {
				t.Fatalf("401 without invalid_token / WWW-Authenticate: %+v", eb)
			}
		})
	}
	if res, _ := f.do(t, "GET", "/metrics", "", ""); res.StatusCode != 200 {
		t.Fatal("metrics must not need the admin token")
	}
}

func TestCORS(t *testing.T) {
	f := newFixture(t, nil)
	req, _ := http.NewRequest(http.MethodOptions, f.ts.URL+"/tenant/credential", nil)
	req.Header.Set("Origin", "https://wallet.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, dpop, content-type")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := res.Header
	if res.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Methods") != "POST" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "DPoP") || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight: %d %v", res.StatusCode, h)
	}
	res, _ = f.do(t, "POST", "/tenant/credential", "application/json", `{"a":`, "Origin", "https://wallet.example")
	if res.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
		t.Fatalf("error response without CORS headers: %v", res.Header)
	}
	res, _ = f.do(t, "GET", "/.well-known/openid-credential-issuer/tenant", "", "", "Origin", "https://wallet.example")
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatal("metadata without CORS")
	}
	// Not for the admin API.
	res, _ = f.do(t, "POST", "/tenant/admin/v1/offers", "application/json", "{}", "Origin", "https://evil.example")
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("admin API allows cross-origin calls")
	}
}

// TestPprof: the profiles are mounted only with PprofTokens and only for
// callers presenting one of them; without tokens the path is not routed.
func TestPprof(t *testing.T) {
	const tok = "pprof-token-0123456789abcdef0123456789"
	off := newFixture(t, nil)
	if res, _ := off.do(t, "GET", PathPprof+"goroutine?debug=1", "", ""); res.StatusCode != http.StatusNotFound {
		t.Fatalf("pprof without tokens: %d, want 404", res.StatusCode)
	}
	f := newFixture(t, func(o *Options) { o.PprofTokens = []string{tok} })
	res, _ := f.do(t, "GET", PathPprof+"goroutine?debug=1", "", "")
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("pprof without bearer: %d, want 401", res.StatusCode)
	}
	res, _ = f.do(t, "GET", PathPprof+"goroutine?debug=1", "", "", "Authorization", "Bearer wrong-token-0123456789abcdef0123")
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("pprof with a wrong bearer: %d, want 401", res.StatusCode)
	}
	for path, want := range map[string]string{
		"goroutine?debug=1": "goroutine profile:",
		"":                  "Types of profiles available",
		"cmdline":           "",
	} {
		req, _ := http.NewRequest("GET", f.ts.URL+PathPprof+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d %.200s", path, res.StatusCode, b)
		}
	}
}
