package oauth

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes. OAuth 2.0 (RFC 6749 §4.1.2.1, §5.2), bearer/DPoP resource errors
// (RFC 6750 §3.1, RFC 9449 §7.1, §8, §9), attestation-based client authentication
// (draft-ietf-oauth-attestation-based-client-auth), and OpenID4VCI 1.0 (§6.3, §8.3.1.2,
// §9.3, §11.3).
const (
	CodeInvalidRequest          = "invalid_request"
	CodeInvalidClient           = "invalid_client"
	CodeInvalidGrant            = "invalid_grant"
	CodeUnauthorizedClient      = "unauthorized_client"
	CodeUnsupportedGrantType    = "unsupported_grant_type"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeInvalidScope            = "invalid_scope"
	CodeAccessDenied            = "access_denied"
	CodeServerError             = "server_error"
	CodeTemporarilyUnavailable  = "temporarily_unavailable"
	CodeInvalidRequestURI       = "invalid_request_uri"
	CodeInvalidAuthzDetails     = "invalid_authorization_details"

	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"

	CodeInvalidDPoPProof = "invalid_dpop_proof"
	CodeUseDPoPNonce     = "use_dpop_nonce"

	CodeInvalidClientAttestation = "invalid_client_attestation"
	CodeUseAttestationChallenge  = "use_attestation_challenge"
	CodeUseFreshAttestation      = "use_fresh_attestation"

	CodeAuthorizationPending = "authorization_pending"
	CodeSlowDown             = "slow_down"

	CodeInvalidCredentialRequest       = "invalid_credential_request"
	CodeUnknownCredentialConfiguration = "unknown_credential_configuration"
	CodeUnknownCredentialIdentifier    = "unknown_credential_identifier"
	CodeInvalidProof                   = "invalid_proof"
	CodeInvalidNonce                   = "invalid_nonce"
	CodeInvalidEncryptionParameters    = "invalid_encryption_parameters"
	CodeCredentialRequestDenied        = "credential_request_denied"
	CodeIssuancePending                = "issuance_pending"
	CodeInvalidTransactionID           = "invalid_transaction_id"
	CodeInvalidNotificationID          = "invalid_notification_id"
	CodeInvalidNotificationRequest     = "invalid_notification_request"

	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooManyRequests  = "too_many_requests"
)

// Error is a protocol error as it goes on the wire: an error code, a
// human-readable description naming the failed check, the HTTP status and any
// headers the response must carry (WWW-Authenticate, DPoP-Nonce, Retry-After).
//
// Description is sent to the client: it must never contain secrets, tokens,
// nonces, keys or personal data. The wrapped cause is for logs only.
type Error struct {
	Code        string
	Description string
	Status      int
	URI         string
	Header      http.Header
	cause       error
}

// New returns an Error with the given status, code and formatted description.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Description: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, oauth.ErrInvalidGrant) matches any invalid_grant error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// WithCause returns a copy of e that wraps cause (for logs, never sent).
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// WithHeader returns a copy of e that sets header key to value on the response.
func (e *Error) WithHeader(key, value string) *Error {
	c := *e
	c.Header = e.Header.Clone()
	if c.Header == nil {
		c.Header = http.Header{}
	}
	c.Header.Set(key, value)
	return &c
}

// Body is the JSON error object of RFC 6749 §5.2.
type Body struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
	ErrorURI         string `json:"error_uri,omitempty"`
}

// Body returns the JSON body of the error.
func (e *Error) Body() Body {
	return Body{Error: e.Code, ErrorDescription: sanitize(e.Description), ErrorURI: e.URI}
}

// sanitize keeps error_description within the characters RFC 6749 §5.2 allows
// (%x20-21 / %x23-5B / %x5D-7E): no quote, no backslash, printable ASCII only.
func sanitize(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\'')
		case c >= 0x20 && c <= 0x7e:
			b = append(b, c)
		default:
			b = append(b, '?')
		}
	}
	return string(b)
}

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Sentinels for errors.Is comparisons by code.
var (
	ErrInvalidRequest  = &Error{Code: CodeInvalidRequest}
	ErrInvalidClient   = &Error{Code: CodeInvalidClient}
	ErrInvalidGrant    = &Error{Code: CodeInvalidGrant}
	ErrInvalidToken    = &Error{Code: CodeInvalidToken}
	ErrInvalidDPoP     = &Error{Code: CodeInvalidDPoPProof}
	ErrUseDPoPNonce    = &Error{Code: CodeUseDPoPNonce}
	ErrInvalidProof    = &Error{Code: CodeInvalidProof}
	ErrInvalidNonce    = &Error{Code: CodeInvalidNonce}
	ErrAccessDenied    = &Error{Code: CodeAccessDenied}
	ErrServerError     = &Error{Code: CodeServerError}
	ErrTemporarilyDown = &Error{Code: CodeTemporarilyUnavailable}
)

// Constructors for the common codes at their usual status.

func InvalidRequest(format string, args ...any) *Error {
	return New(http.StatusBadRequest, CodeInvalidRequest, format, args...)
}
func InvalidClient(format string, args ...any) *Error {
	return New(http.StatusUnauthorized, CodeInvalidClient, format, args...)
}
func InvalidGrant(format string, args ...any) *Error {
	return New(http.StatusBadRequest, CodeInvalidGrant, format, args...)
}
func UnauthorizedClient(format string, args ...any) *Error {
	return New(http.StatusBadRequest, CodeUnauthorizedClient, format, args...)
}
func InvalidScope(format string, args ...any) *Error {
	return New(http.StatusBadRequest, CodeInvalidScope, format, args...)
}
func AccessDenied(format string, args ...any) *Error {
	return New(http.StatusForbidden, CodeAccessDenied, format, args...)
}
func InvalidDPoPProof(format string, args ...any) *Error {
	return New(http.StatusBadRequest, CodeInvalidDPoPProof, format, args...)
}
func InvalidToken(format string, args ...any) *Error {
	return New(http.StatusUnauthorized, CodeInvalidToken, format, args...)
}
func InvalidCredentialRequest(format string, args ...any) *Error {
	return New(http.StatusBadRequest, CodeInvalidCredentialRequest, format, args...)
}
func InvalidProof(format string, args ...any) *Error {
	return New(http.StatusBadRequest, CodeInvalidProof, format, args...)
}
func InvalidNonce(format string, args ...any) *Error {
	return New(http.StatusBadRequest, CodeInvalidNonce, format, args...)
}

// ServerError is a 500 whose description is fixed: the cause goes to logs only.
func ServerError(cause error) *Error {
	return (&Error{Code: CodeServerError, Status: http.StatusInternalServerError,
		Description: "internal error"}).WithCause(cause)
}

// Unavailable is a 503 for a dependency outage (store unreachable); clients
// retry after the given number of seconds.
func Unavailable(retryAfterSeconds int, cause error) *Error {
	return (&Error{Code: CodeTemporarilyUnavailable, Status: http.StatusServiceUnavailable,
		Description: "service temporarily unavailable"}).
		WithHeader("Retry-After", fmt.Sprint(retryAfterSeconds)).WithCause(cause)
}
