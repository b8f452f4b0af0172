// Package authz is the OAuth 2.0 authorization server in front of the
// credential endpoint, profiled for OpenID4VCI 1.0 + HAIP 1.0 (FAPI 2.0
// Security Profile parts that HAIP §4 makes mandatory).
//
// It owns:
//   - the pushed authorization request endpoint (RFC 9126), the only way to
//     start an authorization (HAIP §4, FAPI 2.0 §5.3.2.2);
//   - the authorization endpoint with a server-rendered login and consent UI
//     (templates in authz/ui), RFC 9207 `iss` in every authorization response;
//   - the token endpoint for the authorization_code, pre-authorized_code
//     (OpenID4VCI §3.5, §6.1) and, if enabled, refresh_token grants, issuing
//     only DPoP-bound access tokens (RFC 9449 §5);
//   - the ABCA challenge endpoint (draft-ietf-oauth-attestation-based-client-auth-07 §8);
//   - access token validation for the credential issuer (ValidateAccessToken).
//
// Protocol machinery is github.com/ory/fosite, wired by hand: fosite's
// authorize-code, PKCE, refresh and PAR handlers plus this package's
// pre-authorized code handler and DPoP/client-binding handler. Fosite's
// storage interfaces are implemented over storage.Store with compact,
// versioned CBOR records (store.go); every one-time artifact (request_uri,
// authorization code, pre-authorized code, refresh token) is consumed with
// Records.Consume.
//
// Client authentication is the wallet attestation (ABCA): there is no client
// registration. The client of a request is derived from the attestation
// (client_id = attestation sub); its redirect URIs come from the wallet
// provider policy.
//
// It does not own: DPoP proof validation and nonces (package dpop), wallet
// attestation validation (package wia), the HTTP server, TLS and routing
// (package web), metadata documents (package metadata) or credential issuance
// (package credential).
//
// # Login and consent UI
//
// The authorization endpoint redirects (303) to the login page; after a
// successful login the consent page lists the credential configurations and
// claim names to be issued. Element ids and names are stable for browser
// automation (OIDF conformance suite, see docs):
//
//	login page   (GET  Paths.Login?flow=…):  form#login, input#username[name=username],
//	                                         input#password[name=password],
//	                                         button#submit[name=action][value=login],
//	                                         button#cancel[name=action][value=cancel],
//	                                         button#upstream[name=action][value=upstream] (with Options.Upstream;
//	                                         the password fields are absent without Authenticator)
//	consent page (GET  Paths.Consent?flow=…): form#consent, button#approve[name=action][value=approve],
//	                                         button#deny[name=action][value=deny]
//	error page:                               #error-code holds the OAuth error code
//
// Cancel and deny redirect to the client with error=access_denied, state and
// iss.
//
// # Upstream OpenID Connect login
//
// With Options.Upstream (*upstream.Provider) the login page offers "Sign in
// with <name>" beside (or instead of) the password form. Pressing it (a POST
// with the flow's CSRF token) starts an authorization code flow with PKCE at
// the provider: state, nonce and code verifier are stored under
// upstream.StateKey(state), bound to the login flow, until the flow expires
// (at most 10 min), and the browser is redirected (303) there. The callback
// (GET Paths.UpstreamCallback) consumes that record once (unknown, expired
// or used: invalid_request error page), checks the flow's browser cookie,
// and lets the provider package check the answer and redeem the code. A
// failure ends the flow with a redirect to the wallet carrying
// upstream.OAuthError's code (access_denied, temporarily_unavailable,
// invalid_request, server_error), state and iss. On success the End-User is
// UpstreamSubjectPrefix + the provider's subject claim ("oidc:" by default,
// so upstream subjects never collide with users-file subjects; the claims
// source is keyed by that prefixed subject) and continues to consent. The login flow state is kept in the store (any instance can serve any
// step) and bound to the browser by an HttpOnly SameSite=Lax cookie plus a
// per-flow CSRF token.
//
// # Policy choices where the specs leave room
//
//   - The request_uri is single use, consumed when the authorization
//     completes (approve, deny or cancel), not when the page is first shown:
//     reloading the authorization URL before completion works (RFC 9126 §4,
//     OIDF par-ensure-reused-request-uri-prior-to-auth-completion-succeeds).
//   - state is optional; a response to a request without state has none.
//   - Unknown scope values are ignored (OpenID4VCI §5.1.2); a request with no
//     known scope and no authorization_details is invalid_scope.
//   - A token request without DPoP proof is 400 invalid_dpop_proof; a proof
//     key other than the one bound at PAR (dpop_jkt or DPoP header) is
//     invalid_grant, as is another wallet instance key (attestation cnf)
//     than the one that pushed the request.
//   - A code or pre-authorized code used twice is invalid_grant and the
//     tokens of its first use are revoked (RFC 6749 §4.1.2). Refresh tokens
//     rotate; a reused one revokes the grant (fosite behaviour).
//   - Wrong tx_code is invalid_grant (OpenID4VCI 1.0 §6.3); a missing or
//     unexpected tx_code is invalid_request. TxCodeMaxAttempts failures
//     delete the pre-authorized code.
//   - Login throttling: LoginMaxAttempts failed logins per username within
//     LoginWindow lock the username for the rest of the window.
//
// Development test user: NewDevAuthenticator returns an Authenticator with
// username "testuser", password "testpass", subject "dev-subject-1". It is for
// tests and local runs only; production reads a users file (LoadUsersFile).
package authz
