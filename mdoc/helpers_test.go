package mdoc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// testPKI is an IACA root and a Document Signer made for one test.
type testPKI struct {
	iaca, ds *x509.Certificate
	iacaKey  *ecdsa.PrivateKey
	dsKey    *ecdsa.PrivateKey
}

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func ski(pub any) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	var spki struct {
		Alg asn1.RawValue
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		panic(err)
	}
	s := sha1.Sum(spki.Key.Bytes)
	return s[:]
}

func newTestPKI(t testing.TB, country, state string, notBefore, notAfter time.Time) *testPKI {
	t.Helper()
	iacaKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dsKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	name := func(cn string) pkix.Name {
		n := pkix.Name{CommonName: cn, Country: []string{country}}
		if state != "" {
			n.Province = []string{state}
		}
		return n
	}
	iacaTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1001), Subject: name("Test IACA"),
		NotBefore: notBefore.AddDate(-1, 0, 0), NotAfter: notAfter.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: 0, MaxPathLenZero: true,
		SubjectKeyId: ski(&iacaKey.PublicKey),
	}
	iacaDER, err := x509.CreateCertificate(rand.Reader, iacaTmpl, iacaTmpl, &iacaKey.PublicKey, iacaKey)
	if err != nil {
		t.Fatal(err)
	}
	iaca, _ := x509.ParseCertificate(iacaDER)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{OIDDocumentSignerEKU})
	dsTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2002), Subject: name("Test DS"),
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		SubjectKeyId:    ski(&dsKey.PublicKey),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
	}
	dsDER, err := x509.CreateCertificate(rand.Reader, dsTmpl, iaca, &dsKey.PublicKey, iacaKey)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := x509.ParseCertificate(dsDER)
	return &testPKI{iaca: iaca, ds: ds, iacaKey: iacaKey, dsKey: dsKey}
}

func defaultTestPKI(t testing.TB) *testPKI {
	return newTestPKI(t, "US", "US-NY", testNow.AddDate(0, -2, 0), testNow.AddDate(1, 0, 0))
}

func (p *testPKI) issuer() *Issuer {
	return &Issuer{Signer: p.dsKey, Chain: []*x509.Certificate{p.ds, p.iaca}, Now: func() time.Time { return testNow }}
}

func (p *testPKI) verifyOpts() VerifyOptions {
	return VerifyOptions{Roots: []*x509.Certificate{p.iaca}, Now: func() time.Time { return testNow.Add(time.Hour) }, Strict: true}
}

func newDeviceKey(t testing.TB) (*ecdsa.PrivateKey, *jose.JSONWebKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k, &jose.JSONWebKey{Key: &k.PublicKey}
}

// tinyJPEG is a JPEG SOI/APP0 prefix; the catalogue checks only the signature.
var tinyJPEG = []byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01, 0x00, 0xff, 0xd9}

// mdlClaims returns JSON-shaped claims (as decoded by encoding/json) for an mDL
// with the 11 mandatory elements.
func mdlClaims() map[string]map[string]any {
	return map[string]map[string]any{NamespaceMDL: {
		"family_name":            "Doe",
		"given_name":             "Jane",
		"birth_date":             "1990-04-01",
		"issue_date":             "2026-01-10",
		"expiry_date":            "2031-01-09",
		"issuing_country":        "US",
		"issuing_authority":      "NY DMV",
		"document_number":        "D1234567",
		"portrait":               "/9j/4AAQSkZJRgABAQD/2Q==",
		"un_distinguishing_sign": "USA",
		"driving_privileges": []any{
			map[string]any{"vehicle_category_code": "B", "issue_date": "2010-05-01", "expiry_date": "2031-01-09"},
			map[string]any{"vehicle_category_code": "A", "codes": []any{map[string]any{"code": "78"}}},
		},
	}}
}

func readHex(t testing.TB, path string) []byte {
	t.Helper()
	h, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
