package metadata

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
)

// COSE algorithm identifiers (RFC 9053, RFC 9864) advertised for mso_mdoc
// IssuerAuth: ES256 and the fully specified ESP256. Advertising both while
// signing with -7 on P-256 matches both readings (OpenID4VCI A.2.2).
const (
	COSEAlgES256  = -7
	COSEAlgESP256 = -9
)

// Proof types (OpenID4VCI F.1, F.3).
const (
	ProofJWT         = "jwt"
	ProofAttestation = "attestation"
)

// Options describe what the issuer serves. Endpoint URLs left empty are not
// advertised.
type Options struct {
	// Issuer is the Credential Issuer Identifier, byte for byte as wallets
	// use it (OpenID4VCI §12.2.1). The authorization server has the same
	// identifier unless AuthorizationServers is set.
	Issuer               string
	AuthorizationServers []string

	CredentialEndpoint   string // REQUIRED by §12.2.4 once the credential endpoint is mounted
	NonceEndpoint        string
	DeferredEndpoint     string
	NotificationEndpoint string

	// RequestEncryption and ResponseEncryption are published together or
	// not at all (OpenID4VCI §8.2: response encryption needs request
	// encryption).
	RequestEncryption  *RequestEncryption
	ResponseEncryption *ResponseEncryption

	Display        []Display
	Configurations []Configuration

	// AS describes the authorization server when this issuer is its own AS;
	// nil = no AS metadata.
	AS *AuthorizationServer

	// Signer enables signed metadata (OpenID4VCI §12.2.3) for requests with
	// Accept: application/jwt.
	Signer *Signer
	// Now is the clock of signed metadata iat; nil = time.Now.
	Now func() time.Time
}

// Configuration is one mso_mdoc credential configuration.
type Configuration struct {
	ID      string
	Doctype string
	Scope   string
	// SigningAlgs are COSE algorithm ids of IssuerAuth; nil = [-7, -9].
	SigningAlgs []int
	// ProofTypes accepted ("jwt", "attestation"); empty = no key binding,
	// and neither cryptographic_binding_methods_supported nor
	// proof_types_supported is published.
	ProofTypes []string
	// KeyAttestationsRequired is published in every proof type; nil = not
	// required.
	KeyAttestationsRequired *KeyAttestationsRequired
	// BatchSize is the largest batch this configuration accepts; the
	// issuer-wide batch_size is the largest over all configurations.
	BatchSize int
	Display   []CredentialDisplay
	Claims    []Claim
}

// AuthorizationServer lists the AS endpoints that are mounted.
type AuthorizationServer struct {
	AuthorizationEndpoint string
	TokenEndpoint         string
	PAREndpoint           string
	ChallengeEndpoint     string
	// PreAuthorizedGrant advertises the pre-authorized code grant.
	PreAuthorizedGrant bool
	// RefreshTokens advertises the refresh_token grant.
	RefreshTokens bool
}

// Signer signs the metadata JWT. HAIP §4.1: the key is resolved through the
// x5c header, whose chain must not contain the trust anchor and whose
// signing certificate must not be self-signed.
type Signer struct {
	Key   crypto.Signer       // ECDSA P-256 (ES256)
	Chain []*x509.Certificate // leaf first, trust anchor excluded
	// Issuer is the optional iss claim: the party attesting the metadata.
	Issuer string
	// Lifetime sets exp = iat + Lifetime; 0 = no exp.
	Lifetime time.Duration
}

// Service holds the built documents and serves them.
type Service struct {
	issuer     IssuerMetadata
	issuerJSON []byte
	as         *ASMetadata
	asJSON     []byte
	signer     *Signer
	now        func() time.Time
}

// New validates o and builds both documents.
func New(o Options) (*Service, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("metadata: "+format, args...)) }

	if err := checkURL(o.Issuer); err != nil {
		bad("issuer: %v", err)
	}
	for name, u := range map[string]string{
		"credential endpoint": o.CredentialEndpoint, "nonce endpoint": o.NonceEndpoint,
		"deferred endpoint": o.DeferredEndpoint, "notification endpoint": o.NotificationEndpoint,
	} {
		if u != "" {
			if err := checkURL(u); err != nil {
				bad("%s: %v", name, err)
			}
		}
	}
	for _, a := range o.AuthorizationServers {
		if err := checkURL(a); err != nil {
			bad("authorization server: %v", err)
		}
	}

	md := IssuerMetadata{
		CredentialIssuer:           o.Issuer,
		AuthorizationServers:       o.AuthorizationServers,
		CredentialEndpoint:         o.CredentialEndpoint,
		NonceEndpoint:              o.NonceEndpoint,
		DeferredCredentialEndpoint: o.DeferredEndpoint,
		NotificationEndpoint:       o.NotificationEndpoint,
		Display:                    o.Display,
		CredentialConfigurations:   map[string]CredentialConfiguration{},
	}

	switch {
	case (o.RequestEncryption == nil) != (o.ResponseEncryption == nil):
		bad("request and response encryption must be published together (OpenID4VCI §8.2)")
	case o.RequestEncryption != nil:
		if err := checkEncryption(o.RequestEncryption, o.ResponseEncryption); err != nil {
			bad("%v", err)
		}
		md.CredentialRequestEncryption = o.RequestEncryption
		md.CredentialResponseEncryption = o.ResponseEncryption
	}

	if len(o.Configurations) == 0 {
		bad("at least one credential configuration is required")
	}
	var scopes []string
	batch := 1
	for _, c := range o.Configurations {
		cc, err := buildConfiguration(c)
		if err != nil {
			bad("configuration %q: %v", c.ID, err)
			continue
		}
		if _, dup := md.CredentialConfigurations[c.ID]; dup {
			bad("duplicate configuration id %q", c.ID)
		}
		md.CredentialConfigurations[c.ID] = cc
		if c.Scope != "" {
			if slices.Contains(scopes, c.Scope) {
				bad("configuration %q: scope %q used twice", c.ID, c.Scope)
			}
			scopes = append(scopes, c.Scope)
		}
		batch = max(batch, c.BatchSize)
	}
	// §12.2.4: batch_size MUST be 2 or greater; absence means no batch.
	if batch > 1 {
		md.BatchCredentialIssuance = &BatchIssuance{BatchSize: batch}
	}
	// HAIP §4.1: a nonce endpoint is required when any configuration binds
	// to a key. Omitting it would silently break every HAIP wallet.
	for _, cc := range md.CredentialConfigurations {
		if len(cc.BindingMethods) > 0 && o.NonceEndpoint == "" && o.CredentialEndpoint != "" {
			bad("a nonce endpoint is required when a configuration has key binding (HAIP 1.0 §4.1)")
			break
		}
	}

	s := &Service{issuer: md, signer: o.Signer, now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if o.AS != nil {
		as, err := buildAS(o.Issuer, *o.AS, scopes)
		if err != nil {
			bad("%v", err)
		}
		s.as = as
	}
	if o.Signer != nil {
		if err := checkSigner(o.Signer); err != nil {
			bad("signer: %v", err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var err error
	if s.issuerJSON, err = json.Marshal(s.issuer); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if s.as != nil {
		if s.asJSON, err = json.Marshal(s.as); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
	}
	return s, nil
}

// checkURL accepts an absolute http(s) URL with a host and no query or
// fragment. Whether http is acceptable (development on loopback) is the
// configuration's decision.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute https URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, "?#") {
		return fmt.Errorf("%q has a query or fragment", raw)
	}
	return nil
}

func buildConfiguration(c Configuration) (CredentialConfiguration, error) {
	if c.ID == "" {
		return CredentialConfiguration{}, errors.New("empty id")
	}
	if c.Doctype == "" {
		return CredentialConfiguration{}, errors.New("doctype is required (OpenID4VCI A.2.2)")
	}
	algs := c.SigningAlgs
	if algs == nil {
		algs = []int{COSEAlgES256, COSEAlgESP256}
	}
	cc := CredentialConfiguration{
		Format:                oauth.FormatMsoMdoc,
		Doctype:               c.Doctype,
		Scope:                 c.Scope,
		CredentialSigningAlgs: algs,
	}
	if len(c.ProofTypes) > 0 {
		cc.BindingMethods = []string{"cose_key"}
		cc.ProofTypes = map[string]ProofType{}
		for _, pt := range c.ProofTypes {
			if pt != ProofJWT && pt != ProofAttestation {
				return cc, fmt.Errorf("unknown proof type %q", pt)
			}
			// HAIP §7: ES256 is the one algorithm every party supports.
			cc.ProofTypes[pt] = ProofType{SigningAlgs: []string{"ES256"}, KeyAttestationsRequired: c.KeyAttestationsRequired}
		}
	} else if c.KeyAttestationsRequired != nil {
		return cc, errors.New("key attestations required without a proof type")
	}
	seen := map[string]bool{}
	for i, cl := range c.Claims {
		if len(cl.Path) < 2 {
			return cc, fmt.Errorf("claim %d: mdoc paths start with namespace and element (OpenID4VCI C.2)", i)
		}
		for j := range 2 {
			if s, ok := cl.Path[j].(string); !ok || s == "" {
				return cc, fmt.Errorf("claim %d: path component %d must be a non-empty string", i, j)
			}
		}
		key := fmt.Sprint(cl.Path)
		if seen[key] {
			return cc, fmt.Errorf("claim %v described twice (OpenID4VCI B.3)", cl.Path)
		}
		seen[key] = true
	}
	if len(c.Display) > 0 || len(c.Claims) > 0 {
		cc.CredentialMetadata = &CredentialMetadata{Display: c.Display, Claims: c.Claims}
	}
	return cc, nil
}

func checkEncryption(req *RequestEncryption, res *ResponseEncryption) error {
	if len(req.JWKS.Keys) == 0 {
		return errors.New("credential_request_encryption.jwks has no keys")
	}
	kids := map[string]bool{}
	for _, k := range req.JWKS.Keys {
		if !k.IsPublic() {
			return errors.New("credential_request_encryption.jwks holds a private key")
		}
		// §12.2.4: every key has a unique kid.
		if k.KeyID == "" || kids[k.KeyID] {
			return errors.New("credential_request_encryption.jwks keys need unique kid values")
		}
		kids[k.KeyID] = true
	}
	if len(req.EncValues) == 0 || len(res.EncValues) == 0 || len(res.AlgValues) == 0 {
		return errors.New("encryption algorithm lists must be non-empty")
	}
	if res.Required && !req.Required {
		return errors.New("response encryption required without request encryption required (OpenID4VCI §8.2)")
	}
	return nil
}

func buildAS(issuer string, a AuthorizationServer, scopes []string) (*ASMetadata, error) {
	for _, u := range []string{a.AuthorizationEndpoint, a.TokenEndpoint, a.PAREndpoint, a.ChallengeEndpoint} {
		if u != "" {
			if err := checkURL(u); err != nil {
				return nil, fmt.Errorf("authorization server endpoint: %v", err)
			}
		}
	}
	if a.AuthorizationEndpoint != "" && a.PAREndpoint == "" {
		return nil, errors.New("an authorization endpoint requires a PAR endpoint (HAIP 1.0 §4, FAPI 2.0)")
	}
	as := &ASMetadata{
		Issuer:                          issuer,
		AuthorizationEndpoint:           a.AuthorizationEndpoint,
		TokenEndpoint:                   a.TokenEndpoint,
		PAREndpoint:                     a.PAREndpoint,
		RequirePAR:                      true,
		ChallengeEndpoint:               a.ChallengeEndpoint,
		ResponseTypes:                   []string{"code"},
		CodeChallengeMethods:            []string{"S256"},
		TokenEndpointAuthMethods:        []string{oauth.ClientAssertionTypeABC},
		ClientAttestationSigningAlgs:    []string{"ES256"},
		ClientAttestationPoPSigningAlgs: []string{"ES256"},
		DPoPSigningAlgs:                 []string{"ES256"},
		IssParameterSupported:           true,
		AuthorizationDetailsTypes:       []string{oauth.AuthorizationDetailVCI},
		PreAuthorizedAnonymousAccess:    false,
	}
	if a.AuthorizationEndpoint != "" {
		as.ResponseModes = []string{"query"}
	}
	// Grants are advertised only where the token endpoint can redeem them.
	if a.TokenEndpoint != "" {
		if a.AuthorizationEndpoint != "" {
			as.GrantTypes = append(as.GrantTypes, oauth.GrantAuthorizationCode)
		}
		if a.PreAuthorizedGrant {
			as.GrantTypes = append(as.GrantTypes, oauth.GrantPreAuthorizedCode)
		}
		if a.RefreshTokens {
			as.GrantTypes = append(as.GrantTypes, oauth.GrantRefreshToken)
		}
	}
	as.ScopesSupported = slices.Sorted(slices.Values(scopes))
	return as, nil
}

// Issuer returns the credential issuer metadata value.
func (s *Service) Issuer() IssuerMetadata { return s.issuer }

// AuthorizationServer returns the AS metadata value, if configured.
func (s *Service) AuthorizationServer() (ASMetadata, bool) {
	if s.as == nil {
		return ASMetadata{}, false
	}
	return *s.as, true
}

// WellKnownURL inserts the well-known suffix (e.g.
// "/.well-known/openid-credential-issuer") between the host and the path of
// an identifier (RFC 8414 §3.1, OpenID4VCI §12.2.2):
// https://h/tenant -> https://h/.well-known/openid-credential-issuer/tenant.
func WellKnownURL(identifier, wellKnown string) (string, error) {
	u, err := url.Parse(identifier)
	if err != nil {
		return "", err
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("metadata: %q is not an identifier", identifier)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + wellKnown + path, nil
}
