package mdoc

import (
	"bytes"
	"crypto/x509"
	"testing"
	"time"
)

// FuzzVerify: decoding and verifying arbitrary IssuerSigned bytes never panics
// and never accepts bytes that differ from a genuine credential in a way the
// signature or digests cover.
func FuzzVerify(f *testing.F) {
	p := defaultTestPKI(f)
	_, dk := newDeviceKey(f)
	cred, _, err := p.issuer().Issue(DocTypeMDL, mdlClaims(), dk)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cred)
	f.Add(annexDIssuerSigned(f))
	f.Add([]byte{0xa0})
	f.Add([]byte{0xa2, 0x6a, 'n', 'a', 'm', 'e', 'S', 'p', 'a', 'c', 'e', 's', 0xa0, 0x6a, 'i', 's', 's', 'u', 'e', 'r', 'A', 'u', 't', 'h', 0x80})
	opts := p.verifyOpts()
	opts.Strict = false
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Verify(b, opts)
		if err != nil {
			return
		}
		// Anything accepted must carry the genuine MSO: same device key.
		want, _ := Thumbprint(dk)
		if v.DeviceKeyThumbprint != want {
			t.Fatalf("accepted a credential with a foreign device key")
		}
		for ns, els := range v.Elements {
			if ns != NamespaceMDL || len(els) > 11 {
				t.Fatalf("accepted foreign elements")
			}
		}
	})
}

// FuzzParseSign1 exercises the COSE_Sign1 decoder.
func FuzzParseSign1(f *testing.F) {
	p := defaultTestPKI(f)
	_, dk := newDeviceKey(f)
	cred, _, _ := p.issuer().Issue(DocTypeMDL, mdlClaims(), dk)
	var is issuerSignedIn
	_ = decMode.Unmarshal(cred, &is)
	f.Add([]byte(is.IssuerAuth))
	f.Add([]byte{0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0xf6, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSign1(b)
		if err != nil {
			return
		}
		if len(s.X5Chain) == 0 || s.Alg != algES256 {
			t.Fatal("parsed without x5chain or with another alg")
		}
		_ = s.verify()
	})
}

// FuzzDecodeMSO exercises the MobileSecurityObjectBytes decoder.
func FuzzDecodeMSO(f *testing.F) {
	p := defaultTestPKI(f)
	_, dk := newDeviceKey(f)
	cred, _, _ := p.issuer().Issue(DocTypeMDL, mdlClaims(), dk)
	var is issuerSignedIn
	_ = decMode.Unmarshal(cred, &is)
	s, _ := parseSign1(is.IssuerAuth)
	f.Add(s.Payload)
	f.Add([]byte{0xd8, 0x18, 0x41, 0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMSO(b, true)
		if err != nil {
			return
		}
		if m.Version != "1.0" || m.ValidityInfo.Signed == nil || len(m.ValueDigests) == 0 {
			t.Fatal("accepted an incomplete MSO")
		}
		_, _ = jwkFromCOSEKey(m.DeviceKeyInfo.DeviceKey)
	})
}

// FuzzHydrate exercises the 23220-3 hydration decoders.
func FuzzHydrate(f *testing.F) {
	f.Add(readHex(f, "testdata/isomdl_issuer_signed_dehydrated.hex"), readHex(f, "testdata/isomdl_namespaced_data.hex"))
	f.Add([]byte{0xa0}, []byte{0xa0})
	roots := []*x509.Certificate{annexDIACA(f)}
	f.Fuzz(func(t *testing.T, d, n []byte) {
		is, err := Hydrate(d, n)
		if err != nil {
			return
		}
		_, _ = Verify(is, VerifyOptions{Roots: roots, Now: func() time.Time { return annexDNow }})
	})
}

// FuzzIssueVerify: verify-after-sign holds for arbitrary text claim values that
// pass validation, and the values round-trip exactly.
func FuzzIssueVerify(f *testing.F) {
	p := defaultTestPKI(f)
	_, dk := newDeviceKey(f)
	iss := p.issuer()
	f.Add("Doe", "Jane", "D1", uint64(170))
	f.Add("Ølsen-Ñúñez", "Ann Marie", "X\x00Y", uint64(0))
	f.Fuzz(func(t *testing.T, family, given, docNo string, height uint64) {
		c := mdlClaims()
		c[NamespaceMDL]["family_name"] = family
		c[NamespaceMDL]["given_name"] = given
		c[NamespaceMDL]["document_number"] = docNo
		c[NamespaceMDL]["height"] = height
		cred, _, err := iss.Issue(DocTypeMDL, c, dk)
		if err != nil {
			return // rejected by the catalogue
		}
		v, err := Verify(cred, p.verifyOpts())
		if err != nil {
			t.Fatalf("verify after sign: %v", err)
		}
		els := v.Elements[NamespaceMDL]
		if els["family_name"] != family || els["given_name"] != given || els["document_number"] != docNo || els["height"] != height {
			t.Fatal("values did not round-trip")
		}
		if !bytes.Contains(cred, []byte(family)) {
			t.Fatal("family name not in credential")
		}
	})
}
