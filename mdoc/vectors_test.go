package mdoc

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// annexDIssuerSigned extracts documents[0].issuerSigned from the Annex D
// DeviceResponse, keeping its exact bytes.
func annexDIssuerSigned(t testing.TB) []byte {
	t.Helper()
	var dr struct {
		Version   string `cbor:"version"`
		Documents []struct {
			DocType      string          `cbor:"docType"`
			IssuerSigned cbor.RawMessage `cbor:"issuerSigned"`
		} `cbor:"documents"`
	}
	if err := decMode.Unmarshal(readHex(t, "testdata/annex_d_device_response.hex"), &dr); err != nil {
		t.Fatal(err)
	}
	if len(dr.Documents) != 1 || dr.Documents[0].DocType != DocTypeMDL {
		t.Fatalf("unexpected DeviceResponse shape")
	}
	return dr.Documents[0].IssuerSigned
}

func annexDIACA(t testing.TB) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(readHex(t, "testdata/annex_d_iaca.hex"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var annexDNow = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)

// TestAnnexDKnownAnswer verifies the ISO 18013-5 Annex D IssuerSigned with the
// Annex D IACA as trust anchor: chain, COSE signature, all six digests.
func TestAnnexDKnownAnswer(t *testing.T) {
	is := annexDIssuerSigned(t)
	v, err := Verify(is, VerifyOptions{
		Roots: []*x509.Certificate{annexDIACA(t)}, Now: func() time.Time { return annexDNow },
		DocType: DocTypeMDL, Strict: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	els := v.Elements[NamespaceMDL]
	if len(els) != 6 || els["family_name"] != "Doe" || els["document_number"] != "123456789" ||
		els["issue_date"] != FullDate("2019-10-20") || els["expiry_date"] != FullDate("2024-10-20") {
		t.Errorf("elements: %v", els)
	}
	if p, _ := els["portrait"].([]byte); len(p) != 1042 || !bytes.HasPrefix(p, []byte{0xff, 0xd8}) {
		t.Errorf("portrait: %d bytes", len(p))
	}
	// 13 digests in org.iso.18013.5.1 + 4 in org.iso.18013.5.1.US; 6 disclosed.
	if v.UndisclosedDigests != 11 {
		t.Errorf("UndisclosedDigests = %d, want 11", v.UndisclosedDigests)
	}
	// Static device key of Annex D (D.4.1.2).
	x := "96313d6c63e24e3372742bfdb1a33ba2c897dcd68ab8c753e4fbd48dca6b7f9a"
	coseKey, _, err := coseKeyFromJWK(v.DeviceKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(coseKey, mustHex(x)) {
		t.Error("device key x differs from Annex D static device key")
	}
	if !v.Signed.Equal(time.Date(2020, 10, 1, 13, 30, 2, 0, time.UTC)) {
		t.Errorf("signed = %v", v.Signed)
	}
	if v.DocumentSigner.Subject.CommonName != "utopia ds" || v.Chain[len(v.Chain)-1].Subject.CommonName != "utopia iaca" {
		t.Errorf("chain: %v", v.Chain)
	}
	// The 2021-10-01 expiry is enforced.
	_, err = Verify(is, VerifyOptions{Roots: []*x509.Certificate{annexDIACA(t)}, Now: func() time.Time { return time.Date(2021, 10, 2, 0, 0, 0, 0, time.UTC) }})
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("expired Annex D accepted: %v", err)
	}
}

// TestAnnexDTamperedDigest flips one byte of the family_name value.
func TestAnnexDTamperedDigest(t *testing.T) {
	is := bytes.Clone(annexDIssuerSigned(t))
	i := bytes.Index(is, []byte("cDoe"))
	is[i+1] = 'X'
	_, err := Verify(is, VerifyOptions{Roots: []*x509.Certificate{annexDIACA(t)}, Now: func() time.Time { return annexDNow }})
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Check != "digest" {
		t.Fatalf("err = %v, want digest failure", err)
	}
}

// TestHydrateKnownAnswer hydrates the ISO/IEC TS 23220-3 §8.1 sample pair
// (spruceid/isomdl) and checks that all six digests and the signature verify.
func TestHydrateKnownAnswer(t *testing.T) {
	dehydrated := readHex(t, "testdata/isomdl_issuer_signed_dehydrated.hex")
	data := readHex(t, "testdata/isomdl_namespaced_data.hex")
	is, err := Hydrate(dehydrated, data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(is, VerifyOptions{Roots: []*x509.Certificate{annexDIACA(t)}, Now: func() time.Time { return annexDNow }, Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(v.Elements[NamespaceMDL]); n != 6 {
		t.Fatalf("%d elements hydrated, want 6", n)
	}
	// The hydrated items are byte-identical to the Annex D ones.
	var a, b issuerSignedIn
	_ = decMode.Unmarshal(is, &a)
	_ = decMode.Unmarshal(annexDIssuerSigned(t), &b)
	for n := range a.NameSpaces[NamespaceMDL] {
		if !bytes.Equal(a.NameSpaces[NamespaceMDL][n], b.NameSpaces[NamespaceMDL][n]) {
			t.Errorf("item %d differs from Annex D", n)
		}
	}
}

func TestHydrateRejects(t *testing.T) {
	dehydrated := readHex(t, "testdata/isomdl_issuer_signed_dehydrated.hex")
	data := readHex(t, "testdata/isomdl_namespaced_data.hex")
	var nsd map[string]any
	if err := decMode.Unmarshal(data, &nsd); err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(els []any) []any) []byte {
		var m map[string]map[string][]any
		_ = decMode.Unmarshal(data, &m)
		m["namespaces"][NamespaceMDL] = f(m["namespaces"][NamespaceMDL])
		b, err := detEnc.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withID, _ := detEnc.Marshal(map[string]any{"dataIdentifier": "x", "namespaces": map[string]any{}})
	tests := []struct {
		name       string
		dehydrated []byte
		data       []byte
	}{
		{"missing element", dehydrated, mutate(func(e []any) []any { return e[1:] })},
		{"renamed element", dehydrated, mutate(func(e []any) []any {
			e[0].(map[any]any)["name"] = "other_name"
			return e
		})},
		{"dataIdentifier mismatch", dehydrated, withID},
		{"garbage", []byte{0xff}, data},
		{"not a map", []byte{0x80}, data},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Hydrate(tc.dehydrated, tc.data); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// A changed value hydrates but no longer verifies.
	changed := mutate(func(e []any) []any {
		e[0].(map[any]any)["value"] = "Roe"
		return e
	})
	is, err := Hydrate(dehydrated, changed)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(is, VerifyOptions{Roots: []*x509.Certificate{annexDIACA(t)}, Now: func() time.Time { return annexDNow }})
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Check != "digest" {
		t.Fatalf("err = %v, want digest failure", err)
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
