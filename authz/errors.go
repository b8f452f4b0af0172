package authz

import (
	"errors"
	"net/http"

	"github.com/ory/fosite"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// retryAfterSeconds is the Retry-After of 503 answers to store outages.
const retryAfterSeconds = 2

// rfc6749Codes are the error codes fosite may produce that go on the wire
// unchanged; any other fosite code becomes invalid_request (or server_error).
var rfc6749Codes = map[string]bool{
	oauth.CodeInvalidRequest: true, oauth.CodeInvalidClient: true, oauth.CodeInvalidGrant: true,
	oauth.CodeUnauthorizedClient: true, oauth.CodeUnsupportedGrantType: true, oauth.CodeInvalidScope: true,
	oauth.CodeUnsupportedResponseType: true, oauth.CodeAccessDenied: true, oauth.CodeInvalidRequestURI: true,
}

// toOAuthError maps every error of this package and of fosite to the
// *oauth.Error that goes on the wire: our own *oauth.Error unchanged, store
// outages to 503, fosite errors to their code with fosite's description and
// hint (never its debug text), anything else to server_error.
func toOAuthError(err error) *oauth.Error {
	if err == nil {
		return nil
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return oauth.Unavailable(retryAfterSeconds, err)
	}
	if e := oauth.As(err); e != nil {
		return e
	}
	switch {
	case errors.Is(err, errCodeReused), errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
		// The latter reaches here wrapped in a server_error when a
		// concurrent redemption consumed the code between fosite's two
		// reads of it; the grant is revoked by then (fositeStore).
		return oauth.InvalidGrant("the authorization code was already used; tokens issued for it are revoked").WithCause(err)
	case errors.Is(err, errRefreshReused):
		return oauth.InvalidGrant("the refresh token was already used").WithCause(err)
	case errors.Is(err, errGrantRevoked):
		return oauth.InvalidGrant("the grant has been revoked").WithCause(err)
	case errors.Is(err, errRequestURIUsed):
		return oauth.New(http.StatusBadRequest, oauth.CodeInvalidRequestURI, "the request_uri was already used").WithCause(err)
	}
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		if rfc.CodeField >= 500 || rfc.ErrorField == fosite.ErrServerError.ErrorField {
			return oauth.ServerError(err)
		}
		code := rfc.ErrorField
		status := rfc.CodeField
		if !rfc6749Codes[code] {
			code, status = oauth.CodeInvalidRequest, http.StatusBadRequest
		}
		if status == 0 {
			status = http.StatusBadRequest
		}
		desc := rfc.DescriptionField
		if h := rfc.HintField; h != "" {
			desc += " " + h
		}
		return oauth.New(status, code, "%s", desc).WithCause(err)
	}
	return oauth.ServerError(err)
}
