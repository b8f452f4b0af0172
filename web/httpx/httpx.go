package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/mdoc-issuer/issuer/oauth"
)

// MaxBody caps what the helpers read when the web layer set no smaller
// limit, so a handler mounted without the middleware cannot be made to
// buffer an unbounded body.
const MaxBody = 1 << 20

// MaxDepth is the deepest nesting of arrays and objects DecodeJSON accepts.
const MaxDepth = 32

// TooLarge is the 413 answer to a body over the limit.
func TooLarge() *oauth.Error {
	return oauth.New(http.StatusRequestEntityTooLarge, oauth.CodeInvalidRequest, "request body too large")
}

// UnsupportedMediaType is the 415 answer to a body of the wrong media type.
func UnsupportedMediaType(want string) *oauth.Error {
	return oauth.New(http.StatusUnsupportedMediaType, oauth.CodeInvalidRequest,
		"unsupported content type, expected %s", want)
}

// MediaType returns the request's media type, lower case without
// parameters, or "" when absent or unparsable.
func MediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

// RequireMediaType checks that the body is of media type want; a charset
// parameter, when present, must be utf-8.
func RequireMediaType(r *http.Request, want string) error {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != want {
		return UnsupportedMediaType(want)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return UnsupportedMediaType(want + "; charset=utf-8")
	}
	return nil
}

// ReadBody reads the whole body, at most MaxBody bytes; an exceeded limit
// (here or the web layer's http.MaxBytesReader) is 413.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, TooLarge()
	case err != nil:
		return nil, oauth.InvalidRequest("cannot read request body")
	case len(b) > MaxBody:
		return nil, TooLarge()
	}
	return b, nil
}

// DecodeJSON reads an application/json body that must be exactly one JSON
// object (no trailing data, valid UTF-8, no duplicate member names at any
// depth, nesting at most MaxDepth) and unmarshals it into v. Unknown members
// are ignored, as OpenID4VCI §8.2, §9.1, §11.1 require. Syntax and type
// errors are code (invalid_request when ""), status 400; a wrong media type
// is 415 and an oversized body 413, both invalid_request.
func DecodeJSON(r *http.Request, v any, code string) error {
	if code == "" {
		code = oauth.CodeInvalidRequest
	}
	if err := RequireMediaType(r, oauth.MediaJSON); err != nil {
		return err
	}
	b, err := ReadBody(r)
	if err != nil {
		return err
	}
	return Unmarshal(b, v, code)
}

// Unmarshal is DecodeJSON without the request: the strict syntax checks,
// then json.Unmarshal into v.
func Unmarshal(b []byte, v any, code string) error {
	bad := func(format string, args ...any) error {
		return oauth.New(http.StatusBadRequest, code, format, args...)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return bad("request body is empty")
	}
	if !utf8.Valid(b) {
		return bad("request body is not valid UTF-8")
	}
	if err := checkSyntax(b); err != nil {
		return bad("%s", err.Error())
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field != "" {
				return bad("member %s has the wrong type", te.Field)
			}
			return bad("request body has the wrong type")
		}
		return bad("malformed JSON")
	}
	return nil
}

var (
	errNotObject = errors.New("request body must be a JSON object")
	errSyntax    = errors.New("malformed JSON")
	errTrailing  = errors.New("trailing data after the JSON object")
	errDepth     = fmt.Errorf("JSON nested deeper than %d levels", MaxDepth)
)

// checkSyntax walks the tokens of b: one object, no duplicate names, bounded
// depth, nothing after it.
func checkSyntax(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return errSyntax
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errNotObject
	}
	if err := walkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errTrailing
	}
	return nil
}

func walkValue(dec *json.Decoder, tok json.Token, depth int) error {
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= MaxDepth {
		return errDepth
	}
	switch d {
	case '{':
		return walkObject(dec, depth+1)
	case '[':
		return walkArray(dec, depth+1)
	}
	return errSyntax
}

func walkObject(dec *json.Decoder, depth int) error {
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return errSyntax
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return nil
		}
		name, ok := tok.(string)
		if !ok {
			return errSyntax
		}
		if seen[name] {
			return fmt.Errorf("duplicate member %q", truncate(name))
		}
		seen[name] = true
		val, err := dec.Token()
		if err != nil {
			return errSyntax
		}
		if err := walkValue(dec, val, depth); err != nil {
			return err
		}
	}
}

func walkArray(dec *json.Decoder, depth int) error {
	for {
		tok, err := dec.Token()
		if err != nil {
			return errSyntax
		}
		if d, ok := tok.(json.Delim); ok && d == ']' {
			return nil
		}
		if err := walkValue(dec, tok, depth); err != nil {
			return err
		}
	}
}

// truncate keeps a client-supplied name short in error descriptions.
func truncate(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// Form reads an application/x-www-form-urlencoded body (RFC 6749 §3.1,
// RFC 9126 §2.1). A parameter sent more than once is invalid_request (RFC
// 6749 §3.1: "MUST NOT be included more than once"); unknown parameters are
// left to the caller to ignore.
func Form(r *http.Request) (url.Values, error) {
	if err := RequireMediaType(r, oauth.MediaForm); err != nil {
		return nil, err
	}
	b, err := ReadBody(r)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, oauth.InvalidRequest("request body is not valid UTF-8")
	}
	vs, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, oauth.InvalidRequest("malformed form body")
	}
	for k, v := range vs {
		if len(v) > 1 {
			return nil, oauth.InvalidRequest("parameter %s is repeated", truncate(k))
		}
	}
	return vs, nil
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id set by the web layer, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
