package credential

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/mdoc"
)

// mdocPKI is an IACA root and a Document Signer (ISO 18013-5 Annex B shape)
// made for one test.
type mdocPKI struct {
	iaca, ds *x509.Certificate
	dsKey    *ecdsa.PrivateKey
}

func newMdocPKI(t *testing.T, now time.Time) *mdocPKI {
	t.Helper()
	iacaKey, dsKey := newKey(t), newKey(t)
	iacaTmpl := &x509.Certificate{SerialNumber: big.NewInt(1001),
		Subject:   pkix.Name{CommonName: "Test IACA", Country: []string{"US"}, Province: []string{"US-NY"}},
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true}
	der, err := x509.CreateCertificate(rand.Reader, iacaTmpl, iacaTmpl, &iacaKey.PublicKey, iacaKey)
	if err != nil {
		t.Fatal(err)
	}
	iaca, _ := x509.ParseCertificate(der)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{mdoc.OIDDocumentSignerEKU})
	dsTmpl := &x509.Certificate{SerialNumber: big.NewInt(0x2002),
		Subject:   pkix.Name{CommonName: "Test DS", Country: []string{"US"}, Province: []string{"US-NY"}},
		NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	der, err = x509.CreateCertificate(rand.Reader, dsTmpl, iaca, &dsKey.PublicKey, iacaKey)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := x509.ParseCertificate(der)
	return &mdocPKI{iaca: iaca, ds: ds, dsKey: dsKey}
}

var mdlDataset = map[string]map[string]map[string]map[string]any{"alice": {docMDL: {"org.iso.18013.5.1": {
	"family_name": "Doe", "given_name": "Alice", "birth_date": "1990-04-01", "issue_date": "2026-01-10",
	"expiry_date": "2031-01-09", "issuing_country": "US", "issuing_authority": "NY DMV",
	"document_number": "D1234567", "portrait": "/9j/4AAQSkZJRgABAQD/2Q==", "un_distinguishing_sign": "USA",
	"driving_privileges": []any{map[string]any{"vehicle_category_code": "B", "issue_date": "2010-05-01", "expiry_date": "2031-01-09"}},
}}}}

// newMdocHarness is a harness whose Signer is the real mdoc issuer.
func newMdocHarness(t *testing.T, opts ...harnessOpt) (*harness, *mdocPKI) {
	var pki *mdocPKI
	h := newHarness(t, append([]harnessOpt{func(o *Options) {
		pki = newMdocPKI(t, o.Now())
		o.Signer = MdocSigner{Issuer: &mdoc.Issuer{Signer: pki.dsKey, Chain: []*x509.Certificate{pki.ds, pki.iaca}, Now: o.Now}}
		o.Claims = NewDatasetClaims(mdlDataset, map[string]string{"mdl": docMDL})
	}}, opts...)...)
	return h, pki
}

func (p *mdocPKI) verify(t *testing.T, h *harness, cred string, key *ecdsa.PrivateKey) *mdoc.Verified {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(cred)
	if err != nil {
		t.Fatal(err)
	}
	v, err := mdoc.Verify(raw, mdoc.VerifyOptions{Roots: []*x509.Certificate{p.iaca}, Now: h.clock.Now, DocType: docMDL,
		DeviceKey: &jose.JSONWebKey{Key: &key.PublicKey}, Strict: true})
	if err != nil {
		t.Fatalf("mdoc.Verify: %v", err)
	}
	return v
}

func TestMdocEndToEnd(t *testing.T) {
	h, pki := newMdocHarness(t)
	rec := h.credential(map[string]any{"credential_configuration_id": "mdl",
		"proofs": map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{})}}})
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var b credentialResponseBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || len(b.Credentials) != 1 {
		t.Fatalf("%s", rec.Body)
	}
	v := pki.verify(t, h, b.Credentials[0].Credential, h.holder)
	if v.Elements["org.iso.18013.5.1"]["family_name"] != "Doe" || v.DeviceKeyThumbprint != jktOf(t, &h.holder.PublicKey) {
		t.Fatalf("verified %+v", v)
	}
	r, err := h.svc.IssuedRecord(t.Context(), h.events.byType(EventCredentialIssued)[0].RecordIDs[0])
	if err != nil || r.DSSerial != "2002" || r.ValidUntil != v.ValidUntil.Unix() {
		t.Fatalf("record %+v %v (DS serial %s)", r, err, pki.ds.SerialNumber.Text(16))
	}
}

func TestMdocBatchOfThree(t *testing.T) {
	h, pki := newMdocHarness(t)
	cn := h.cnonce()
	keys := []*ecdsa.PrivateKey{newKey(t), newKey(t), newKey(t)}
	var ps []string
	for _, k := range keys {
		ps = append(ps, h.proof(k, cn, proofOpts{}))
	}
	rec := h.credential(map[string]any{"credential_configuration_id": "mdl", "proofs": map[string]any{"jwt": ps}})
	var b credentialResponseBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || rec.Code != 200 || len(b.Credentials) != 3 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	seen := map[string]bool{}
	for i, c := range b.Credentials {
		v := pki.verify(t, h, c.Credential, keys[i])
		seen[v.DeviceKeyThumbprint] = true
		if b.Credentials[0].Credential == c.Credential && i > 0 {
			t.Fatal("identical credentials in a batch")
		}
	}
	if len(seen) != 3 {
		t.Fatal("device keys not distinct")
	}
}

func TestMdocEncryptedRoundTrip(t *testing.T) {
	h, pki := newMdocHarness(t, withEncryption(true, true))
	wk := newKey(t)
	body := h.encryptRequest(map[string]any{"credential_configuration_id": "mdl",
		"proofs":                         map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{})}},
		"credential_response_encryption": map[string]any{"jwk": walletEncJWK(t, wk, "ECDH-ES"), "enc": "A256GCM"}}, "req-enc-1", jose.A128GCM, false)
	rec := h.send(req{path: PathCredential, contentType: "application/jwt", body: body})
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/jwt" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	obj, err := jose.ParseEncryptedCompact(rec.Body.String(), []jose.KeyAlgorithm{jose.ECDH_ES}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := obj.Decrypt(wk)
	if err != nil {
		t.Fatal(err)
	}
	var b credentialResponseBody
	if err := json.Unmarshal(plain, &b); err != nil || len(b.Credentials) != 1 {
		t.Fatalf("%s", plain)
	}
	pki.verify(t, h, b.Credentials[0].Credential, h.holder)
}

// TestMdocSignerPerConfiguration: a configuration with its own mdoc issuer
// (validity) is signed by it.
func TestMdocSignerPerConfiguration(t *testing.T) {
	h, pki := newMdocHarness(t)
	sg := h.opts.Signer.(MdocSigner)
	short := *sg.Issuer
	short.Validity = 24 * time.Hour
	sg.ByConfiguration = map[string]*mdoc.Issuer{"mdl": &short}
	out, err := sg.Sign(t.Context(), "mdl", docMDL, mdlDataset["alice"][docMDL], []*jose.JSONWebKey{{Key: &h.holder.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	long, err := sg.Sign(t.Context(), "other", docMDL, mdlDataset["alice"][docMDL], []*jose.JSONWebKey{{Key: &h.holder.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	if !out[0].ValidUntil.Before(long[0].ValidUntil) {
		t.Fatalf("per-configuration validity not used: %v vs %v", out[0].ValidUntil, long[0].ValidUntil)
	}
	pki.verify(t, h, base64.RawURLEncoding.EncodeToString(out[0].Credential), h.holder)
	if _, err := (MdocSigner{}).Sign(t.Context(), "mdl", docMDL, nil, nil); err == nil {
		t.Fatal("signer without issuer signed")
	}
}

func TestMdocInvalidClaimsDenied(t *testing.T) {
	h, _ := newMdocHarness(t, func(o *Options) {})
	h.opts.Claims = NewDatasetClaims(map[string]map[string]map[string]map[string]any{"alice": {docMDL: {"org.iso.18013.5.1": {"family_name": "Doe"}}}}, map[string]string{"mdl": docMDL})
	var err error
	if h.svc, err = New(h.opts); err != nil {
		t.Fatal(err)
	}
	rec := h.credential(map[string]any{"credential_configuration_id": "mdl",
		"proofs": map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{})}}})
	wantError(t, rec, 400, "credential_request_denied")
	if !strings.Contains(rec.Body.String(), "incomplete or invalid") {
		t.Fatalf("denied for another reason: %s", rec.Body)
	}
}

// TestMdocFromYAMLDataset: a YAML dataset (unquoted dates, integers, nested
// lists) goes through the real mdoc catalogue.
func TestMdocFromYAMLDataset(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dataset.yaml")
	yml := `alice:
  org.iso.18013.5.1.mDL:
    org.iso.18013.5.1:
      family_name: Doe
      given_name: Alice
      birth_date: 1990-04-01
      issue_date: 2026-01-10
      expiry_date: 2031-01-09
      issuing_country: US
      issuing_authority: NY DMV
      document_number: "D1234567"
      portrait: /9j/4AAQSkZJRgABAQD/2Q==
      un_distinguishing_sign: USA
      age_in_years: 36
      age_over_18: true
      driving_privileges:
        - vehicle_category_code: B
          issue_date: 2010-05-01
          expiry_date: 2031-01-09
`
	if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	ds, err := LoadDatasetClaims(p, map[string]string{"mdl": docMDL})
	if err != nil {
		t.Fatal(err)
	}
	h, pki := newMdocHarness(t, func(o *Options) { o.Claims = ds })
	rec := h.credential(map[string]any{"credential_configuration_id": "mdl",
		"proofs": map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{})}}})
	var b credentialResponseBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || rec.Code != 200 || len(b.Credentials) != 1 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	v := pki.verify(t, h, b.Credentials[0].Credential, h.holder)
	els := v.Elements["org.iso.18013.5.1"]
	if fmt.Sprint(els["birth_date"]) != "1990-04-01" || fmt.Sprint(els["age_in_years"]) != "36" || els["given_name"] != "Alice" {
		t.Fatalf("elements %v", els)
	}
}
