package mdoc

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-jose/go-jose/v4"
	"github.com/veraison/go-cose"
)

func TestTinyJPEGFixture(t *testing.T) {
	b, _ := base64.StdEncoding.DecodeString(mdlClaims()[NamespaceMDL]["portrait"].(string))
	if !bytes.Equal(b, tinyJPEG) {
		t.Fatalf("portrait fixture = %x", b)
	}
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	p := defaultTestPKI(t)
	_, dk := newDeviceKey(t)
	cred, issued, err := p.issuer().Issue(DocTypeMDL, mdlClaims(), dk)
	if err != nil {
		t.Fatal(err)
	}
	opts := p.verifyOpts()
	opts.DocType = DocTypeMDL
	opts.DeviceKey = dk
	v, err := Verify(cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantTP, _ := Thumbprint(dk)
	if issued.DeviceKeyThumbprint != wantTP || v.DeviceKeyThumbprint != wantTP {
		t.Errorf("thumbprints: issued %s verified %s want %s", issued.DeviceKeyThumbprint, v.DeviceKeyThumbprint, wantTP)
	}
	if issued.DSSerial != "07d2" {
		t.Errorf("DSSerial = %s", issued.DSSerial)
	}
	day := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	if !issued.Signed.Equal(day) || !v.Signed.Equal(day) || !v.ValidFrom.Equal(day) || !v.ValidUntil.Equal(day.Add(defaultValidity)) {
		t.Errorf("times: signed %v from %v until %v", v.Signed, v.ValidFrom, v.ValidUntil)
	}
	els := v.Elements[NamespaceMDL]
	if len(els) != 11 {
		t.Fatalf("got %d elements", len(els))
	}
	if els["birth_date"] != FullDate("1990-04-01") || els["issue_date"] != FullDate("2026-01-10") {
		t.Errorf("dates: %#v %#v", els["birth_date"], els["issue_date"])
	}
	if !bytes.Equal(els["portrait"].([]byte), tinyJPEG) {
		t.Error("portrait bytes differ")
	}
	dp := els["driving_privileges"].([]any)
	want := []any{
		map[string]any{"vehicle_category_code": "B", "issue_date": FullDate("2010-05-01"), "expiry_date": FullDate("2031-01-09")},
		map[string]any{"vehicle_category_code": "A", "codes": []any{map[string]any{"code": "78"}}},
	}
	if !reflect.DeepEqual(dp, want) {
		t.Errorf("driving_privileges = %#v", dp)
	}
	if v.UndisclosedDigests != 0 {
		t.Errorf("UndisclosedDigests = %d", v.UndisclosedDigests)
	}
}

// TestIssuedBytes checks the wire layout byte by byte (mdoc.md §0, §1.3-1.7).
func TestIssuedBytes(t *testing.T) {
	p := defaultTestPKI(t)
	_, dk := newDeviceKey(t)
	cred, _, err := p.issuer().Issue(DocTypeMDL, mdlClaims(), dk)
	if err != nil {
		t.Fatal(err)
	}
	top, err := decodeOrderedMap(cred)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 || top[0].Key != "nameSpaces" || top[1].Key != "issuerAuth" {
		t.Fatalf("top-level keys: %+v", top)
	}
	var nss map[string][]cbor.RawMessage
	if err := decMode.Unmarshal(top[0].Value, &nss); err != nil {
		t.Fatal(err)
	}
	auth := []byte(top[1].Value)
	if auth[0] != 0x84 {
		t.Fatalf("issuerAuth starts %x, want untagged array 84", auth[0])
	}
	var arr []cbor.RawMessage
	if err := decMode.Unmarshal(auth, &arr); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(arr[0], []byte{0x43, 0xa1, 0x01, 0x26}) {
		t.Errorf("protected = %x, want 43a10126", []byte(arr[0]))
	}
	var unprot map[int]cbor.RawMessage
	if err := decMode.Unmarshal(arr[1], &unprot); err != nil || len(unprot) != 1 {
		t.Fatalf("unprotected: %v %v", unprot, err)
	}
	var x5 []byte
	if err := decMode.Unmarshal(unprot[33], &x5); err != nil || !bytes.Equal(x5, p.ds.Raw) {
		t.Errorf("x5chain must be the DS certificate as a single bstr (IACA omitted): %v", err)
	}
	var sig []byte
	if err := decMode.Unmarshal(arr[3], &sig); err != nil || len(sig) != 64 {
		t.Errorf("signature length %d", len(sig))
	}
	var payload []byte
	if err := decMode.Unmarshal(arr[2], &payload); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(payload, []byte{0xd8, 0x18}) {
		t.Fatalf("payload starts %x, want d818", payload[:2])
	}
	msoBytes, err := unwrapEncodedCBOR(payload)
	if err != nil {
		t.Fatal(err)
	}
	msoMap, err := decodeOrderedMap(msoBytes)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range msoMap {
		keys = append(keys, e.Key)
	}
	if !reflect.DeepEqual(keys, []string{"version", "digestAlgorithm", "valueDigests", "deviceKeyInfo", "docType", "validityInfo"}) {
		t.Errorf("MSO keys %v", keys)
	}
	vi, _ := decodeOrderedMap(msoMap[5].Value)
	for _, e := range vi {
		// c0 74 = tag 0, tstr(20) "YYYY-MM-DDThh:mm:ssZ"
		if !bytes.HasPrefix(e.Value, []byte{0xc0, 0x74}) || !bytes.HasSuffix(e.Value, []byte("T00:00:00Z")) {
			t.Errorf("%s = %x, want tag-0 whole-day UTC", e.Key, []byte(e.Value))
		}
	}
	dki, _ := decodeOrderedMap(msoMap[3].Value)
	if !bytes.HasPrefix(dki[0].Value, []byte{0xa4, 0x01, 0x02, 0x20, 0x01, 0x21, 0x58, 0x20}) {
		t.Errorf("deviceKey = %x, want {1:2,-1:1,-2:x,-3:y}", []byte(dki[0].Value))
	}
	var vd map[string]map[uint64][]byte
	if err := decMode.Unmarshal(msoMap[2].Value, &vd); err != nil {
		t.Fatal(err)
	}
	ids := map[uint64]bool{}
	salts := map[string]bool{}
	for _, raw := range nss[NamespaceMDL] {
		if !bytes.HasPrefix(raw, []byte{0xd8, 0x18}) {
			t.Fatalf("item starts %x", []byte(raw[:2]))
		}
		if err := checkPreferred(raw); err != nil {
			t.Errorf("item not preferred serialization: %v", err)
		}
		inner, _ := unwrapEncodedCBOR(raw)
		entries, err := decodeOrderedMap(inner)
		if err != nil {
			t.Fatal(err)
		}
		for n, k := range itemKeyOrder {
			if entries[n].Key != k {
				t.Fatalf("item key %d = %s, want %s", n, entries[n].Key, k)
			}
		}
		var id uint64
		var salt []byte
		_ = decMode.Unmarshal(entries[0].Value, &id)
		_ = decMode.Unmarshal(entries[1].Value, &salt)
		if len(salt) != 32 || salts[string(salt)] {
			t.Errorf("salt length %d or reused", len(salt))
		}
		salts[string(salt)] = true
		if ids[id] || id >= 11 {
			t.Errorf("digestID %d duplicate or outside 0..10", id)
		}
		ids[id] = true
		sum := sha256.Sum256(raw)
		if !bytes.Equal(vd[NamespaceMDL][id], sum[:]) {
			t.Errorf("digest of item %d does not cover the tag-24 bytes", id)
		}
		var name string
		_ = decMode.Unmarshal(entries[2].Value, &name)
		if name == "birth_date" && !bytes.Equal(entries[3].Value, append([]byte{0xd9, 0x03, 0xec, 0x6a}, "1990-04-01"...)) {
			t.Errorf("birth_date = %x, want tag 1004 full-date", []byte(entries[3].Value))
		}
	}
}

// TestGoCOSEVerifiesIssuerAuth cross-checks our Sig_structure with go-cose.
func TestGoCOSEVerifiesIssuerAuth(t *testing.T) {
	p := defaultTestPKI(t)
	_, dk := newDeviceKey(t)
	cred, _, err := p.issuer().Issue(DocTypeMDL, mdlClaims(), dk)
	if err != nil {
		t.Fatal(err)
	}
	var is issuerSignedIn
	if err := decMode.Unmarshal(cred, &is); err != nil {
		t.Fatal(err)
	}
	var msg cose.UntaggedSign1Message
	if err := msg.UnmarshalCBOR(is.IssuerAuth); err != nil {
		t.Fatal(err)
	}
	verifier, err := cose.NewVerifier(cose.AlgorithmES256, &p.dsKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := msg.Verify(nil, verifier); err != nil {
		t.Fatalf("go-cose rejects our signature: %v", err)
	}
	msg.Payload[len(msg.Payload)-1] ^= 1
	if err := msg.Verify(nil, verifier); err == nil {
		t.Fatal("go-cose accepted a modified payload")
	}
}

func TestIssueBatchDistinct(t *testing.T) {
	p := defaultTestPKI(t)
	keys := make([]*jose.JSONWebKey, 5)
	for n := range keys {
		_, keys[n] = newDeviceKey(t)
	}
	iss := p.issuer()
	iss.Decoys = 3
	creds, issued, err := iss.IssueBatch(DocTypeMDL, mdlClaims(), keys)
	if err != nil {
		t.Fatal(err)
	}
	seenItems := map[string]bool{}
	seenSig := map[string]bool{}
	var first *Verified
	for n, c := range creds {
		opts := p.verifyOpts()
		opts.DeviceKey = keys[n]
		v, err := Verify(c, opts)
		if err != nil {
			t.Fatalf("credential %d: %v", n, err)
		}
		if v.UndisclosedDigests != 3 {
			t.Errorf("decoys = %d, want 3", v.UndisclosedDigests)
		}
		if first == nil {
			first = v
		} else {
			if !reflect.DeepEqual(first.Elements, v.Elements) {
				t.Error("batch credentials carry different element values")
			}
			if !first.Signed.Equal(v.Signed) || !first.ValidUntil.Equal(v.ValidUntil) {
				t.Error("batch credentials carry different times")
			}
		}
		if issued[n].DeviceKeyThumbprint != v.DeviceKeyThumbprint {
			t.Error("Issued thumbprint mismatch")
		}
		var is issuerSignedIn
		_ = decMode.Unmarshal(c, &is)
		for _, it := range is.NameSpaces[NamespaceMDL] {
			inner, _ := unwrapEncodedCBOR(it)
			e, _ := decodeOrderedMap(inner)
			if seenItems[string(e[1].Value)] {
				t.Fatal("salt reused across the batch")
			}
			seenItems[string(e[1].Value)] = true
		}
		ps, _ := parseSign1(is.IssuerAuth)
		if seenSig[string(ps.Signature)] {
			t.Fatal("signature reused")
		}
		seenSig[string(ps.Signature)] = true
	}
	if _, _, err := iss.IssueBatch(DocTypeMDL, mdlClaims(), nil); err == nil {
		t.Error("empty batch accepted")
	}
}

func TestIssueRejects(t *testing.T) {
	p := defaultTestPKI(t)
	_, dk := newDeviceKey(t)
	other := defaultTestPKI(t)
	privJWK := &jose.JSONWebKey{Key: other.dsKey}
	tests := []struct {
		name   string
		mutate func(i *Issuer, claims map[string]map[string]any) *jose.JSONWebKey
		want   string
	}{
		{"signer does not match DS", func(i *Issuer, _ map[string]map[string]any) *jose.JSONWebKey {
			i.Signer = other.dsKey
			return dk
		}, "does not match"},
		{"no chain", func(i *Issuer, _ map[string]map[string]any) *jose.JSONWebKey { i.Chain = nil; return dk }, "no document signer"},
		{"missing mandatory", func(_ *Issuer, c map[string]map[string]any) *jose.JSONWebKey {
			delete(c[NamespaceMDL], "portrait")
			return dk
		}, "org.iso.18013.5.1/portrait: mandatory element missing"},
		{"country differs from DS", func(_ *Issuer, c map[string]map[string]any) *jose.JSONWebKey {
			c[NamespaceMDL]["issuing_country"] = "FR"
			return dk
		}, "issuing_country: does not match"},
		{"jurisdiction differs from DS", func(_ *Issuer, c map[string]map[string]any) *jose.JSONWebKey {
			c[NamespaceMDL]["issuing_jurisdiction"] = "US-CA"
			return dk
		}, "issuing_jurisdiction: does not match"},
		{"private device key", func(_ *Issuer, _ map[string]map[string]any) *jose.JSONWebKey { return privJWK }, "must be a public key"},
		{"nil device key", func(_ *Issuer, _ map[string]map[string]any) *jose.JSONWebKey { return nil }, "device key missing"},
		{"DS expires within a day", func(i *Issuer, _ map[string]map[string]any) *jose.JSONWebKey {
			end := i.Chain[0].NotAfter
			i.Now = func() time.Time { return end.Add(-12 * time.Hour) }
			return dk
		}, "rotate the DS"},
		{"unknown doctype", func(_ *Issuer, _ map[string]map[string]any) *jose.JSONWebKey { return dk }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss := p.issuer()
			claims := mdlClaims()
			key := tc.mutate(iss, claims)
			docType := DocTypeMDL
			if tc.name == "unknown doctype" {
				docType, tc.want = "org.example.unknown", "doctype not in catalogue"
			}
			_, _, err := iss.Issue(docType, claims, key)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("err = %v, want containing %q", err, tc.want)
			}
		})
	}
}

func TestValidityAgeCap(t *testing.T) {
	p := defaultTestPKI(t)
	_, dk := newDeviceKey(t)
	claims := mdlClaims()
	claims[NamespaceMDL]["birth_date"] = "2008-03-20" // turns 18 on 2026-03-20
	claims[NamespaceMDL]["age_over_18"] = false
	claims[NamespaceMDL]["age_over_16"] = true
	_, issued, err := p.issuer().Issue(DocTypeMDL, claims, dk)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC); !issued.ValidUntil.Equal(want) {
		t.Errorf("validUntil = %v, want %v (18th birthday)", issued.ValidUntil, want)
	}
	claims = mdlClaims()
	claims[NamespaceMDL]["age_in_years"] = 35 // birthday 1990-04-01
	_, issued, err = p.issuer().Issue(DocTypeMDL, claims, dk)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC); !issued.ValidUntil.Equal(want) {
		t.Errorf("validUntil = %v, want %v (next birthday)", issued.ValidUntil, want)
	}
}

func TestValidityFreshDSCertificate(t *testing.T) {
	// DS created at 10:20 today: signed must not precede its notBefore.
	nb := time.Date(2026, 3, 14, 10, 20, 0, 0, time.UTC)
	p := newTestPKI(t, "US", "US-NY", nb, nb.AddDate(1, 0, 0))
	_, dk := newDeviceKey(t)
	_, issued, err := p.issuer().Issue(DocTypeMDL, mdlClaims(), dk)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 14, 11, 0, 0, 0, time.UTC); !issued.Signed.Equal(want) {
		t.Errorf("signed = %v, want %v", issued.Signed, want)
	}
	late := newTestPKI(t, "US", "US-NY", testNow.Add(time.Minute), testNow.AddDate(1, 0, 0))
	if _, _, err := late.issuer().Issue(DocTypeMDL, mdlClaims(), dk); err == nil {
		t.Error("issued with a DS certificate that is not yet valid")
	}
}

// TestVerifyRejectsTampering flips bytes in every part of a credential.
func TestVerifyRejectsTampering(t *testing.T) {
	p := defaultTestPKI(t)
	_, dk := newDeviceKey(t)
	cred, _, err := p.issuer().Issue(DocTypeMDL, mdlClaims(), dk)
	if err != nil {
		t.Fatal(err)
	}
	find := func(s string) int {
		i := bytes.Index(cred, []byte(s))
		if i < 0 {
			t.Fatalf("%q not found", s)
		}
		return i
	}
	tests := []struct {
		name  string
		pos   int
		check string
	}{
		{"element value", find("D1234567") + 2, "digest"},
		{"family name", find("Doe"), "digest"},
		{"MSO docType", find("org.iso.18013.5.1.mDL") + 3, "signature"},
		{"signature", len(cred) - 5, "signature"},
		{"validity", find("validUntil") + 16, "signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(cred)
			b[tc.pos] ^= 0x01
			_, err := Verify(b, p.verifyOpts())
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Check != tc.check {
				t.Fatalf("err = %v, want check %q", err, tc.check)
			}
		})
	}
	optTests := []struct {
		name  string
		opts  func() VerifyOptions
		check string
	}{
		{"other IACA", func() VerifyOptions {
			o := p.verifyOpts()
			o.Roots = []*x509.Certificate{defaultTestPKI(t).iaca}
			return o
		}, "chain"},
		{"no roots", func() VerifyOptions { o := p.verifyOpts(); o.Roots = nil; return o }, "chain"},
		{"expired", func() VerifyOptions {
			o := p.verifyOpts()
			o.Now = func() time.Time { return testNow.AddDate(0, 2, 0) }
			return o
		}, "validity"},
		{"not yet valid", func() VerifyOptions {
			o := p.verifyOpts()
			o.Now = func() time.Time { return testNow.AddDate(0, 0, -1) }
			return o
		}, "validity"},
		{"wrong doctype", func() VerifyOptions { o := p.verifyOpts(); o.DocType = DocTypePID; return o }, "docType"},
		{"wrong device key", func() VerifyOptions {
			o := p.verifyOpts()
			_, o.DeviceKey = newDeviceKey(t)
			return o
		}, "deviceKey"},
	}
	for _, tc := range optTests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(cred, tc.opts())
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Check != tc.check {
				t.Fatalf("err = %v, want check %q", err, tc.check)
			}
		})
	}
}

func TestVerifyRejectsStructuralVariants(t *testing.T) {
	p := defaultTestPKI(t)
	_, dk := newDeviceKey(t)
	cred, _, err := p.issuer().Issue(DocTypeMDL, mdlClaims(), dk)
	if err != nil {
		t.Fatal(err)
	}
	var is issuerSignedIn
	if err := decMode.Unmarshal(cred, &is); err != nil {
		t.Fatal(err)
	}
	rebuild := func(ns map[string][]cbor.RawMessage, auth []byte) []byte {
		nsb, _ := detEnc.Marshal(ns)
		b, _ := ordEnc.Marshal(issuerSigned{NameSpaces: nsb, IssuerAuth: auth})
		return b
	}
	tagged := append([]byte{0xd2}, is.IssuerAuth...)
	dropped := map[string][]cbor.RawMessage{NamespaceMDL: is.NameSpaces[NamespaceMDL][1:]}
	dup := map[string][]cbor.RawMessage{NamespaceMDL: append([]cbor.RawMessage{is.NameSpaces[NamespaceMDL][0]}, is.NameSpaces[NamespaceMDL]...)}
	foreign := map[string][]cbor.RawMessage{NamespaceMDL: is.NameSpaces[NamespaceMDL], "org.example": is.NameSpaces[NamespaceMDL][:1]}
	tests := []struct {
		name  string
		b     []byte
		check string
	}{
		{"tag-18 COSE_Sign1", rebuild(is.NameSpaces, tagged), "issuerAuth"},
		{"duplicate item", rebuild(dup, is.IssuerAuth), "item"},
		{"namespace without digests", rebuild(foreign, is.IssuerAuth), "digest"},
		{"trailing byte", append(bytes.Clone(cred), 0x00), "cbor"},
		{"empty", nil, "cbor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.b, p.verifyOpts())
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Check != tc.check {
				t.Fatalf("err = %v, want check %q", err, tc.check)
			}
		})
	}
	// Selective disclosure: dropping an item is legal and leaves one undisclosed digest.
	v, err := Verify(rebuild(dropped, is.IssuerAuth), p.verifyOpts())
	if err != nil {
		t.Fatal(err)
	}
	if v.UndisclosedDigests != 1 {
		t.Errorf("UndisclosedDigests = %d", v.UndisclosedDigests)
	}
}

// TestValidityEndsWithDS: an MSO never outlives its Document Signer
// certificate; a longer configured validity is cut at the DS notAfter.
func TestValidityEndsWithDS(t *testing.T) {
	p := defaultTestPKI(t)
	iss := p.issuer()
	iss.Validity = 10 * 365 * 24 * time.Hour
	_, dk := newDeviceKey(t)
	cred, _, err := iss.Issue(DocTypeMDL, mdlClaims(), dk)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(cred, p.verifyOpts())
	if err != nil {
		t.Fatal(err)
	}
	if want := iss.Chain[0].NotAfter.UTC().Truncate(time.Second); !v.ValidUntil.Equal(want) {
		t.Fatalf("validUntil %v, want the DS notAfter %v", v.ValidUntil, want)
	}
}
