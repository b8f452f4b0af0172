package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// Rule is one limit: at most Limit events per Window for one key.
type Rule struct {
	Name   string // counter namespace, e.g. "ip" or "wallet"
	Limit  int64
	Window time.Duration
}

// Limiter counts events in the store.
type Limiter struct {
	counters storage.Counters
	now      func() time.Time
}

// New returns a limiter over c; now defaults to time.Now.
func New(c storage.Counters, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{counters: c, now: now}
}

// Allow counts one event for key under rule. It returns nil when allowed, a
// 429 *oauth.Error with Retry-After when over the limit, and a 503 when the
// store cannot be reached.
func (l *Limiter) Allow(ctx context.Context, rule Rule, key string) error {
	if rule.Limit <= 0 || key == "" {
		return nil
	}
	now := l.now()
	start := now.Truncate(rule.Window)
	end := start.Add(rule.Window)
	// The window start is part of the key, so each window has its own counter
	// and a counter never outlives its window (fixed-window limiting).
	n, err := l.counters.Incr(ctx, "rl-"+rule.Name, strconv.FormatInt(start.Unix(), 36)+":"+key, end)
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			return oauth.Unavailable(1, err)
		}
		return oauth.ServerError(err)
	}
	if n > rule.Limit {
		retry := int(end.Sub(now).Seconds() + 0.999)
		if retry < 1 {
			retry = 1
		}
		return oauth.New(http.StatusTooManyRequests, oauth.CodeTooManyRequests,
			"rate limit %q exceeded: at most %d requests per %s", rule.Name, rule.Limit, rule.Window).
			WithHeader(oauth.HeaderRetryAfter, strconv.Itoa(retry))
	}
	return nil
}

// KeyFunc extracts the key a rule counts by; "" means the rule does not apply.
type KeyFunc func(r *http.Request) string

// ClientIP keys by the TCP peer address. Forwarded headers are not trusted:
// behind a proxy use ClientIPBehind.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return addressKey(host)
}

// addressKey is the counting key of an address: the IPv4 address, or the
// IPv6 /64 (the usual allocation to one subscriber).
func addressKey(host string) string {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// ClientIPBehind keys by the client address as seen by the trusted reverse
// proxies in front of the issuer: when the TCP peer is one of them, the
// X-Forwarded-For list is read from the right and the first address that is
// not a trusted proxy is the client. Entries a client wrote itself (left of
// what the proxies appended) are never used. Without trusted proxies it is
// ClientIP.
func ClientIPBehind(trusted []netip.Prefix) KeyFunc {
	if len(trusted) == 0 {
		return ClientIP
	}
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		peer, err := netip.ParseAddr(host)
		if err != nil || !isTrusted(peer) {
			return addressKey(host)
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a malformed entry: stop at the last proxy we trust
			}
			if !isTrusted(a) {
				return addressKey(a.String())
			}
		}
		return addressKey(host)
	}
}

// AttestationSubject keys by the unverified sub of the OAuth-Client-Attestation
// header. It is only a counting key: authentication happens later, and a
// forged sub only spends the forger's own budget plus that of the wallet it
// names, which the address rule still bounds.
func AttestationSubject(r *http.Request) string {
	v := r.Header.Get(oauth.HeaderClientAttestation)
	if v == "" {
		return ""
	}
	sub, err := unverifiedSub(v)
	if err != nil {
		return ""
	}
	return sub
}

// AttestationInstance keys by the wallet instance: the RFC 7638 thumbprint
// of the unverified cnf.jwk of the OAuth-Client-Attestation header. HAIP
// wallets share one sub per wallet solution (HAIP §4.4.1), so the sub would
// bound a whole wallet product; the instance key bounds one installation.
// A forged key only creates a budget the address rule still bounds.
func AttestationInstance(r *http.Request) string {
	v := r.Header.Get(oauth.HeaderClientAttestation)
	if v == "" {
		return ""
	}
	tp, err := unverifiedInstanceKey(v)
	if err != nil {
		return ""
	}
	return tp
}

// Middleware applies each rule with its key function before next.
func (l *Limiter) Middleware(rules []Rule, keys []KeyFunc, next http.Handler) http.Handler {
	if len(rules) != len(keys) {
		panic(fmt.Sprintf("ratelimit: %d rules, %d key functions", len(rules), len(keys)))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i, rule := range rules {
			if err := l.Allow(r.Context(), rule, keys[i](r)); err != nil {
				oauth.WriteError(w, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
