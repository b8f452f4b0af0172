package credential

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"

	"github.com/go-jose/go-jose/v4"
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

// TestObjectMembers: the splitter agrees with encoding/json on objects and
// refuses what encoding/json refuses or what is not an object.
func TestObjectMembers(t *testing.T) {
	for _, in := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":"x","b":[1,{"c":"]}"}],"d":{"e":null}}`,
		`{"a\"b":"q\\\"}","\u00e9":true, "n" : -1.5e3 }`, `{"a":[],"b":{}}`,
		"{\n\t\"a\" :\r\n \"b\"\n}",
	} {
		got, dups, ok := objectMembers([]byte(in))
		var want map[string]json.RawMessage
		if err := json.Unmarshal([]byte(in), &want); err != nil || !ok || len(dups) != 0 {
			t.Fatalf("%s: ok %v dups %v err %v", in, ok, dups, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d members, want %d", in, len(got), len(want))
		}
		for k, v := range want {
			if string(got[k]) != string(v) {
				t.Fatalf("%s: member %q = %s, want %s", in, k, got[k], v)
			}
		}
	}
	for _, in := range []string{``, `[]`, `"a"`, `{`, `{"a"}`, `{"a":1,}`, `{"a":1} x`, `null`, `{"a":01}`, "{\"a\":\"\x01\"}"} {
		if _, _, ok := objectMembers([]byte(in)); ok {
			t.Fatalf("%q accepted", in)
		}
	}
	_, dups, ok := objectMembers([]byte(`{"a":1,"b":2,"a":3}`))
	if !ok || len(dups) != 1 || dups[0] != "a" {
		t.Fatalf("duplicates %v %v", dups, ok)
	}
}

func FuzzObjectMembers(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":[1,"]"],"b":{"c":"\""}}`, `{"\u0061":2,"a":3}`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, dups, ok := objectMembers(b)
		var want map[string]json.RawMessage
		err := json.Unmarshal(b, &want)
		if !ok {
			if err == nil && want != nil {
				t.Fatalf("%q refused, encoding/json decodes it", b)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q accepted, encoding/json: %v", b, err)
		}
		if len(dups) == 0 && len(got) != len(want) {
			t.Fatalf("%q: %d members, want %d", b, len(got), len(want))
		}
		for k, v := range want {
			// encoding/json keeps the last of duplicate names, as does the splitter.
			if string(got[k]) != string(v) {
				t.Fatalf("%q: member %q = %s, want %s", b, k, got[k], v)
			}
		}
	})
}

// TestDecodeJOSEHeaderDuplicates: RFC 7515 §4, a header naming a member
// twice is refused (encoding/json would keep the last one).
func TestDecodeJOSEHeaderDuplicates(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) + ".e30.sig" }
	if _, err := decodeJOSEHeader(enc(`{"alg":"ES256","typ":"openid4vci-proof+jwt"}`)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{`{"alg":"none","alg":"ES256"}`, `{"alg":"ES256","\u0061lg":"ES256"}`, `[]`, `{"alg":`} {
		if _, err := decodeJOSEHeader(enc(h)); err == nil {
			t.Fatalf("header %s accepted", h)
		}
	}
}

// TestCredentialResponseJSON: the hand-written encoding is byte for byte
// json.Marshal's.
func TestCredentialResponseJSON(t *testing.T) {
	for _, r := range []credentialResponse{
		{},
		{Credentials: []credentialObject{{Credential: "b2gtc28"}}, NotificationID: "n-1_x"},
		{Credentials: []credentialObject{{Credential: "a"}, {Credential: "b"}, {Credential: ""}}},
		{TransactionID: "tx", Interval: 5},
		{NotificationID: `q"<&>\` + "\x01é", TransactionID: "t", Interval: -1},
		{Credentials: []credentialObject{{Credential: "\u2028"}}, Interval: 1 << 40},
	} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	}
}

// FuzzSplitObject: on any input the splitter of already validated JSON
// neither panics nor differs from objectMembers where the input is valid.
func FuzzSplitObject(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":`, `{"a"`, `{`, `{"a":[1,"]"`, `{"a":1,`, `{"a":1 x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gd, gok := splitObject(b)
		if !json.Valid(b) {
			return
		}
		want, wd, wok := objectMembers(b)
		if gok != wok || len(got) != len(want) || len(gd) != len(wd) {
			t.Fatalf("%q: split %v %d, members %v %d", b, gok, len(got), wok, len(want))
		}
	})
}

// TestP256Thumbprint: the hand-built RFC 7638 thumbprint equals go-jose's.
func TestP256Thumbprint(t *testing.T) {
	for range 20 {
		k := newKey(t)
		want, err := (&jose.JSONWebKey{Key: &k.PublicKey}).Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Thumbprint(&jose.JSONWebKey{Key: &k.PublicKey})
		if err != nil || got != base64.RawURLEncoding.EncodeToString(want) {
			t.Fatalf("%s, want %x (%v)", got, want, err)
		}
	}
}
