package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// File names inside a PKI directory.
const (
	FileIACACert   = "iaca.pem"
	FileIACAKey    = "iaca.key"
	FileDSCert     = "ds.pem"
	FileDSKey      = "ds.key"
	FileMetaCACert = "metadata-ca.pem"
	FileMetaCAKey  = "metadata-ca.key"
	FileMetaCert   = "metadata.pem"
	FileMetaKey    = "metadata.key"
)

// Validity limits (mdoc.md §2.1, §2.2).
const (
	MaxIACAValidity     = 20 * 365 * 24 * time.Hour
	MaxDSValidity       = 457 * 24 * time.Hour
	DefaultIACAValidity = 5 * 365 * 24 * time.Hour
	DefaultDSValidity   = 365 * 24 * time.Hour
	DefaultMetaValidity = 365 * 24 * time.Hour
	// DefaultCRLPath is appended to IssuerURL when InitOptions.CRLURL is empty;
	// the web layer should serve Bundle.CRL there.
	DefaultCRLPath = "/pki/iaca.crl"
)

// OIDs used in the profiles.
var (
	OIDDocumentSignerEKU = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 2}
	oidExtKeyUsage       = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidIssuerAltName     = asn1.ObjectIdentifier{2, 5, 29, 18}
)

// InitOptions configures Init.
type InitOptions struct {
	// Country is the ISO 3166-1 alpha-2 code put in C of every certificate; it
	// must equal the issuing_country element of issued mdocs.
	Country string
	// State, when set, is the ISO 3166-2 code (e.g. "US-NY") put in ST of the
	// IACA and the DS; it must equal issuing_jurisdiction (mdoc.md §2.3).
	State        string
	Organization string
	CommonName   string // base name; default Organization, else "mdoc issuer"
	// IssuerURL is the credential issuer's https URL: the issuerAltName URI of
	// IACA and DS, the SAN of the metadata signer, and the base of the CRL URL.
	IssuerURL string
	CRLURL    string // default IssuerURL + DefaultCRLPath
	Email     string // optional rfc822Name added to issuerAltName
	Now       func() time.Time

	IACAValidity time.Duration // default 5 years, at most 20 years
	DSValidity   time.Duration // default 365 days, at most 457 days
	MetaValidity time.Duration // default 365 days
}

// Bundle is the loaded PKI. Key references use the "file:" scheme of OpenSigner.
type Bundle struct {
	Dir            string
	IACA           *x509.Certificate
	DS             *x509.Certificate
	MetaCA         *x509.Certificate // self-signed root of the metadata signer
	Meta           *x509.Certificate
	DSKey          crypto.Signer
	MetaKey        crypto.Signer
	IACAKeyRef     string
	DSKeyRef       string
	MetaCAKeyRef   string
	MetaKeyRef     string
	IACAPEM, DSPEM []byte
}

// DSChain is the chain for mdoc.Issuer.Chain: the DS certificate only (the IACA
// is the verifier's trust anchor and is not sent, mdoc.md §1.7).
func (b *Bundle) DSChain() []*x509.Certificate { return []*x509.Certificate{b.DS} }

// MetaX5C is the x5c of signed metadata: the metadata signer certificate,
// without the root (RFC 7515 §4.1.6 allows omitting the trust anchor).
func (b *Bundle) MetaX5C() [][]byte { return [][]byte{b.Meta.Raw} }

var (
	alpha2RE    = regexp.MustCompile(`^[A-Z]{2}$`)
	iso3166_2RE = regexp.MustCompile(`^[A-Z]{2}-[A-Z0-9]{1,3}$`)
)

func (o *InitOptions) normalise() error {
	if !alpha2RE.MatchString(o.Country) {
		return errors.New("pki: Country must be an upper-case ISO 3166-1 alpha-2 code")
	}
	if o.State != "" && (!iso3166_2RE.MatchString(o.State) || !strings.HasPrefix(o.State, o.Country+"-")) {
		return errors.New("pki: State must be an ISO 3166-2 code starting with Country and '-'")
	}
	u, err := url.Parse(o.IssuerURL)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return errors.New("pki: IssuerURL must be an absolute https URL")
	}
	if o.CRLURL == "" {
		o.CRLURL = strings.TrimSuffix(o.IssuerURL, "/") + DefaultCRLPath
	}
	if c, err := url.Parse(o.CRLURL); err != nil || c.Scheme == "" || c.Host == "" {
		return errors.New("pki: CRLURL must be an absolute URL")
	}
	if o.CommonName == "" {
		o.CommonName = o.Organization
	}
	if o.CommonName == "" {
		o.CommonName = "mdoc issuer"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IACAValidity == 0 {
		o.IACAValidity = DefaultIACAValidity
	}
	if o.DSValidity == 0 {
		o.DSValidity = DefaultDSValidity
	}
	if o.MetaValidity == 0 {
		o.MetaValidity = DefaultMetaValidity
	}
	if o.IACAValidity < 0 || o.IACAValidity > MaxIACAValidity {
		return errors.New("pki: IACA validity must be at most 20 years")
	}
	if o.DSValidity < 0 || o.DSValidity > MaxDSValidity {
		return errors.New("pki: DS validity must be at most 457 days")
	}
	if o.MetaValidity < 0 {
		return errors.New("pki: negative metadata signer validity")
	}
	return nil
}

// Init creates the PKI in dir, only what is absent: an existing IACA, DS,
// metadata CA or metadata signer (certificate and key) is reused after checking
// that the key matches and the chain holds; a missing DS is issued by the
// existing IACA. Keys are written as PKCS#8 PEM with mode 0600, certificates
// as PEM; files are never overwritten.
//
// Validity: every notBefore is the start of the previous UTC day, so an MSO
// whose `signed` is rounded down to the day lies inside the DS validity.
func Init(dir string, o InitOptions) (*Bundle, error) {
	if err := o.normalise(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	now := o.Now().UTC()
	start := now.Truncate(24 * time.Hour).Add(-24 * time.Hour)

	iaca, iacaKey, err := ensure(dir, FileIACACert, FileIACAKey, nil, func(key *ecdsa.PrivateKey) (*x509.Certificate, error) {
		return createIACA(&o, start, key)
	})
	if err != nil {
		return nil, err
	}
	if err := checkNameMatches(iaca, &o); err != nil {
		return nil, err
	}
	if _, _, err := ensure(dir, FileDSCert, FileDSKey, iaca, func(key *ecdsa.PrivateKey) (*x509.Certificate, error) {
		return createDS(&o, start, iaca, iacaKey, key)
	}); err != nil {
		return nil, err
	}
	metaCA, metaCAKey, err := ensure(dir, FileMetaCACert, FileMetaCAKey, nil, func(key *ecdsa.PrivateKey) (*x509.Certificate, error) {
		return createMetaCA(&o, start, key)
	})
	if err != nil {
		return nil, err
	}
	if _, _, err := ensure(dir, FileMetaCert, FileMetaKey, metaCA, func(key *ecdsa.PrivateKey) (*x509.Certificate, error) {
		return createMeta(&o, start, metaCA, metaCAKey, key)
	}); err != nil {
		return nil, err
	}
	return Load(dir)
}

// checkNameMatches refuses to reuse an IACA whose C/ST differ from the options:
// DS and IACA must agree (mdoc.md §2.2).
func checkNameMatches(iaca *x509.Certificate, o *InitOptions) error {
	if got := first(iaca.Subject.Country); got != o.Country {
		return fmt.Errorf("pki: existing IACA has C=%s but Country is %s", got, o.Country)
	}
	if got := first(iaca.Subject.Province); got != o.State {
		return fmt.Errorf("pki: existing IACA has ST=%q but State is %q", got, o.State)
	}
	return nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// ensure loads cert+key if both exist, creates both (key first) if neither
// exists, and fails on a half-present pair. parent, when set, must have signed
// an existing certificate.
func ensure(dir, certFile, keyFile string, parent *x509.Certificate, create func(*ecdsa.PrivateKey) (*x509.Certificate, error)) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	certExists, err := exists(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyExists, err := exists(keyPath)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case certExists && keyExists:
		cert, err := readCert(certPath)
		if err != nil {
			return nil, nil, err
		}
		s, err := OpenSigner("file:" + keyPath)
		if err != nil {
			return nil, nil, err
		}
		key, ok := s.(*ecdsa.PrivateKey)
		if !ok || !key.PublicKey.Equal(cert.PublicKey) {
			return nil, nil, fmt.Errorf("pki: %s does not match %s", keyFile, certFile)
		}
		if parent != nil {
			if err := cert.CheckSignatureFrom(parent); err != nil {
				return nil, nil, fmt.Errorf("pki: %s is not issued by its CA: %w", certFile, err)
			}
		}
		return cert, key, nil
	case certExists != keyExists:
		return nil, nil, fmt.Errorf("pki: %s and %s must both exist or both be absent", certFile, keyFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	cert, err := create(key)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeNew(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("pki: %w", err)
}

// writeNew writes data to path without ever replacing an existing file: the
// bytes go to a temporary file first, which is then hard-linked into place.
func writeNew(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("pki: %s must hold exactly one PEM CERTIFICATE", filepath.Base(path))
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", filepath.Base(path), err)
	}
	return c, nil
}

// Load reads a PKI directory written by Init and checks it: each key matches
// its certificate, the DS is issued by the IACA and carries the DS EKU, the
// metadata signer is issued by the metadata CA. The IACA and metadata CA keys
// are not opened (they may be kept offline); their references are set only if
// the files exist.
func Load(dir string) (*Bundle, error) {
	b := &Bundle{Dir: dir}
	var err error
	if b.IACA, err = readCert(filepath.Join(dir, FileIACACert)); err != nil {
		return nil, err
	}
	if b.DS, err = readCert(filepath.Join(dir, FileDSCert)); err != nil {
		return nil, err
	}
	if b.MetaCA, err = readCert(filepath.Join(dir, FileMetaCACert)); err != nil {
		return nil, err
	}
	if b.Meta, err = readCert(filepath.Join(dir, FileMetaCert)); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	ref := func(f string) string { return "file:" + filepath.Join(abs, f) }
	b.DSKeyRef, b.MetaKeyRef = ref(FileDSKey), ref(FileMetaKey)
	if b.DSKey, err = OpenSigner(b.DSKeyRef); err != nil {
		return nil, err
	}
	if b.MetaKey, err = OpenSigner(b.MetaKeyRef); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		name string
		key  crypto.Signer
		cert *x509.Certificate
	}{{FileDSKey, b.DSKey, b.DS}, {FileMetaKey, b.MetaKey, b.Meta}} {
		pub, ok := p.key.Public().(*ecdsa.PublicKey)
		if !ok || !pub.Equal(p.cert.PublicKey) {
			return nil, fmt.Errorf("pki: %s does not match its certificate", p.name)
		}
	}
	if err := b.DS.CheckSignatureFrom(b.IACA); err != nil {
		return nil, fmt.Errorf("pki: %s is not issued by %s: %w", FileDSCert, FileIACACert, err)
	}
	if !hasDSEKU(b.DS) {
		return nil, fmt.Errorf("pki: %s lacks the mdoc DS extended key usage", FileDSCert)
	}
	if err := b.Meta.CheckSignatureFrom(b.MetaCA); err != nil {
		return nil, fmt.Errorf("pki: %s is not issued by %s: %w", FileMetaCert, FileMetaCACert, err)
	}
	if ok, _ := exists(filepath.Join(abs, FileIACAKey)); ok {
		b.IACAKeyRef = ref(FileIACAKey)
	}
	if ok, _ := exists(filepath.Join(abs, FileMetaCAKey)); ok {
		b.MetaCAKeyRef = ref(FileMetaCAKey)
	}
	b.IACAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.IACA.Raw})
	b.DSPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.DS.Raw})
	return b, nil
}

func hasDSEKU(c *x509.Certificate) bool {
	for _, o := range c.UnknownExtKeyUsage {
		if o.Equal(OIDDocumentSignerEKU) {
			return true
		}
	}
	return false
}

// CRL returns a DER X.509 CRL (RFC 5280 §5) signed by the IACA key listing
// the given revoked DS certificates (none: an empty CRL), valid from now for
// nextUpdate. It needs the IACA key file.
func (b *Bundle) CRL(now time.Time, nextUpdate time.Duration, revoked []x509.RevocationListEntry) ([]byte, error) {
	if b.IACAKeyRef == "" {
		return nil, errors.New("pki: IACA key not available")
	}
	key, err := OpenSigner(b.IACAKeyRef)
	if err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Second)
	return x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(now.Unix()),
		ThisUpdate:                now,
		NextUpdate:                now.Add(nextUpdate),
		RevokedCertificateEntries: revoked,
		SignatureAlgorithm:        x509.ECDSAWithSHA256,
	}, b.IACA, key)
}

// serialNumber is a positive 127-bit CSPRNG value (Annex B: non-sequential,
// >= 63 bits of randomness, at most 20 octets).
func serialNumber() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	b[0] = b[0]&0x7f | 0x40
	return new(big.Int).SetBytes(b), nil
}

// subjectKeyID is RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey
// BIT STRING value (for EC: the uncompressed point). Go would otherwise use a
// truncated SHA-256 (mdoc.md §2.4).
func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	ek, err := pub.ECDH()
	if err != nil {
		return nil, err
	}
	s := sha1.Sum(ek.Bytes())
	return s[:], nil
}

// issuerAltName encodes GeneralNames with a URI [6] and optionally an
// rfc822Name [1] (RFC 5280 §4.2.1.7).
func issuerAltName(uri, email string) (pkix.Extension, error) {
	names := []asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(uri)}}
	if email != "" {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte(email)})
	}
	v, err := asn1.Marshal(names)
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: oidIssuerAltName, Value: v}, nil
}

func name(o *InitOptions, cn string, withState bool) pkix.Name {
	n := pkix.Name{Country: []string{o.Country}, CommonName: cn}
	if withState && o.State != "" {
		n.Province = []string{o.State}
	}
	if o.Organization != "" {
		n.Organization = []string{o.Organization}
	}
	return n
}

func sign(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, parentKey crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return x509.ParseCertificate(der)
}

func baseTemplate(subject pkix.Name, notBefore time.Time, validity time.Duration, pub *ecdsa.PublicKey) (*x509.Certificate, error) {
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:       serial,
		Subject:            subject,
		NotBefore:          notBefore,
		NotAfter:           notBefore.Add(validity),
		SubjectKeyId:       skid,
		SignatureAlgorithm: x509.ECDSAWithSHA256,
	}, nil
}

// createIACA follows ISO 18013-5 Table B.1 (mdoc.md §2.1).
func createIACA(o *InitOptions, start time.Time, key *ecdsa.PrivateKey) (*x509.Certificate, error) {
	t, err := baseTemplate(name(o, o.CommonName+" IACA", true), start, o.IACAValidity, &key.PublicKey)
	if err != nil {
		return nil, err
	}
	ian, err := issuerAltName(o.IssuerURL, o.Email)
	if err != nil {
		return nil, err
	}
	t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	t.BasicConstraintsValid, t.IsCA, t.MaxPathLen, t.MaxPathLenZero = true, true, 0, true
	t.CRLDistributionPoints = []string{o.CRLURL}
	t.ExtraExtensions = []pkix.Extension{ian}
	t.AuthorityKeyId = t.SubjectKeyId
	return sign(t, t, &key.PublicKey, key)
}

// createDS follows ISO 18013-5 Table B.3 (mdoc.md §2.2): KU digitalSignature
// (critical), EKU 1.0.18013.5.1.2 (critical, added by hand because Go never
// marks EKU critical), SKI SHA-1, AKI = IACA SKI, IAN, CRL DP, C/ST = IACA's.
func createDS(o *InitOptions, start time.Time, iaca *x509.Certificate, iacaKey crypto.Signer, key *ecdsa.PrivateKey) (*x509.Certificate, error) {
	t, err := baseTemplate(name(o, o.CommonName+" Document Signer", true), start, o.DSValidity, &key.PublicKey)
	if err != nil {
		return nil, err
	}
	if t.NotAfter.After(iaca.NotAfter) {
		return nil, errors.New("pki: the IACA expires before the new document signer would; renew the IACA")
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{OIDDocumentSignerEKU})
	if err != nil {
		return nil, err
	}
	ian, err := issuerAltName(o.IssuerURL, o.Email)
	if err != nil {
		return nil, err
	}
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.CRLDistributionPoints = []string{o.CRLURL}
	t.ExtraExtensions = []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}, ian}
	return sign(t, iaca, &key.PublicKey, iacaKey)
}

// createMetaCA is a small self-signed CA for the metadata signer, kept apart
// from the IACA so the mdoc trust anchor signs only mdoc certificates.
func createMetaCA(o *InitOptions, start time.Time, key *ecdsa.PrivateKey) (*x509.Certificate, error) {
	t, err := baseTemplate(name(o, o.CommonName+" Metadata CA", false), start, o.IACAValidity, &key.PublicKey)
	if err != nil {
		return nil, err
	}
	t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	t.BasicConstraintsValid, t.IsCA, t.MaxPathLen, t.MaxPathLenZero = true, true, 0, true
	t.AuthorityKeyId = t.SubjectKeyId
	return sign(t, t, &key.PublicKey, key)
}

// createMeta issues the signed-metadata signer (OpenID4VCI 1.0 §12.2.3
// signed_metadata, key in x5c): digitalSignature only, SAN = issuer host and URL.
func createMeta(o *InitOptions, start time.Time, ca *x509.Certificate, caKey crypto.Signer, key *ecdsa.PrivateKey) (*x509.Certificate, error) {
	t, err := baseTemplate(name(o, o.CommonName+" Metadata Signer", false), start, o.MetaValidity, &key.PublicKey)
	if err != nil {
		return nil, err
	}
	if t.NotAfter.After(ca.NotAfter) {
		t.NotAfter = ca.NotAfter
	}
	u, _ := url.Parse(o.IssuerURL)
	t.KeyUsage = x509.KeyUsageDigitalSignature
	if ip := net.ParseIP(u.Hostname()); ip != nil {
		t.IPAddresses = []net.IP{ip}
	} else {
		t.DNSNames = []string{u.Hostname()}
	}
	t.URIs = []*url.URL{u}
	return sign(t, ca, &key.PublicKey, caKey)
}
