package upstream

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/mdoc-issuer/issuer/oauth"
)

// ErrUnavailable is wrapped by every error caused by the provider being
// unreachable, slow (timeout) or answering 5xx/429.
var ErrUnavailable = errors.New("upstream: provider unavailable")

// Endpoints named in errors.
const (
	EndpointAuthorization = "authorization"
	EndpointToken         = "token"
)

// Stages named in a CheckError.
const (
	StageDiscovery = "discovery"
	StageJWKS      = "jwks"
	StageCallback  = "callback"
	StageToken     = "token"
	StageIDToken   = "id_token"
)

// ProviderError is an OAuth error response of the provider: on the callback
// (RFC 6749 §4.1.2.1, OpenID Connect Core 1.0 §3.1.2.6, e.g. access_denied,
// login_required) or from the token endpoint (RFC 6749 §5.2, e.g.
// invalid_grant). Code and Description are reduced to the characters RFC 6749
// allows and truncated; they are the provider's words and are not meant for
// the wallet.
type ProviderError struct {
	Endpoint    string
	Code        string
	Description string
	URI         string
}

func (e *ProviderError) Error() string {
	s := fmt.Sprintf("upstream: the provider returned error %q at its %s endpoint", e.Code, e.Endpoint)
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// CheckError is a response (from the browser or the provider) that failed a
// check. Check names the parameter or claim ("state", "iss", "aud", "nonce",
// "signature", …); Reason says what was wrong without quoting any value.
type CheckError struct {
	Stage  string
	Check  string
	Reason string
	cause  error
}

func (e *CheckError) Error() string {
	s := "upstream: " + e.Stage + " " + e.Check + ": " + e.Reason
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

func (e *CheckError) Unwrap() error { return e.cause }

func checkErr(stage, check, format string, args ...any) *CheckError {
	return &CheckError{Stage: stage, Check: check, Reason: fmt.Sprintf(format, args...)}
}

func (e *CheckError) with(cause error) *CheckError { e.cause = cause; return e }

func unavailable(what string, cause error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, cause)
}

// authnCodes are the authorization error codes meaning the End-User was not
// authenticated or did not consent (RFC 6749 §4.1.2.1, OpenID Connect Core
// 1.0 §3.1.2.6).
var authnCodes = map[string]bool{
	"access_denied": true, "login_required": true, "interaction_required": true,
	"consent_required": true, "account_selection_required": true,
}

// OAuthError maps an error of Start or Finish onto the protocol error the
// authorization server sends to its own client (in the authorization error
// response, RFC 6749 §4.1.2.1):
//   - provider unreachable, or the provider says temporarily_unavailable:
//     temporarily_unavailable (503, Retry-After);
//   - the End-User was not authenticated upstream (access_denied,
//     login_required, …), the token endpoint refused the code (invalid_grant),
//     or the ID token (or the subject claim) failed a check: access_denied
//     naming the check;
//   - a malformed or forged callback (state, iss, missing code): invalid_request;
//   - anything else (misconfiguration: invalid_client, unauthorized_client,
//     bad discovery document, malformed token response): server_error,
//     cause kept for logs only.
//
// The description never carries the provider's own text.
func OAuthError(err error) *oauth.Error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrUnavailable) {
		return oauth.Unavailable(30, err)
	}
	var pe *ProviderError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == oauth.CodeTemporarilyUnavailable:
			return oauth.Unavailable(30, err)
		case pe.Endpoint == EndpointAuthorization && authnCodes[pe.Code]:
			return oauth.AccessDenied("the upstream identity provider did not authenticate the End-User (%s)", pe.Code).WithCause(err)
		case pe.Endpoint == EndpointToken && pe.Code == oauth.CodeInvalidGrant:
			return oauth.AccessDenied("the upstream identity provider refused the authorization code (invalid_grant)").WithCause(err)
		}
		return oauth.ServerError(err)
	}
	var ce *CheckError
	if errors.As(err, &ce) {
		switch ce.Stage {
		case StageCallback:
			return oauth.New(http.StatusBadRequest, oauth.CodeInvalidRequest, "upstream login callback: %s: %s", ce.Check, ce.Reason).WithCause(err)
		case StageIDToken:
			return oauth.AccessDenied("upstream login rejected: %s %s check failed", ce.Stage, ce.Check).WithCause(err)
		}
	}
	return oauth.ServerError(err)
}
