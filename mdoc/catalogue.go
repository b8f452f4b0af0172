package mdoc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// ElementType names the CBOR type of a data element (ISO 18013-5 §7.2.1 tables,
// mdoc.md §1.4 and §3).
type ElementType string

// Element types. "date" is ISO 18013-5's "tdate or full-date" (issue_date,
// expiry_date): a "YYYY-MM-DD" input becomes a full-date, an RFC 3339 date-time
// a tdate.
const (
	TypeString   ElementType = "string"
	TypeUint     ElementType = "uint"
	TypeInt      ElementType = "int"
	TypeBool     ElementType = "bool"
	TypeFullDate ElementType = "full-date"
	TypeTDate    ElementType = "tdate"
	TypeDate     ElementType = "date"
	TypeBytes    ElementType = "bytes"
	TypeArray    ElementType = "array"
	TypeMap      ElementType = "map"
)

// String formats checked in addition to the type.
const (
	FormatAlpha2    = "alpha2"    // ISO 3166-1 alpha-2, upper case
	FormatISO3166_2 = "iso3166-2" // ISO 3166-2 subdivision code, e.g. US-NY
	FormatImage     = "image"     // bytes starting with a JPEG or JPEG 2000 signature
)

// DefaultMaxLength bounds text elements when Element.MaxLength is zero: EU PID
// rulebook §3.1.2 and ISO 18013-5 Latin-1 fields allow at most 150 characters.
const DefaultMaxLength = 150

// Element describes one data element (or a field of a map / the items of an
// array). The yaml tags are the configuration format.
type Element struct {
	Type      ElementType        `yaml:"type" json:"type"`
	Mandatory bool               `yaml:"mandatory,omitempty" json:"mandatory,omitempty"`
	MaxLength int                `yaml:"max_length,omitempty" json:"max_length,omitempty"` // text: characters; bytes: octets (0 = default)
	Latin1    bool               `yaml:"latin1,omitempty" json:"latin1,omitempty"`         // text restricted to ISO/IEC 8859-1
	Format    string             `yaml:"format,omitempty" json:"format,omitempty"`         // see Format* constants
	Enum      []string           `yaml:"enum,omitempty" json:"enum,omitempty"`             // allowed text values
	IntEnum   []int64            `yaml:"int_enum,omitempty" json:"int_enum,omitempty"`     // allowed integer values
	Min       *int64             `yaml:"min,omitempty" json:"min,omitempty"`
	Max       *int64             `yaml:"max,omitempty" json:"max,omitempty"`
	Items     *Element           `yaml:"items,omitempty" json:"items,omitempty"`           // array item type
	MinItems  int                `yaml:"min_items,omitempty" json:"min_items,omitempty"`   // arrays
	Fields    map[string]Element `yaml:"fields,omitempty" json:"fields,omitempty"`         // map fields (text keys)
	MinFields int                `yaml:"min_fields,omitempty" json:"min_fields,omitempty"` // maps: at least this many fields present
}

// Namespace lists the data elements of one namespace.
type Namespace struct {
	Elements map[string]Element `yaml:"elements" json:"elements"`
}

// DocType is one document type with its namespaces.
type DocType struct {
	DocType    string               `yaml:"doctype" json:"doctype"`
	Namespaces map[string]Namespace `yaml:"namespaces" json:"namespaces"`
}

// CatalogueConfig is the configuration shape of a catalogue file:
//
//	doctypes:
//	  - doctype: org.example.card.1
//	    namespaces:
//	      org.example.card.1:
//	        elements:
//	          holder_name: {type: string, mandatory: true}
type CatalogueConfig struct {
	DocTypes []DocType `yaml:"doctypes" json:"doctypes"`
}

// Catalogue is an immutable set of doctypes. Build it with NewCatalogue,
// DefaultCatalogue or Catalogue.Extend.
type Catalogue struct {
	docTypes map[string]DocType
	// mandatory lists each doctype's mandatory elements (namespace,
	// identifier), so Validate does not walk the whole definition.
	mandatory map[string][][2]string
}

// NewCatalogue checks the definitions and returns a catalogue. Defining the same
// doctype twice merges the definitions as Extend does.
func NewCatalogue(docTypes ...DocType) (*Catalogue, error) {
	return (&Catalogue{docTypes: map[string]DocType{}}).Extend(docTypes...)
}

// ParseCatalogueYAML reads a CatalogueConfig document (unknown keys rejected).
func ParseCatalogueYAML(data []byte) (CatalogueConfig, error) {
	var cfg CatalogueConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return CatalogueConfig{}, fmt.Errorf("mdoc: catalogue: %w", err)
	}
	return cfg, nil
}

// Extend returns a new catalogue with docTypes added. For a doctype already
// present, namespaces are merged; within a namespace, an element given again
// replaces the existing definition. This is how an operator adds a namespace
// (e.g. AAMVA or a domestic PID namespace) or an element by configuration.
func (c *Catalogue) Extend(docTypes ...DocType) (*Catalogue, error) {
	out := &Catalogue{docTypes: make(map[string]DocType, len(c.docTypes)+len(docTypes))}
	for k, dt := range c.docTypes {
		out.docTypes[k] = cloneDocType(dt)
	}
	for _, dt := range docTypes {
		if dt.DocType == "" {
			return nil, fmt.Errorf("mdoc: catalogue: doctype without name")
		}
		if len(dt.Namespaces) == 0 {
			return nil, fmt.Errorf("mdoc: catalogue: %s: no namespaces", dt.DocType)
		}
		cur, ok := out.docTypes[dt.DocType]
		if !ok {
			cur = DocType{DocType: dt.DocType, Namespaces: map[string]Namespace{}}
		}
		for nsName, ns := range dt.Namespaces {
			if nsName == "" {
				return nil, fmt.Errorf("mdoc: catalogue: %s: empty namespace name", dt.DocType)
			}
			merged := cur.Namespaces[nsName]
			if merged.Elements == nil {
				merged.Elements = map[string]Element{}
			}
			for id, el := range ns.Elements {
				if id == "" {
					return nil, fmt.Errorf("mdoc: catalogue: %s/%s: empty element identifier", dt.DocType, nsName)
				}
				if err := checkDefinition(el); err != nil {
					return nil, fmt.Errorf("mdoc: catalogue: %s/%s/%s: %w", dt.DocType, nsName, id, err)
				}
				merged.Elements[id] = el
			}
			if len(merged.Elements) == 0 {
				return nil, fmt.Errorf("mdoc: catalogue: %s/%s: no elements", dt.DocType, nsName)
			}
			cur.Namespaces[nsName] = merged
		}
		out.docTypes[dt.DocType] = cur
	}
	out.mandatory = make(map[string][][2]string, len(out.docTypes))
	for name, dt := range out.docTypes {
		var m [][2]string
		for nsName, ns := range dt.Namespaces {
			for id, def := range ns.Elements {
				if def.Mandatory {
					m = append(m, [2]string{nsName, id})
				}
			}
		}
		out.mandatory[name] = m
	}
	return out, nil
}

func cloneDocType(dt DocType) DocType {
	out := DocType{DocType: dt.DocType, Namespaces: make(map[string]Namespace, len(dt.Namespaces))}
	for k, ns := range dt.Namespaces {
		out.Namespaces[k] = Namespace{Elements: maps.Clone(ns.Elements)}
	}
	return out
}

func checkDefinition(el Element) error {
	switch el.Type {
	case TypeString:
		if el.Format != "" && el.Format != FormatAlpha2 && el.Format != FormatISO3166_2 {
			return fmt.Errorf("format %q does not apply to %s", el.Format, el.Type)
		}
	case TypeBytes:
		if el.Format != "" && el.Format != FormatImage {
			return fmt.Errorf("format %q does not apply to %s", el.Format, el.Type)
		}
	case TypeUint, TypeInt, TypeBool, TypeFullDate, TypeTDate, TypeDate:
		if el.Format != "" {
			return fmt.Errorf("format %q does not apply to %s", el.Format, el.Type)
		}
	case TypeArray:
		if el.Items == nil {
			return fmt.Errorf("array without items")
		}
		if err := checkDefinition(*el.Items); err != nil {
			return fmt.Errorf("items: %w", err)
		}
	case TypeMap:
		if len(el.Fields) == 0 {
			return fmt.Errorf("map without fields")
		}
		for name, f := range el.Fields {
			if err := checkDefinition(f); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	default:
		return fmt.Errorf("unknown type %q", el.Type)
	}
	if el.Type != TypeArray && el.Items != nil {
		return fmt.Errorf("items only apply to arrays")
	}
	if el.Type != TypeMap && len(el.Fields) > 0 {
		return fmt.Errorf("fields only apply to maps")
	}
	if len(el.Enum) > 0 && el.Type != TypeString {
		return fmt.Errorf("enum only applies to strings")
	}
	if (len(el.IntEnum) > 0 || el.Min != nil || el.Max != nil) && el.Type != TypeUint && el.Type != TypeInt {
		return fmt.Errorf("int_enum/min/max only apply to integers")
	}
	if el.MaxLength < 0 || el.MinItems < 0 || el.MinFields < 0 {
		return fmt.Errorf("negative bound")
	}
	return nil
}

// DocTypes lists the doctype identifiers, sorted.
func (c *Catalogue) DocTypes() []string {
	return slices.Sorted(maps.Keys(c.docTypes))
}

// Lookup returns a copy of the doctype definition.
func (c *Catalogue) Lookup(docType string) (DocType, bool) {
	dt, ok := c.docTypes[docType]
	if !ok {
		return DocType{}, false
	}
	return cloneDocType(dt), true
}

// ClaimError is one failed check of a claim value; Path is
// "namespace/element" with "/field" and "[i]" for nested values. Reason never
// contains the value (personal data).
type ClaimError struct {
	Path   string
	Reason string
}

func (e ClaimError) Error() string { return e.Path + ": " + e.Reason }

// ClaimErrors is returned by Validate when one or more claims are invalid,
// sorted by path.
type ClaimErrors []ClaimError

func (e ClaimErrors) Error() string {
	parts := make([]string, len(e))
	for i, ce := range e {
		parts[i] = ce.Error()
	}
	return "mdoc: invalid claims: " + strings.Join(parts, "; ")
}

// Validate type-checks JSON-shaped claims against the doctype and returns them
// converted to the values the issuer encodes: text, uint64/int64, bool, []byte,
// FullDate, TDate, []any, map[string]any. Accepted inputs: JSON-decoded values
// (float64 or json.Number integral numbers for integers, "YYYY-MM-DD" strings
// for full-date, RFC 3339 strings for tdate, standard or URL-safe base64 for
// bytes) and the equivalent Go types. Unknown namespaces/elements, missing
// mandatory elements and any mismatch are errors (ClaimErrors).
func (c *Catalogue) Validate(docType string, claims map[string]map[string]any) (map[string]map[string]any, error) {
	dt, ok := c.docTypes[docType]
	if !ok {
		return nil, ClaimErrors{{Path: docType, Reason: "doctype not in catalogue"}}
	}
	var errs ClaimErrors
	out := make(map[string]map[string]any, len(claims))
	for nsName, elements := range claims {
		ns, ok := dt.Namespaces[nsName]
		if !ok {
			errs = append(errs, ClaimError{Path: nsName, Reason: "namespace not defined for doctype " + docType})
			continue
		}
		if len(elements) == 0 {
			continue
		}
		conv := make(map[string]any, len(elements))
		for id, v := range elements {
			path := nsName + "/" + id
			def, ok := ns.Elements[id]
			if !ok {
				errs = append(errs, ClaimError{Path: path, Reason: "element not in catalogue"})
				continue
			}
			cv, err := convert(path, def, v, &errs)
			if err == nil {
				conv[id] = cv
			}
		}
		out[nsName] = conv
	}
	for _, m := range c.mandatory[docType] {
		if _, ok := claims[m[0]][m[1]]; !ok {
			errs = append(errs, ClaimError{Path: m[0] + "/" + m[1], Reason: "mandatory element missing"})
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Path < errs[j].Path })
		return nil, errs
	}
	for k, v := range out {
		if len(v) == 0 {
			delete(out, k)
		}
	}
	if len(out) == 0 {
		return nil, ClaimErrors{{Path: docType, Reason: "no claims"}}
	}
	return out, nil
}

var (
	errInvalid   = fmt.Errorf("invalid")
	alpha2RE     = regexp.MustCompile(`^[A-Z]{2}$`)
	iso3166_2RE  = regexp.MustCompile(`^[A-Z]{2}-[A-Z0-9]{1,3}$`)
	jp2Signature = []byte{0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a}
)

func convert(path string, def Element, v any, errs *ClaimErrors) (any, error) {
	fail := func(format string, args ...any) (any, error) {
		*errs = append(*errs, ClaimError{Path: path, Reason: fmt.Sprintf(format, args...)})
		return nil, errInvalid
	}
	if v == nil {
		return fail("null is not a %s", def.Type)
	}
	switch def.Type {
	case TypeString:
		s, ok := v.(string)
		if !ok {
			return fail("must be a string")
		}
		if s == "" {
			return fail("must not be empty")
		}
		if !utf8.ValidString(s) {
			return fail("must be valid UTF-8")
		}
		maxLen := def.MaxLength
		if maxLen == 0 {
			maxLen = DefaultMaxLength
		}
		if utf8.RuneCountInString(s) > maxLen {
			return fail("longer than %d characters", maxLen)
		}
		if def.Latin1 {
			for _, r := range s {
				if r > 0xff {
					return fail("must contain only ISO/IEC 8859-1 characters")
				}
			}
		}
		switch def.Format {
		case FormatAlpha2:
			if !alpha2RE.MatchString(s) {
				return fail("must be an ISO 3166-1 alpha-2 code")
			}
		case FormatISO3166_2:
			if !iso3166_2RE.MatchString(s) {
				return fail("must be an ISO 3166-2 code")
			}
		}
		if len(def.Enum) > 0 && !slices.Contains(def.Enum, s) {
			return fail("not one of the allowed values")
		}
		return s, nil
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return fail("must be a boolean")
		}
		return b, nil
	case TypeUint, TypeInt:
		n, ok := toInt(v)
		if !ok {
			return fail("must be an integer")
		}
		if def.Type == TypeUint && n.neg {
			return fail("must not be negative")
		}
		if !n.neg && n.mag > math.MaxInt64 && (def.Type == TypeInt || def.Min != nil || def.Max != nil || len(def.IntEnum) > 0) {
			return fail("out of range")
		}
		iv := int64(n.mag)
		if n.neg {
			iv = -int64(n.mag)
		}
		if def.Min != nil && iv < *def.Min {
			return fail("below minimum %d", *def.Min)
		}
		if def.Max != nil && iv > *def.Max {
			return fail("above maximum %d", *def.Max)
		}
		if len(def.IntEnum) > 0 && !slices.Contains(def.IntEnum, iv) {
			return fail("not one of the allowed values")
		}
		if def.Type == TypeUint {
			return n.mag, nil
		}
		return iv, nil
	case TypeFullDate:
		d, err := toFullDate(v)
		if err != nil {
			return fail("%v", err)
		}
		return d, nil
	case TypeTDate:
		t, err := toTDate(v)
		if err != nil {
			return fail("%v", err)
		}
		return t, nil
	case TypeDate:
		if s, ok := v.(string); ok && len(s) == len(fullDateLayout) {
			d, err := toFullDate(v)
			if err != nil {
				return fail("%v", err)
			}
			return d, nil
		}
		if d, ok := v.(FullDate); ok {
			return toFullDateOrFail(d, fail)
		}
		t, err := toTDate(v)
		if err != nil {
			return fail("must be a full-date (YYYY-MM-DD) or an RFC 3339 date-time: %v", err)
		}
		return t, nil
	case TypeBytes:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = slices.Clone(x)
		case string:
			var err error
			if b, err = decodeBase64(x); err != nil {
				return fail("must be base64 or base64url")
			}
		default:
			return fail("must be a byte string (base64 in JSON)")
		}
		if len(b) == 0 {
			return fail("must not be empty")
		}
		if def.MaxLength > 0 && len(b) > def.MaxLength {
			return fail("longer than %d bytes", def.MaxLength)
		}
		if def.Format == FormatImage && !isImage(b) {
			return fail("must be a JPEG or JPEG 2000 image")
		}
		return b, nil
	case TypeArray:
		items, ok := toSlice(v)
		if !ok {
			return fail("must be an array")
		}
		if len(items) < def.MinItems {
			return fail("needs at least %d items", def.MinItems)
		}
		if len(items) > maxArrayElements {
			return fail("too many items")
		}
		out := make([]any, len(items))
		var bad bool
		for i, it := range items {
			cv, err := convert(fmt.Sprintf("%s[%d]", path, i), *def.Items, it, errs)
			if err != nil {
				bad = true
				continue
			}
			out[i] = cv
		}
		if bad {
			return nil, errInvalid
		}
		return out, nil
	case TypeMap:
		m, ok := toMap(v)
		if !ok {
			return fail("must be a map with text keys")
		}
		if len(m) < def.MinFields {
			return fail("needs at least %d fields", def.MinFields)
		}
		out := make(map[string]any, len(m))
		var bad bool
		for k, fv := range m {
			fdef, ok := def.Fields[k]
			if !ok {
				*errs = append(*errs, ClaimError{Path: path + "/" + k, Reason: "field not allowed"})
				bad = true
				continue
			}
			cv, err := convert(path+"/"+k, fdef, fv, errs)
			if err != nil {
				bad = true
				continue
			}
			out[k] = cv
		}
		for k, fdef := range def.Fields {
			if _, ok := m[k]; fdef.Mandatory && !ok {
				*errs = append(*errs, ClaimError{Path: path + "/" + k, Reason: "mandatory field missing"})
				bad = true
			}
		}
		if bad {
			return nil, errInvalid
		}
		return out, nil
	}
	return fail("unsupported type %q", def.Type)
}

func toFullDateOrFail(d FullDate, fail func(string, ...any) (any, error)) (any, error) {
	if _, err := ParseFullDate(string(d)); err != nil {
		return fail("%v", err)
	}
	return d, nil
}

type intValue struct {
	neg bool
	mag uint64
}

// toInt accepts Go integers, integral float64/float32 within ±2^53 (JSON) and
// json.Number integer literals.
func toInt(v any) (intValue, bool) {
	switch x := v.(type) {
	case json.Number:
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return intValue{mag: u}, true
		}
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return toInt(i)
		}
		if f, err := x.Float64(); err == nil {
			return toInt(f)
		}
		return intValue{}, false
	case float32:
		return toInt(float64(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return intValue{}, false
		}
		if x < 0 {
			return intValue{neg: true, mag: uint64(-x)}, true
		}
		return intValue{mag: uint64(x)}, true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := rv.Int()
		if i < 0 {
			return intValue{neg: true, mag: uint64(-(i + 1)) + 1}, true
		}
		return intValue{mag: uint64(i)}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return intValue{mag: rv.Uint()}, true
	}
	return intValue{}, false
}

func toFullDate(v any) (FullDate, error) {
	switch x := v.(type) {
	case string:
		return ParseFullDate(x)
	case FullDate:
		return ParseFullDate(string(x))
	case time.Time:
		if x.IsZero() {
			return "", fmt.Errorf("zero time")
		}
		return FullDate(x.Format(fullDateLayout)), nil
	}
	return "", fmt.Errorf("must be a full-date string YYYY-MM-DD")
}

func toTDate(v any) (TDate, error) {
	switch x := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339, x)
		if err != nil {
			return TDate{}, fmt.Errorf("must be an RFC 3339 date-time")
		}
		return NewTDate(t)
	case time.Time:
		return NewTDate(x)
	case TDate:
		return NewTDate(x.Time)
	}
	return TDate{}, fmt.Errorf("must be an RFC 3339 date-time string")
}

func toSlice(v any) ([]any, bool) {
	if s, ok := v.([]any); ok {
		return s, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array || rv.Type().Elem().Kind() == reflect.Uint8 {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

func toMap(v any) (map[string]any, bool) {
	if m, ok := v.(map[string]any); ok {
		return m, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	out := make(map[string]any, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		out[it.Key().String()] = it.Value().Interface()
	}
	return out, true
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("not base64")
}

// isImage recognises JPEG (FF D8 FF), JPEG 2000 JP2 container and J2K codestream.
func isImage(b []byte) bool {
	return bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}) ||
		bytes.HasPrefix(b, jp2Signature) ||
		bytes.HasPrefix(b, []byte{0xff, 0x4f, 0xff, 0x51})
}
