package upstream

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Client authentication methods at the token endpoint (OpenID Connect Core
// 1.0 §9).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// AllowedAlgs is the ID token signature allow-list. "none" and HMAC
// algorithms are never accepted (OpenID Connect Core 1.0 §3.1.3.7 steps 7-8
// allow HS* only with a client secret; this package does not).
var AllowedAlgs = []string{string(jose.ES256), string(jose.PS256), string(jose.RS256)}

// Defaults.
const (
	DefaultTimeout             = 10 * time.Second
	DefaultMaxResponseBytes    = 1 << 20
	DefaultClockSkew           = 60 * time.Second
	DefaultMaxIDTokenAge       = 10 * time.Minute
	DefaultJWKSRefreshInterval = 30 * time.Second
	DefaultJWKSMaxAge          = time.Hour
)

// Options configure a Provider. Zero values take the documented defaults.
type Options struct {
	// Issuer is the provider's issuer identifier; the discovery document's
	// issuer must equal it exactly (Discovery §4.3). https, or http on a
	// loopback host (tests, local development).
	Issuer string
	// ClientID and ClientSecret are this server's registration at the
	// provider. ClientSecret is used with client_secret_basic or
	// client_secret_post, whichever discovery lists (basic preferred).
	ClientID     string
	ClientSecret string
	// ClientKey, if set, authenticates with private_key_jwt (RFC 7523 §2.2,
	// OpenID Connect Core 1.0 §9) instead of the secret: ECDSA P-256 (ES256)
	// or RSA >= 2048 bits (PS256 if the provider lists it, else RS256).
	ClientKey crypto.Signer
	// ClientKeyID is the kid header of client assertions (optional).
	ClientKeyID string
	// ClientAssertionAudience is the aud of client assertions; default the
	// provider's issuer identifier (the single-valued audience recommended
	// since the 2025 audience-injection fixes; RFC 7523 §3 also allows the
	// token endpoint URL, which some providers require).
	ClientAssertionAudience string
	// AuthMethod forces a token endpoint authentication method; it must be
	// in the provider's token_endpoint_auth_methods_supported.
	AuthMethod string

	// RedirectURL is the absolute callback URL registered at the provider.
	RedirectURL string
	// Scopes are requested besides "openid" (e.g. "profile", "email").
	Scopes []string
	// AuthParams are extra authorization request parameters (prompt,
	// acr_values, login_hint, ui_locales, …). Protocol parameters this
	// package sets cannot be overridden.
	AuthParams map[string]string
	// MaxAge, if set, is sent as max_age: the End-User must have
	// authenticated at the provider at most this long ago, and the ID token
	// must carry auth_time (Core §3.1.2.1, §3.1.3.7 step 13).
	MaxAge time.Duration
	// ACRValues, if set, are sent as acr_values and the ID token's acr must
	// be one of them (Core §3.1.3.7 step 12): use it to require a level of
	// assurance from the provider.
	ACRValues []string
	// SubjectClaim names the ID token claim that becomes the subject
	// (default "sub"); its value must be a non-empty string.
	SubjectClaim string
	// SigningAlgs restricts the accepted ID token algorithms further
	// (subset of AllowedAlgs; default all of AllowedAlgs the provider lists).
	SigningAlgs []string
	// Name is the display name of the provider on the login page.
	Name string

	// HTTPClient makes the calls (default: a new client). Its redirect
	// policy is replaced: no redirects are followed.
	HTTPClient *http.Client
	// Timeout bounds each HTTP call (default 10 s).
	Timeout time.Duration
	// MaxResponseBytes bounds each response body (default 1 MiB).
	MaxResponseBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ClockSkew is tolerated on exp, iat and nbf (default 60 s).
	ClockSkew time.Duration
	// MaxIDTokenAge rejects ID tokens whose iat is older (default 10 min;
	// Core §3.1.3.7 step 10).
	MaxIDTokenAge time.Duration
	// JWKSRefreshInterval is the minimum time between two JWKS fetches
	// caused by unknown kids or failures (default 30 s).
	JWKSRefreshInterval time.Duration
	// JWKSMaxAge is how long fetched keys are used before refetching
	// (default 1 h). Fetch failures past it fail closed.
	JWKSMaxAge time.Duration
}

// Provider is a configured upstream OpenID Connect provider. It is safe for
// concurrent use.
type Provider struct {
	o          Options
	md         Metadata
	client     *http.Client
	keys       *keySet
	algs       []jose.SignatureAlgorithm
	authMethod string
	assertAlg  jose.SignatureAlgorithm
	scope      string
}

// reservedParams are set by Start and cannot be given in AuthParams.
var reservedParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state",
	"nonce", "code_challenge", "code_challenge_method", "request", "request_uri", "response_mode",
	"max_age", "acr_values"}

// New checks the options, fetches the provider's discovery document and
// keys, and returns the Provider. ctx bounds discovery only.
func New(ctx context.Context, o Options) (*Provider, error) {
	if err := checkBaseURL(o.Issuer, "issuer"); err != nil {
		return nil, err
	}
	if strings.Contains(o.Issuer, "?") {
		return nil, fmt.Errorf("upstream: issuer %q must not have a query (Discovery §2)", o.Issuer)
	}
	if o.ClientID == "" {
		return nil, errors.New("upstream: client_id is required")
	}
	if o.ClientSecret == "" && o.ClientKey == nil {
		return nil, errors.New("upstream: client_secret or a client key is required")
	}
	if err := checkBaseURL(o.RedirectURL, "redirect URL"); err != nil {
		return nil, err
	}
	if o.SubjectClaim == "" {
		o.SubjectClaim = "sub"
	}
	if o.Name == "" {
		o.Name = o.Issuer
	}
	for k := range o.AuthParams {
		if slices.Contains(reservedParams, k) {
			return nil, fmt.Errorf("upstream: authorization parameter %q is set by this package", k)
		}
	}
	scopes := []string{"openid"}
	for _, s := range o.Scopes {
		if !validScopeToken(s) {
			return nil, fmt.Errorf("upstream: scope %q is not a valid scope token (RFC 6749 §3.3)", s)
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if o.MaxAge < 0 || (o.MaxAge > 0 && o.MaxAge < time.Second) {
		return nil, errors.New("upstream: max_age must be at least one second")
	}
	for _, a := range o.ACRValues {
		if !validScopeToken(a) {
			return nil, fmt.Errorf("upstream: acr value %q must be a non-empty token without spaces", a)
		}
	}
	for _, a := range o.SigningAlgs {
		if !slices.Contains(AllowedAlgs, a) {
			return nil, fmt.Errorf("upstream: ID token algorithm %q is not allowed (allowed: %s)", a, strings.Join(AllowedAlgs, ", "))
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	setDefault(&o.Timeout, DefaultTimeout)
	setDefault(&o.ClockSkew, DefaultClockSkew)
	setDefault(&o.MaxIDTokenAge, DefaultMaxIDTokenAge)
	setDefault(&o.JWKSRefreshInterval, DefaultJWKSRefreshInterval)
	setDefault(&o.JWKSMaxAge, DefaultJWKSMaxAge)
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	var c http.Client
	if o.HTTPClient != nil {
		c = *o.HTTPClient
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	p := &Provider{o: o, client: &c, scope: strings.Join(scopes, " ")}
	md, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	p.md = *md
	if err := p.negotiate(); err != nil {
		return nil, err
	}
	p.keys = &keySet{fetch: p.fetchJWKS, now: o.Now, minRefresh: o.JWKSRefreshInterval, maxAge: o.JWKSMaxAge}
	if _, err := p.keys.get(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// negotiate picks the ID token algorithms and the client authentication
// method from the discovery document.
func (p *Provider) negotiate() error {
	o := p.o
	offered := p.md.IDTokenSigningAlgValuesSupported
	if len(offered) == 0 {
		offered = []string{string(jose.RS256)} // Discovery §3: RS256 MUST be supported
	}
	want := o.SigningAlgs
	if len(want) == 0 {
		want = AllowedAlgs
	}
	for _, a := range want {
		if slices.Contains(offered, a) {
			p.algs = append(p.algs, jose.SignatureAlgorithm(a))
		}
	}
	if len(p.algs) == 0 {
		return checkErr(StageDiscovery, "id_token_signing_alg_values_supported",
			"the provider offers none of the accepted algorithms %s", strings.Join(want, ", "))
	}

	methods := p.md.TokenEndpointAuthMethodsSupported
	if len(methods) == 0 {
		methods = []string{AuthClientSecretBasic} // Discovery §3 default
	}
	switch {
	case o.AuthMethod != "":
		if !slices.Contains(methods, o.AuthMethod) {
			return checkErr(StageDiscovery, "token_endpoint_auth_methods_supported", "the provider does not list %s", o.AuthMethod)
		}
		p.authMethod = o.AuthMethod
	case o.ClientKey != nil:
		p.authMethod = AuthPrivateKeyJWT
	case slices.Contains(methods, AuthClientSecretBasic):
		p.authMethod = AuthClientSecretBasic
	case slices.Contains(methods, AuthClientSecretPost):
		p.authMethod = AuthClientSecretPost
	default:
		return checkErr(StageDiscovery, "token_endpoint_auth_methods_supported", "the provider lists neither client_secret_basic nor client_secret_post")
	}
	switch p.authMethod {
	case AuthPrivateKeyJWT:
		if o.ClientKey == nil {
			return errors.New("upstream: private_key_jwt needs a client key")
		}
		if !slices.Contains(methods, AuthPrivateKeyJWT) {
			return checkErr(StageDiscovery, "token_endpoint_auth_methods_supported", "the provider does not list private_key_jwt")
		}
		alg, err := assertionAlg(o.ClientKey, p.md.TokenEndpointAuthSigningAlgValuesSupported)
		if err != nil {
			return err
		}
		p.assertAlg = alg
	case AuthClientSecretBasic, AuthClientSecretPost:
		if o.ClientSecret == "" {
			return fmt.Errorf("upstream: %s needs a client secret", p.authMethod)
		}
	default:
		return fmt.Errorf("upstream: unsupported client authentication method %q", p.authMethod)
	}
	return nil
}

func assertionAlg(k crypto.Signer, offered []string) (jose.SignatureAlgorithm, error) {
	ok := func(a jose.SignatureAlgorithm) bool { return len(offered) == 0 || slices.Contains(offered, string(a)) }
	switch pub := k.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve == elliptic.P256() && ok(jose.ES256) {
			return jose.ES256, nil
		}
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return "", errors.New("upstream: RSA client key shorter than 2048 bits")
		}
		if slices.Contains(offered, string(jose.PS256)) {
			return jose.PS256, nil
		}
		if ok(jose.RS256) {
			return jose.RS256, nil
		}
	default:
		return "", fmt.Errorf("upstream: unsupported client key type %T", pub)
	}
	return "", checkErr(StageDiscovery, "token_endpoint_auth_signing_alg_values_supported", "the provider accepts no algorithm usable with the client key")
}

// checkBaseURL: absolute https URL (http only on loopback hosts), no
// userinfo, no fragment.
func checkBaseURL(s, what string) error {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return fmt.Errorf("upstream: %s %q is not a URL", what, s)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" || u.RawFragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("upstream: %s %q must be an absolute URL without userinfo or fragment", what, s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return fmt.Errorf("upstream: %s %q must use https (http only on loopback)", what, s)
		}
	default:
		return fmt.Errorf("upstream: %s %q must use https", what, s)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validScopeToken: scope-token = 1*NQCHAR (RFC 6749 §3.3).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Name is the display name of the provider.
func (p *Provider) Name() string { return p.o.Name }

// Issuer is the provider's issuer identifier.
func (p *Provider) Issuer() string { return p.o.Issuer }

// Metadata returns the provider's discovery document (as fetched by New).
func (p *Provider) Metadata() Metadata { return p.md }

// AuthMethod is the negotiated token endpoint authentication method.
func (p *Provider) AuthMethod() string { return p.authMethod }
