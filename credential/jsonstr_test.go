package credential

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzJSONString: the fast paths accept exactly what json.Unmarshal
// accepts, with the same result.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{
		`"abc.def-ghi_jkl"`, `""`, `"a\"b"`, `"\u0041"`, `"é"`, "\"a\x01b\"", `"a\\b"`, `null`, `1`, `"abc`,
		`["a","b"]`, `[]`, ` [ "a" ,	"b" ] `, `["a",]`, `["a" "b"]`, `["a",1]`, `[`, `["\u0041"]`, `["a"]x`,
		`[null]`, `{"a":"b"}`, `"` + "\x7f" + `"`, `["a"]  `, "[\n\"a\"\r]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want string
		werr := json.Unmarshal(raw, &want)
		got, ok := jsonString(raw)
		if ok != (werr == nil) || ok && got != want {
			t.Fatalf("jsonString(%q) = %q, %v; json.Unmarshal: %q, %v", raw, got, ok, want, werr)
		}
		var wantList []string
		lerr := json.Unmarshal(raw, &wantList)
		gotList, ok := jsonStrings(raw)
		if ok != (lerr == nil) || ok && (!slices.Equal(gotList, wantList) || (gotList == nil) != (wantList == nil)) {
			t.Fatalf("jsonStrings(%q) = %q, %v; json.Unmarshal: %q, %v", raw, gotList, ok, wantList, lerr)
		}
	})
}

// BenchmarkJSONString decodes a key_attestation-sized JWT string member
// (1.5 KB) with the fast path; BenchmarkJSONStringUnmarshal is the
// encoding/json baseline it replaces.
func BenchmarkJSONString(b *testing.B) {
	raw := benchJWTString()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := jsonString(raw); !ok {
			b.Fatal("not a string")
		}
	}
}

func BenchmarkJSONStringUnmarshal(b *testing.B) {
	raw := benchJWTString()
	b.ReportAllocs()
	for b.Loop() {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			b.Fatal("not a string")
		}
	}
}

func benchJWTString() []byte {
	s := make([]byte, 0, 1502)
	s = append(s, '"')
	for i := range 1500 {
		s = append(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."[i%65])
	}
	return append(s, '"')
}
