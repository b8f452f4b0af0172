package mdoc

import "sync"

// Built-in doctypes. Sources: ISO 18013-5 §7.2.1 as restated in mdoc.md §3.1
// (mandatory set = OIDF EnsureMdocMdlMandatoryDataElementsPresent), the EU PID
// rulebook (mdoc.md §3.3) and the ISO/IEC 23220-2/-4 Photo ID drafts
// (mdoc.md §3.4, iso23220.md §2.9). Operators correct or extend them by
// configuration (Catalogue.Extend).
const (
	DocTypeMDL       = "org.iso.18013.5.1.mDL"
	NamespaceMDL     = "org.iso.18013.5.1"
	DocTypePID       = "eu.europa.ec.eudi.pid.1"
	NamespacePID     = "eu.europa.ec.eudi.pid.1"
	DocTypePhotoID   = "org.iso.23220.photoid.1" // draft identifier (iso23220.md §2.9: lowercase spelling)
	Namespace23220   = "org.iso.23220.1"         // draft identifier: ISO/IEC 23220-2 core namespace
	NamespacePhotoID = "org.iso.23220.photoid.1" // draft identifier: 23220-4 Photo ID namespace
)

// AgeOverThresholds are the age_over_NN elements defined by the built-in
// doctypes (multipaz / EU AV set; mdoc.md §3.1). Others can be added by config.
var AgeOverThresholds = []int{13, 14, 16, 18, 21, 25, 60, 62, 65, 68}

func i64(v int64) *int64 { return &v }

func text(mandatory bool) Element { return Element{Type: TypeString, Mandatory: mandatory} }
func latin1(mandatory bool) Element {
	return Element{Type: TypeString, Mandatory: mandatory, Latin1: true}
}

func ageElements(els map[string]Element) {
	for _, n := range AgeOverThresholds {
		els[ageOverName(n)] = Element{Type: TypeBool}
	}
}

func ageOverName(n int) string {
	return "age_over_" + string(rune('0'+n/10)) + string(rune('0'+n%10))
}

// sex5218 is ISO/IEC 5218: 0 not known, 1 male, 2 female, 9 not applicable.
var sex5218 = Element{Type: TypeUint, IntEnum: []int64{0, 1, 2, 9}}

func mdlDocType() DocType {
	codes := Element{Type: TypeArray, MinItems: 1, Items: &Element{Type: TypeMap, Fields: map[string]Element{
		"code":  {Type: TypeString, Mandatory: true},
		"sign":  {Type: TypeString},
		"value": {Type: TypeString},
	}}}
	privileges := Element{Type: TypeArray, Mandatory: true, Items: &Element{Type: TypeMap, Fields: map[string]Element{
		"vehicle_category_code": {Type: TypeString, Mandatory: true},
		"issue_date":            {Type: TypeFullDate},
		"expiry_date":           {Type: TypeFullDate},
		"codes":                 codes,
	}}}
	els := map[string]Element{
		"family_name":                       latin1(true),
		"given_name":                        latin1(true),
		"birth_date":                        {Type: TypeFullDate, Mandatory: true},
		"issue_date":                        {Type: TypeDate, Mandatory: true},
		"expiry_date":                       {Type: TypeDate, Mandatory: true},
		"issuing_country":                   {Type: TypeString, Mandatory: true, Format: FormatAlpha2},
		"issuing_authority":                 latin1(true),
		"document_number":                   latin1(true),
		"portrait":                          {Type: TypeBytes, Mandatory: true, Format: FormatImage},
		"driving_privileges":                privileges,
		"un_distinguishing_sign":            latin1(true),
		"administrative_number":             latin1(false),
		"sex":                               sex5218,
		"height":                            {Type: TypeUint, Max: i64(300)},
		"weight":                            {Type: TypeUint, Max: i64(500)},
		"eye_colour":                        {Type: TypeString, Enum: []string{"black", "blue", "brown", "dichromatic", "grey", "green", "hazel", "maroon", "pink", "unknown"}},
		"hair_colour":                       {Type: TypeString, Enum: []string{"bald", "black", "blond", "brown", "grey", "red", "auburn", "sandy", "white", "unknown"}},
		"birth_place":                       latin1(false),
		"resident_address":                  latin1(false),
		"portrait_capture_date":             {Type: TypeTDate},
		"age_in_years":                      {Type: TypeUint, Max: i64(150)},
		"age_birth_year":                    {Type: TypeUint},
		"issuing_jurisdiction":              {Type: TypeString, Format: FormatISO3166_2},
		"nationality":                       {Type: TypeString, Format: FormatAlpha2},
		"resident_city":                     latin1(false),
		"resident_state":                    latin1(false),
		"resident_postal_code":              latin1(false),
		"resident_country":                  {Type: TypeString, Format: FormatAlpha2},
		"biometric_template_face":           {Type: TypeBytes},
		"biometric_template_finger":         {Type: TypeBytes},
		"biometric_template_signature_sign": {Type: TypeBytes},
		"biometric_template_iris":           {Type: TypeBytes},
		"family_name_national_character":    text(false),
		"given_name_national_character":     text(false),
		"signature_usual_mark":              {Type: TypeBytes, Format: FormatImage},
	}
	ageElements(els)
	return DocType{DocType: DocTypeMDL, Namespaces: map[string]Namespace{NamespaceMDL: {Elements: els}}}
}

func pidDocType() DocType {
	els := map[string]Element{
		"family_name": text(true),
		"given_name":  text(true),
		"birth_date":  {Type: TypeFullDate, Mandatory: true},
		"place_of_birth": {Type: TypeMap, Mandatory: true, MinFields: 1, Fields: map[string]Element{
			"country":  {Type: TypeString, Format: FormatAlpha2},
			"region":   {Type: TypeString},
			"locality": {Type: TypeString},
		}},
		"nationality":                    {Type: TypeArray, Mandatory: true, MinItems: 1, Items: &Element{Type: TypeString, Format: FormatAlpha2}},
		"portrait":                       {Type: TypeBytes, Format: FormatImage},
		"issuing_authority":              text(true),
		"issuing_country":                {Type: TypeString, Mandatory: true, Format: FormatAlpha2},
		"resident_address":               text(false),
		"resident_country":               {Type: TypeString, Format: FormatAlpha2},
		"resident_state":                 text(false),
		"resident_city":                  text(false),
		"resident_postal_code":           text(false),
		"resident_street":                text(false),
		"resident_house_number":          text(false),
		"personal_administrative_number": text(false),
		"family_name_birth":              text(false),
		"given_name_birth":               text(false),
		"sex":                            {Type: TypeUint, IntEnum: []int64{0, 1, 2, 3, 4, 5, 6, 9}},
		"email_address":                  text(false),
		"mobile_phone_number":            text(false),
		"expiry_date":                    {Type: TypeDate},
		"issuance_date":                  {Type: TypeDate},
		"document_number":                text(false),
		"issuing_jurisdiction":           {Type: TypeString, Format: FormatISO3166_2},
		"trust_anchor":                   text(false),
		"attestation_legal_category":     text(false),
	}
	return DocType{DocType: DocTypePID, Namespaces: map[string]Namespace{NamespacePID: {Elements: els}}}
}

func photoIDDocType() DocType {
	core := map[string]Element{
		"family_name_unicode": text(true),
		"given_name_unicode":  text(true),
		// ISO/IEC 23220-2 §6.3.1.1.3 (as quoted by multipaz): birth_date is a map
		// {birth_date: full-date, ? approximate_mask: tstr}.
		"birth_date": {Type: TypeMap, Mandatory: true, Fields: map[string]Element{
			"birth_date":       {Type: TypeFullDate, Mandatory: true},
			"approximate_mask": {Type: TypeString, MaxLength: 8},
		}},
		"portrait":                  {Type: TypeBytes, Mandatory: true, Format: FormatImage},
		"issue_date":                {Type: TypeDate, Mandatory: true},
		"expiry_date":               {Type: TypeDate, Mandatory: true},
		"issuing_authority_unicode": text(true),
		"issuing_country":           {Type: TypeString, Mandatory: true, Format: FormatAlpha2},
		"age_in_years":              {Type: TypeUint, Max: i64(150)},
		"age_birth_year":            {Type: TypeUint},
		"portrait_capture_date":     {Type: TypeTDate},
		"birthplace":                text(false),
		"name_at_birth":             text(false),
		"resident_address_unicode":  text(false),
		"resident_city_unicode":     text(false),
		"resident_postal_code":      text(false),
		"resident_country":          {Type: TypeString, Format: FormatAlpha2},
		"resident_city_latin1":      latin1(false),
		"sex":                       sex5218,
		"nationality":               {Type: TypeString, Format: FormatAlpha2},
		"document_number":           text(false),
		"issuing_subdivision":       {Type: TypeString, Format: FormatISO3166_2},
		"family_name_latin1":        latin1(false),
		"given_name_latin1":         latin1(false),
	}
	ageElements(core)
	core["age_over_18"] = Element{Type: TypeBool, Mandatory: true}
	photo := map[string]Element{
		"person_id":              text(false),
		"birth_country":          {Type: TypeString, Format: FormatAlpha2},
		"birth_state":            text(false),
		"birth_city":             text(false),
		"administrative_number":  text(false),
		"resident_street":        text(false),
		"resident_house_number":  text(false),
		"travel_document_number": text(false),
		"resident_state":         text(false),
	}
	return DocType{DocType: DocTypePhotoID, Namespaces: map[string]Namespace{
		Namespace23220:   {Elements: core},
		NamespacePhotoID: {Elements: photo},
	}}
}

// BuiltinDocTypes returns fresh copies of the built-in definitions (mDL, EU PID,
// draft ISO 23220 Photo ID) for use as configuration defaults.
func BuiltinDocTypes() []DocType {
	return []DocType{mdlDocType(), pidDocType(), photoIDDocType()}
}

var defaultCatalogue = sync.OnceValue(DefaultCatalogue)

// DefaultCatalogue returns a catalogue of the built-in doctypes.
func DefaultCatalogue() *Catalogue {
	c, err := NewCatalogue(BuiltinDocTypes()...)
	if err != nil {
		panic("mdoc: built-in catalogue: " + err.Error())
	}
	return c
}
