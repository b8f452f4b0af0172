package mdoc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"hash"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-jose/go-jose/v4"
)

// OIDDocumentSignerEKU is the mdoc Document Signer extended key usage
// 1.0.18013.5.1.2 (ISO 18013-5 Annex B Table B.3).
var OIDDocumentSignerEKU = asn1.ObjectIdentifier{1, 0, 18013, 5, 1, 2}

// VerifyOptions configures Verify.
type VerifyOptions struct {
	Roots     []*x509.Certificate // IACA trust anchors (required)
	Now       func() time.Time    // nil: time.Now
	DocType   string              // if set, the MSO docType must equal it
	DeviceKey *jose.JSONWebKey    // if set, the MSO deviceKey must be this key
	// Strict additionally checks the issuance profile of this project (mdoc.md
	// §8): preferred serialization everywhere with no floats, item keys in spec
	// order, 32-byte salts, protected header exactly a10126, x5chain a single
	// bstr, validityInfo tdates whole-second UTC "Z".
	Strict bool
}

// Verified is the result of a successful Verify.
type Verified struct {
	DocType             string
	Elements            map[string]map[string]any // decoded values (FullDate, TDate, []byte, ...)
	DeviceKey           *jose.JSONWebKey
	DeviceKeyThumbprint string
	Signed              time.Time
	ValidFrom           time.Time
	ValidUntil          time.Time
	DigestAlgorithm     string
	DocumentSigner      *x509.Certificate
	Chain               []*x509.Certificate // DS ... trust anchor
	// UndisclosedDigests counts valueDigests without a disclosed item
	// (undisclosed elements or decoys).
	UndisclosedDigests int
}

// VerifyError reports the failed check; Check is a stable short name
// ("cbor", "issuerAuth", "chain", "signature", "mso", "docType", "validity",
// "deviceKey", "digest", "item", "profile").
type VerifyError struct {
	Check string
	Err   error
}

func (e *VerifyError) Error() string { return "mdoc: verify " + e.Check + ": " + e.Err.Error() }
func (e *VerifyError) Unwrap() error { return e.Err }

func vErr(check string, format string, args ...any) error {
	return &VerifyError{Check: check, Err: fmt.Errorf(format, args...)}
}

// msoIn is the decoding view of the MobileSecurityObject (unknown keys such as
// the 2nd-edition "status" are allowed and ignored).
type msoIn struct {
	Version         string                       `cbor:"version"`
	DigestAlgorithm string                       `cbor:"digestAlgorithm"`
	ValueDigests    map[string]map[uint64][]byte `cbor:"valueDigests"`
	DeviceKeyInfo   struct {
		DeviceKey cbor.RawMessage `cbor:"deviceKey"`
	} `cbor:"deviceKeyInfo"`
	DocType      string `cbor:"docType"`
	ValidityInfo struct {
		Signed         *TDate `cbor:"signed"`
		ValidFrom      *TDate `cbor:"validFrom"`
		ValidUntil     *TDate `cbor:"validUntil"`
		ExpectedUpdate *TDate `cbor:"expectedUpdate"`
	} `cbor:"validityInfo"`
}

type issuerSignedIn struct {
	NameSpaces map[string][]cbor.RawMessage `cbor:"nameSpaces"`
	IssuerAuth cbor.RawMessage              `cbor:"issuerAuth"`
}

// Verify checks an IssuerSigned (ISO 18013-5 §9.1.2; mdoc.md §5, §8): the
// DS certificate chains to one of opts.Roots at now and carries the DS EKU and
// digitalSignature; the COSE_Sign1 signature verifies with the DS key; the MSO
// is well-formed (version 1.0, SHA-256/384/512, docType, device key); signed
// lies in the DS validity; validFrom <= now <= validUntil; every disclosed
// item's digest over its received tag-24 bytes matches valueDigests; digestIDs
// and element identifiers are unique per namespace.
func Verify(issuerSigned []byte, opts VerifyOptions) (*Verified, error) {
	if len(opts.Roots) == 0 {
		return nil, vErr("chain", "no trust anchors configured")
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	at := now()
	is, auth, m, err := parseAndCheckSignature(issuerSigned, opts.Strict)
	if err != nil {
		return nil, err
	}
	chain, err := verifyChain(auth.X5Chain, opts.Roots, at)
	if err != nil {
		return nil, err
	}
	ds := auth.X5Chain[0]
	v, err := checkMSO(m, ds, opts, at)
	if err != nil {
		return nil, err
	}
	v.Chain = chain
	v.DocumentSigner = ds
	if err := checkItems(is, m, v, opts.Strict); err != nil {
		return nil, err
	}
	if err := checkCertificateClaims(ds, v.Elements); err != nil {
		return nil, err
	}
	return v, nil
}

// parseAndCheckSignature decodes IssuerSigned, its issuerAuth and the MSO and
// verifies the COSE signature with the x5chain[0] key (no trust decision yet).
func parseAndCheckSignature(b []byte, strict bool) (*issuerSignedIn, *parsedSign1, *msoIn, error) {
	if len(b) > MaxInputSize {
		return nil, nil, nil, vErr("cbor", "IssuerSigned larger than %d bytes", MaxInputSize)
	}
	top, err := decodeOrderedMap(b)
	if err != nil {
		return nil, nil, nil, vErr("cbor", "IssuerSigned: %v", err)
	}
	for _, e := range top {
		if e.Key != "nameSpaces" && e.Key != "issuerAuth" {
			return nil, nil, nil, vErr("cbor", "IssuerSigned: unexpected key %q", e.Key)
		}
	}
	var is issuerSignedIn
	if err := decMode.Unmarshal(b, &is); err != nil {
		return nil, nil, nil, vErr("cbor", "IssuerSigned: %v", err)
	}
	if strict {
		if err := checkPreferred(b); err != nil {
			return nil, nil, nil, vErr("profile", "IssuerSigned: %v", err)
		}
	}
	if len(is.NameSpaces) == 0 {
		return nil, nil, nil, vErr("cbor", "IssuerSigned: nameSpaces missing or empty")
	}
	if len(is.IssuerAuth) == 0 {
		return nil, nil, nil, vErr("issuerAuth", "missing")
	}
	auth, err := parseSign1(is.IssuerAuth)
	if err != nil {
		return nil, nil, nil, vErr("issuerAuth", "%v", err)
	}
	if strict {
		if !auth.strictProtected() {
			return nil, nil, nil, vErr("profile", "protected header is not exactly {1: -7}")
		}
		if !auth.x5Single {
			return nil, nil, nil, vErr("profile", "x5chain is not a single certificate bstr")
		}
	}
	if err := auth.verify(); err != nil {
		return nil, nil, nil, vErr("signature", "%v", err)
	}
	m, err := decodeMSO(auth.Payload, strict)
	if err != nil {
		return nil, nil, nil, err
	}
	return &is, auth, m, nil
}

// decodeMSO decodes MobileSecurityObjectBytes (#6.24(bstr .cbor MSO)).
func decodeMSO(payload []byte, strict bool) (*msoIn, error) {
	msoBytes, err := unwrapEncodedCBOR(payload)
	if err != nil {
		return nil, vErr("mso", "payload is not MobileSecurityObjectBytes: %v", err)
	}
	if strict {
		if err := checkPreferred(msoBytes); err != nil {
			return nil, vErr("profile", "MSO: %v", err)
		}
	}
	var m msoIn
	if err := decMode.Unmarshal(msoBytes, &m); err != nil {
		return nil, vErr("mso", "%v", err)
	}
	if m.Version != "1.0" {
		return nil, vErr("mso", "version must be \"1.0\"")
	}
	if digestHash(m.DigestAlgorithm) == nil {
		return nil, vErr("mso", "unsupported digestAlgorithm")
	}
	if m.DocType == "" {
		return nil, vErr("mso", "docType missing")
	}
	if len(m.ValueDigests) == 0 {
		return nil, vErr("mso", "valueDigests missing")
	}
	size := digestHash(m.DigestAlgorithm)().Size()
	for ns, ds := range m.ValueDigests {
		if len(ds) == 0 {
			return nil, vErr("mso", "valueDigests[%s] is empty", ns)
		}
		for id, d := range ds {
			if id > maxDigestID {
				return nil, vErr("mso", "valueDigests[%s]: digestID >= 2^31", ns)
			}
			if len(d) != size {
				return nil, vErr("mso", "valueDigests[%s][%d]: wrong digest length", ns, id)
			}
		}
	}
	vi := m.ValidityInfo
	if vi.Signed == nil || vi.ValidFrom == nil || vi.ValidUntil == nil {
		return nil, vErr("mso", "validityInfo needs signed, validFrom and validUntil")
	}
	if strict {
		for _, t := range []*TDate{vi.Signed, vi.ValidFrom, vi.ValidUntil, vi.ExpectedUpdate} {
			if t != nil && !strictTDate(t.Raw) {
				return nil, vErr("profile", "validityInfo times must be YYYY-MM-DDThh:mm:ssZ")
			}
		}
	}
	if len(m.DeviceKeyInfo.DeviceKey) == 0 {
		return nil, vErr("deviceKey", "deviceKeyInfo.deviceKey missing")
	}
	return &m, nil
}

func digestHash(alg string) func() hash.Hash {
	switch alg {
	case "SHA-256":
		return sha256.New
	case "SHA-384":
		return sha512.New384
	case "SHA-512":
		return sha512.New
	}
	return nil
}

// verifyChain checks DS -> (intermediates) -> trust anchor at time at, the DS
// EKU 1.0.18013.5.1.2 and digitalSignature key usage (Annex B Table B.3). Go's
// verifier is asked for any EKU because the mdoc OID is unknown to it; the DS
// OID is checked here instead.
func verifyChain(x5chain []*x509.Certificate, roots []*x509.Certificate, at time.Time) ([]*x509.Certificate, error) {
	ds := x5chain[0]
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	inter := x509.NewCertPool()
	for _, c := range x5chain[1:] {
		inter.AddCert(c)
	}
	chains, err := ds.Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, vErr("chain", "%v", err)
	}
	if !slices.ContainsFunc(ds.UnknownExtKeyUsage, OIDDocumentSignerEKU.Equal) {
		return nil, vErr("chain", "document signer certificate lacks EKU 1.0.18013.5.1.2")
	}
	if ds.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, vErr("chain", "document signer certificate lacks digitalSignature key usage")
	}
	if ds.IsCA {
		return nil, vErr("chain", "document signer certificate is a CA")
	}
	if pub, ok := ds.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		return nil, vErr("chain", "document signer key is not P-256")
	}
	return chains[0], nil
}

func checkMSO(m *msoIn, ds *x509.Certificate, opts VerifyOptions, at time.Time) (*Verified, error) {
	if opts.DocType != "" && m.DocType != opts.DocType {
		return nil, vErr("docType", "MSO docType does not match the expected doctype")
	}
	vi := m.ValidityInfo
	signed, from, until := vi.Signed.Time, vi.ValidFrom.Time, vi.ValidUntil.Time
	if from.Before(signed) {
		return nil, vErr("validity", "validFrom is before signed")
	}
	if !until.After(from) {
		return nil, vErr("validity", "validUntil is not after validFrom")
	}
	if at.Before(from) {
		return nil, vErr("validity", "not yet valid (validFrom in the future)")
	}
	if at.After(until) {
		return nil, vErr("validity", "expired (validUntil passed)")
	}
	if signed.Before(ds.NotBefore) || signed.After(ds.NotAfter) {
		return nil, vErr("validity", "signed is outside the document signer certificate validity")
	}
	dk, err := jwkFromCOSEKey(m.DeviceKeyInfo.DeviceKey)
	if err != nil {
		return nil, vErr("deviceKey", "%v", err)
	}
	tp, err := Thumbprint(dk)
	if err != nil {
		return nil, vErr("deviceKey", "%v", err)
	}
	if opts.DeviceKey != nil {
		want, err := Thumbprint(opts.DeviceKey)
		if err != nil {
			return nil, vErr("deviceKey", "expected key: %v", err)
		}
		if want != tp {
			return nil, vErr("deviceKey", "MSO deviceKey is not the expected holder key")
		}
	}
	return &Verified{
		DocType: m.DocType, DeviceKey: dk, DeviceKeyThumbprint: tp,
		Signed: signed, ValidFrom: from, ValidUntil: until, DigestAlgorithm: m.DigestAlgorithm,
	}, nil
}

// checkItems verifies every disclosed IssuerSignedItem against valueDigests,
// hashing the received #6.24 bytes (mdoc.md §1.5), and decodes the values.
func checkItems(is *issuerSignedIn, m *msoIn, v *Verified, strict bool) error {
	newHash := digestHash(m.DigestAlgorithm)
	v.Elements = make(map[string]map[string]any, len(is.NameSpaces))
	disclosed := 0
	for ns, items := range is.NameSpaces {
		digests, ok := m.ValueDigests[ns]
		if !ok {
			return vErr("digest", "namespace %s has no valueDigests", ns)
		}
		if len(items) == 0 {
			return vErr("item", "namespace %s has no items", ns)
		}
		els := make(map[string]any, len(items))
		seenIDs := make(map[uint64]bool, len(items))
		for n, raw := range items {
			path := fmt.Sprintf("%s[%d]", ns, n)
			inner, err := unwrapEncodedCBOR(raw)
			if err != nil {
				return vErr("item", "%s: not IssuerSignedItemBytes: %v", path, err)
			}
			if strict {
				if err := checkPreferred(raw); err != nil {
					return vErr("profile", "%s: %v", path, err)
				}
			}
			it, err := decodeItem(inner, strict)
			if err != nil {
				return vErr("item", "%s: %v", path, err)
			}
			if seenIDs[it.digestID] {
				return vErr("item", "%s: duplicate digestID", path)
			}
			seenIDs[it.digestID] = true
			if _, dup := els[it.id]; dup {
				return vErr("item", "%s/%s: duplicate element identifier", ns, it.id)
			}
			want, ok := digests[it.digestID]
			if !ok {
				return vErr("digest", "%s/%s: digestID not in valueDigests", ns, it.id)
			}
			h := newHash()
			h.Write(raw)
			if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
				return vErr("digest", "%s/%s: digest mismatch", ns, it.id)
			}
			els[it.id] = it.value
			disclosed++
		}
		v.Elements[ns] = els
	}
	total := 0
	for _, ds := range m.ValueDigests {
		total += len(ds)
	}
	v.UndisclosedDigests = total - disclosed
	return nil
}

type decodedItem struct {
	digestID uint64
	id       string
	value    any
}

var itemKeyOrder = []string{"digestID", "random", "elementIdentifier", "elementValue"}

// decodeItem decodes an IssuerSignedItem: exactly the four keys, digestID a uint
// < 2^31, random a bstr of >= 16 bytes (strict: 32 and spec key order).
func decodeItem(b []byte, strict bool) (*decodedItem, error) {
	entries, err := decodeOrderedMap(b)
	if err != nil {
		return nil, err
	}
	if len(entries) != 4 {
		return nil, fmt.Errorf("IssuerSignedItem must have exactly 4 keys")
	}
	byKey := make(map[string]cbor.RawMessage, 4)
	for n, e := range entries {
		if !slices.Contains(itemKeyOrder, e.Key) {
			return nil, fmt.Errorf("unexpected key %q", e.Key)
		}
		if strict && e.Key != itemKeyOrder[n] {
			return nil, fmt.Errorf("keys not in the order digestID, random, elementIdentifier, elementValue")
		}
		byKey[e.Key] = e.Value
	}
	var it decodedItem
	if err := decMode.Unmarshal(byKey["digestID"], &it.digestID); err != nil || it.digestID > maxDigestID {
		return nil, fmt.Errorf("digestID must be an unsigned integer < 2^31")
	}
	var random []byte
	if r := byKey["random"]; len(r) == 0 || r[0]>>5 != 2 || decMode.Unmarshal(r, &random) != nil {
		return nil, fmt.Errorf("random must be a byte string")
	}
	if len(random) < minRandomLen || strict && len(random) != issuanceRandomLen {
		return nil, fmt.Errorf("random too short")
	}
	if r := byKey["elementIdentifier"]; len(r) == 0 || r[0]>>5 != 3 || decMode.Unmarshal(r, &it.id) != nil || it.id == "" {
		return nil, fmt.Errorf("elementIdentifier must be a non-empty text string")
	}
	var val any
	if err := decMode.Unmarshal(byKey["elementValue"], &val); err != nil {
		return nil, fmt.Errorf("elementValue %s: %v", it.id, err)
	}
	it.value = fromCBOR(val)
	return &it, nil
}

// checkCertificateClaims applies the checks @auth0/mdl and @owf/mdoc make
// (mdoc.md §2.3): issuing_country equals the C of the DS certificate's issuer
// (the IACA subject), and issuing_jurisdiction equals its ST when present.
func checkCertificateClaims(ds *x509.Certificate, elements map[string]map[string]any) error {
	var c, st string
	if len(ds.Issuer.Country) > 0 {
		c = ds.Issuer.Country[0]
	}
	if len(ds.Issuer.Province) > 0 {
		st = ds.Issuer.Province[0]
	}
	for ns, els := range elements {
		if v, ok := els["issuing_country"]; ok {
			if s, _ := v.(string); s != c {
				return vErr("item", "%s/issuing_country does not match the certificate country", ns)
			}
		}
		if v, ok := els["issuing_jurisdiction"]; ok && st != "" {
			if s, _ := v.(string); s != st {
				return vErr("item", "%s/issuing_jurisdiction does not match the certificate stateOrProvinceName", ns)
			}
		}
	}
	return nil
}
