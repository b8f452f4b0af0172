package mdoc

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Hydration per ISO/IEC TS 23220-3 §8.1 as publicly restated (iso23220.md §2.1;
// spruceid/isomdl src/definitions/issuer_signed_dehydrated.rs):
//
//	NameSpacedData = { ? "dataIdentifier": tstr, "namespaces": { + NameSpace => [ + {"name": tstr, "value": any} ] } }
//	IssuerSignedDehydrated = { ? "dataIdentifier": tstr, ? "nameSpaces": { + NameSpace => [ + #6.24(bstr .cbor IssuerSignedItemDehydrated) ] }, "issuerAuth": COSE_Sign1 }
//	IssuerSignedItemDehydrated = { "digestID": uint, "random": bstr, "elementIdentifier": tstr, "elementValue": any / nil }
//
// The key spellings are those of the public draft implementation; the
// published TS was not available.

type nameSpacedDataIn struct {
	DataIdentifier *string                            `cbor:"dataIdentifier"`
	Namespaces     map[string][]nameSpacedDataElement `cbor:"namespaces"`
}

type nameSpacedDataElement struct {
	Name  string          `cbor:"name"`
	Value cbor.RawMessage `cbor:"value"`
}

type issuerSignedDehydratedIn struct {
	DataIdentifier *string                      `cbor:"dataIdentifier"`
	NameSpaces     map[string][]cbor.RawMessage `cbor:"nameSpaces"`
	IssuerAuth     cbor.RawMessage              `cbor:"issuerAuth"`
}

// cborNull is the encoding of nil (simple value 22).
const cborNull = 0xf6

// Hydrate builds an IssuerSigned from an IssuerSignedDehydrated and the
// matching NameSpacedData (ISO/IEC TS 23220-3 §8.1.2-8.1.3):
//  1. the dataIdentifier of both must be equal (or absent in both);
//  2. each dehydrated item whose elementValue is nil takes the value of the
//     element with the same name in the same namespace of NameSpacedData (the
//     counts and names must match); a non-nil elementValue is kept;
//  3. the item is re-encoded with its keys in the dehydrated order and
//     elementValue last (keys in preferred serialization, values as the exact
//     received bytes) and wrapped as #6.24(bstr);
//  4. issuerAuth is copied unchanged.
//
// The result's digests are not checked here; Verify does that.
func Hydrate(dehydrated, nameSpacedData []byte) ([]byte, error) {
	if len(dehydrated) > MaxInputSize || len(nameSpacedData) > MaxInputSize {
		return nil, errors.New("mdoc: hydrate: input too large")
	}
	var d issuerSignedDehydratedIn
	if err := decMode.Unmarshal(dehydrated, &d); err != nil {
		return nil, fmt.Errorf("mdoc: hydrate: IssuerSignedDehydrated: %w", err)
	}
	var nsd nameSpacedDataIn
	if err := decMode.Unmarshal(nameSpacedData, &nsd); err != nil {
		return nil, fmt.Errorf("mdoc: hydrate: NameSpacedData: %w", err)
	}
	if (d.DataIdentifier == nil) != (nsd.DataIdentifier == nil) ||
		d.DataIdentifier != nil && *d.DataIdentifier != *nsd.DataIdentifier {
		return nil, errors.New("mdoc: hydrate: dataIdentifier does not match")
	}
	if len(d.IssuerAuth) == 0 {
		return nil, errors.New("mdoc: hydrate: issuerAuth missing")
	}
	if len(d.NameSpaces) == 0 {
		return nil, errors.New("mdoc: hydrate: no dehydrated namespaces")
	}
	out := make(map[string][]cbor.RawMessage, len(d.NameSpaces))
	for ns, items := range d.NameSpaces {
		data, ok := nsd.Namespaces[ns]
		if !ok {
			return nil, fmt.Errorf("mdoc: hydrate: namespace %s missing from NameSpacedData", ns)
		}
		if len(data) != len(items) {
			return nil, fmt.Errorf("mdoc: hydrate: namespace %s: %d dehydrated items but %d data elements", ns, len(items), len(data))
		}
		values := make(map[string]cbor.RawMessage, len(data))
		for _, e := range data {
			if e.Name == "" || len(e.Value) == 0 {
				return nil, fmt.Errorf("mdoc: hydrate: namespace %s: element without name or value", ns)
			}
			if _, dup := values[e.Name]; dup {
				return nil, fmt.Errorf("mdoc: hydrate: %s/%s: duplicate data element", ns, e.Name)
			}
			values[e.Name] = e.Value
		}
		hydrated := make([]cbor.RawMessage, len(items))
		for n, raw := range items {
			h, err := hydrateItem(raw, values)
			if err != nil {
				return nil, fmt.Errorf("mdoc: hydrate: %s[%d]: %w", ns, n, err)
			}
			hydrated[n] = h
		}
		out[ns] = hydrated
	}
	for ns := range nsd.Namespaces {
		if _, ok := d.NameSpaces[ns]; !ok {
			return nil, fmt.Errorf("mdoc: hydrate: namespace %s has data but no dehydrated items", ns)
		}
	}
	nsBytes, err := detEnc.Marshal(out)
	if err != nil {
		return nil, err
	}
	return ordEnc.Marshal(issuerSigned{NameSpaces: nsBytes, IssuerAuth: d.IssuerAuth})
}

func hydrateItem(raw []byte, values map[string]cbor.RawMessage) ([]byte, error) {
	inner, err := unwrapEncodedCBOR(raw)
	if err != nil {
		return nil, err
	}
	entries, err := decodeOrderedMap(inner)
	if err != nil {
		return nil, err
	}
	if len(entries) != 4 {
		return nil, errors.New("IssuerSignedItemDehydrated must have exactly 4 keys")
	}
	var id string
	var value cbor.RawMessage
	head := make([]mapEntry, 0, 4)
	for _, e := range entries {
		switch e.Key {
		case "elementIdentifier":
			if err := decMode.Unmarshal(e.Value, &id); err != nil || id == "" {
				return nil, errors.New("elementIdentifier must be a non-empty text string")
			}
			head = append(head, e)
		case "elementValue":
			value = e.Value
		case "digestID", "random":
			head = append(head, e)
		default:
			return nil, fmt.Errorf("unexpected key %q", e.Key)
		}
	}
	if len(head) != 3 || value == nil {
		return nil, errors.New("IssuerSignedItemDehydrated keys incomplete")
	}
	data, ok := values[id]
	if !ok {
		return nil, fmt.Errorf("element %s missing from NameSpacedData", id)
	}
	if len(value) == 1 && value[0] == cborNull {
		value = data
	}
	item := []byte{0xa4} // map(4)
	for _, e := range head {
		k, err := detEnc.Marshal(e.Key)
		if err != nil {
			return nil, err
		}
		item = append(append(item, k...), e.Value...)
	}
	k, _ := detEnc.Marshal("elementValue")
	item = append(append(item, k...), value...)
	return encodedCBOR(item)
}
