package main

import (
	"context"
	"fmt"

	"github.com/mdoc-issuer/issuer/authz"
	"github.com/mdoc-issuer/issuer/pki"
	"github.com/mdoc-issuer/issuer/upstream"
)

// upstreamLogin builds the upstream OpenID Connect login of the
// upstream_oidc block (nil when absent). Discovery and the provider's keys
// are fetched here: an unreachable or misconfigured provider fails startup.
// The redirect URL is the issuer identifier + redirect_path, which the
// authorization server serves (authz Paths.UpstreamCallback).
func (a *app) upstreamLogin(ctx context.Context) (authz.UpstreamLogin, error) {
	u := a.cfg.UpstreamOIDC
	if u == nil {
		return nil, nil
	}
	o := upstream.Options{
		Issuer:       u.Issuer,
		ClientID:     u.ClientID,
		ClientSecret: u.ClientSecret,
		ClientKeyID:  u.ClientKeyID,
		RedirectURL:  a.cfg.Issuer + u.CallbackPath(),
		Scopes:       u.Scopes,
		SubjectClaim: u.SubjectClaim,
		Name:         u.Name,
		ACRValues:    u.ACRValues,
		MaxAge:       u.MaxAge.D(),
		Timeout:      u.Timeout.D(),
		Now:          a.now,
	}
	if u.ClientKeyFile != "" {
		k, err := pki.OpenSigner("file:" + a.cfg.Path(u.ClientKeyFile))
		if err != nil {
			return nil, fmt.Errorf("upstream_oidc.client_key_file: %w", err)
		}
		o.ClientKey = k
	}
	p, err := upstream.New(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("upstream_oidc: %w", err)
	}
	a.log.Info("upstream OpenID Connect login enabled", "provider", u.Issuer, "auth_method", p.AuthMethod(),
		"redirect_uri", o.RedirectURL)
	return p, nil
}
