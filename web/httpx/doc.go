// Package httpx holds the echo-free request helpers protocol handlers share:
// strict JSON body decoding (syntax, not schema: unknown members are left to
// the caller to ignore, as OpenID4VCI §8.2 and RFC 6749 §3.1 require), strict
// form decoding (no repeated parameters, RFC 6749 §3.1), media-type checks,
// and the request id carried in the request context.
//
// It does not route, log or write responses; its errors are *oauth.Error
// values the handler passes to oauth.WriteError. Body size limits are set by
// the web layer (http.MaxBytesReader); httpx turns an exceeded limit into 413.
package httpx
