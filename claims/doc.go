// Package claims reads data element values from an authentic source over
// HTTP: GET {base}/{subject}?doctype={doctype} answered with a JSON object of
// namespaces, each an object of data elements. Source implements
// credential.ClaimsSource.
//
// It owns: the HTTP client (bearer token or TLS client certificate, custom
// root pool, timeouts, no redirects, response size limit), strict parsing of
// the response, and the mapping of the source's answers to two outcomes the
// credential endpoint distinguishes: ErrUnknownSubject (404 or no data; wraps
// credential.ErrNoClaims, answered with credential_request_denied) and
// ErrSourceUnavailable (anything else that is not a usable 200; answered with
// 503, and no credential is issued with partial data).
//
// It does not own: checking values against the doctype catalogue (mdoc, at
// issuance), choosing between offer claims and the authentic source
// (credential.ClaimsRouter), or caching (there is none: every credential
// request reads current data).
//
// Errors and logs never contain the subject or claim values.
package claims
