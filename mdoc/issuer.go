package mdoc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-jose/go-jose/v4"
)

// Issuer signs mdoc credentials (IssuerSigned) with a Document Signer key.
//
// Signer is the DS private key as a crypto.Signer (software key, HSM or KMS);
// this package never sees key material. Chain[0] is the DS certificate whose
// public key must be the Signer's; further certificates are sent in x5chain
// only if they are not self-signed (the IACA root is never sent, mdoc.md §1.7).
type Issuer struct {
	Signer    crypto.Signer
	Chain     []*x509.Certificate
	Catalogue *Catalogue       // nil: DefaultCatalogue()
	Now       func() time.Time // nil: time.Now
	// Validity is validUntil - validFrom (default 30 days). validUntil may be cut
	// short by the DS certificate (error) or an age_over_NN / age_in_years change.
	Validity time.Duration
	// Decoys is the number of extra random valueDigests per namespace that match
	// no element, hiding the element count (mdoc.md §1.3). 0 = none.
	Decoys int
}

// Issued describes one issued credential, for the issuer's records. It holds no
// claim values.
type Issued struct {
	DocType             string
	DSSerial            string // DS certificate serial, lower-case hex
	Signed              time.Time
	ValidFrom           time.Time
	ValidUntil          time.Time
	DeviceKeyThumbprint string // RFC 7638 SHA-256, base64url
}

// issuerSignedItem keeps the CDDL key order of ISO 18013-5 §8.3.2.1.2.2 by
// field declaration order under ordEnc (mdoc.md §1.3).
type issuerSignedItem struct {
	DigestID          uint32          `cbor:"digestID"`
	Random            []byte          `cbor:"random"`
	ElementIdentifier string          `cbor:"elementIdentifier"`
	ElementValue      cbor.RawMessage `cbor:"elementValue"`
}

type validityInfo struct {
	Signed         TDate  `cbor:"signed"`
	ValidFrom      TDate  `cbor:"validFrom"`
	ValidUntil     TDate  `cbor:"validUntil"`
	ExpectedUpdate *TDate `cbor:"expectedUpdate,omitempty"`
}

type issuerSigned struct {
	NameSpaces cbor.RawMessage `cbor:"nameSpaces"`
	IssuerAuth cbor.RawMessage `cbor:"issuerAuth"`
}

// prepared is everything shared by the credentials of one batch.
type prepared struct {
	docType    string
	namespaces []preparedNS
	x5chain    [][]byte
	dsSerial   string
	validity   validityInfo
	// Encoded once per batch: validityInfo and the unprotected header
	// with the x5chain.
	validityEnc, unprotected []byte
}

type preparedNS struct {
	name     string
	elements []preparedElement
}

type preparedElement struct {
	id    string
	value cbor.RawMessage
}

// Issue validates the claims against the catalogue and returns one CBOR
// IssuerSigned bound to deviceKey (the base64url of these bytes is the
// OpenID4VCI `mso_mdoc` credential, OpenID4VCI 1.0 Appendix A.2.4).
func (i *Issuer) Issue(docType string, claims map[string]map[string]any, deviceKey *jose.JSONWebKey) ([]byte, *Issued, error) {
	creds, issued, err := i.IssueBatch(docType, claims, []*jose.JSONWebKey{deviceKey})
	if err != nil {
		return nil, nil, err
	}
	return creds[0], issued[0], nil
}

// IssueBatch issues one credential per device key (OpenID4VCI 1.0 §8 batch
// issuance) with the same claims and validity times but fresh salts, a fresh
// digestID shuffle and its own signature each (mdoc.md §4 "Batch").
func (i *Issuer) IssueBatch(docType string, claims map[string]map[string]any, deviceKeys []*jose.JSONWebKey) ([][]byte, []*Issued, error) {
	if len(deviceKeys) == 0 {
		return nil, nil, errors.New("mdoc: no device keys")
	}
	p, err := i.prepare(docType, claims)
	if err != nil {
		return nil, nil, err
	}
	creds := make([][]byte, len(deviceKeys))
	issued := make([]*Issued, len(deviceKeys))
	for n, dk := range deviceKeys {
		coseKey, _, err := coseKeyFromJWK(dk)
		if err != nil {
			return nil, nil, fmt.Errorf("mdoc: device key %d: %w", n, err)
		}
		tp, err := Thumbprint(dk)
		if err != nil {
			return nil, nil, fmt.Errorf("mdoc: device key %d: %w", n, err)
		}
		creds[n], err = i.sign(p, coseKey)
		if err != nil {
			return nil, nil, err
		}
		issued[n] = &Issued{
			DocType: docType, DSSerial: p.dsSerial, DeviceKeyThumbprint: tp,
			Signed: p.validity.Signed.Time, ValidFrom: p.validity.ValidFrom.Time, ValidUntil: p.validity.ValidUntil.Time,
		}
	}
	return creds, issued, nil
}

func (i *Issuer) checkConfig() (*x509.Certificate, error) {
	if i.Signer == nil {
		return nil, errors.New("mdoc: issuer has no signer")
	}
	if len(i.Chain) == 0 || i.Chain[0] == nil {
		return nil, errors.New("mdoc: issuer has no document signer certificate")
	}
	ds := i.Chain[0]
	dsPub, ok := ds.PublicKey.(*ecdsa.PublicKey)
	if !ok || dsPub.Curve != elliptic.P256() {
		return nil, errors.New("mdoc: document signer certificate key must be EC P-256 (ES256)")
	}
	sPub, ok := i.Signer.Public().(*ecdsa.PublicKey)
	if !ok || !dsPub.Equal(sPub) {
		return nil, errors.New("mdoc: signer key does not match the document signer certificate")
	}
	return ds, nil
}

func (i *Issuer) prepare(docType string, claims map[string]map[string]any) (*prepared, error) {
	ds, err := i.checkConfig()
	if err != nil {
		return nil, err
	}
	cat := i.Catalogue
	if cat == nil {
		cat = defaultCatalogue()
	}
	norm, err := cat.Validate(docType, claims)
	if err != nil {
		return nil, err
	}
	if err := checkIssuerConsistency(ds, norm); err != nil {
		return nil, err
	}
	vi, err := i.validity(ds, norm)
	if err != nil {
		return nil, err
	}
	p := &prepared{docType: docType, dsSerial: hex.EncodeToString(ds.SerialNumber.Bytes()), validity: vi}
	for n, c := range i.Chain {
		if n > 0 && isSelfIssued(c) {
			continue
		}
		p.x5chain = append(p.x5chain, c.Raw)
	}
	if p.validityEnc, err = encodeValidity(vi); err != nil {
		return nil, err
	}
	if p.unprotected, err = encodeUnprotected(p.x5chain); err != nil {
		return nil, err
	}
	for _, nsName := range sortedKeys(norm) {
		ns := preparedNS{name: nsName}
		for _, id := range sortedKeys(norm[nsName]) {
			v, err := detEnc.Marshal(norm[nsName][id])
			if err != nil {
				return nil, fmt.Errorf("mdoc: encoding %s/%s: %w", nsName, id, err)
			}
			ns.elements = append(ns.elements, preparedElement{id: id, value: v})
		}
		p.namespaces = append(p.namespaces, ns)
	}
	return p, nil
}

// isSelfIssued reports a root (issuer = subject); roots are never sent in x5chain.
func isSelfIssued(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkIssuerConsistency applies the cross-field rules verifiers check against
// the DS certificate (mdoc.md §2.3, §8 check 22): issuing_country equals the
// certificate country; issuing_jurisdiction starts with it and equals the
// certificate ST.
func checkIssuerConsistency(ds *x509.Certificate, claims map[string]map[string]any) error {
	var country, state string
	if len(ds.Subject.Country) > 0 {
		country = ds.Subject.Country[0]
	}
	if len(ds.Subject.Province) > 0 {
		state = ds.Subject.Province[0]
	}
	var errs ClaimErrors
	for ns, els := range claims {
		if v, ok := els["issuing_country"].(string); ok && v != country {
			errs = append(errs, ClaimError{Path: ns + "/issuing_country", Reason: "does not match the document signer certificate country"})
		}
		if v, ok := els["issuing_jurisdiction"].(string); ok {
			if len(v) < 3 || v[:2] != country || v[2] != '-' {
				errs = append(errs, ClaimError{Path: ns + "/issuing_jurisdiction", Reason: "must start with the issuing country code and '-'"})
			} else if v != state {
				errs = append(errs, ClaimError{Path: ns + "/issuing_jurisdiction", Reason: "does not match the document signer certificate stateOrProvinceName"})
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// validity computes validityInfo (ISO 18013-5 §9.1.2.4; mdoc.md §1.6):
// signed = validFrom = the current UTC day (00:00:00Z), so the MSO does not
// reveal the issuance instant (OIDF VCIEnsureCredentialTimeClaimsNotLinkable);
// validUntil = validFrom + Validity, cut at the next change of an issued
// age_over_NN=false or age_in_years, and at the end of the DS certificate,
// which must cover [signed, validUntil].
func (i *Issuer) validity(ds *x509.Certificate, claims map[string]map[string]any) (validityInfo, error) {
	now := time.Now
	if i.Now != nil {
		now = i.Now
	}
	t := now().UTC()
	signed := t.Truncate(24 * time.Hour)
	if signed.Before(ds.NotBefore) {
		// A DS certificate created today: use the next whole hour after its notBefore.
		signed = ds.NotBefore.UTC().Truncate(time.Hour)
		if signed.Before(ds.NotBefore) {
			signed = signed.Add(time.Hour)
		}
		if signed.After(t) {
			return validityInfo{}, errors.New("mdoc: document signer certificate is not yet valid")
		}
	}
	d := i.Validity
	if d <= 0 {
		d = defaultValidity
	}
	d = d.Truncate(time.Second)
	if d <= 0 {
		return validityInfo{}, errors.New("mdoc: validity shorter than one second")
	}
	until := signed.Add(d)
	if flip, ok := nextAgeChange(claims, signed); ok && flip.Before(until) {
		until = flip
	}
	if dsEnd := ds.NotAfter.UTC().Truncate(time.Second); until.After(dsEnd) {
		// The MSO must not outlive its Document Signer certificate (verifiers
		// check the DS at validity time): the credential expires with it.
		// Less than a day left means the DS is due for rotation.
		if dsEnd.Sub(signed) < 24*time.Hour {
			return validityInfo{}, fmt.Errorf("mdoc: document signer certificate expires within a day (rotate the DS certificate)")
		}
		until = dsEnd
	}
	s, err := NewTDate(signed)
	if err != nil {
		return validityInfo{}, err
	}
	u, err := NewTDate(until)
	if err != nil {
		return validityInfo{}, err
	}
	return validityInfo{Signed: s, ValidFrom: s, ValidUntil: u}, nil
}

// nextAgeChange returns the first instant after from at which an issued age
// element would become wrong: age_over_NN=false turns true on the NNth birthday,
// age_in_years changes on every birthday (mdoc.md §3.1 "age_over_NN guidance").
// Only namespaces holding a full-date birth_date are considered.
func nextAgeChange(claims map[string]map[string]any, from time.Time) (time.Time, bool) {
	var best time.Time
	for _, els := range claims {
		bd, ok := els["birth_date"].(FullDate)
		if !ok {
			continue
		}
		birth, err := bd.Time()
		if err != nil {
			continue
		}
		consider := func(t time.Time) {
			if t.After(from) && (best.IsZero() || t.Before(best)) {
				best = t
			}
		}
		for id, v := range els {
			if len(id) == len("age_over_NN") && id[:9] == "age_over_" {
				n := int(id[9]-'0')*10 + int(id[10]-'0')
				if b, ok := v.(bool); ok && !b {
					consider(birth.AddDate(n, 0, 0))
				}
			}
		}
		if _, ok := els["age_in_years"]; ok {
			for y := from.Year() - birth.Year(); y <= from.Year()-birth.Year()+1; y++ {
				consider(birth.AddDate(y, 0, 0))
			}
		}
	}
	return best, !best.IsZero()
}

// sign builds and signs one IssuerSigned for a device key.
func (i *Issuer) sign(p *prepared, coseKey []byte) ([]byte, error) {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails (Go 1.24+)
	shuffler := mrand.New(mrand.NewChaCha8(seed))

	digests := make([]nsDigests, 0, len(p.namespaces))
	items := make([]nsItems, 0, len(p.namespaces))
	for _, ns := range p.namespaces {
		total := len(ns.elements) + i.Decoys
		ids := shuffler.Perm(total) // digestIDs: a shuffle of 0..N+D-1 (mdoc.md §1.3)
		// One buffer for the salts and the digests, sums[id] the digest of id.
		random := make([]byte, issuanceRandomLen*len(ns.elements)+sha256.Size*total)
		_, _ = rand.Read(random[:issuanceRandomLen*len(ns.elements)+sha256.Size*i.Decoys])
		salts, sumBuf := random[:issuanceRandomLen*len(ns.elements)], random[issuanceRandomLen*len(ns.elements):]
		sums := make([][]byte, total)
		for n, id := range ids[len(ns.elements):] { // decoys: random digests
			sums[id] = sumBuf[n*sha256.Size : (n+1)*sha256.Size]
		}
		nsi := nsItems{name: ns.name, items: make([][]byte, len(ns.elements))}
		for n, el := range ns.elements {
			tagged := taggedItem(uint32(ids[n]), salts[n*issuanceRandomLen:(n+1)*issuanceRandomLen], el.id, el.value)
			sum := sumBuf[(i.Decoys+n)*sha256.Size : (i.Decoys+n+1)*sha256.Size]
			h := sha256.Sum256(tagged) // over the whole #6.24 item (mdoc.md §1.5)
			copy(sum, h[:])
			sums[ids[n]] = sum
			nsi.items[n] = tagged
		}
		// The digest ids are 0..total-1, each once: ascending is index order.
		d := nsDigests{name: ns.name, ids: make([]uint32, total), sums: sums}
		for id := range d.ids {
			d.ids[id] = uint32(id)
		}
		digests = append(digests, d)
		items = append(items, nsi)
	}
	mso := encodeMSO(encodeValueDigests(digests), coseKey, p.docType, p.validityEnc)
	payload := encodeTag24(mso) // MobileSecurityObjectBytes
	sig, err := signES256(i.Signer, protectedES256, payload)
	if err != nil {
		return nil, err
	}
	auth := encodeSign1(protectedES256, p.unprotected, payload, sig)
	return encodeIssuerSigned(items, auth), nil
}
