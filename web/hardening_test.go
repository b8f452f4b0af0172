package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
)

// TestLimitWrapsStatefulRoutesOnly: Options.Limit sees exactly the Limited
// routes; metadata, health and admin stay outside it.
func TestLimitWrapsStatefulRoutesOnly(t *testing.T) {
	var mu sync.Mutex
	wrapped := map[string]bool{}
	f := newFixture(t, func(o *Options) {
		o.Limit = func(route string, next http.Handler) http.Handler {
			mu.Lock()
			wrapped[route] = true
			mu.Unlock()
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				oauth.WriteError(w, oauth.New(http.StatusTooManyRequests, oauth.CodeTooManyRequests, "limited").
					WithHeader(oauth.HeaderRetryAfter, "7"))
			})
		}
	})
	var names []string
	for n := range wrapped {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"credential", "credential_offer", "credential_offer_pages", "nonce", "notification", "par", "token"}
	if len(names) != len(want) {
		t.Fatalf("wrapped %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("wrapped %v, want %v", names, want)
		}
	}
	res, eb := f.do(t, "POST", "/tenant/token", "application/x-www-form-urlencoded", "a=b")
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "7" || eb.Error != oauth.CodeTooManyRequests {
		t.Fatalf("token: %d %v %+v", res.StatusCode, res.Header, eb)
	}
	for _, p := range []string{"/.well-known/openid-credential-issuer/tenant", "/healthz", "/readyz"} {
		if res, _ := f.do(t, "GET", p, "", ""); res.StatusCode != 200 {
			t.Fatalf("%s limited: %d", p, res.StatusCode)
		}
	}
	// A CORS preflight is answered before the limiter.
	res, _ = f.do(t, "OPTIONS", "/tenant/token", "", "", "Origin", "https://wallet.example", "Access-Control-Request-Method", "POST")
	if res.StatusCode >= 400 {
		t.Fatalf("preflight counted: %d", res.StatusCode)
	}
}

// TestServeWithDrain: after the context ends, readiness fails at once while
// the listener keeps serving for Delay (without keep-alive), then closes.
func TestServeWithDrain(t *testing.T) {
	f := newFixture(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(f.srv.Handler(), Timeouts{ReadHeader: time.Second, Read: time.Second, Write: time.Second, Idle: time.Second}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeWith(ctx, Shutdown{Grace: time.Second, Delay: 400 * time.Millisecond, OnDrain: f.srv.Drain},
			Listener{Server: srv, Listener: ln})
	}()
	base := "http://" + ln.Addr().String()
	get := func(p string) (*http.Response, error) {
		res, err := http.Get(base + p)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		return res, err
	}
	if res, err := get("/readyz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz before: %v %v", res, err)
	}
	start := time.Now()
	cancel()
	time.Sleep(50 * time.Millisecond)
	res, err := get("/readyz")
	if err != nil || res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz while draining: %v %v", res, err)
	}
	res, err = get("/healthz")
	if err != nil || res.StatusCode != 200 || !res.Close {
		t.Fatalf("healthz while draining (want 200, Connection: close): %v %v", res, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("stopped after %v, before the delay", d)
	}
	if _, err := get("/healthz"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}
