// Package oidctest is a small in-process OpenID Connect provider for tests
// (an httptest.Server): discovery, JWKS, an authorization endpoint that
// immediately redirects back with a code for the configured user (or with an
// error on request), and a token endpoint that checks the code, the PKCE
// verifier (RFC 7636 §4.6), client authentication and redirect_uri, and
// issues ID tokens signed with ES256, RS256 or PS256.
//
// Tests can break what it issues (Tamper: iss, aud, exp, nonce, signature,
// alg none/HS256, unknown kid), rotate its signing key, deny logins, make it
// slow or down, and count the requests of each endpoint.
//
// It owns nothing outside tests and must not be used by production code.
package oidctest
