package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mdoc-issuer/issuer/oauth"
)

type credReq struct {
	Configuration string         `json:"credential_configuration_id"`
	Proofs        map[string]any `json:"proofs"`
}

func req(ct, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/credential", strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body string
		status         int
		desc           string
	}{
		{"ok/plain", "application/json", `{"credential_configuration_id":"mdl"}`, 0, ""},
		{"ok/charset", "application/json; charset=UTF-8", `{"credential_configuration_id":"mdl"}`, 0, ""},
		{"ok/unknown members ignored", "application/json", `{"credential_configuration_id":"mdl","x-fapi":1,"n":{"a":[1,{"b":2}]}}`, 0, ""},
		{"ok/whitespace", "application/json", " \n{\"proofs\":{}}\n\t", 0, ""},
		{"fail/no content type", "", `{}`, 415, "unsupported content type"},
		{"fail/form", "application/x-www-form-urlencoded", `a=b`, 415, "unsupported content type"},
		{"fail/latin1", "application/json; charset=iso-8859-1", `{}`, 415, "unsupported content type"},
		{"fail/empty", "application/json", ``, 400, "empty"},
		{"fail/array", "application/json", `[]`, 400, "must be a JSON object"},
		{"fail/string", "application/json", `"x"`, 400, "must be a JSON object"},
		{"fail/null", "application/json", `null`, 400, "must be a JSON object"},
		{"fail/trailing object", "application/json", `{}{}`, 400, "trailing data"},
		{"fail/trailing garbage", "application/json", `{} x`, 400, "trailing data"},
		{"fail/truncated", "application/json", `{"a":`, 400, "malformed JSON"},
		{"fail/bad syntax", "application/json", `{"a" 1}`, 400, "malformed JSON"},
		{"fail/duplicate", "application/json", `{"credential_configuration_id":"a","credential_configuration_id":"b"}`, 400, "duplicate member"},
		{"fail/nested duplicate", "application/json", `{"proofs":{"jwt":[],"jwt":[]}}`, 400, "duplicate member"},
		{"fail/wrong type", "application/json", `{"credential_configuration_id":5}`, 400, "member credential_configuration_id has the wrong type"},
		{"fail/invalid utf8", "application/json", "{\"a\":\"\xff\"}", 400, "UTF-8"},
		{"fail/too deep", "application/json", `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, 400, "nested deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v credReq
			err := DecodeJSON(req(tc.ct, tc.body), &v, oauth.CodeInvalidCredentialRequest)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			e := oauth.As(err)
			if e == nil {
				t.Fatalf("want *oauth.Error, got %v", err)
			}
			if e.Status != tc.status || !strings.Contains(e.Description, tc.desc) {
				t.Fatalf("got %d %q, want %d %q", e.Status, e.Description, tc.status, tc.desc)
			}
			wantCode := oauth.CodeInvalidCredentialRequest
			if tc.status != 400 {
				wantCode = oauth.CodeInvalidRequest
			}
			if e.Code != wantCode {
				t.Fatalf("code %s, want %s", e.Code, wantCode)
			}
		})
	}
}

func TestDecodeJSONMaxBytes(t *testing.T) {
	r := req("application/json", `{"a":"`+strings.Repeat("x", 100)+`"}`)
	rec := httptest.NewRecorder()
	r.Body = http.MaxBytesReader(rec, r.Body, 50)
	err := DecodeJSON(r, &credReq{}, "")
	if e := oauth.As(err); e == nil || e.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %v", err)
	}
	big := req("application/json", `{"a":"`+strings.Repeat("x", MaxBody)+`"}`)
	if e := oauth.As(DecodeJSON(big, &credReq{}, "")); e == nil || e.Status != 413 {
		t.Fatalf("unlimited body not capped: %v", e)
	}
}

func TestForm(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body string
		status         int
	}{
		{"ok", "application/x-www-form-urlencoded", "grant_type=authorization_code&code=x&unknown=1", 0},
		{"ok/charset", "application/x-www-form-urlencoded; charset=utf-8", "a=b", 0},
		{"fail/json", "application/json", "{}", 415},
		{"fail/repeated", "application/x-www-form-urlencoded", "code=a&code=b", 400},
		{"fail/bad escape", "application/x-www-form-urlencoded", "code=%zz", 400},
		{"fail/bad utf8", "application/x-www-form-urlencoded", "code=\xff", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs, err := Form(req(tc.ct, tc.body))
			if tc.status == 0 {
				if err != nil || vs.Get("grant_type") == "" && vs.Get("a") == "" {
					t.Fatalf("got %v %v", vs, err)
				}
				return
			}
			if e := oauth.As(err); e == nil || e.Status != tc.status || e.Code != oauth.CodeInvalidRequest {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	ctx := WithRequestID(context.Background(), "abc")
	if RequestID(ctx) != "abc" || RequestID(context.Background()) != "" {
		t.Fatal("request id not carried")
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":null}]}`, `{"a":1,"a":2}`, `[1]`, `{} {}`, `{"credential_configuration_id":"x","proofs":{"jwt":["e"]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v credReq
		err := Unmarshal(b, &v, "")
		if err != nil && oauth.As(err) == nil {
			t.Fatalf("non-protocol error %v", err)
		}
		if err == nil {
			var m map[string]any
			if Unmarshal(b, &m, "") != nil {
				t.Fatal("accepted as struct but not as object")
			}
		}
	})
}
