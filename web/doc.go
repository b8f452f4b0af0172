// Package web is the HTTP layer and the only package that imports echo. It
// owns the routes table (every endpoint, its methods, path and whether its
// responses carry secrets), the middleware every request passes (request id,
// panic recovery, body limit, handler deadline, access log, Prometheus
// metrics), the one error handler that turns every error into a status and
// a JSON body through oauth.WriteError, the health endpoints, and the server
// lifecycle (timeouts, graceful shutdown).
//
// It does not implement protocol endpoints: authz, credential, metadata and
// the offer/admin packages expose plain http.Handlers, which cmd/issuer
// passes in Options.Handlers; a nil handler is simply not mounted. Request
// helpers that handlers use (strict JSON and form decoding) live in the
// echo-free web/httpx.
package web
