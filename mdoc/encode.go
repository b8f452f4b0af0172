package mdoc

import (
	"bytes"
	"errors"
	"slices"
)

// Hand-written encoders for the structures an issuance builds for every
// credential (ISO 18013-5 §8.3.2.1.2.2, §9.1.2.4; RFC 9052 §4.2, §4.4). They
// give exactly the bytes of the reflective encoders they replace — ordEnc
// for structs in field order, detEnc (RFC 8949 §4.2.1 core deterministic)
// for maps — which encode_test.go checks byte for byte; the verifier still
// decodes with the library.

// appendBstr appends b as a byte string.
func appendBstr(dst, b []byte) []byte {
	return append(appendHead(dst, 2, uint64(len(b))), b...)
}

// appendTDate appends #6.0(tstr) of t (NewTDate's checks included).
func appendTDate(dst []byte, t TDate) ([]byte, error) {
	v, err := NewTDate(t.Time)
	if err != nil {
		return nil, err
	}
	return appendText(append(dst, 0xc0), v.Raw), nil
}

// encodeValidity returns validityInfo: signed, validFrom, validUntil and
// expectedUpdate when set, in that order.
func encodeValidity(v validityInfo) ([]byte, error) {
	n := uint64(3)
	if v.ExpectedUpdate != nil {
		n = 4
	}
	b := appendHead(make([]byte, 0, 128), 5, n)
	var err error
	for _, f := range []struct {
		key string
		t   *TDate
	}{{"signed", &v.Signed}, {"validFrom", &v.ValidFrom}, {"validUntil", &v.ValidUntil}, {"expectedUpdate", v.ExpectedUpdate}} {
		if f.t == nil {
			continue
		}
		if b, err = appendTDate(appendText(b, f.key), *f.t); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// encodedTextKey is a map key with its encoding, for core deterministic
// order (the bytewise order of the encoded keys, RFC 8949 §4.2.1).
type encodedTextKey struct {
	enc []byte
	i   int
}

// sortedTextKeys returns the indexes of names in core deterministic order.
func sortedTextKeys(names []string) []int {
	keys := make([]encodedTextKey, len(names))
	for i, n := range names {
		keys[i] = encodedTextKey{enc: appendText(nil, n), i: i}
	}
	slices.SortFunc(keys, func(a, b encodedTextKey) int { return bytes.Compare(a.enc, b.enc) })
	out := make([]int, len(keys))
	for i, k := range keys {
		out[i] = k.i
	}
	return out
}

// nsDigests are the digests of one namespace, by digestID.
type nsDigests struct {
	name string
	ids  []uint32 // ascending
	sums [][]byte // sums[i] is the digest of ids[i]
}

// encodeValueDigests returns ValueDigests: namespace → {digestID → digest},
// both maps in core deterministic order (uint keys: ascending).
func encodeValueDigests(nss []nsDigests) []byte {
	names := make([]string, len(nss))
	size := 8
	for i, ns := range nss {
		names[i] = ns.name
		size += len(ns.name) + 8 + len(ns.ids)*(5+3+32)
	}
	b := appendHead(make([]byte, 0, size), 5, uint64(len(nss)))
	for _, i := range sortedTextKeys(names) {
		ns := nss[i]
		b = appendHead(appendText(b, ns.name), 5, uint64(len(ns.ids)))
		for j, id := range ns.ids {
			b = appendBstr(appendHead(b, 0, uint64(id)), ns.sums[j])
		}
	}
	return b
}

// encodeMSO returns the MobileSecurityObject in Annex D key order.
func encodeMSO(valueDigests, deviceKey []byte, docType string, validity []byte) []byte {
	b := make([]byte, 0, 128+len(valueDigests)+len(deviceKey)+len(docType)+len(validity))
	b = append(b, 0xa6)
	b = appendText(appendText(b, "version"), "1.0")
	b = appendText(appendText(b, "digestAlgorithm"), "SHA-256")
	b = append(appendText(b, "valueDigests"), valueDigests...)
	b = append(appendText(b, "deviceKeyInfo"), 0xa1)
	b = append(appendText(b, "deviceKey"), deviceKey...)
	b = appendText(appendText(b, "docType"), docType)
	return append(appendText(b, "validityInfo"), validity...)
}

// encodeTag24 returns #6.24(bstr(inner)).
func encodeTag24(inner []byte) []byte {
	return appendBstr(append(make([]byte, 0, 11+len(inner)), 0xd8, tagEncodedCBOR), inner)
}

// encodeSigStructure returns ["Signature1", protected, empty bstr, payload]
// (RFC 9052 §4.4, empty external_aad).
func encodeSigStructure(protected, payload []byte) []byte {
	b := make([]byte, 0, 32+len(protected)+len(payload))
	b = appendText(append(b, 0x84), "Signature1")
	b = appendBstr(b, protected)
	b = append(b, 0x40)
	return appendBstr(b, payload)
}

// encodeUnprotected returns {33: x5chain}: one certificate as a bstr, more
// as an array of bstr (RFC 9360 §2).
func encodeUnprotected(certs [][]byte) ([]byte, error) {
	if len(certs) == 0 {
		return nil, errors.New("mdoc: x5chain needs the document signer certificate")
	}
	b := append(make([]byte, 0, 16+len(certs)*1024), 0xa1, 0x18, headerX5Chain)
	if len(certs) == 1 {
		return appendBstr(b, certs[0]), nil
	}
	b = appendHead(b, 4, uint64(len(certs)))
	for _, c := range certs {
		b = appendBstr(b, c)
	}
	return b, nil
}

// encodeSign1 returns the untagged COSE_Sign1 [protected, unprotected,
// payload, signature].
func encodeSign1(protected, unprotected, payload, signature []byte) []byte {
	b := make([]byte, 0, 16+len(protected)+len(unprotected)+len(payload)+len(signature))
	b = appendBstr(append(b, 0x84), protected)
	b = append(b, unprotected...)
	b = appendBstr(b, payload)
	return appendBstr(b, signature)
}

// nsItems are the #6.24 IssuerSignedItems of one namespace.
type nsItems struct {
	name  string
	items [][]byte
}

// encodeIssuerSigned returns IssuerSigned {nameSpaces, issuerAuth}, the
// namespaces in core deterministic order.
func encodeIssuerSigned(nss []nsItems, issuerAuth []byte) []byte {
	names := make([]string, len(nss))
	size := 32 + len(issuerAuth)
	for i, ns := range nss {
		names[i] = ns.name
		size += len(ns.name) + 8
		for _, it := range ns.items {
			size += len(it)
		}
	}
	b := append(make([]byte, 0, size), 0xa2)
	b = appendHead(appendText(b, "nameSpaces"), 5, uint64(len(nss)))
	for _, i := range sortedTextKeys(names) {
		ns := nss[i]
		b = appendHead(appendText(b, ns.name), 4, uint64(len(ns.items)))
		for _, it := range ns.items {
			b = append(b, it...)
		}
	}
	return append(appendText(b, "issuerAuth"), issuerAuth...)
}
