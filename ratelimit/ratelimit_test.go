package ratelimit

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/storage/memory"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newLimiter(t *testing.T) (*Limiter, *clock) {
	c := &clock{time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	st := memory.New(memory.Options{Now: c.now})
	t.Cleanup(func() { st.Close() })
	return New(st, c.now), c
}

func TestAllowCountsPerKeyAndWindow(t *testing.T) {
	l, c := newLimiter(t)
	rule := Rule{Name: "ip", Limit: 3, Window: time.Minute}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := l.Allow(ctx, rule, "a"); err != nil {
			t.Fatalf("request %d refused: %v", i, err)
		}
	}
	err := l.Allow(ctx, rule, "a")
	rec := httptest.NewRecorder()
	if err == nil {
		t.Fatal("fourth request allowed")
	}
	oauth.WriteError(rec, err)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "60" {
		t.Fatalf("status %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if err := l.Allow(ctx, rule, "b"); err != nil {
		t.Fatalf("other key refused: %v", err)
	}
	c.t = c.t.Add(time.Minute)
	if err := l.Allow(ctx, rule, "a"); err != nil {
		t.Fatalf("next window refused: %v", err)
	}
}

type downCounters struct{}

func (downCounters) Incr(context.Context, string, string, time.Time) (int64, error) {
	return 0, fmt.Errorf("dial: %w", storage.ErrUnavailable)
}

func TestStoreOutageFailsClosed(t *testing.T) {
	l := New(downCounters{}, nil)
	h := l.Middleware([]Rule{{Name: "ip", Limit: 10, Window: time.Minute}}, []KeyFunc{ClientIP},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Fatal("handler reached during outage") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/token", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d headers %v", rec.Code, rec.Header())
	}
}

func TestMiddlewareKeysByAttestationSubject(t *testing.T) {
	l, _ := newLimiter(t)
	h := l.Middleware([]Rule{{Name: "wallet", Limit: 1, Window: time.Minute}}, []KeyFunc{AttestationSubject},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	att := func(sub string) string {
		p := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"` + sub + `"}`))
		return "e30." + p + ".sig"
	}
	send := func(sub string) int {
		r := httptest.NewRequest("POST", "/par", nil)
		if sub != "" {
			r.Header.Set("OAuth-Client-Attestation", att(sub))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	if send("w1") != 204 || send("w1") != 429 || send("w2") != 204 {
		t.Fatal("per-subject limit not applied")
	}
	if first, second := send(""), send(""); first != 204 || second != 204 {
		t.Fatal("requests without attestation must fall through to other rules")
	}
}

func TestClientIPGroupsIPv6Per64(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8:1:2:3:4:5:6]:443"
	a := ClientIP(r)
	r.RemoteAddr = "[2001:db8:1:2:ffff::1]:80"
	if b := ClientIP(r); a != b || a != "2001:db8:1:2::/64" {
		t.Fatalf("%q vs %q", a, b)
	}
	r.RemoteAddr = "192.0.2.7:1234"
	if ClientIP(r) != "192.0.2.7" {
		t.Fatal(ClientIP(r))
	}
}

func TestClientIPBehindTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	key := ClientIPBehind(trusted)
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"direct client, header ignored", "192.0.2.7:1", []string{"198.51.100.1"}, "192.0.2.7"},
		{"one proxy", "10.1.2.3:1", []string{"198.51.100.1"}, "198.51.100.1"},
		{"two proxies", "10.1.2.3:1", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"client-written entries to the left are ignored", "10.1.2.3:1", []string{"203.0.113.66, 198.51.100.1"}, "198.51.100.1"},
		{"split header lines", "10.1.2.3:1", []string{"203.0.113.66", "198.51.100.1"}, "198.51.100.1"},
		{"IPv6 client per /64", "[fd00::1]:1", []string{"2001:db8:1:2:3::9"}, "2001:db8:1:2::/64"},
		{"no header: the proxy", "10.1.2.3:1", nil, "10.1.2.3"},
		{"malformed entry stops the walk", "10.1.2.3:1", []string{"198.51.100.1, junk"}, "10.1.2.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := key(r); got != tc.want {
				t.Fatalf("key %q, want %q", got, tc.want)
			}
		})
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:1"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if ClientIPBehind(nil)(r) != "10.1.2.3" {
		t.Fatal("without trusted proxies the header must be ignored")
	}
}

func TestAttestationInstanceKeysByCnfKey(t *testing.T) {
	y := base64.RawURLEncoding.EncodeToString([]byte("y coordinate 32 bytes long......"))
	att := func(sub, x string) string {
		if x != "" {
			x = base64.RawURLEncoding.EncodeToString([]byte(x))
		}
		p := `{"sub":"` + sub + `","cnf":{"jwk":{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `"}}}`
		return "e30." + base64.RawURLEncoding.EncodeToString([]byte(p)) + ".sig"
	}
	key := func(v string) string {
		r := httptest.NewRequest("POST", "/token", nil)
		if v != "" {
			r.Header.Set("OAuth-Client-Attestation", v)
		}
		return AttestationInstance(r)
	}
	a, b, c := key(att("wallet", "x1")), key(att("wallet", "x2")), key(att("other", "x1"))
	if a == "" || a == b || a != c {
		t.Fatalf("instances of one wallet solution must be counted apart, one key alike: %q %q %q", a, b, c)
	}
	if want := oauth.ECThumbprint("P-256", []byte("x1"), []byte("y coordinate 32 bytes long......")); a != want {
		t.Fatalf("key %q, want the RFC 7638 thumbprint %q", a, want)
	}
	if key("") != "" || key("not.a.jws") != "" || key(att("wallet", "")) != "" {
		t.Fatal("no key without an EC cnf.jwk")
	}
	bad := "e30." + base64.RawURLEncoding.EncodeToString([]byte(`{"cnf":{"jwk":{"kty":"EC","crv":"P-256","x":"x1","y":"`+y+`"}}}`)) + ".sig"
	if key(bad) != "" {
		t.Fatal("a key of coordinates that are not base64url")
	}
}
