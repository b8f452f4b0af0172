// Package upstream signs End-Users in at an upstream OpenID Connect provider
// with the authorization code flow (OpenID Connect Core 1.0 §3.1) and PKCE
// S256 (RFC 7636), for the authorization server's login page.
//
// It owns:
//   - provider discovery (OpenID Connect Discovery 1.0 §4) with the exact
//     issuer check of §4.3, done once in New;
//   - the provider's JWKS: fetched, cached, refetched when a token names an
//     unknown kid (at most once per Options.JWKSRefreshInterval) or when the
//     cache is older than Options.JWKSMaxAge;
//   - the authorization request (Provider.Start): state, nonce and PKCE
//     verifier that the caller keeps server-side, bound to its own flow;
//   - the callback (Provider.Finish): RFC 9207 `iss` check, constant-time
//     state check, provider error responses as *ProviderError, the code
//     exchange at the token endpoint with client_secret_basic,
//     client_secret_post or private_key_jwt, and ID token validation per
//     OpenID Connect Core 1.0 §3.1.3.7;
//   - the mapping of its errors onto protocol errors (OAuthError).
//
// It does not own: the login page, the browser binding of a login attempt
// and its storage (package authz keeps Start in its flow record and consumes
// it once), claims of the credential (package claims), or user info beyond
// the ID token (the UserInfo endpoint is not called).
//
// Every HTTP call has a timeout (Options.Timeout) and a response size limit
// (Options.MaxResponseBytes), and follows no redirects. Errors name the
// failed check; they never contain codes, tokens, nonces, state values or
// claim values.
//
// # Use by the authorization server
//
//  1. At startup: p, err := New(ctx, Options{…}) (discovery and JWKS are
//     fetched here; an unreachable provider fails startup).
//  2. "Sign in with p.Name()" on the login page (a POST with the flow's CSRF
//     token): a, err := p.Start(); store {flow id, a} under StateKey(a.State)
//     with a short TTL; redirect (303) the browser to a.URL.
//  3. Callback (GET on the RedirectURL path): consume the record under
//     StateKey(query.Get("state")) (one use; unknown = invalid_request),
//     check the flow's browser binding, then id, err := p.Finish(ctx,
//     r.URL.Query(), a). On error answer OAuthError(err) to the wallet
//     (redirect with error, state and iss); on success id.Subject is the
//     End-User and the flow continues to consent.
//
// Package upstream/oidctest is a small in-process provider for tests.
package upstream
