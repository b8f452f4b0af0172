package config

import (
	"fmt"
	"net/netip"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration tree. Field comments state the rule the
// validator enforces; config.example.yaml documents every key for operators.
type Config struct {
	// Issuer is the Credential Issuer Identifier (OpenID4VCI §12.2.1): https,
	// no query or fragment. It is also the authorization server's issuer.
	Issuer string `yaml:"issuer"`
	// Listen is the host:port of the public listener.
	Listen string `yaml:"listen"`
	// DataDir holds generated development material (keys, PKI).
	DataDir string `yaml:"data_dir"`
	// Development relaxes the issuer identifier to http on loopback hosts and
	// lets the issuer generate its own secrets and PKI.
	Development bool `yaml:"development"`

	Log                      Log                                 `yaml:"log"`
	Store                    Store                               `yaml:"store"`
	PKI                      PKI                                 `yaml:"pki"`
	Secrets                  Secrets                             `yaml:"secrets"`
	Display                  []Display                           `yaml:"display"`
	CredentialConfigurations map[string]*CredentialConfiguration `yaml:"credential_configurations"`
	Doctypes                 []Doctype                           `yaml:"doctypes"`
	OAuth                    OAuth                               `yaml:"oauth"`
	WalletProviders          []WalletProvider                    `yaml:"wallet_providers"`
	KeyAttestationIssuers    []KeyAttestationIssuer              `yaml:"key_attestation_issuers"`
	UsersFile                string                              `yaml:"users_file"`
	UpstreamOIDC             *UpstreamOIDC                       `yaml:"upstream_oidc"`
	Claims                   Claims                              `yaml:"claims"`
	Encryption               Encryption                          `yaml:"encryption"`
	Admin                    Admin                               `yaml:"admin"`
	HTTP                     HTTP                                `yaml:"http"`
	TLS                      TLS                                 `yaml:"tls"`
	RateLimits               RateLimits                          `yaml:"rate_limits"`
	Audit                    Audit                               `yaml:"audit"`

	// baseDir is the directory relative file paths are resolved against: the
	// config file's directory, or the working directory for the embedded
	// default. It is set by Load.
	baseDir string
}

// Log configures the structured logger.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | text
}

// Store selects the state backend.
type Store struct {
	Backend   string `yaml:"backend"`    // memory | redis
	RedisURL  string `yaml:"redis_url"`  // redis://, rediss:// (required for redis)
	KeyPrefix string `yaml:"key_prefix"` // prefix of every key (redis)
}

// PKI configures the IACA / Document Signer / metadata-signing material.
type PKI struct {
	Dir          string `yaml:"dir"`
	Country      string `yaml:"country"` // ISO 3166-1 alpha-2, IACA/DS C
	State        string `yaml:"state"`   // ISO 3166-2 subdivision, optional ST
	Organization string `yaml:"organization"`
	// AutoInit creates the PKI in Dir at start when absent. Development only;
	// nil means "on in development".
	AutoInit *bool `yaml:"auto_init"`
}

// Secrets are symmetric keys shared by every instance.
type Secrets struct {
	// NonceKeys are base64 keys (>= 32 bytes) for stateless nonces: the first
	// signs, all verify (rotation).
	NonceKeys []string `yaml:"nonce_keys"`
}

// Logo is a display logo (OpenID4VCI §12.2.4).
type Logo struct {
	URI     string `yaml:"uri"`
	AltText string `yaml:"alt_text"`
}

// Display is the issuer's display object for one locale.
type Display struct {
	Name   string `yaml:"name"`
	Locale string `yaml:"locale"`
	Logo   *Logo  `yaml:"logo"`
}

// CredentialDisplay is a credential configuration's display object for one
// locale (OpenID4VCI §12.2.4, credential_metadata.display).
type CredentialDisplay struct {
	Name            string `yaml:"name"`
	Locale          string `yaml:"locale"`
	Logo            *Logo  `yaml:"logo"`
	Description     string `yaml:"description"`
	BackgroundColor string `yaml:"background_color"`
	TextColor       string `yaml:"text_color"`
}

// KeyAttestationsRequired mirrors OpenID4VCI Appendix D.2: the attack
// potential resistance levels the issuer requires. Present (even empty) means
// a key attestation is required.
type KeyAttestationsRequired struct {
	KeyStorage         []string `yaml:"key_storage"`
	UserAuthentication []string `yaml:"user_authentication"`
}

// CredentialConfiguration is one entry of credential_configurations_supported.
type CredentialConfiguration struct {
	Doctype string              `yaml:"doctype"`
	Scope   string              `yaml:"scope"`
	Display []CredentialDisplay `yaml:"display"`
	// Claims optionally restricts the advertised elements: namespace ->
	// element identifiers. Empty = every catalogue element of the doctype.
	Claims map[string][]string `yaml:"claims"`
	// BatchSize is the most credentials one request may ask for (1 = no batch).
	BatchSize int `yaml:"batch_size"`
	// Deferred issuance: every request waits for back-office approval.
	Deferred bool `yaml:"deferred"`
	// Validity of issued credentials (MSO validUntil - validFrom).
	Validity                Duration                 `yaml:"validity"`
	KeyAttestationsRequired *KeyAttestationsRequired `yaml:"key_attestations_required"`
	// ProofTypes accepted: jwt, attestation.
	ProofTypes []string `yaml:"proof_types"`
}

// Element describes one data element of a doctype catalogue entry. Besides
// the display names, the keys are those of the mdoc catalogue (mdoc.Element),
// which checks the definition when the issuer starts or `config validate`
// runs.
type Element struct {
	Type      string              `yaml:"type"`
	Mandatory bool                `yaml:"mandatory"`
	Display   []ElementDisplay    `yaml:"display"`
	MaxLength int                 `yaml:"max_length"` // text: characters; bytes: octets (0 = default)
	Latin1    bool                `yaml:"latin1"`     // text restricted to ISO/IEC 8859-1
	Format    string              `yaml:"format"`     // alpha2, iso3166-2 (text); image (bytes)
	Enum      []string            `yaml:"enum"`       // allowed text values
	IntEnum   []int64             `yaml:"int_enum"`   // allowed integer values
	Min       *int64              `yaml:"min"`
	Max       *int64              `yaml:"max"`
	Items     *Element            `yaml:"items"`      // array item type
	MinItems  int                 `yaml:"min_items"`  // arrays
	Fields    map[string]*Element `yaml:"fields"`     // map fields
	MinFields int                 `yaml:"min_fields"` // maps
}

// ElementDisplay is the display name of an element in one locale.
type ElementDisplay struct {
	Name   string `yaml:"name"`
	Locale string `yaml:"locale"`
}

// Doctype is an extra catalogue entry: namespaces -> elements.
type Doctype struct {
	Doctype    string                         `yaml:"doctype"`
	Namespaces map[string]map[string]*Element `yaml:"namespaces"`
}

// OAuth configures the authorization server.
type OAuth struct {
	PARLifetime         Duration      `yaml:"par_lifetime"`
	CodeLifetime        Duration      `yaml:"code_lifetime"`
	AccessTokenLifetime Duration      `yaml:"access_token_lifetime"`
	RefreshTokens       bool          `yaml:"refresh_tokens"`
	DPoP                DPoP          `yaml:"dpop"`
	PreAuthorized       PreAuthorized `yaml:"pre_authorized"`
	// AttestationChallenges serves the ABCA challenge endpoint and requires
	// every client attestation PoP to carry a fresh server challenge
	// (draft-ietf-oauth-attestation-based-client-auth-07 §8).
	AttestationChallenges bool `yaml:"attestation_challenges"`
}

// DPoP configures RFC 9449 proof checking.
type DPoP struct {
	// NonceRequired: servers nonces are required (RFC 9449 §8, §9). nil = true.
	NonceRequired *bool    `yaml:"nonce_required"`
	IATWindow     Duration `yaml:"iat_window"`
}

// PreAuthorized configures the pre-authorized code grant (OpenID4VCI §3.5).
type PreAuthorized struct {
	// Enabled advertises and accepts the grant. nil = true.
	Enabled           *bool    `yaml:"enabled"`
	CodeLifetime      Duration `yaml:"code_lifetime"`
	TxCodeMaxAttempts int      `yaml:"tx_code_max_attempts"`
}

// WalletProvider is a trusted wallet provider (client attestation issuer).
type WalletProvider struct {
	Name         string   `yaml:"name"`
	Roots        []string `yaml:"roots"` // PEM files of trust anchors for x5c
	JWKS         string   `yaml:"jwks"`  // JWKS file of pinned keys
	RedirectURIs []string `yaml:"redirect_uris"`
}

// KeyAttestationIssuer is a trusted issuer of key attestations (OpenID4VCI D).
type KeyAttestationIssuer struct {
	Name  string   `yaml:"name"`
	Roots []string `yaml:"roots"`
	JWKS  string   `yaml:"jwks"`
}

// Claims configures where element values come from.
type Claims struct {
	Dataset string `yaml:"dataset"` // file of claim values keyed by subject
}

// Encryption configures OpenID4VCI §10 application-layer encryption.
type Encryption struct {
	// Enabled publishes credential_request_encryption and
	// credential_response_encryption (always together).
	Enabled          bool     `yaml:"enabled"`
	RequestRequired  bool     `yaml:"request_required"`
	ResponseRequired bool     `yaml:"response_required"`
	KeyFile          string   `yaml:"key_file"` // P-256 private key (PEM) for request decryption
	AlgValues        []string `yaml:"alg_values"`
	EncValues        []string `yaml:"enc_values"`
	ZipValues        []string `yaml:"zip_values"`
}

// Admin configures the back-office API.
type Admin struct {
	Tokens []string `yaml:"tokens"` // bearer tokens (>= 32 chars); none = admin API off
	Listen string   `yaml:"listen"` // optional separate host:port
	// Pprof serves the Go runtime profiles (net/http/pprof) under
	// /debug/pprof/ beside /metrics, behind the admin tokens. Off by default:
	// profiles reveal code paths and cost CPU while they are taken.
	Pprof bool `yaml:"pprof"`
}

// HTTP configures the server.
type HTTP struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	WriteTimeout      Duration `yaml:"write_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	HandlerTimeout    Duration `yaml:"handler_timeout"`
	MaxBodyBytes      int64    `yaml:"max_body_bytes"`
	ShutdownGrace     Duration `yaml:"shutdown_grace"`
	// ShutdownDelay is how long, after SIGTERM, the issuer keeps serving
	// with /readyz answering 503 before it stops accepting connections, so
	// that load balancers stop sending first. 0 = stop accepting at once.
	ShutdownDelay Duration `yaml:"shutdown_delay"`
}

// TLS enables HTTPS on the listeners when both files are set.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ReloadInterval is how often the files are checked for a new
	// certificate (reloaded without restart). Default 1m.
	ReloadInterval Duration `yaml:"reload_interval"`
}

// RateLimits limits requests to the stateful public endpoints (PAR,
// authorize, token, challenge, nonce, credential, deferred, notification,
// offers) in fixed windows counted in the store, so the limits hold across
// every instance sharing it.
type RateLimits struct {
	// Enabled: nil = on outside development, off in development.
	Enabled *bool    `yaml:"enabled"`
	Window  Duration `yaml:"window"` // 1s..1h, default 1m
	// ClientAddress is the most requests per window from one client
	// address (IPv4 address, IPv6 /64). Default 600.
	ClientAddress int64 `yaml:"client_address"`
	// Wallet is the most requests per window from one wallet instance: the
	// key (cnf.jwk) of its wallet attestation. Not the attestation's sub,
	// which HAIP §4.4.1 makes one per wallet solution. Default 300.
	Wallet int64 `yaml:"wallet"`
	// TrustedProxies are the CIDR prefixes of reverse proxies in front of
	// the issuer: from them, the client address is read from
	// X-Forwarded-For (the rightmost address that is not a trusted proxy).
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Audit configures the issuance audit log (package audit).
type Audit struct {
	// File is the append-only log of this instance; "" = no audit log.
	File string `yaml:"file"`
	// Key is a base64 HMAC key (>= 32 bytes) for the record links; without
	// it the links are plain SHA-256. Set it with ISSUER_AUDIT_KEY.
	Key string `yaml:"key"`
}

// TrustedProxyPrefixes parses rate_limits.trusted_proxies (validated).
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.RateLimits.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// RateLimitsEnabled reports whether rate limiting is on.
func (c *Config) RateLimitsEnabled() bool { return Bool(c.RateLimits.Enabled, !c.Development) }

// AuditKey decodes audit.key (nil when unset).
func (c *Config) AuditKey() ([]byte, error) {
	if c.Audit.Key == "" {
		return nil, nil
	}
	return DecodeKey(c.Audit.Key)
}

// Duration is a time.Duration written as a Go duration string ("30s").
// Bare numbers are rejected so that "60" cannot silently mean 60 ns.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return fmt.Errorf("line %d: duration must be a string such as \"30s\"", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// BaseDir is the directory relative paths were resolved against.
func (c *Config) BaseDir() string { return c.baseDir }

// Bool returns *b, or def when b is nil.
func Bool(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
