package main

import (
	"net/http"

	"github.com/mdoc-issuer/issuer/ratelimit"
)

// rateLimit returns the web.Options.Limit middleware of rate_limits: every
// stateful public endpoint shares one budget per client address and one per
// wallet instance (attestation cnf key), counted in the store (so across
// issuer instances).
// nil when rate limiting is off.
func (a *app) rateLimit() func(string, http.Handler) http.Handler {
	if !a.cfg.RateLimitsEnabled() || a.store == nil {
		return nil
	}
	c := a.cfg.RateLimits
	l := ratelimit.New(a.store, a.now)
	rules := []ratelimit.Rule{
		{Name: "address", Limit: c.ClientAddress, Window: c.Window.D()},
		{Name: "wallet", Limit: c.Wallet, Window: c.Window.D()},
	}
	keys := []ratelimit.KeyFunc{ratelimit.ClientIPBehind(a.cfg.TrustedProxyPrefixes()), ratelimit.AttestationInstance}
	a.log.Info("rate limits on", "window", c.Window.D().String(), "client_address", c.ClientAddress, "wallet", c.Wallet, "trusted_proxies", len(c.TrustedProxies))
	return func(_ string, next http.Handler) http.Handler { return l.Middleware(rules, keys, next) }
}
