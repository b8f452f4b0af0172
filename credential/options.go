package credential

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/wia"
)

// Endpoint paths, relative to Options.BaseURL. web mounts Service.Handler at
// BaseURL's path + these; metadata publishes the absolute URLs from
// Service.Metadata.
const (
	PathNonce        = "/nonce"
	PathCredential   = "/credential"
	PathDeferred     = "/deferred_credential"
	PathNotification = "/notification"
)

// Proof types (OpenID4VCI 1.0 Appendix F).
const (
	ProofTypeJWT         = "jwt"
	ProofTypeAttestation = "attestation"
)

// Store kinds written by this package.
const (
	KindIssued      = "issued"   // IssuedRecord, key = record id
	KindDeferred    = "deferred" // deferred transaction, key = SHA-256 of transaction_id
	KindKeyProofJTI = "kproof"   // replay cache of key proof jti values
)

// Configuration is what the issuance service needs to know about one entry of
// credential_configurations_supported. Every mso_mdoc configuration is key
// bound (the MSO carries a deviceKey), so ProofTypes must not be empty.
type Configuration struct {
	// DocType is the mdoc docType (VCI A.2.2 doctype).
	DocType string
	// ProofTypes accepted: ProofTypeJWT and/or ProofTypeAttestation.
	ProofTypes []string
	// KeyAttestationsRequired, if not nil, requires a key attestation with
	// every proof (VCI D.2 key_attestations_required); empty lists mean any
	// key attestation from a trusted issuer.
	KeyAttestationsRequired *KeyAttestationRequirement
	// BatchSize, if > 0, is the largest number of credentials one request
	// for this configuration may obtain; 0 means Options.BatchSize.
	BatchSize int
	// Deferred marks configurations that are issued only after review
	// (VCI §9): the Credential Endpoint answers 202 with a transaction_id.
	Deferred bool
}

// KeyAttestationRequirement is key_attestations_required (VCI D.2). A key
// attestation meets a non-empty list when it asserts at least one value in it.
type KeyAttestationRequirement struct {
	KeyStorage         []string `json:"key_storage,omitempty"`
	UserAuthentication []string `json:"user_authentication,omitempty"`
}

// TokenValidator validates an access token at the resource (authz.Server).
// Errors are *oauth.Error invalid_token (401) or storage unavailability.
type TokenValidator interface {
	ValidateAccessToken(ctx context.Context, token string) (*oauth.Grant, error)
}

// DPoPVerifier verifies DPoP proofs at a protected resource (RFC 9449 §4.3,
// §7.1, §9) and hands out server nonces (§8, §9). *dpop.Verifier satisfies it.
type DPoPVerifier interface {
	Verify(ctx context.Context, r dpop.Request) (*dpop.Proof, error)
	// Nonce returns a fresh DPoP-Nonce value; called only if NoncesRequired.
	Nonce() (string, error)
	NoncesRequired() bool
}

// NonceSource issues and checks stateless c_nonce values (nonce.Source with
// purpose "c_nonce"). Check returns an error for an unknown, forged or
// expired nonce.
type NonceSource interface {
	Issue() (string, error)
	Check(n string) error
}

// KeyAttestation is a verified key attestation (VCI Appendix D).
type KeyAttestation = wia.KeyAttestation

// KeyAttestationVerifier verifies a key-attestation+jwt: typ, signature,
// trust chain, iat/exp, attested_keys. Errors are *oauth.Error invalid_proof.
// *wia.KeyAttestationVerifier satisfies it.
type KeyAttestationVerifier interface {
	Verify(ctx context.Context, jwt string) (*wia.KeyAttestation, error)
}

// Signed describes one credential produced by a Signer. It holds no claim
// values.
type Signed struct {
	// Credential is the CBOR IssuerSigned structure (VCI A.2.4).
	Credential []byte
	// DSSerial is the serial number of the Document Signer certificate, in
	// hexadecimal.
	DSSerial string
	// ValidUntil is the MSO validityInfo.validUntil.
	ValidUntil time.Time
}

// Signer builds and signs one mdoc per device key with the same claims
// (VCI §3.3.2: one dataset, distinct device keys, salts and signatures).
// MdocSigner adapts *mdoc.Issuer. An error that is an *oauth.Error goes to
// the wallet; claim data the Signer refuses is reported as ErrInvalidClaims.
type Signer interface {
	Sign(ctx context.Context, configurationID, docType string, claims map[string]map[string]any, deviceKeys []*jose.JSONWebKey) ([]Signed, error)
}

// Store is the part of storage.Store this package uses.
type Store interface {
	storage.Records
	storage.ReplayCache
}

// Options configures a Service. cmd/issuer fills it from the config tree.
type Options struct {
	// Issuer is the Credential Issuer Identifier: the required aud of key
	// proofs (VCI F.1).
	Issuer string
	// BaseURL is the public https base of the endpoints, no trailing slash;
	// the DPoP htu is BaseURL + path. Empty means Issuer.
	BaseURL string
	// Configurations by credential_configuration_id.
	Configurations map[string]Configuration

	Tokens          TokenValidator
	DPoP            DPoPVerifier
	CNonces         NonceSource
	KeyAttestations KeyAttestationVerifier // required if any configuration accepts key attestations or offers the attestation proof type
	Signer          Signer
	Claims          ClaimsSource
	Store           Store

	// BatchSize is the default per-request credential limit; the published
	// batch_credential_issuance.batch_size is the largest limit over all
	// configurations, and below 2 means no batch issuance (one proof, one
	// key, one credential).
	BatchSize int
	// Encryption enables encrypted requests and responses (VCI §10); nil
	// disables both.
	Encryption *EncryptionOptions

	// ProofMaxAge bounds how old a key proof's iat may be (default 5 min);
	// ClockSkew how far in the future (default 60 s).
	ProofMaxAge time.Duration
	ClockSkew   time.Duration
	// DeferredInterval is the polling interval returned with transaction ids
	// (default 5 s); DeferredTTL how long a transaction lives (default 24 h).
	DeferredInterval time.Duration
	DeferredTTL      time.Duration
	// NotificationTTL is how long notification ids are accepted (default 30 days).
	NotificationTTL time.Duration
	// RecordTTL is the minimum retention of issued-credential records
	// (default 400 days); a record lives at least until the credential expires.
	RecordTTL time.Duration
	// MaxBodyBytes limits request bodies (default 512 KiB).
	MaxBodyBytes int64

	// Events receives audit and metric events; nil discards them. It must
	// not block.
	Events func(ctx context.Context, e Event)
	Now    func() time.Time
}

// EncryptionOptions configures credential_request_encryption and
// credential_response_encryption (VCI §12.2.4), which are always published
// together.
type EncryptionOptions struct {
	// Keys are the issuer's ECDH-ES P-256 private keys for request
	// encryption; each needs a unique KeyID. Their public parts are
	// published with use "enc" and alg "ECDH-ES".
	Keys []jose.JSONWebKey
	// Encs are the supported content encryption algorithms (A128GCM,
	// A256GCM); default both.
	Encs []jose.ContentEncryption
	// Deflate advertises and accepts zip "DEF" in both directions.
	Deflate bool
	// RequestRequired and ResponseRequired set encryption_required.
	RequestRequired  bool
	ResponseRequired bool
}

const (
	defaultProofMaxAge      = 5 * time.Minute
	defaultClockSkew        = 60 * time.Second
	defaultDeferredInterval = 5 * time.Second
	defaultDeferredTTL      = 24 * time.Hour
	defaultNotificationTTL  = 30 * 24 * time.Hour
	defaultRecordTTL        = 400 * 24 * time.Hour
	defaultMaxBody          = 512 << 10
)

// Service serves the issuing endpoints.
type Service struct {
	o        Options
	base     string // BaseURL without trailing slash
	basePath string // path of BaseURL without trailing slash
	encKeys  map[string]*ecdsa.PrivateKey
	encs     []jose.ContentEncryption
}

// New validates o and returns a Service.
func New(o Options) (*Service, error) {
	if err := checkHTTPSURL(o.Issuer); err != nil {
		return nil, fmt.Errorf("credential: Issuer: %w", err)
	}
	if o.BaseURL == "" {
		o.BaseURL = o.Issuer
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	if err := checkHTTPSURL(o.BaseURL); err != nil {
		return nil, fmt.Errorf("credential: BaseURL: %w", err)
	}
	if len(o.Configurations) == 0 {
		return nil, errors.New("credential: no configurations")
	}
	needKA := false
	for id, c := range o.Configurations {
		if id == "" || c.DocType == "" {
			return nil, fmt.Errorf("credential: configuration %q: empty id or doctype", id)
		}
		if len(c.ProofTypes) == 0 {
			return nil, fmt.Errorf("credential: configuration %q: mso_mdoc needs key binding: no proof types", id)
		}
		for _, pt := range c.ProofTypes {
			switch pt {
			case ProofTypeJWT:
			case ProofTypeAttestation:
				needKA = true
			default:
				return nil, fmt.Errorf("credential: configuration %q: unsupported proof type %q", id, pt)
			}
		}
		if c.KeyAttestationsRequired != nil {
			needKA = true
		}
		if c.BatchSize < 0 {
			return nil, fmt.Errorf("credential: configuration %q: negative batch size", id)
		}
	}
	switch {
	case o.Tokens == nil:
		return nil, errors.New("credential: no TokenValidator")
	case o.DPoP == nil:
		return nil, errors.New("credential: no DPoPVerifier")
	case o.CNonces == nil:
		return nil, errors.New("credential: no c_nonce source")
	case o.Signer == nil:
		return nil, errors.New("credential: no Signer")
	case o.Claims == nil:
		return nil, errors.New("credential: no ClaimsSource")
	case o.Store == nil:
		return nil, errors.New("credential: no Store")
	case needKA && o.KeyAttestations == nil:
		return nil, errors.New("credential: a configuration uses key attestations but no KeyAttestationVerifier is set")
	}
	if o.BatchSize < 1 {
		o.BatchSize = 1
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ProofMaxAge, defaultProofMaxAge)
	def(&o.ClockSkew, defaultClockSkew)
	def(&o.DeferredInterval, defaultDeferredInterval)
	def(&o.DeferredTTL, defaultDeferredTTL)
	def(&o.NotificationTTL, defaultNotificationTTL)
	def(&o.RecordTTL, defaultRecordTTL)
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBody
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	u, _ := url.Parse(o.BaseURL)
	s := &Service{o: o, base: o.BaseURL, basePath: strings.TrimSuffix(u.Path, "/")}
	if e := o.Encryption; e != nil {
		if len(e.Keys) == 0 {
			return nil, errors.New("credential: encryption enabled without request encryption keys")
		}
		s.encKeys = map[string]*ecdsa.PrivateKey{}
		for i, k := range e.Keys {
			priv, ok := k.Key.(*ecdsa.PrivateKey)
			if !ok || priv.Curve != elliptic.P256() {
				return nil, fmt.Errorf("credential: encryption key %d: not an EC P-256 private key", i)
			}
			if k.KeyID == "" {
				return nil, fmt.Errorf("credential: encryption key %d: no kid", i)
			}
			if _, dup := s.encKeys[k.KeyID]; dup {
				return nil, fmt.Errorf("credential: encryption key kid %q not unique", k.KeyID)
			}
			s.encKeys[k.KeyID] = priv
		}
		s.encs = e.Encs
		if len(s.encs) == 0 {
			s.encs = []jose.ContentEncryption{jose.A128GCM, jose.A256GCM}
		}
		for _, enc := range s.encs {
			if enc != jose.A128GCM && enc != jose.A256GCM {
				return nil, fmt.Errorf("credential: unsupported enc %q", enc)
			}
		}
	}
	return s, nil
}

func checkHTTPSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute URL without query or fragment", s)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return fmt.Errorf("%q is not https", s)
	}
	return nil
}

func isLoopback(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1" || strings.HasSuffix(h, ".localhost")
}

// Endpoint returns the absolute URL of one of the Path constants.
func (s *Service) Endpoint(path string) string { return s.base + path }

func (s *Service) config(id string) (Configuration, bool) {
	c, ok := s.o.Configurations[id]
	return c, ok
}

// batchSize is the effective per-request limit of configuration c.
func (s *Service) batchSize(c Configuration) int {
	if c.BatchSize > 0 {
		return c.BatchSize
	}
	return s.o.BatchSize
}

func (c Configuration) accepts(proofType string) bool {
	return slices.Contains(c.ProofTypes, proofType)
}
