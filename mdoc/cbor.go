package mdoc

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Limits applied when decoding mdoc bytes that may come from outside (wallets,
// other issuers). They bound memory and recursion; a genuine IssuerSigned with a
// portrait stays far below them.
const (
	MaxInputSize     = 4 << 20 // bytes of one IssuerSigned / NameSpacedData
	maxNestedLevels  = 24
	maxArrayElements = 4096
	maxMapPairs      = 4096
)

var (
	// detEnc is RFC 8949 §4.2.1 core deterministic encoding (shortest integer and
	// length heads, definite lengths, map keys sorted bytewise) except that floats
	// are never shortened (mdoc.md §1.4: float16 breaks re-encoding verifiers).
	// Used for element values, valueDigests, COSE_Key and COSE structures.
	detEnc cbor.EncMode
	// ordEnc has the same preferred serialization but keeps struct fields in
	// declaration order. Used where the spec fixes the map order: IssuerSignedItem
	// (digestID, random, elementIdentifier, elementValue — ISO 18013-5 §8.3.2.1.2.2
	// CDDL order, mdoc.md §1.3), the MSO and IssuerSigned (Annex D order).
	ordEnc cbor.EncMode
	// decMode decodes untrusted mdoc bytes: no duplicate map keys, no indefinite
	// lengths, valid UTF-8 only, bounded nesting and container sizes, case-sensitive
	// struct field names, trailing bytes rejected by Unmarshal.
	decMode cbor.DecMode
)

func init() {
	det := cbor.CoreDetEncOptions()
	det.ShortestFloat = cbor.ShortestFloatNone
	det.NaNConvert = cbor.NaNConvertNone
	det.InfConvert = cbor.InfConvertNone
	det.Time = cbor.TimeRFC3339
	det.TimeTag = cbor.EncTagRequired
	det.IndefLength = cbor.IndefLengthForbidden
	det.BigIntConvert = cbor.BigIntConvertReject
	var err error
	if detEnc, err = det.EncMode(); err != nil {
		panic(err)
	}
	ord := det
	ord.Sort = cbor.SortNone
	if ordEnc, err = ord.EncMode(); err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		UTF8:              cbor.UTF8RejectInvalid,
		MaxNestedLevels:   maxNestedLevels,
		MaxArrayElements:  maxArrayElements,
		MaxMapPairs:       maxMapPairs,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		BignumTag:         cbor.BignumTagForbidden,
		TimeTagToAny:      cbor.TimeTagToTime,
		IntDec:            cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Tag numbers used by mdoc.
const (
	tagTDate            = 0    // RFC 8949 §3.4.1 date/time string
	tagEncodedCBOR      = 24   // RFC 8949 §3.4.5.1 encoded CBOR data item
	tagFullDate         = 1004 // RFC 8943 full-date string
	fullDateLayout      = "2006-01-02"
	tdateLayout         = "2006-01-02T15:04:05Z"
	maxDigestID         = math.MaxInt32 // digestID < 2^31 (mdoc.md §1.3)
	minRandomLen        = 16            // ISO 18013-5 §9.1.2.5
	issuanceRandomLen   = 32
	defaultValidity     = 30 * 24 * time.Hour
	maxCertificateCount = 8
)

// FullDate is an RFC 8943 full-date ("YYYY-MM-DD"), encoded as tag 1004 over a
// text string (ISO 18013-5 §7.2.1, e.g. birth_date).
type FullDate string

// ParseFullDate checks the YYYY-MM-DD form and the calendar date.
func ParseFullDate(s string) (FullDate, error) {
	if len(s) != len(fullDateLayout) {
		return "", errors.New("full-date must be YYYY-MM-DD")
	}
	t, err := time.Parse(fullDateLayout, s)
	if err != nil || t.Format(fullDateLayout) != s {
		return "", errors.New("full-date must be a valid YYYY-MM-DD date")
	}
	return FullDate(s), nil
}

// Time returns the date at 00:00 UTC.
func (d FullDate) Time() (time.Time, error) { return time.Parse(fullDateLayout, string(d)) }

// MarshalCBOR encodes #6.1004(tstr).
func (d FullDate) MarshalCBOR() ([]byte, error) {
	if _, err := ParseFullDate(string(d)); err != nil {
		return nil, err
	}
	return detEnc.Marshal(cbor.Tag{Number: tagFullDate, Content: string(d)})
}

// UnmarshalCBOR accepts only #6.1004 over a valid YYYY-MM-DD text string.
func (d *FullDate) UnmarshalCBOR(b []byte) error {
	var t cbor.RawTag
	if err := decMode.Unmarshal(b, &t); err != nil {
		return err
	}
	if t.Number != tagFullDate {
		return fmt.Errorf("full-date: tag %d, want %d", t.Number, tagFullDate)
	}
	var s string
	if err := decMode.Unmarshal(t.Content, &s); err != nil {
		return fmt.Errorf("full-date: content is not a text string")
	}
	v, err := ParseFullDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// TDate is a date-time encoded as tag 0 over an RFC 3339 string. The issuer only
// emits UTC with whole seconds and a "Z" suffix (mdoc.md §1.4, §1.6; EU PID
// rulebook §3.1.2). When decoded, Raw keeps the received string so strict checks
// can see fractions or offsets that time.Time normalises away.
type TDate struct {
	time.Time
	Raw string
}

// NewTDate returns a TDate for t, which must have whole seconds.
func NewTDate(t time.Time) (TDate, error) {
	if t.IsZero() {
		return TDate{}, errors.New("tdate: zero time")
	}
	if t.Nanosecond() != 0 {
		return TDate{}, errors.New("tdate: fractional seconds are not allowed")
	}
	u := t.UTC()
	return TDate{Time: u, Raw: u.Format(tdateLayout)}, nil
}

// MarshalCBOR encodes #6.0("YYYY-MM-DDThh:mm:ssZ").
func (t TDate) MarshalCBOR() ([]byte, error) {
	v, err := NewTDate(t.Time)
	if err != nil {
		return nil, err
	}
	return detEnc.Marshal(cbor.Tag{Number: tagTDate, Content: v.Raw})
}

// UnmarshalCBOR accepts #6.0 over an RFC 3339 date-time string.
func (t *TDate) UnmarshalCBOR(b []byte) error {
	var rt cbor.RawTag
	if err := decMode.Unmarshal(b, &rt); err != nil {
		return err
	}
	if rt.Number != tagTDate {
		return fmt.Errorf("tdate: tag %d, want 0", rt.Number)
	}
	var s string
	if err := decMode.Unmarshal(rt.Content, &s); err != nil {
		return errors.New("tdate: content is not a text string")
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return errors.New("tdate: not an RFC 3339 date-time")
	}
	*t = TDate{Time: v.UTC(), Raw: s}
	return nil
}

// MarshalJSON renders the RFC 3339 UTC form.
func (t TDate) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(time.RFC3339Nano) + `"`), nil
}

// strictTDate reports whether a received tdate string is whole-second UTC "Z".
func strictTDate(s string) bool {
	t, err := time.Parse(tdateLayout, s)
	return err == nil && t.Format(tdateLayout) == s
}

// encodedCBOR returns the bytes of #6.24(bstr(inner)): d8 18 + shortest bstr head + inner.
func encodedCBOR(inner []byte) ([]byte, error) {
	return ordEnc.Marshal(cbor.Tag{Number: tagEncodedCBOR, Content: inner})
}

// unwrapEncodedCBOR checks that b is exactly #6.24(bstr) and returns the bstr content.
func unwrapEncodedCBOR(b []byte) ([]byte, error) {
	var rt cbor.RawTag
	if err := decMode.Unmarshal(b, &rt); err != nil {
		return nil, err
	}
	if rt.Number != tagEncodedCBOR {
		return nil, fmt.Errorf("tag %d, want 24", rt.Number)
	}
	if len(rt.Content) == 0 || rt.Content[0]>>5 != 2 {
		return nil, errors.New("tag 24 content is not a byte string")
	}
	var inner []byte
	if err := decMode.Unmarshal(rt.Content, &inner); err != nil {
		return nil, err
	}
	return inner, nil
}

// mapEntry is one key/value pair of a CBOR map, with the exact received bytes.
type mapEntry struct {
	Key   string
	Value cbor.RawMessage
}

// decodeOrderedMap decodes a definite-length CBOR map with text keys and keeps
// the order and raw bytes of its entries (fxamacker has no ordered map type).
// Duplicate keys are rejected.
func decodeOrderedMap(b []byte) ([]mapEntry, error) {
	if err := decMode.Wellformed(b); err != nil {
		return nil, err
	}
	n, rest, err := readHead(b, 5)
	if err != nil {
		return nil, err
	}
	if n > maxMapPairs {
		return nil, errors.New("map too large")
	}
	out := make([]mapEntry, 0, n)
	seen := make(map[string]bool, n)
	for range n {
		var k string
		if rest, err = decMode.UnmarshalFirst(rest, &k); err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		if seen[k] {
			return nil, fmt.Errorf("duplicate map key %q", k)
		}
		seen[k] = true
		var v cbor.RawMessage
		if rest, err = decMode.UnmarshalFirst(rest, &v); err != nil {
			return nil, fmt.Errorf("map value of %q: %w", k, err)
		}
		out = append(out, mapEntry{Key: k, Value: v})
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing bytes after map")
	}
	return out, nil
}

// readHead reads a definite-length head of the given major type and returns
// its argument and the remaining bytes.
func readHead(b []byte, major byte) (uint64, []byte, error) {
	if len(b) == 0 {
		return 0, nil, errors.New("empty input")
	}
	if b[0]>>5 != major {
		return 0, nil, fmt.Errorf("major type %d, want %d", b[0]>>5, major)
	}
	arg, n, err := headArg(b)
	if err != nil {
		return 0, nil, err
	}
	return arg, b[n:], nil
}

// headArg decodes the argument of the head at b[0] and returns it with the head
// length. It rejects reserved and indefinite additional information.
func headArg(b []byte) (arg uint64, n int, err error) {
	ai := b[0] & 0x1f
	switch {
	case ai < 24:
		return uint64(ai), 1, nil
	case ai <= 27:
		w := 1 << (ai - 24)
		if len(b) < 1+w {
			return 0, 0, errors.New("truncated head")
		}
		for _, c := range b[1 : 1+w] {
			arg = arg<<8 | uint64(c)
		}
		return arg, 1 + w, nil
	case ai == 31:
		return 0, 0, errors.New("indefinite length is not allowed")
	default:
		return 0, 0, errors.New("reserved additional information")
	}
}

// checkPreferred walks one CBOR data item and reports the first deviation from
// the mdoc profile of preferred serialization (mdoc.md §1.4, §7.1, §8 check 2):
// every head uses its shortest form, lengths are definite, and no floats or
// non-basic simple values occur. Trailing bytes are an error. It does not sort-check
// maps (ISO 18013-5 does not require key sorting).
func checkPreferred(b []byte) error {
	rest, err := walkPreferred(b, 0)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("trailing bytes")
	}
	return nil
}

func walkPreferred(b []byte, depth int) ([]byte, error) {
	if depth > maxNestedLevels {
		return nil, errors.New("nesting too deep")
	}
	if len(b) == 0 {
		return nil, errors.New("truncated item")
	}
	major, ai := b[0]>>5, b[0]&0x1f
	if major == 7 {
		switch {
		case ai >= 20 && ai <= 22: // false, true, null
			return b[1:], nil
		case ai >= 25 && ai <= 27:
			return nil, errors.New("floating-point value")
		default:
			return nil, fmt.Errorf("simple value %d is not allowed", ai)
		}
	}
	arg, n, err := headArg(b)
	if err != nil {
		return nil, err
	}
	if ai >= 24 {
		var min uint64
		switch ai {
		case 24:
			min = 24
		case 25:
			min = 1 << 8
		case 26:
			min = 1 << 16
		case 27:
			min = 1 << 32
		}
		if arg < min {
			return nil, fmt.Errorf("non-shortest head 0x%02x for value %d", b[0], arg)
		}
	}
	rest := b[n:]
	switch major {
	case 0, 1:
		return rest, nil
	case 2, 3:
		if uint64(len(rest)) < arg {
			return nil, errors.New("truncated string")
		}
		return rest[arg:], nil
	case 4, 5:
		count := arg
		if major == 5 {
			if arg > maxMapPairs {
				return nil, errors.New("map too large")
			}
			count = arg * 2
		} else if arg > maxArrayElements {
			return nil, errors.New("array too large")
		}
		for range count {
			if rest, err = walkPreferred(rest, depth+1); err != nil {
				return nil, err
			}
		}
		return rest, nil
	case 6:
		return walkPreferred(rest, depth+1)
	}
	return nil, errors.New("unreachable major type")
}

// fromCBOR turns a value decoded into `any` into the typed values this package
// issues: tag 1004 -> FullDate, tag 0 -> TDate, text-keyed maps ->
// map[string]any. Other maps keep map[any]any.
func fromCBOR(v any) any {
	switch x := v.(type) {
	case cbor.Tag:
		if x.Number == tagFullDate {
			if s, ok := x.Content.(string); ok {
				return FullDate(s)
			}
		}
		return cbor.Tag{Number: x.Number, Content: fromCBOR(x.Content)}
	case time.Time:
		return TDate{Time: x.UTC(), Raw: x.UTC().Format(time.RFC3339Nano)}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromCBOR(e)
		}
		return out
	case map[any]any:
		allText := true
		for k := range x {
			if reflect.TypeOf(k).Kind() != reflect.String {
				allText = false
				break
			}
		}
		if allText {
			out := make(map[string]any, len(x))
			for k, e := range x {
				out[k.(string)] = fromCBOR(e)
			}
			return out
		}
		out := make(map[any]any, len(x))
		for k, e := range x {
			out[k] = fromCBOR(e)
		}
		return out
	}
	return v
}

// appendHead appends the head of a data item of major type major (0..7)
// with argument n in preferred serialization (RFC 8949 §4.2.1: the
// shortest form).
func appendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= 0xff:
		return append(dst, m|24, byte(n))
	case n <= 0xffff:
		return append(dst, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(dst, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendText(dst []byte, s string) []byte {
	return append(appendHead(dst, 3, uint64(len(s))), s...)
}

// taggedItem returns #6.24(bstr(IssuerSignedItem)) for one element: the
// bytes ordEnc gives for issuerSignedItem wrapped by encodedCBOR (map of
// four members in the order digestID, random, elementIdentifier,
// elementValue), built in one buffer. value is the element's CBOR.
func taggedItem(digestID uint32, random []byte, id string, value []byte) []byte {
	const (
		kDigestID = "digestID"
		kRandom   = "random"
		kID       = "elementIdentifier"
		kValue    = "elementValue"
	)
	itemLen := 1 + // map(4)
		1 + len(kDigestID) + headLen(uint64(digestID)) +
		1 + len(kRandom) + headLen(uint64(len(random))) + len(random) +
		headLen(uint64(len(kID))) + len(kID) + headLen(uint64(len(id))) + len(id) +
		1 + len(kValue) + len(value)
	b := make([]byte, 0, 2+headLen(uint64(itemLen))+itemLen)
	b = append(b, 0xd8, tagEncodedCBOR) // tag 24
	b = appendHead(b, 2, uint64(itemLen))
	b = append(b, 0xa4)
	b = appendText(b, kDigestID)
	b = appendHead(b, 0, uint64(digestID))
	b = appendText(b, kRandom)
	b = append(appendHead(b, 2, uint64(len(random))), random...)
	b = appendText(b, kID)
	b = appendText(b, id)
	b = appendText(b, kValue)
	return append(b, value...)
}

// headLen is the size of a head with argument n in preferred serialization.
func headLen(n uint64) int {
	switch {
	case n < 24:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	}
	return 9
}
