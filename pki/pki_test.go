package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func testOptions() InitOptions {
	return InitOptions{
		Country: "US", State: "US-NY", Organization: "Example DMV",
		IssuerURL: "https://issuer.example.com", Email: "pki@example.com",
		Now: func() time.Time { return testNow },
	}
}

func initTest(t *testing.T) (*Bundle, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	b, err := Init(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	return b, dir
}

func ext(c *x509.Certificate, oid asn1.ObjectIdentifier) (pkix.Extension, bool) {
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return e, true
		}
	}
	return pkix.Extension{}, false
}

var (
	oidKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidBasicConstr = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidSKI         = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidAKI         = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLDP       = asn1.ObjectIdentifier{2, 5, 29, 31}
	forbiddenExts  = []asn1.ObjectIdentifier{{2, 5, 29, 33}, {2, 5, 29, 30}, {2, 5, 29, 36}, {2, 5, 29, 54}, {2, 5, 29, 46}}
)

func sha1SKI(t *testing.T, c *x509.Certificate) []byte {
	t.Helper()
	var spki struct {
		Alg asn1.RawValue
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		t.Fatal(err)
	}
	s := sha1.Sum(spki.Key.Bytes)
	return s[:]
}

// ianNames decodes issuerAltName into (tag, value) pairs.
func ianNames(t *testing.T, c *x509.Certificate) map[int]string {
	t.Helper()
	e, ok := ext(c, oidIssuerAltName)
	if !ok {
		t.Fatalf("%s: no issuerAltName", c.Subject.CommonName)
	}
	if e.Critical {
		t.Errorf("issuerAltName must be non-critical")
	}
	var names []asn1.RawValue
	if rest, err := asn1.Unmarshal(e.Value, &names); err != nil || len(rest) > 0 {
		t.Fatalf("issuerAltName: %v", err)
	}
	out := map[int]string{}
	for _, n := range names {
		if n.Class != asn1.ClassContextSpecific {
			t.Fatalf("issuerAltName entry class %d", n.Class)
		}
		out[n.Tag] = string(n.Bytes)
	}
	return out
}

// checkCommon asserts the fields shared by the Annex B profiles (mdoc.md §2.1, §2.2, §2.4).
func checkCommon(t *testing.T, c *x509.Certificate) {
	t.Helper()
	if c.Version != 3 {
		t.Errorf("version %d", c.Version)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() < 64 || len(c.SerialNumber.Bytes()) > 20 {
		t.Errorf("serial %x: want positive, >= 64 bits, <= 20 octets", c.SerialNumber)
	}
	if c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("signature algorithm %v", c.SignatureAlgorithm)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key is not P-256")
	}
	if !bytes.Equal(c.SubjectKeyId, sha1SKI(t, c)) {
		t.Errorf("SKI is not SHA-1 method 1")
	}
	if e, _ := ext(c, oidSKI); e.Critical {
		t.Error("SKI must be non-critical")
	}
	if e, ok := ext(c, oidKeyUsage); !ok || !e.Critical {
		t.Error("keyUsage must be present and critical")
	}
	for _, f := range forbiddenExts {
		if _, ok := ext(c, f); ok {
			t.Errorf("forbidden extension %v", f)
		}
	}
	for _, e := range c.Extensions {
		known := slices.ContainsFunc([]asn1.ObjectIdentifier{oidKeyUsage, oidBasicConstr, oidExtKeyUsage}, e.Id.Equal)
		if e.Critical && !known {
			t.Errorf("unexpected critical extension %v", e.Id)
		}
	}
	if len(c.Subject.Country) != 1 || c.Subject.Country[0] != "US" || c.Subject.CommonName == "" {
		t.Errorf("subject %v", c.Subject)
	}
}

func TestIACAProfile(t *testing.T) {
	b, _ := initTest(t)
	c := b.IACA
	checkCommon(t, c)
	if !bytes.Equal(c.RawIssuer, c.RawSubject) || c.CheckSignatureFrom(c) != nil {
		t.Error("IACA must be self-signed")
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("IACA key usage %b, want keyCertSign+cRLSign only", c.KeyUsage)
	}
	if e, ok := ext(c, oidBasicConstr); !ok || !e.Critical || !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Error("IACA basicConstraints must be critical CA:TRUE pathLen 0")
	}
	if got := c.Subject.Province; len(got) != 1 || got[0] != "US-NY" {
		t.Errorf("IACA ST = %v", got)
	}
	if ian := ianNames(t, c); ian[6] != "https://issuer.example.com" || ian[1] != "pki@example.com" {
		t.Errorf("IACA issuerAltName = %v", ian)
	}
	if !slices.Equal(c.CRLDistributionPoints, []string{"https://issuer.example.com/pki/iaca.crl"}) {
		t.Errorf("CRL DP = %v", c.CRLDistributionPoints)
	}
	if e, _ := ext(c, oidCRLDP); e.Critical {
		t.Error("CRL DP must be non-critical")
	}
	if d := c.NotAfter.Sub(c.NotBefore); d > MaxIACAValidity || d < 3*365*24*time.Hour {
		t.Errorf("IACA validity %v", d)
	}
	if !c.NotBefore.Equal(time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("notBefore = %v, want start of previous UTC day", c.NotBefore)
	}
}

func TestDSProfile(t *testing.T) {
	b, _ := initTest(t)
	c := b.DS
	checkCommon(t, c)
	if err := c.CheckSignatureFrom(b.IACA); err != nil || !bytes.Equal(c.RawIssuer, b.IACA.RawSubject) {
		t.Fatalf("DS not issued by IACA: %v", err)
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("DS key usage %b, want digitalSignature only", c.KeyUsage)
	}
	e, ok := ext(c, oidExtKeyUsage)
	if !ok || !e.Critical {
		t.Fatal("DS EKU must be present and critical")
	}
	var ekus []asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(e.Value, &ekus); err != nil || len(ekus) != 1 || !ekus[0].Equal(OIDDocumentSignerEKU) {
		t.Errorf("DS EKU = %v, want exactly 1.0.18013.5.1.2", ekus)
	}
	if !bytes.Equal(c.AuthorityKeyId, b.IACA.SubjectKeyId) {
		t.Error("DS AKI must equal IACA SKI")
	}
	if e, ok := ext(c, oidAKI); !ok || e.Critical {
		t.Error("DS AKI must be present and non-critical")
	}
	if _, ok := ext(c, oidBasicConstr); ok || c.IsCA {
		t.Error("DS must not be a CA")
	}
	if ian := ianNames(t, c); ian[6] != "https://issuer.example.com" {
		t.Errorf("DS issuerAltName = %v", ian)
	}
	if !slices.Equal(c.CRLDistributionPoints, []string{"https://issuer.example.com/pki/iaca.crl"}) {
		t.Errorf("DS CRL DP = %v", c.CRLDistributionPoints)
	}
	if d := c.NotAfter.Sub(c.NotBefore); d > MaxDSValidity {
		t.Errorf("DS validity %v > 457 days", d)
	}
	if c.NotBefore.Before(b.IACA.NotBefore) || c.NotAfter.After(b.IACA.NotAfter) {
		t.Error("DS validity outside the IACA validity")
	}
	if !slices.Equal(c.Subject.Country, b.IACA.Subject.Country) || !slices.Equal(c.Subject.Province, b.IACA.Subject.Province) {
		t.Errorf("DS C/ST %v/%v differ from IACA", c.Subject.Country, c.Subject.Province)
	}
	// Go's own verifier accepts the chain when asked for any EKU.
	roots := x509.NewCertPool()
	roots.AddCert(b.IACA)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("x509 verify: %v", err)
	}
}

func TestMetadataSignerProfile(t *testing.T) {
	b, _ := initTest(t)
	if bytes.Equal(b.Meta.RawIssuer, b.Meta.RawSubject) {
		t.Fatal("metadata signer must not be self-signed")
	}
	if err := b.Meta.CheckSignatureFrom(b.MetaCA); err != nil {
		t.Fatal(err)
	}
	if b.Meta.IsCA || b.Meta.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Error("metadata signer must be an end-entity signing certificate")
	}
	if !slices.Equal(b.Meta.DNSNames, []string{"issuer.example.com"}) || len(b.Meta.URIs) != 1 {
		t.Errorf("SAN = %v %v", b.Meta.DNSNames, b.Meta.URIs)
	}
	x5c := b.MetaX5C()
	if len(x5c) != 1 || !bytes.Equal(x5c[0], b.Meta.Raw) {
		t.Error("x5c must hold the signer certificate without the root")
	}
	if !b.MetaCA.IsCA || bytes.Equal(b.MetaCA.Raw, b.IACA.Raw) {
		t.Error("metadata CA must be a separate CA")
	}
}

func TestInitIdempotentAndFiles(t *testing.T) {
	b1, dir := initTest(t)
	o := testOptions()
	o.Now = func() time.Time { return testNow.Add(48 * time.Hour) }
	b2, err := Init(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]*x509.Certificate{{b1.IACA, b2.IACA}, {b1.DS, b2.DS}, {b1.MetaCA, b2.MetaCA}, {b1.Meta, b2.Meta}} {
		if !bytes.Equal(p[0].Raw, p[1].Raw) {
			t.Errorf("%s re-created on second Init", p[0].Subject.CommonName)
		}
	}
	for _, f := range []string{FileIACAKey, FileDSKey, FileMetaCAKey, FileMetaKey} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
		data, _ := os.ReadFile(filepath.Join(dir, f))
		if blk, _ := pem.Decode(data); blk == nil || blk.Type != "PRIVATE KEY" {
			t.Errorf("%s is not PKCS#8 PEM", f)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 8 {
		t.Errorf("%d files in dir, want 8 (no temporary files left)", len(entries))
	}
	if !strings.HasPrefix(b1.DSKeyRef, "file:/") {
		t.Errorf("DSKeyRef = %s", b1.DSKeyRef)
	}
	// A missing DS is re-issued under the existing IACA.
	os.Remove(filepath.Join(dir, FileDSCert))
	os.Remove(filepath.Join(dir, FileDSKey))
	b3, err := Init(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(b3.DS.Raw, b1.DS.Raw) || !bytes.Equal(b3.IACA.Raw, b1.IACA.Raw) {
		t.Error("DS not re-issued under the same IACA")
	}
	if err := b3.DS.CheckSignatureFrom(b1.IACA); err != nil {
		t.Error(err)
	}
}

func TestInitRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(o *InitOptions)
	}{
		{"lower-case country", func(o *InitOptions) { o.Country = "us" }},
		{"state of another country", func(o *InitOptions) { o.State = "CA-ON" }},
		{"relative URL", func(o *InitOptions) { o.IssuerURL = "/issuer" }},
		{"DS too long", func(o *InitOptions) { o.DSValidity = 458 * 24 * time.Hour }},
		{"IACA too long", func(o *InitOptions) { o.IACAValidity = 21 * 365 * 24 * time.Hour }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			tc.mutate(&o)
			if _, err := Init(t.TempDir(), o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	t.Run("country changed on reuse", func(t *testing.T) {
		_, dir := initTest(t)
		o := testOptions()
		o.Country, o.State = "FR", ""
		if _, err := Init(dir, o); err == nil || !strings.Contains(err.Error(), "existing IACA") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("half-present pair", func(t *testing.T) {
		_, dir := initTest(t)
		os.Remove(filepath.Join(dir, FileDSKey))
		if _, err := Init(dir, testOptions()); err == nil {
			t.Fatal("accepted a certificate without its key")
		}
	})
	t.Run("swapped key", func(t *testing.T) {
		_, dir := initTest(t)
		data, _ := os.ReadFile(filepath.Join(dir, FileMetaKey))
		os.Remove(filepath.Join(dir, FileDSKey))
		if err := os.WriteFile(filepath.Join(dir, FileDSKey), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil {
			t.Fatal("Load accepted a DS key that does not match")
		}
		if _, err := Init(dir, testOptions()); err == nil {
			t.Fatal("Init accepted a DS key that does not match")
		}
	})
}

func TestOpenSigner(t *testing.T) {
	dir := t.TempDir()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	sec1, _ := x509.MarshalECPrivateKey(k)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return "file:" + p
	}
	for _, ref := range []string{
		write("p8.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})),
		write("sec1.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})),
	} {
		s, err := OpenSigner(ref)
		if err != nil {
			t.Fatal(err)
		}
		if !k.PublicKey.Equal(s.Public()) {
			t.Errorf("%s: wrong key", ref)
		}
	}
	bad := map[string]string{
		"scheme":     "pkcs11:token=x",
		"missing":    "file:" + filepath.Join(dir, "nope.pem"),
		"not pem":    write("raw.der", p8),
		"cert block": write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})),
		"two blocks": write("two.pem", append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})...)),
		"empty path": "file:",
	}
	for name, ref := range bad {
		if _, err := OpenSigner(ref); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCRL(t *testing.T) {
	b, _ := initTest(t)
	der, err := b.CRL(testNow, 7*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(b.IACA); err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 0 || !crl.NextUpdate.Equal(testNow.Add(7*24*time.Hour)) {
		t.Errorf("crl: %d entries, next %v", len(crl.RevokedCertificateEntries), crl.NextUpdate)
	}
}
