package offer

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/mdoc-issuer/issuer/oauth"
)

// FuzzDecodeCreateRequest checks that the admin request decoder never panics,
// accepts only valid JSON objects, and that whatever it accepts survives a
// round trip.
func FuzzDecodeCreateRequest(f *testing.F) {
	for _, s := range []string{
		`{"credential_configuration_ids":["org.iso.18013.5.1.mDL"],"grant":"pre-authorized_code","tx_code":{"length":6,"input_mode":"numeric","description":"SMS"},"subject":"u","expires_in":600}`,
		`{"credential_configuration_ids":["a","b"],"grant":"authorization_code"}`,
		`{"credential_configuration_ids":["a"],"grant":"pre-authorized_code","claims":{"ns":{"e":1.5,"d":[1,{"x":null}]}}}`,
		`{"grant":"a","grant":"b"}`,
		`{"a":1}`,
		`[]`, `{}`, ``, `{"claims":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}`, `{} x`, `{"expires_in":1e400}`,
		"{\"subject\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeCreateRequest(data)
		if err != nil {
			if oe := oauth.As(err); oe == nil || oe.Status != http.StatusBadRequest || oe.Code != oauth.CodeInvalidRequest {
				t.Fatalf("error is not a 400 invalid_request: %v", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("marshal accepted request: %v", err)
		}
		if _, err := DecodeCreateRequest(b); err != nil {
			t.Fatalf("round trip of %q: %v", b, err)
		}
	})
}

// FuzzPublicPath checks the public handler's path parsing: only the four
// documented forms are served, everything else is a JSON 404 or 405.
func FuzzPublicPath(f *testing.F) {
	for _, s := range []string{"/offers/abc", "/offers/abc/qr.png", "/offers/abc/page", "/offers/", "/offers//qr.svg", "/offers/a/b/c", "/other"} {
		f.Add(s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, path string) {
		req, err := http.NewRequest(http.MethodGet, "http://x", nil)
		if err != nil {
			t.Skip()
		}
		req.URL.Path = path
		rec := newRecorderFor(e.public, req)
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed && rec.Code != http.StatusOK {
			t.Fatalf("path %q: status %d", path, rec.Code)
		}
		if rec.Code != http.StatusOK && rec.Header().Get("Content-Type") != oauth.MediaJSON {
			t.Fatalf("path %q: non-JSON error", path)
		}
	})
}
