package oauth

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// ErrorCodeRecorder is the code-only form of ErrorRecorder, for writers that
// only count responses.
type ErrorCodeRecorder interface {
	RecordErrorCode(code string)
}

// JSONAppender is a response body that encodes itself: AppendJSON appends
// exactly what json.Marshal would give, without encoding/json's reflection
// and its second scan of the output (large bodies, such as credentials).
type JSONAppender interface {
	AppendJSON(dst []byte) []byte
}

// AppendJSONString appends s as a JSON string exactly as json.Marshal
// encodes it (HTML-safe escaping included).
func AppendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// WriteJSON writes v as a JSON response with the given status. noStore adds
// Cache-Control: no-store (responses with tokens, nonces, offers, credentials).
func WriteJSON(w http.ResponseWriter, status int, v any, noStore bool) {
	h := w.Header()
	h.Set("Content-Type", MediaJSON)
	if noStore {
		h.Set(HeaderCacheControl, CacheNoStore)
	}
	// One buffer with its length: net/http then sends headers and body in
	// one write instead of chunking bodies over 2 KiB.
	var b []byte
	if a, ok := v.(JSONAppender); ok {
		b = a.AppendJSON(nil)
	} else {
		var err error
		if b, err = json.Marshal(v); err != nil {
			WriteError(w, ServerError(err))
			return
		}
	}
	b = append(b, '\n')
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ErrorRecorder is implemented by response writers of the HTTP layer that
// count responses by error code (metrics, access logs) and log the internal
// cause of server errors. WriteError reports every error it writes to it.
type ErrorRecorder interface {
	RecordError(e *Error)
}

// WriteError writes err as a protocol error response. An error that is not an
// *Error becomes 500 server_error with no internal text. Error responses always
// carry Cache-Control: no-store.
func WriteError(w http.ResponseWriter, err error) {
	e := As(err)
	if e == nil {
		e = ServerError(err)
	}
	if r, ok := w.(ErrorRecorder); ok {
		r.RecordError(e)
	} else if r, ok := w.(ErrorCodeRecorder); ok {
		r.RecordErrorCode(e.Code)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	WriteJSON(w, status, e.Body(), true)
}
