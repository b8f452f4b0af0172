package config

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// FieldError is one validation problem at a path of the tree, e.g.
// "credential_configurations.mdl.doctype: required".
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Problems returns the FieldErrors joined in err (by Load or Validate).
func Problems(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

// Validate checks the whole tree and returns every problem joined, or nil.
// Load calls it; it is exported for configurations built in code.
func (c *Config) Validate() error { return errors.Join(c.validate()...) }

type checker struct{ problems []error }

func (k *checker) add(path, format string, args ...any) {
	k.problems = append(k.problems, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

var (
	localeRE = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)
	// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), RFC 6749 §3.3.
	scopeRE   = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
	idRE      = regexp.MustCompile(`^[\x21-\x7E]+$`)
	countryRE = regexp.MustCompile(`^[A-Z]{2}$`)
	// The identifier's path becomes a route prefix: unreserved characters only.
	issuerPathRE = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)*/?$`)

	// The element types of the mdoc catalogue (mdoc.ElementType).
	elementTypes  = []string{"string", "bytes", "uint", "int", "bool", "full-date", "tdate", "date", "array", "map"}
	proofTypes    = []string{"jwt", "attestation"}
	attackLevels  = []string{"iso_18045_high", "iso_18045_moderate", "iso_18045_enhanced-basic", "iso_18045_basic"}
	encAlgValues  = []string{"ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"}
	encEncValues  = []string{"A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512"}
	encZipValues  = []string{"DEF"}
	logLevels     = []string{"debug", "info", "warn", "error"}
	logFormats    = []string{"json", "text"}
	storeBackends = []string{"memory", "redis"}
	// The URL forms of storage/redis: standalone, Sentinel, Cluster.
	redisSchemes   = []string{"redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster", "unix"}
	minNonceKeyLen = 32
	minAdminToken  = 32
)

func (c *Config) validate() []error {
	k := &checker{}
	k.issuer("issuer", c.Issuer, c.Development)
	k.hostPort("listen", c.Listen, true)
	if !slices.Contains(logLevels, c.Log.Level) {
		k.add("log.level", "must be one of %s", strings.Join(logLevels, ", "))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		k.add("log.format", "must be one of %s", strings.Join(logFormats, ", "))
	}
	c.validateStore(k)
	c.validatePKI(k)
	c.validateSecrets(k)
	k.displays("display", c.Display, c.Development)
	c.validateConfigurations(k)
	c.validateDoctypes(k)
	c.validateOAuth(k)
	c.validateTrust(k)
	k.optionalFile("users_file", c.UsersFile)
	c.validateUpstream(k)
	k.optionalFile("claims.dataset", c.Claims.Dataset)
	c.validateEncryption(k)
	c.validateAdmin(k)
	c.validateHTTP(k)
	c.validateRateLimits(k)
	c.validateAudit(k)
	return k.problems
}

// issuer enforces OpenID4VCI §12.2.1: an https URL with a host, optional
// port and path, no query and no fragment. http is accepted only in
// development and only for loopback hosts.
func (k *checker) issuer(path, raw string, dev bool) {
	if raw == "" {
		k.add(path, "required")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		k.add(path, "not a URL: %v", err)
		return
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && dev && isLoopback(u.Hostname()):
	case u.Scheme == "http" && dev:
		k.add(path, "http is allowed only for loopback hosts (localhost, 127.0.0.0/8, ::1)")
	case u.Scheme == "http":
		k.add(path, "must use https (http only with development: true on a loopback host)")
	default:
		k.add(path, "must be an https URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		k.add(path, "must have a host")
	}
	if u.User != nil {
		k.add(path, "must not contain userinfo")
	}
	if u.RawQuery != "" || u.ForceQuery {
		k.add(path, "must not contain a query")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		k.add(path, "must not contain a fragment")
	}
	if strings.HasSuffix(u.Path, "/") {
		k.add(path, "must not end with '/' (the identifier is compared byte for byte)")
	}
	if u.Opaque != "" || !issuerPathRE.MatchString(u.EscapedPath()) {
		k.add(path, "path must be /-separated segments of A-Z a-z 0-9 . _ ~ -")
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (k *checker) hostPort(path, v string, required bool) {
	if v == "" {
		if required {
			k.add(path, "required")
		}
		return
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		k.add(path, "must be host:port: %v", err)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		k.add(path, "port must be a number in 0..65535")
	}
}

func (c *Config) validateStore(k *checker) {
	if !slices.Contains(storeBackends, c.Store.Backend) {
		k.add("store.backend", "must be one of %s", strings.Join(storeBackends, ", "))
	}
	if c.Store.Backend == "redis" {
		if c.Store.RedisURL == "" {
			k.add("store.redis_url", "required when store.backend is redis")
		} else if scheme, _, _ := strings.Cut(c.Store.RedisURL, "://"); !slices.Contains(redisSchemes, scheme) {
			k.add("store.redis_url", "scheme must be one of %s", strings.Join(redisSchemes, ", "))
		}
	}
	if len(c.Store.KeyPrefix) > 64 || strings.ContainsAny(c.Store.KeyPrefix, " \t\r\n") {
		k.add("store.key_prefix", "must be at most 64 characters without whitespace")
	}
}

func (c *Config) validatePKI(k *checker) {
	p := c.PKI
	if !countryRE.MatchString(p.Country) {
		k.add("pki.country", "must be an ISO 3166-1 alpha-2 code (two upper-case letters)")
	}
	if p.State != "" && !strings.HasPrefix(p.State, p.Country+"-") {
		k.add("pki.state", "must be an ISO 3166-2 code starting with the country (e.g. %s-XX)", p.Country)
	}
	if strings.TrimSpace(p.Organization) == "" {
		k.add("pki.organization", "required")
	}
	if Bool(p.AutoInit, false) && !c.Development {
		k.add("pki.auto_init", "allowed only with development: true (create production keys with `issuer pki init`)")
	}
}

func (c *Config) validateSecrets(k *checker) {
	if len(c.Secrets.NonceKeys) == 0 && !c.Development {
		k.add("secrets.nonce_keys", "required outside development (generated into data_dir only in development)")
	}
	seen := map[string]bool{}
	for i, s := range c.Secrets.NonceKeys {
		path := fmt.Sprintf("secrets.nonce_keys[%d]", i)
		b, err := DecodeKey(s)
		switch {
		case err != nil:
			k.add(path, "not base64")
		case len(b) < minNonceKeyLen:
			k.add(path, "must decode to at least %d bytes", minNonceKeyLen)
		case seen[string(b)]:
			k.add(path, "duplicate key")
		}
		seen[string(b)] = true
	}
}

// DecodeKey decodes a base64 key in standard or URL alphabet, padded or not.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// NonceKeys returns the decoded nonce keys (first signs, all verify).
func (c *Config) NonceKeys() ([][]byte, error) {
	out := make([][]byte, 0, len(c.Secrets.NonceKeys))
	for i, s := range c.Secrets.NonceKeys {
		b, err := DecodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("secrets.nonce_keys[%d]: %w", i, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func (k *checker) locale(path, l string, seen map[string]bool) {
	if l == "" {
		if seen["\x00"] {
			k.add(path, "only one display object may omit the locale")
		}
		seen["\x00"] = true
		return
	}
	if !localeRE.MatchString(l) {
		k.add(path, "not a BCP 47 language tag")
	}
	if seen[strings.ToLower(l)] {
		k.add(path, "duplicate locale %q", l)
	}
	seen[strings.ToLower(l)] = true
}

func (k *checker) logo(path string, l *Logo, dev bool) {
	if l == nil {
		return
	}
	if l.URI == "" {
		k.add(path+".uri", "required")
		return
	}
	u, err := url.Parse(l.URI)
	if err != nil || !(u.Scheme == "https" || u.Scheme == "data" || (dev && u.Scheme == "http")) {
		k.add(path+".uri", "must be an https: or data: URI")
	}
}

func (k *checker) displays(path string, ds []Display, dev bool) {
	seen := map[string]bool{}
	for i, d := range ds {
		p := fmt.Sprintf("%s[%d]", path, i)
		if strings.TrimSpace(d.Name) == "" {
			k.add(p+".name", "required")
		}
		k.locale(p+".locale", d.Locale, seen)
		k.logo(p+".logo", d.Logo, dev)
	}
}

func (c *Config) validateConfigurations(k *checker) {
	if len(c.CredentialConfigurations) == 0 {
		k.add("credential_configurations", "at least one credential configuration is required")
		return
	}
	doctypes := map[string]*Doctype{}
	for i := range c.Doctypes {
		doctypes[c.Doctypes[i].Doctype] = &c.Doctypes[i]
	}
	scopes := map[string]string{}
	for _, id := range sortedKeys(c.CredentialConfigurations) {
		cc := c.CredentialConfigurations[id]
		p := "credential_configurations." + id
		if !idRE.MatchString(id) {
			k.add(p, "id must be printable ASCII without spaces")
		}
		if cc == nil {
			k.add(p, "must be a mapping")
			continue
		}
		if cc.Doctype == "" {
			k.add(p+".doctype", "required")
		}
		// HAIP §4.1: every configuration has a scope, which maps to it
		// unambiguously.
		switch {
		case cc.Scope == "":
			k.add(p+".scope", "required (HAIP 1.0 §4.1)")
		case !scopeRE.MatchString(cc.Scope):
			k.add(p+".scope", "must be a single RFC 6749 scope-token")
		case scopes[cc.Scope] != "":
			k.add(p+".scope", "already used by %s", scopes[cc.Scope])
		default:
			scopes[cc.Scope] = id
		}
		seen := map[string]bool{}
		for i, d := range cc.Display {
			dp := fmt.Sprintf("%s.display[%d]", p, i)
			if strings.TrimSpace(d.Name) == "" {
				k.add(dp+".name", "required")
			}
			k.locale(dp+".locale", d.Locale, seen)
			k.logo(dp+".logo", d.Logo, c.Development)
		}
		if cc.BatchSize < 1 || cc.BatchSize > 100 {
			k.add(p+".batch_size", "must be in 1..100")
		}
		if cc.Validity.D() < time.Hour || cc.Validity.D() > 10*365*24*time.Hour {
			k.add(p+".validity", "must be between 1h and 87600h")
		}
		pts := map[string]bool{}
		for i, pt := range cc.ProofTypes {
			if !slices.Contains(proofTypes, pt) {
				k.add(fmt.Sprintf("%s.proof_types[%d]", p, i), "must be one of %s", strings.Join(proofTypes, ", "))
			}
			if pts[pt] {
				k.add(fmt.Sprintf("%s.proof_types[%d]", p, i), "duplicate")
			}
			pts[pt] = true
		}
		if ka := cc.KeyAttestationsRequired; ka != nil {
			k.levels(p+".key_attestations_required.key_storage", ka.KeyStorage)
			k.levels(p+".key_attestations_required.user_authentication", ka.UserAuthentication)
		}
		if (cc.KeyAttestationsRequired != nil || pts["attestation"]) && len(c.KeyAttestationIssuers) == 0 {
			k.add(p, "key attestations are required or the attestation proof type is enabled, but key_attestation_issuers is empty")
		}
		dt := doctypes[cc.Doctype]
		for _, ns := range sortedKeys(cc.Claims) {
			np := p + ".claims." + ns
			if ns == "" {
				k.add(p+".claims", "empty namespace")
				continue
			}
			if len(cc.Claims[ns]) == 0 {
				k.add(np, "list at least one element or remove the namespace")
			}
			if dt != nil && dt.Namespaces[ns] == nil {
				k.add(np, "namespace not in doctype %s", cc.Doctype)
				continue
			}
			els := map[string]bool{}
			for i, el := range cc.Claims[ns] {
				ep := fmt.Sprintf("%s[%d]", np, i)
				switch {
				case el == "":
					k.add(ep, "empty element identifier")
				case els[el]:
					k.add(ep, "duplicate element %s", el)
				case dt != nil && dt.Namespaces[ns][el] == nil:
					k.add(ep, "element %s not in doctype %s", el, cc.Doctype)
				}
				els[el] = true
			}
		}
	}
}

func (k *checker) levels(path string, vs []string) {
	for i, v := range vs {
		if slices.Contains(attackLevels, v) {
			continue
		}
		if u, err := url.Parse(v); err == nil && u.Scheme == "https" && u.Host != "" {
			continue
		}
		k.add(fmt.Sprintf("%s[%d]", path, i), "must be one of %s or an https URL (OpenID4VCI D.2)", strings.Join(attackLevels, ", "))
	}
}

func (c *Config) validateDoctypes(k *checker) {
	seen := map[string]bool{}
	for i, d := range c.Doctypes {
		p := fmt.Sprintf("doctypes[%d]", i)
		if d.Doctype == "" {
			k.add(p+".doctype", "required")
		} else if seen[d.Doctype] {
			k.add(p+".doctype", "duplicate doctype %s", d.Doctype)
		}
		seen[d.Doctype] = true
		if len(d.Namespaces) == 0 {
			k.add(p+".namespaces", "at least one namespace is required")
		}
		for _, ns := range sortedKeys(d.Namespaces) {
			if len(d.Namespaces[ns]) == 0 {
				k.add(p+".namespaces."+ns, "at least one element is required")
			}
			for _, el := range sortedKeys(d.Namespaces[ns]) {
				ep := p + ".namespaces." + ns + "." + el
				e := d.Namespaces[ns][el]
				if e == nil {
					k.add(ep, "must be a mapping")
					continue
				}
				k.elementType(ep, e)
				seenL := map[string]bool{}
				for j, dd := range e.Display {
					dp := fmt.Sprintf("%s.display[%d]", ep, j)
					if strings.TrimSpace(dd.Name) == "" {
						k.add(dp+".name", "required")
					}
					k.locale(dp+".locale", dd.Locale, seenL)
				}
			}
		}
	}
}

// elementType checks the type of an element and of its items and fields;
// the mdoc catalogue checks the rest of the definition.
func (k *checker) elementType(path string, e *Element) {
	if !slices.Contains(elementTypes, e.Type) {
		k.add(path+".type", "must be one of %s", strings.Join(elementTypes, ", "))
	}
	if e.Items != nil {
		k.elementType(path+".items", e.Items)
	}
	for _, name := range sortedKeys(e.Fields) {
		if f := e.Fields[name]; f != nil {
			k.elementType(path+".fields."+name, f)
		} else {
			k.add(path+".fields."+name, "must be a mapping")
		}
	}
}

func (k *checker) durationIn(path string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		k.add(path, "must be between %s and %s", lo, hi)
	}
}

func (c *Config) validateOAuth(k *checker) {
	o := c.OAuth
	// RFC 9126 §2.2: expires_in; the conformance suite fails < 5 s.
	k.durationIn("oauth.par_lifetime", o.PARLifetime, 5*time.Second, 600*time.Second)
	// FAPI 2.0 SP §5.3.2.1: authorization codes live at most 60 s.
	k.durationIn("oauth.code_lifetime", o.CodeLifetime, time.Second, 60*time.Second)
	k.durationIn("oauth.access_token_lifetime", o.AccessTokenLifetime, 30*time.Second, time.Hour)
	k.durationIn("oauth.dpop.iat_window", o.DPoP.IATWindow, time.Second, 5*time.Minute)
	k.durationIn("oauth.pre_authorized.code_lifetime", o.PreAuthorized.CodeLifetime, 30*time.Second, 24*time.Hour)
	if n := o.PreAuthorized.TxCodeMaxAttempts; n < 1 || n > 20 {
		k.add("oauth.pre_authorized.tx_code_max_attempts", "must be in 1..20")
	}
}

func (c *Config) validateTrust(k *checker) {
	names := map[string]bool{}
	for i, w := range c.WalletProviders {
		p := fmt.Sprintf("wallet_providers[%d]", i)
		if w.Name == "" {
			k.add(p+".name", "required")
		} else if names[w.Name] {
			k.add(p+".name", "duplicate name %s", w.Name)
		}
		names[w.Name] = true
		k.anchors(p, w.Roots, w.JWKS)
		for j, r := range w.RedirectURIs {
			rp := fmt.Sprintf("%s.redirect_uris[%d]", p, j)
			u, err := url.Parse(r)
			switch {
			case err != nil || u.Scheme == "" || strings.Contains(r, "*"):
				k.add(rp, "must be an absolute URI without wildcards")
			case u.Fragment != "" || strings.Contains(r, "#"):
				k.add(rp, "must not contain a fragment (RFC 6749 §3.1.2)")
			}
		}
	}
	if len(c.WalletProviders) == 0 && !c.Development {
		k.add("wallet_providers", "at least one trusted wallet provider is required outside development")
	}
	names = map[string]bool{}
	for i, a := range c.KeyAttestationIssuers {
		p := fmt.Sprintf("key_attestation_issuers[%d]", i)
		if a.Name == "" {
			k.add(p+".name", "required")
		} else if names[a.Name] {
			k.add(p+".name", "duplicate name %s", a.Name)
		}
		names[a.Name] = true
		k.anchors(p, a.Roots, a.JWKS)
	}
}

// anchors checks that trust anchors exist and parse: PEM files holding at
// least one X.509 certificate, and a JWKS file of public keys.
func (k *checker) anchors(path string, roots []string, jwks string) {
	if len(roots) == 0 && jwks == "" {
		k.add(path, "roots or jwks is required")
	}
	for i, r := range roots {
		rp := fmt.Sprintf("%s.roots[%d]", path, i)
		if _, err := ReadCertificates(r); err != nil {
			k.add(rp, "%v", err)
		}
	}
	if jwks != "" {
		if _, err := ReadJWKS(jwks); err != nil {
			k.add(path+".jwks", "%v", err)
		}
	}
}

// maxTrustFile bounds trust-anchor files read at validation.
const maxTrustFile = 1 << 20

// readTrustFile reads a regular file of at most maxTrustFile bytes (never a
// device or a FIFO, which could block or never end).
func readTrustFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > maxTrustFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxTrustFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	return data, nil
}

// ReadCertificates reads every CERTIFICATE block of a PEM file.
func ReadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := readTrustFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: bad certificate: %v", path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", path)
	}
	return certs, nil
}

// ReadJWKS reads a JWK Set file of public keys.
func ReadJWKS(path string) (*jose.JSONWebKeySet, error) {
	data, err := readTrustFile(path)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%s: not a JWK Set: %v", path, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("%s: JWK Set has no keys", path)
	}
	for i, key := range set.Keys {
		if !key.IsPublic() {
			return nil, fmt.Errorf("%s: key %d is not a public key", path, i)
		}
	}
	return &set, nil
}

func (k *checker) optionalFile(path, file string) {
	if file == "" {
		return
	}
	st, err := os.Stat(file)
	if err != nil {
		k.add(path, "cannot read %s", file)
	} else if !st.Mode().IsRegular() {
		k.add(path, "%s is not a regular file", file)
	}
}

func (c *Config) validateEncryption(k *checker) {
	e := c.Encryption
	if !e.Enabled {
		if e.RequestRequired || e.ResponseRequired {
			k.add("encryption.enabled", "must be true when request_required or response_required is set")
		}
		return
	}
	// OpenID4VCI §8.2: a request asking for an encrypted response must itself
	// be encrypted, so requiring response encryption requires request
	// encryption.
	if e.ResponseRequired && !e.RequestRequired {
		k.add("encryption.request_required", "must be true when response_required is true (OpenID4VCI §8.2)")
	}
	if e.KeyFile == "" && !c.Development {
		k.add("encryption.key_file", "required outside development")
	}
	k.optionalFile("encryption.key_file", e.KeyFile)
	k.oneOf("encryption.alg_values", e.AlgValues, encAlgValues)
	k.oneOf("encryption.enc_values", e.EncValues, encEncValues)
	k.oneOf("encryption.zip_values", e.ZipValues, encZipValues)
}

func (k *checker) oneOf(path string, vs, allowed []string) {
	for i, v := range vs {
		if !slices.Contains(allowed, v) {
			k.add(fmt.Sprintf("%s[%d]", path, i), "must be one of %s", strings.Join(allowed, ", "))
		}
	}
}

func (c *Config) validateAdmin(k *checker) {
	seen := map[string]bool{}
	for i, t := range c.Admin.Tokens {
		p := fmt.Sprintf("admin.tokens[%d]", i)
		if len(t) < minAdminToken {
			k.add(p, "must be at least %d characters", minAdminToken)
		}
		if seen[t] {
			k.add(p, "duplicate token")
		}
		seen[t] = true
	}
	k.hostPort("admin.listen", c.Admin.Listen, false)
	if c.Admin.Pprof && !c.Development {
		if len(c.Admin.Tokens) == 0 {
			k.add("admin.pprof", "needs admin.tokens: profiles are served behind them")
		}
		if c.Admin.Listen == "" {
			k.add("admin.pprof", "needs admin.listen: profiles are not served on the public listener")
		}
	}
	if c.Admin.Listen != "" && c.Admin.Listen == c.Listen {
		k.add("admin.listen", "must differ from listen")
	}
}

func (c *Config) validateHTTP(k *checker) {
	h := c.HTTP
	k.durationIn("http.read_header_timeout", h.ReadHeaderTimeout, 100*time.Millisecond, time.Minute)
	k.durationIn("http.read_timeout", h.ReadTimeout, 100*time.Millisecond, 10*time.Minute)
	k.durationIn("http.write_timeout", h.WriteTimeout, 100*time.Millisecond, 10*time.Minute)
	k.durationIn("http.idle_timeout", h.IdleTimeout, time.Second, time.Hour)
	k.durationIn("http.handler_timeout", h.HandlerTimeout, 100*time.Millisecond, 10*time.Minute)
	k.durationIn("http.shutdown_grace", h.ShutdownGrace, 0, 5*time.Minute)
	k.durationIn("http.shutdown_delay", h.ShutdownDelay, 0, time.Minute)
	if h.MaxBodyBytes < 1<<10 || h.MaxBodyBytes > 16<<20 {
		k.add("http.max_body_bytes", "must be between 1024 and 16777216")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		k.add("tls", "cert_file and key_file must be set together")
	}
	k.optionalFile("tls.cert_file", c.TLS.CertFile)
	k.optionalFile("tls.key_file", c.TLS.KeyFile)
	k.durationIn("tls.reload_interval", c.TLS.ReloadInterval, 100*time.Millisecond, time.Hour)
}

func (c *Config) validateRateLimits(k *checker) {
	r := c.RateLimits
	k.durationIn("rate_limits.window", r.Window, time.Second, time.Hour)
	if r.ClientAddress < 1 {
		k.add("rate_limits.client_address", "must be positive")
	}
	if r.Wallet < 1 {
		k.add("rate_limits.wallet", "must be positive")
	}
	for i, p := range r.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			k.add(fmt.Sprintf("rate_limits.trusted_proxies[%d]", i), "must be a CIDR prefix such as 10.0.0.0/8")
		}
	}
}

func (c *Config) validateAudit(k *checker) {
	if c.Audit.Key != "" {
		if c.Audit.File == "" {
			k.add("audit.key", "set without audit.file")
		}
		if b, err := DecodeKey(c.Audit.Key); err != nil {
			k.add("audit.key", "not base64")
		} else if len(b) < minNonceKeyLen {
			k.add("audit.key", "must decode to at least %d bytes", minNonceKeyLen)
		}
	}
	if f := c.Audit.File; f != "" {
		if st, err := os.Stat(f); err == nil && !st.Mode().IsRegular() {
			k.add("audit.file", "exists and is not a regular file")
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
