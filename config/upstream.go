package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultUpstreamRedirectPath is the callback path of the upstream login
// (authz.PathUpstreamCallback).
const DefaultUpstreamRedirectPath = "/authorize/upstream/callback"

// DefaultUpstreamSubjectPrefix is prepended to upstream subjects
// (authz.DefaultUpstreamSubjectPrefix).
const DefaultUpstreamSubjectPrefix = "oidc:"

// UpstreamOIDC configures sign-in at an upstream OpenID Connect provider on
// the login page (authorization code flow with PKCE, package upstream),
// beside the users file.
type UpstreamOIDC struct {
	// Issuer is the provider's issuer identifier (discovery is fetched from
	// Issuer + /.well-known/openid-configuration at start): https, or http on
	// a loopback host in development.
	Issuer string `yaml:"issuer"`
	// ClientID is this issuer's registration at the provider.
	ClientID string `yaml:"client_id"`
	// ClientSecret authenticates with client_secret_basic or _post.
	ClientSecret string `yaml:"client_secret"`
	// ClientKeyFile is a PEM private key (P-256) for private_key_jwt
	// instead of the secret; ClientKeyID is the kid of its assertions.
	ClientKeyFile string `yaml:"client_key_file"`
	ClientKeyID   string `yaml:"client_key_id"`
	// RedirectPath is the callback path under the issuer identifier,
	// registered at the provider as issuer + redirect_path (default
	// /authorize/upstream/callback; must be under /authorize/).
	RedirectPath string `yaml:"redirect_path"`
	// Scopes are requested besides openid.
	Scopes []string `yaml:"scopes"`
	// SubjectClaim is the ID token claim that becomes the subject (default
	// sub).
	SubjectClaim string `yaml:"subject_claim"`
	// SubjectPrefix is prepended to that claim to form the End-User's
	// subject (nil = "oidc:"). Empty only without users_file and outside
	// development, where no password login could yield the same subject.
	SubjectPrefix *string `yaml:"subject_prefix"`
	// Name is shown on the login page ("Sign in with <name>"; default the
	// issuer).
	Name string `yaml:"name"`
	// ACRValues, if set, are requested and the ID token's acr must be one of
	// them (OpenID Connect Core 1.0 §3.1.3.7 step 12).
	ACRValues []string `yaml:"acr_values"`
	// MaxAge, if set, is the longest time since the End-User authenticated
	// at the provider (max_age, Core §3.1.2.1).
	MaxAge Duration `yaml:"max_age"`
	// Timeout bounds each call to the provider (default 10s).
	Timeout Duration `yaml:"timeout"`
}

// CallbackPath is RedirectPath or its default.
func (u *UpstreamOIDC) CallbackPath() string {
	if u.RedirectPath == "" {
		return DefaultUpstreamRedirectPath
	}
	return u.RedirectPath
}

// Prefix is SubjectPrefix or its default.
func (u *UpstreamOIDC) Prefix() string {
	if u.SubjectPrefix == nil {
		return DefaultUpstreamSubjectPrefix
	}
	return *u.SubjectPrefix
}

// reservedAuthorizePaths are the login pages the callback cannot take.
var reservedAuthorizePaths = []string{"/authorize/login", "/authorize/consent"}

func (c *Config) validateUpstream(k *checker) {
	u := c.UpstreamOIDC
	if u == nil {
		return
	}
	const p = "upstream_oidc"
	c.upstreamIssuer(k, p+".issuer", u.Issuer)
	if u.ClientID == "" {
		k.add(p+".client_id", "required")
	}
	switch {
	case u.ClientSecret == "" && u.ClientKeyFile == "":
		k.add(p, "client_secret or client_key_file is required")
	case u.ClientSecret != "" && u.ClientKeyFile != "":
		k.add(p, "set client_secret or client_key_file, not both")
	}
	if u.ClientKeyID != "" && u.ClientKeyFile == "" {
		k.add(p+".client_key_id", "set without client_key_file")
	}
	k.optionalFile(p+".client_key_file", c.Path(u.ClientKeyFile))
	rp := u.CallbackPath()
	switch {
	case !strings.HasPrefix(rp, "/authorize/") || strings.HasSuffix(rp, "/") || !issuerPathRE.MatchString(rp):
		k.add(p+".redirect_path", "must be a path under /authorize/ of A-Z a-z 0-9 . _ ~ - segments, without trailing /")
	case strings.Contains(rp, "/./") || strings.Contains(rp, "/../") || strings.HasSuffix(rp, "/.") || strings.HasSuffix(rp, "/.."):
		k.add(p+".redirect_path", "must not contain dot segments")
	default:
		for _, r := range reservedAuthorizePaths {
			if rp == r {
				k.add(p+".redirect_path", "%s is the authorization server's own page", r)
			}
		}
	}
	for i, s := range u.Scopes {
		if !scopeRE.MatchString(s) {
			k.add(fmt.Sprintf("%s.scopes[%d]", p, i), "must be a scope token (RFC 6749 §3.3)")
		}
	}
	for i, s := range u.ACRValues {
		if !scopeRE.MatchString(s) {
			k.add(fmt.Sprintf("%s.acr_values[%d]", p, i), "must be a token without spaces")
		}
	}
	if strings.TrimSpace(u.SubjectClaim) != u.SubjectClaim {
		k.add(p+".subject_claim", "must not have surrounding spaces")
	}
	if u.SubjectPrefix != nil && *u.SubjectPrefix == "" && (c.UsersFile != "" || c.Development) {
		k.add(p+".subject_prefix", "must not be empty beside password login (users_file or development): subjects could collide")
	}
	if len(u.Name) > 64 {
		k.add(p+".name", "must be at most 64 characters")
	}
	if u.MaxAge != 0 {
		k.durationIn(p+".max_age", u.MaxAge, time.Second, 365*24*time.Hour)
	}
	if u.Timeout != 0 {
		k.durationIn(p+".timeout", u.Timeout, time.Second, time.Minute)
	}
}

// upstreamIssuer: an absolute https URL without query, fragment or userinfo
// (OpenID Connect Discovery 1.0 §2); http only on loopback in development.
func (c *Config) upstreamIssuer(k *checker, path, raw string) {
	if raw == "" {
		k.add(path, "required")
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		k.add(path, "must be an absolute URL")
		return
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && c.Development && isLoopback(u.Hostname()):
	default:
		k.add(path, "must use https (http only with development: true on a loopback host)")
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		k.add(path, "must not contain userinfo, a query or a fragment")
	}
}
