package mdoc

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidateConversions(t *testing.T) {
	var fromJSON map[string]map[string]any
	raw := `{"org.iso.18013.5.1": {
		"family_name": "Doe", "given_name": "Zoë", "birth_date": "1990-04-01",
		"issue_date": "2026-01-10", "expiry_date": "2031-01-09T00:00:00Z",
		"issuing_country": "US", "issuing_authority": "NY DMV", "document_number": "D1",
		"portrait": "_9j_4AAQSkZJRgABAQD_2Q", "un_distinguishing_sign": "USA",
		"driving_privileges": [{"vehicle_category_code": "B"}],
		"height": 180, "age_over_18": true, "portrait_capture_date": "2025-12-01T10:00:00+01:00"}}`
	if err := json.Unmarshal([]byte(raw), &fromJSON); err != nil {
		t.Fatal(err)
	}
	got, err := DefaultCatalogue().Validate(DocTypeMDL, fromJSON)
	if err != nil {
		t.Fatal(err)
	}
	els := got[NamespaceMDL]
	checks := map[string]any{
		"birth_date":  FullDate("1990-04-01"),
		"issue_date":  FullDate("2026-01-10"),
		"height":      uint64(180),
		"age_over_18": true,
		"given_name":  "Zoë",
	}
	for k, want := range checks {
		if !reflect.DeepEqual(els[k], want) {
			t.Errorf("%s = %#v, want %#v", k, els[k], want)
		}
	}
	if td, ok := els["expiry_date"].(TDate); !ok || td.Raw != "2031-01-09T00:00:00Z" {
		t.Errorf("expiry_date = %#v", els["expiry_date"])
	}
	if td := els["portrait_capture_date"].(TDate); td.Raw != "2025-12-01T09:00:00Z" {
		t.Errorf("offset not normalised to UTC: %s", td.Raw)
	}
	if !reflect.DeepEqual(els["portrait"], tinyJPEG) {
		t.Errorf("portrait base64url not decoded")
	}
	dp := els["driving_privileges"].([]any)[0].(map[string]any)
	if dp["vehicle_category_code"] != "B" {
		t.Errorf("driving_privileges = %#v", dp)
	}
	// json.Number input.
	dec := json.NewDecoder(strings.NewReader(`{"h": 175, "bad": 1.5}`))
	dec.UseNumber()
	var nums map[string]any
	_ = dec.Decode(&nums)
	c := mdlClaims()
	c[NamespaceMDL]["height"] = nums["h"]
	if got, err := DefaultCatalogue().Validate(DocTypeMDL, c); err != nil || got[NamespaceMDL]["height"] != uint64(175) {
		t.Errorf("json.Number: %v %v", got[NamespaceMDL]["height"], err)
	}
	c[NamespaceMDL]["height"] = nums["bad"]
	if _, err := DefaultCatalogue().Validate(DocTypeMDL, c); err == nil {
		t.Error("json.Number 1.5 accepted as uint")
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name  string
		ns    string
		key   string
		value any
		path  string
	}{
		{"float for uint", NamespaceMDL, "height", 180.5, "org.iso.18013.5.1/height"},
		{"negative uint", NamespaceMDL, "weight", -3.0, "org.iso.18013.5.1/weight"},
		{"string for bool", NamespaceMDL, "age_over_21", "true", "org.iso.18013.5.1/age_over_21"},
		{"bad full-date", NamespaceMDL, "birth_date", "1990-02-30", "org.iso.18013.5.1/birth_date"},
		{"datetime for full-date", NamespaceMDL, "birth_date", "1990-02-03T00:00:00Z", "org.iso.18013.5.1/birth_date"},
		{"fractional tdate", NamespaceMDL, "portrait_capture_date", "2025-01-01T00:00:00.5Z", "org.iso.18013.5.1/portrait_capture_date"},
		{"not latin-1", NamespaceMDL, "family_name", "Дое", "org.iso.18013.5.1/family_name"},
		{"too long", NamespaceMDL, "family_name", strings.Repeat("a", 151), "org.iso.18013.5.1/family_name"},
		{"empty string", NamespaceMDL, "given_name", "", "org.iso.18013.5.1/given_name"},
		{"country lower case", NamespaceMDL, "issuing_country", "us", "org.iso.18013.5.1/issuing_country"},
		{"portrait not image", NamespaceMDL, "portrait", "aGVsbG8=", "org.iso.18013.5.1/portrait"},
		{"portrait not base64", NamespaceMDL, "portrait", "***", "org.iso.18013.5.1/portrait"},
		{"sex outside 5218", NamespaceMDL, "sex", 3, "org.iso.18013.5.1/sex"},
		{"enum", NamespaceMDL, "eye_colour", "purple", "org.iso.18013.5.1/eye_colour"},
		{"unknown element", NamespaceMDL, "favourite_colour", "red", "org.iso.18013.5.1/favourite_colour"},
		{"unknown namespace", "org.example", "x", "y", "org.example"},
		{"privilege field missing", NamespaceMDL, "driving_privileges", []any{map[string]any{"issue_date": "2020-01-01"}}, "org.iso.18013.5.1/driving_privileges[0]/vehicle_category_code"},
		{"privilege extra field", NamespaceMDL, "driving_privileges", []any{map[string]any{"vehicle_category_code": "B", "x": 1}}, "org.iso.18013.5.1/driving_privileges[0]/x"},
		{"privilege date type", NamespaceMDL, "driving_privileges", []any{map[string]any{"vehicle_category_code": "B", "expiry_date": 5}}, "org.iso.18013.5.1/driving_privileges[0]/expiry_date"},
		{"null", NamespaceMDL, "document_number", nil, "org.iso.18013.5.1/document_number"},
		{"NaN-like", NamespaceMDL, "height", 1e300, "org.iso.18013.5.1/height"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mdlClaims()
			if c[tc.ns] == nil {
				c[tc.ns] = map[string]any{}
			}
			c[tc.ns][tc.key] = tc.value
			_, err := DefaultCatalogue().Validate(DocTypeMDL, c)
			var ce ClaimErrors
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v", err)
			}
			if ce[0].Path != tc.path {
				t.Errorf("path = %q, want %q (%v)", ce[0].Path, tc.path, err)
			}
			if s, ok := tc.value.(string); ok && len(s) > 3 && strings.Contains(err.Error(), s) {
				t.Errorf("error echoes the claim value: %v", err)
			}
		})
	}
}

func TestValidateMissingMandatory(t *testing.T) {
	_, err := DefaultCatalogue().Validate(DocTypeMDL, map[string]map[string]any{NamespaceMDL: {"family_name": "Doe"}})
	var ce ClaimErrors
	if !errors.As(err, &ce) || len(ce) != 10 {
		t.Fatalf("want 10 missing mandatory elements, got %v", err)
	}
	if ce[0].Path != "org.iso.18013.5.1/birth_date" || ce[0].Reason != "mandatory element missing" {
		t.Errorf("first error %v", ce[0])
	}
}

func TestBuiltinPIDAndPhotoID(t *testing.T) {
	pid := map[string]map[string]any{NamespacePID: {
		"family_name": "Mustermann", "given_name": "Erika", "birth_date": "1964-08-12",
		"place_of_birth": map[string]any{"locality": "Berlin"}, "nationality": []any{"DE"},
		"issuing_authority": "DE", "issuing_country": "DE", "sex": 2,
	}}
	if _, err := DefaultCatalogue().Validate(DocTypePID, pid); err != nil {
		t.Fatal(err)
	}
	pid[NamespacePID]["place_of_birth"] = map[string]any{}
	pid[NamespacePID]["nationality"] = []any{}
	_, err := DefaultCatalogue().Validate(DocTypePID, pid)
	var ce ClaimErrors
	if !errors.As(err, &ce) || len(ce) != 2 {
		t.Fatalf("empty place_of_birth / nationality: %v", err)
	}
	photo := map[string]map[string]any{Namespace23220: {
		"family_name_unicode": "Doe", "given_name_unicode": "Jane",
		"birth_date": map[string]any{"birth_date": "1990-01-01"}, "portrait": tinyJPEG,
		"issue_date": "2026-01-01", "expiry_date": "2036-01-01", "issuing_authority_unicode": "X",
		"issuing_country": "US", "age_over_18": true,
	}, NamespacePhotoID: {"person_id": "123"}}
	if _, err := DefaultCatalogue().Validate(DocTypePhotoID, photo); err != nil {
		t.Fatal(err)
	}
}

func TestCatalogueYAMLExtend(t *testing.T) {
	cfg, err := ParseCatalogueYAML([]byte(`
doctypes:
  - doctype: org.example.membership.1
    namespaces:
      org.example.membership.1:
        elements:
          member_name: {type: string, mandatory: true, max_length: 40}
          member_since: {type: full-date, mandatory: true}
          level: {type: uint, int_enum: [1, 2, 3]}
          tags: {type: array, items: {type: string}}
  - doctype: org.iso.18013.5.1.mDL
    namespaces:
      org.iso.18013.5.1.aamva:
        elements:
          organ_donor: {type: uint, int_enum: [1]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := DefaultCatalogue().Extend(cfg.DocTypes...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cat.Validate("org.example.membership.1", map[string]map[string]any{"org.example.membership.1": {
		"member_name": "Jane", "member_since": "2020-02-02", "level": 2.0, "tags": []string{"a", "b"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got["org.example.membership.1"]["member_since"] != FullDate("2020-02-02") {
		t.Error("member_since not converted")
	}
	c := mdlClaims()
	c["org.iso.18013.5.1.aamva"] = map[string]any{"organ_donor": 1}
	if _, err := cat.Validate(DocTypeMDL, c); err != nil {
		t.Fatalf("extended mDL: %v", err)
	}
	if _, err := DefaultCatalogue().Validate(DocTypeMDL, c); err == nil {
		t.Fatal("default catalogue must be unchanged by Extend")
	}
	if !reflect.DeepEqual(cat.DocTypes(), []string{DocTypePID, "org.example.membership.1", DocTypeMDL, DocTypePhotoID}) {
		t.Errorf("DocTypes = %v", cat.DocTypes())
	}
	bad := []string{
		"doctypes: [{doctype: x, namespaces: {n: {elements: {e: {type: float}}}}}]",
		"doctypes: [{doctype: x, namespaces: {n: {elements: {e: {type: array}}}}}]",
		"doctypes: [{doctype: x, namespaces: {n: {elements: {e: {type: string, min: 1}}}}}]",
		"doctypes: [{doctype: '', namespaces: {n: {elements: {e: {type: string}}}}}]",
	}
	for _, y := range bad {
		cfg, err := ParseCatalogueYAML([]byte(y))
		if err == nil {
			_, err = NewCatalogue(cfg.DocTypes...)
		}
		if err == nil {
			t.Errorf("accepted %s", y)
		}
	}
	if _, err := ParseCatalogueYAML([]byte("doctypes: [{doctype: x, unknown_key: 1}]")); err == nil {
		t.Error("unknown YAML key accepted")
	}
}

func TestValidateGoTypes(t *testing.T) {
	c := mdlClaims()
	c[NamespaceMDL]["birth_date"] = time.Date(1990, 4, 1, 0, 0, 0, 0, time.UTC)
	c[NamespaceMDL]["portrait"] = tinyJPEG
	c[NamespaceMDL]["portrait_capture_date"] = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	c[NamespaceMDL]["height"] = int32(170)
	got, err := DefaultCatalogue().Validate(DocTypeMDL, c)
	if err != nil {
		t.Fatal(err)
	}
	if got[NamespaceMDL]["birth_date"] != FullDate("1990-04-01") || got[NamespaceMDL]["height"] != uint64(170) {
		t.Errorf("got %v", got[NamespaceMDL])
	}
	c[NamespaceMDL]["portrait_capture_date"] = time.Date(2025, 1, 1, 12, 0, 0, 1, time.UTC)
	if _, err := DefaultCatalogue().Validate(DocTypeMDL, c); err == nil {
		t.Error("fractional time.Time accepted as tdate")
	}
}
