package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
)

// Default endpoint paths, relative to the issuer identifier.
const (
	PathPAR       = "/par"
	PathAuthorize = "/authorize"
	PathLogin     = "/authorize/login"
	PathConsent   = "/authorize/consent"
	PathToken     = "/token"
	PathChallenge = "/challenge"
	// PathUpstreamCallback is the redirect URI path of the upstream OpenID
	// Connect login (under PathAuthorize, so routers that hand
	// PathAuthorize/... to the Handler serve it).
	PathUpstreamCallback = "/authorize/upstream/callback"
)

// DefaultUpstreamSubjectPrefix namespaces the subjects of upstream logins
// (see Options.UpstreamSubjectPrefix).
const DefaultUpstreamSubjectPrefix = "oidc:"

// Paths are the endpoint paths the Handler serves, relative to the issuer
// identifier (the issuer's own path, if any, is prepended). Metadata uses
// Server.Endpoints for the absolute URLs.
type Paths struct {
	PAR, Authorize, Login, Consent, Token, Challenge string
	// UpstreamCallback is served only when Options.Upstream is set; it must
	// equal the path of the redirect URL registered at the provider.
	UpstreamCallback string
}

// DefaultPaths returns the Path* constants.
func DefaultPaths() Paths {
	return Paths{PAR: PathPAR, Authorize: PathAuthorize, Login: PathLogin,
		Consent: PathConsent, Token: PathToken, Challenge: PathChallenge, UpstreamCallback: PathUpstreamCallback}
}

// CredentialConfiguration is one credential configuration the AS can grant:
// its id (key of credential_configurations_supported) and its scope (HAIP
// §4.1: every configuration has one).
type CredentialConfiguration struct {
	ID    string
	Scope string
	// Display is the human-readable name shown on the consent page
	// (optional; the id is shown otherwise).
	Display string
}

// Options configure a Server. Zero durations take the documented defaults.
type Options struct {
	// Issuer is the AS issuer identifier (RFC 8414 §2): https URL without
	// query or fragment. It is the `iss` of authorization responses (RFC
	// 9207), the audience of attestation PoPs, and the base of the endpoint
	// URLs (DPoP htu).
	Issuer string
	// CredentialIssuer is the credential issuer identifier; if set, the
	// `locations` member of authorization_details entries must contain it
	// (OpenID4VCI §5.1.1).
	CredentialIssuer string
	// Paths of the endpoints (zero = DefaultPaths).
	Paths Paths

	Store storage.Store
	// GlobalSecret keys the HMAC of codes and tokens (>= 32 bytes).
	GlobalSecret []byte
	// RotatedSecrets still verify tokens issued under earlier secrets.
	RotatedSecrets [][]byte

	// Attestation authenticates clients by wallet attestation at PAR and
	// token endpoints (*wia.Verifier).
	Attestation ClientAuthenticator
	// DPoP verifies DPoP proofs at PAR and token endpoints (*dpop.Verifier
	// configured with the AS nonce source, or none).
	DPoP DPoPVerifier
	// ChallengeEndpoint serves the ABCA challenge endpoint (Attestation
	// must then have a challenge source).
	ChallengeEndpoint bool

	// Credentials lists the grantable credential configurations.
	Credentials []CredentialConfiguration
	// ClaimNames lists the claim names issued for a configuration, for the
	// consent page (OpenID4VCI §15.1). Nil shows no claim list.
	ClaimNames func(configurationID string) []string

	// Authenticator checks End-User credentials on the login page. It may
	// be nil when Upstream is set (the page then offers only the upstream
	// login).
	Authenticator Authenticator

	// Upstream, if set, adds "Sign in with <name>" to the login page: the
	// authorization code flow with PKCE at an upstream OpenID Connect
	// provider (*upstream.Provider), whose callback is served at
	// Paths.UpstreamCallback.
	Upstream UpstreamLogin
	// UpstreamSubjectPrefix is prepended to the subject of every upstream
	// login, so that upstream subjects never collide with the subjects of
	// the users file (nil = DefaultUpstreamSubjectPrefix "oidc:"; an empty
	// string keeps upstream subjects unchanged, for deployments without
	// password login). The claims source must be keyed by the prefixed
	// subject.
	UpstreamSubjectPrefix *string

	// Offers, if set, links grants to credential offers: an issuer_state
	// sent at PAR names the offer of the resulting grant (Grant.OfferID),
	// and redeemed offers are marked (package offer, via a small adapter).
	Offers OfferLink

	// AccessTokenLifespan (default 10 min).
	AccessTokenLifespan time.Duration
	// AuthorizeCodeLifespan (default and maximum 60 s, FAPI 2.0 §5.3.2.1).
	AuthorizeCodeLifespan time.Duration
	// PARLifespan is the request_uri lifetime (default 90 s, 5..600 s,
	// FAPI 2.0 §5.3.2.2); the login flow must complete within it.
	PARLifespan time.Duration
	// RefreshTokens enables the refresh_token grant (HAIP §4.4 RECOMMENDED).
	RefreshTokens bool
	// RefreshTokenLifespan (default 30 days; at most 1 year, HAIP §4.4).
	RefreshTokenLifespan time.Duration
	// TxCodeMaxAttempts is the number of wrong tx_code values after which a
	// pre-authorized code is deleted (default 5; OpenID4VCI errata §13.6.3).
	TxCodeMaxAttempts int
	// LoginMaxAttempts failed logins per username within LoginWindow lock
	// the username for the rest of the window (default 10 per 15 min).
	LoginMaxAttempts int
	LoginWindow      time.Duration

	// OnTokenIssued, if set, is called after every successful token
	// response (audit log, metrics). It must not block.
	OnTokenIssued func(ctx context.Context, t TokenIssued)

	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// Logger receives operational events; never tokens, codes or personal
	// data (nil = slog.Default()).
	Logger *slog.Logger
}

const (
	defaultAccessTokenLifespan  = 10 * time.Minute
	defaultCodeLifespan         = 60 * time.Second
	defaultPARLifespan          = 90 * time.Second
	defaultRefreshTokenLifespan = 30 * 24 * time.Hour
	defaultTxCodeMaxAttempts    = 5
	defaultLoginMaxAttempts     = 10
	defaultLoginWindow          = 15 * time.Minute
)

func (o *Options) normalize() error {
	if o.Issuer == "" {
		return errors.New("authz: Issuer is required")
	}
	u, err := url.Parse(o.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") ||
		u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o.Issuer, "/") {
		return fmt.Errorf("authz: Issuer %q must be an absolute http(s) URL without query, fragment or trailing slash", o.Issuer)
	}
	if o.Store == nil {
		return errors.New("authz: Store is required")
	}
	if len(o.GlobalSecret) < 32 {
		return errors.New("authz: GlobalSecret must be at least 32 bytes")
	}
	for _, s := range o.RotatedSecrets {
		if len(s) < 32 {
			return errors.New("authz: every rotated secret must be at least 32 bytes")
		}
	}
	if o.Attestation == nil {
		return errors.New("authz: Attestation verifier is required (HAIP §4.4.1)")
	}
	if ce, ok := o.Attestation.(interface{ ChallengesEnabled() bool }); ok && o.ChallengeEndpoint && !ce.ChallengesEnabled() {
		return errors.New("authz: ChallengeEndpoint needs an attestation verifier with a challenge source")
	}
	if o.DPoP == nil {
		return errors.New("authz: DPoP verifier is required (HAIP §4)")
	}
	if o.Authenticator == nil && o.Upstream == nil {
		return errors.New("authz: an Authenticator or an Upstream login is required")
	}
	if o.UpstreamSubjectPrefix == nil {
		pfx := DefaultUpstreamSubjectPrefix
		o.UpstreamSubjectPrefix = &pfx
	}
	if o.Upstream != nil && *o.UpstreamSubjectPrefix == "" && o.Authenticator != nil {
		return errors.New("authz: UpstreamSubjectPrefix must not be empty when password login is enabled too (subjects could collide)")
	}
	if len(o.Credentials) == 0 {
		return errors.New("authz: at least one credential configuration is required")
	}
	seenID, seenScope := map[string]bool{}, map[string]bool{}
	for _, c := range o.Credentials {
		if c.ID == "" || c.Scope == "" || strings.ContainsAny(c.Scope, " \"\\") {
			return fmt.Errorf("authz: credential configuration %q needs an id and a single scope token", c.ID)
		}
		if seenID[c.ID] || seenScope[c.Scope] {
			return fmt.Errorf("authz: duplicate credential configuration id or scope %q", c.ID)
		}
		seenID[c.ID], seenScope[c.Scope] = true, true
	}
	p := DefaultPaths()
	if o.Paths.PAR != "" {
		p.PAR = o.Paths.PAR
	}
	if o.Paths.Authorize != "" {
		p.Authorize = o.Paths.Authorize
	}
	if o.Paths.Login != "" {
		p.Login = o.Paths.Login
	}
	if o.Paths.Consent != "" {
		p.Consent = o.Paths.Consent
	}
	if o.Paths.Token != "" {
		p.Token = o.Paths.Token
	}
	if o.Paths.Challenge != "" {
		p.Challenge = o.Paths.Challenge
	}
	if o.Paths.UpstreamCallback != "" {
		p.UpstreamCallback = o.Paths.UpstreamCallback
	}
	for _, s := range []string{p.PAR, p.Authorize, p.Login, p.Consent, p.Token, p.Challenge, p.UpstreamCallback} {
		if !strings.HasPrefix(s, "/") {
			return fmt.Errorf("authz: path %q must start with /", s)
		}
	}
	if o.Upstream != nil {
		for _, other := range []string{p.PAR, p.Authorize, p.Login, p.Consent, p.Token, p.Challenge} {
			if p.UpstreamCallback == other {
				return fmt.Errorf("authz: the upstream callback path %q is already another endpoint's", other)
			}
		}
	}
	o.Paths = p
	if o.AccessTokenLifespan <= 0 {
		o.AccessTokenLifespan = defaultAccessTokenLifespan
	}
	if o.AuthorizeCodeLifespan <= 0 {
		o.AuthorizeCodeLifespan = defaultCodeLifespan
	}
	if o.AuthorizeCodeLifespan > 60*time.Second {
		return errors.New("authz: AuthorizeCodeLifespan must be at most 60 s (FAPI 2.0)")
	}
	if o.PARLifespan == 0 {
		o.PARLifespan = defaultPARLifespan
	}
	if o.PARLifespan < 5*time.Second || o.PARLifespan > 600*time.Second {
		return errors.New("authz: PARLifespan must be within 5..600 s (FAPI 2.0 §5.3.2.2)")
	}
	if o.RefreshTokenLifespan <= 0 {
		o.RefreshTokenLifespan = defaultRefreshTokenLifespan
	}
	if o.RefreshTokenLifespan > 366*24*time.Hour {
		return errors.New("authz: RefreshTokenLifespan over one year is not allowed (HAIP §4.4)")
	}
	if o.TxCodeMaxAttempts <= 0 {
		o.TxCodeMaxAttempts = defaultTxCodeMaxAttempts
	}
	if o.LoginMaxAttempts <= 0 {
		o.LoginMaxAttempts = defaultLoginMaxAttempts
	}
	if o.LoginWindow <= 0 {
		o.LoginWindow = defaultLoginWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}
