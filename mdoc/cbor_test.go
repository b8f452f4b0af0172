package mdoc

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestCheckPreferred(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		ok   bool
	}{
		{"small uint", "17", true},
		{"uint 24", "1818", true},
		{"uint 23 in one byte arg", "1817", false},
		{"uint 255 in two bytes", "1900ff", false},
		{"bstr 32", "5820" + strings32(), true},
		{"bstr 32 with 2-byte head", "590020" + strings32(), false},
		{"indefinite array", "9f01ff", false},
		{"float16", "f93e00", false},
		{"float64", "fb3ff8000000000000", false},
		{"undefined", "f7", false},
		{"true/false/null", "83f5f4f6", true},
		{"tag 1004", "d903ec6a323031392d31302d3230", true},
		{"tag 24 with 1-byte bstr", "d81841a0", true},
		{"map", "a16161f5", true},
		{"trailing", "0101", false},
		{"truncated", "62", false},
		{"reserved ai", "1c", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tc.hex)
			if err := checkPreferred(b); (err == nil) != tc.ok {
				t.Fatalf("checkPreferred(%s) = %v, want ok=%v", tc.hex, err, tc.ok)
			}
		})
	}
}

func strings32() string { return hex.EncodeToString(make([]byte, 32)) }

func TestEncodedCBORHeads(t *testing.T) {
	for _, n := range []int{0, 23, 24, 255, 256, 65535, 65536} {
		b, err := encodedCBOR(make([]byte, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkPreferred(b); err != nil {
			t.Errorf("len %d: %v", n, err)
		}
		inner, err := unwrapEncodedCBOR(b)
		if err != nil || len(inner) != n {
			t.Errorf("len %d: round trip %d %v", n, len(inner), err)
		}
	}
}

func TestDateTypes(t *testing.T) {
	b, err := detEnc.Marshal(FullDate("2019-10-20"))
	if err != nil || hex.EncodeToString(b) != "d903ec6a323031392d31302d3230" {
		t.Fatalf("FullDate = %x %v", b, err)
	}
	var d FullDate
	if err := decMode.Unmarshal(b, &d); err != nil || d != "2019-10-20" {
		t.Fatalf("decode FullDate: %v %v", d, err)
	}
	if _, err := detEnc.Marshal(FullDate("2019-13-01")); err == nil {
		t.Error("invalid FullDate encoded")
	}
	if err := decMode.Unmarshal([]byte{0xc0, 0x61, 0x31}, &d); err == nil {
		t.Error("tag 0 decoded as FullDate")
	}
	ist := time.FixedZone("IST", 5*3600+1800)
	td, err := NewTDate(time.Date(2020, 10, 1, 19, 0, 2, 0, ist))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = detEnc.Marshal(td)
	want := append([]byte{0xc0, 0x74}, "2020-10-01T13:30:02Z"...)
	if !bytes.Equal(b, want) {
		t.Fatalf("TDate = %x", b)
	}
	var back TDate
	if err := decMode.Unmarshal(b, &back); err != nil || !back.Equal(td.Time) || back.Raw != "2020-10-01T13:30:02Z" {
		t.Fatalf("decode TDate: %v %v", back, err)
	}
	frac := append([]byte{0xc0, 0x76}, "2020-10-01T13:30:02.5Z"...)
	if err := decMode.Unmarshal(frac, &back); err != nil || strictTDate(back.Raw) {
		t.Errorf("fractional tdate: decoded=%v strict=%v", err, strictTDate(back.Raw))
	}
	if _, err := NewTDate(time.Date(2020, 1, 1, 0, 0, 0, 5, time.UTC)); err == nil {
		t.Error("fractional NewTDate accepted")
	}
}

func TestDecodeOrderedMap(t *testing.T) {
	b, _ := hex.DecodeString("a2616201616102") // {"b":1,"a":2}
	e, err := decodeOrderedMap(b)
	if err != nil || len(e) != 2 || e[0].Key != "b" || e[1].Key != "a" {
		t.Fatalf("%v %v", e, err)
	}
	for _, h := range []string{"a2616101616102", "a1016101", "a2616101", "bf616101ff", "80"} {
		b, _ := hex.DecodeString(h)
		if _, err := decodeOrderedMap(b); err == nil {
			t.Errorf("accepted %s", h)
		}
	}
}

// TestTaggedItemMatchesEncoder: the hand-built #6.24 IssuerSignedItem is
// byte for byte what the reflective encoder gives, for every head size.
func TestTaggedItemMatchesEncoder(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		id     uint32
		random int
		name   string
		value  any
	}{
		{0, 32, "family_name", "Mustermann"},
		{23, 16, "age_over_18", true},
		{24, 32, "portrait", make([]byte, 70000)},
		{255, 32, long, long},
		{256, 32, "issue_date", FullDate("2026-01-02")},
		{65535, 24, "x", 1},
		{65536, 32, "e", map[string]any{"a": []any{1, "b"}}},
		{1<<32 - 1, 32, "", nil},
	} {
		value, err := detEnc.Marshal(tc.value)
		if err != nil {
			t.Fatal(err)
		}
		random := make([]byte, tc.random)
		for i := range random {
			random[i] = byte(i * 7)
		}
		item, err := ordEnc.Marshal(issuerSignedItem{DigestID: tc.id, Random: random, ElementIdentifier: tc.name, ElementValue: value})
		if err != nil {
			t.Fatal(err)
		}
		want, err := encodedCBOR(item)
		if err != nil {
			t.Fatal(err)
		}
		if got := taggedItem(tc.id, random, tc.name, value); !bytes.Equal(got, want) {
			t.Fatalf("digestID %d %q:\n got %x\nwant %x", tc.id, tc.name, trimHex(got), trimHex(want))
		}
	}
}

func trimHex(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
