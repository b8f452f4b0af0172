package offer

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/mdoc-issuer/issuer/credential"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// AdminPrefix is the path, after the issuer identifier's path, under which
// web mounts AdminHandler (without stripping it).
const AdminPrefix = "/admin/v1"

//go:embed openapi.json
var openAPIDocument []byte

// route is one admin endpoint. The table is the single source of truth for
// routing and for the OpenAPI document check.
type route struct {
	method  string
	pattern string // OpenAPI path template, {name} segments
	public  bool   // no bearer token required
	handle  func(s *Service, w http.ResponseWriter, r *http.Request, params map[string]string)
}

var adminRoutes = []route{
	{http.MethodPost, AdminPrefix + "/offers", false, (*Service).adminCreate},
	{http.MethodGet, AdminPrefix + "/offers/{id}", false, (*Service).adminStatus},
	{http.MethodDelete, AdminPrefix + "/offers/{id}", false, (*Service).adminCancel},
	{http.MethodPost, AdminPrefix + "/deferred/{transaction_id}/approve", false, (*Service).adminApprove},
	{http.MethodPost, AdminPrefix + "/deferred/{transaction_id}/reject", false, (*Service).adminReject},
	{http.MethodGet, AdminPrefix + "/openapi.json", true, (*Service).adminOpenAPI},
}

// matchPath matches a path against a pattern with {name} segments; each
// parameter segment must be non-empty.
func matchPath(pattern, path string) (map[string]string, bool) {
	ps := strings.Split(pattern, "/")
	xs := strings.Split(path, "/")
	if len(ps) != len(xs) {
		return nil, false
	}
	var params map[string]string
	for i, p := range ps {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if xs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[p[1:len(p)-1]] = xs[i]
			continue
		}
		if p != xs[i] {
			return nil, false
		}
	}
	return params, true
}

// AdminHandler serves the admin API under {issuer path}/admin/v1. Every route except the
// OpenAPI document requires one of Options.AdminTokens as a bearer token
// (RFC 6750 §2.1). Responses carry Cache-Control: no-store.
func (s *Service) AdminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := strings.CutPrefix(r.URL.Path, s.adminPath)
		if !ok {
			oauth.WriteError(w, oauth.New(http.StatusNotFound, oauth.CodeNotFound, "no such admin endpoint"))
			return
		}
		var allowed []string
		for _, rt := range adminRoutes {
			params, ok := matchPath(rt.pattern, path)
			if !ok {
				continue
			}
			if rt.method != r.Method {
				allowed = append(allowed, rt.method)
				continue
			}
			if !rt.public && !s.authorized(r) {
				s.writeUnauthorized(w, r)
				return
			}
			rt.handle(s, w, r, params)
			return
		}
		if len(allowed) > 0 {
			// Do not reveal the API surface to unauthenticated callers.
			if !s.authorized(r) {
				s.writeUnauthorized(w, r)
				return
			}
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			oauth.WriteError(w, oauth.New(http.StatusMethodNotAllowed, oauth.CodeMethodNotAllowed, "method %s not allowed", r.Method))
			return
		}
		oauth.WriteError(w, oauth.New(http.StatusNotFound, oauth.CodeNotFound, "no such admin endpoint"))
	})
}

// authorized checks the bearer token against every configured token in
// constant time (no early exit, comparison of SHA-256 digests so lengths do
// not leak).
func (s *Service) authorized(r *http.Request) bool {
	h := r.Header.Values("Authorization")
	if len(h) != 1 || len(s.tokens) == 0 {
		return false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	match := 0
	for i := range s.tokens {
		match |= subtle.ConstantTimeCompare(d[:], s.tokens[i][:])
	}
	return match == 1
}

func (s *Service) writeUnauthorized(w http.ResponseWriter, r *http.Request) {
	// RFC 6750 §3: no error code when the request carried no credentials.
	challenge := `Bearer realm="admin"`
	if r.Header.Get("Authorization") != "" {
		challenge += `, error="invalid_token"`
	}
	oauth.WriteError(w, oauth.New(http.StatusUnauthorized, oauth.CodeInvalidToken, "a valid admin bearer token is required").
		WithHeader(oauth.HeaderWWWAuthenticate, challenge))
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Request decoding limits.
const maxJSONDepth = 16

// readJSONBody reads a bounded application/json body. Oversized bodies are
// 413, other media types 415.
func (s *Service) readJSONBody(w http.ResponseWriter, r *http.Request, allowEmpty bool) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, oauth.New(http.StatusRequestEntityTooLarge, oauth.CodeInvalidRequest, "request body exceeds %d bytes", s.o.MaxBodyBytes)
		}
		return nil, oauth.InvalidRequest("cannot read request body")
	}
	if len(body) == 0 && allowEmpty {
		return nil, nil
	}
	mt, _, perr := mime.ParseMediaType(ct)
	if ct == "" || perr != nil || mt != oauth.MediaJSON {
		return nil, oauth.New(http.StatusUnsupportedMediaType, oauth.CodeInvalidRequest, "Content-Type must be application/json")
	}
	return body, nil
}

// DecodeCreateRequest parses the body of POST /admin/v1/offers strictly: one
// JSON object, no duplicate member names at any depth, no unknown members, no
// trailing data, bounded nesting.
func DecodeCreateRequest(body []byte) (CreateRequest, error) {
	var req CreateRequest
	if err := checkStrictJSON(body); err != nil {
		return req, oauth.InvalidRequest("malformed JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return CreateRequest{}, oauth.InvalidRequest("invalid request body: %s", describeJSONError(err))
	}
	return req, nil
}

func describeJSONError(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		if ute.Field != "" {
			return fmt.Sprintf("member %s must be of type %s", ute.Field, ute.Type)
		}
		return fmt.Sprintf("expected %s", ute.Type)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown member " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return "does not match the schema"
}

// checkStrictJSON verifies that data is exactly one JSON object, without
// duplicate member names, nested at most maxJSONDepth deep.
func checkStrictJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return errors.New("not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("the body must be a JSON object")
	}
	if err := walkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func walkObject(dec *json.Decoder, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("nesting deeper than %d", maxJSONDepth)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("not valid JSON")
		}
		name, ok := tok.(string)
		if !ok {
			return errors.New("not valid JSON")
		}
		if seen[name] {
			return fmt.Errorf("duplicate member %q", name)
		}
		seen[name] = true
		if err := walkValue(dec, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return errors.New("not valid JSON")
	}
	return nil
}

func walkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return errors.New("not valid JSON")
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return walkObject(dec, depth+1)
	case '[':
		if depth+1 > maxJSONDepth {
			return fmt.Errorf("nesting deeper than %d", maxJSONDepth)
		}
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errors.New("not valid JSON")
		}
		return nil
	}
	return errors.New("not valid JSON")
}

func (s *Service) adminCreate(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	body, err := s.readJSONBody(w, r, false)
	if err != nil {
		oauth.WriteError(w, err)
		return
	}
	req, err := DecodeCreateRequest(body)
	if err != nil {
		oauth.WriteError(w, err)
		return
	}
	created, err := s.Create(r.Context(), req)
	if err != nil {
		oauth.WriteError(w, err)
		return
	}
	w.Header().Set("Location", s.adminPath+AdminPrefix+"/offers/"+created.ID)
	oauth.WriteJSON(w, http.StatusCreated, created, true)
}

// lifecycleError maps the lifecycle sentinels for the admin API.
func lifecycleError(err error) error {
	if errors.Is(err, ErrNotFound) {
		return oauth.New(http.StatusNotFound, oauth.CodeNotFound, "no such offer")
	}
	return err
}

func (s *Service) adminStatus(w http.ResponseWriter, r *http.Request, p map[string]string) {
	st, err := s.Status(r.Context(), p["id"])
	if err != nil {
		oauth.WriteError(w, lifecycleError(err))
		return
	}
	oauth.WriteJSON(w, http.StatusOK, st, true)
}

func (s *Service) adminCancel(w http.ResponseWriter, r *http.Request, p map[string]string) {
	st, err := s.Cancel(r.Context(), p["id"])
	if err != nil {
		oauth.WriteError(w, lifecycleError(err))
		return
	}
	oauth.WriteJSON(w, http.StatusOK, st, true)
}

// DeferredDecision is the response of the approve and reject endpoints.
type DeferredDecision struct {
	TransactionID string `json:"transaction_id"`
	Decision      string `json:"decision"` // approved | rejected
}

func (s *Service) adminApprove(w http.ResponseWriter, r *http.Request, p map[string]string) {
	s.adminDecide(w, r, p["transaction_id"], true)
}

func (s *Service) adminReject(w http.ResponseWriter, r *http.Request, p map[string]string) {
	s.adminDecide(w, r, p["transaction_id"], false)
}

// adminDecide accepts an empty body or an empty JSON object.
func (s *Service) adminDecide(w http.ResponseWriter, r *http.Request, txID string, approve bool) {
	body, err := s.readJSONBody(w, r, true)
	if err != nil {
		oauth.WriteError(w, err)
		return
	}
	if body != nil {
		var m map[string]json.RawMessage
		if checkStrictJSON(body) != nil || json.Unmarshal(body, &m) != nil || len(m) != 0 {
			oauth.WriteError(w, oauth.InvalidRequest("the request body must be empty or {}"))
			return
		}
	}
	if s.o.Deferred == nil {
		oauth.WriteError(w, oauth.New(http.StatusNotFound, oauth.CodeNotFound, "deferred issuance is not configured"))
		return
	}
	decision := "approved"
	if approve {
		err = s.o.Deferred.ApproveDeferred(r.Context(), txID)
	} else {
		decision = "rejected"
		err = s.o.Deferred.RejectDeferred(r.Context(), txID)
	}
	if err != nil {
		switch {
		case oauth.As(err) != nil:
		case errors.Is(err, credential.ErrUnknownTransaction), errors.Is(err, storage.ErrNotFound):
			err = oauth.New(http.StatusNotFound, oauth.CodeNotFound, "no such deferred transaction")
		case errors.Is(err, credential.ErrTransactionDecided), errors.Is(err, storage.ErrAlreadyUsed):
			err = oauth.New(http.StatusConflict, oauth.CodeInvalidRequest, "the transaction was already decided")
		case errors.Is(err, storage.ErrConflict):
			err = oauth.Unavailable(1, err)
		default:
			err = storeError(err)
		}
		oauth.WriteError(w, err)
		return
	}
	oauth.WriteJSON(w, http.StatusOK, DeferredDecision{TransactionID: txID, Decision: decision}, true)
}

func (s *Service) adminOpenAPI(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	w.Header().Set("Content-Type", oauth.MediaJSON)
	w.Header().Set(oauth.HeaderCacheControl, "no-cache")
	_, _ = w.Write(openAPIDocument)
}
