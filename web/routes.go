package web

import (
	"net/http"
	"strings"
)

// Endpoint paths relative to the issuer identifier's path (the prefix). An
// endpoint's URL is the issuer identifier followed by its path, e.g.
// https://issuer.example/tenant + PathCredential.
const (
	PathPAR          = "/par"
	PathAuthorize    = "/authorize"
	PathToken        = "/token"
	PathChallenge    = "/challenge"
	PathNonce        = "/nonce"
	PathCredential   = "/credential"
	PathDeferred     = "/deferred_credential"
	PathNotification = "/notification"
	PathOffers       = "/offers/" // + offer id: credential_offer_uri (OpenID4VCI §4.1.3)
	PathAdmin        = "/admin"
	PathIACA         = "/pki/iaca.pem" // IACA root certificate (PEM)
	PathIACACRL      = "/pki/iaca.crl" // IACA CRL (pki.DefaultCRLPath)

	// Well-known locations are inserted before the issuer's path (RFC 8414
	// §3.1, OpenID4VCI §12.2.2).
	WellKnownCredentialIssuer = "/.well-known/openid-credential-issuer"
	WellKnownAS               = "/.well-known/oauth-authorization-server"

	// Operational endpoints live at the host root.
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathMetrics = "/metrics"
	PathPprof   = "/debug/pprof/" // + profile name, when Options.Pprof is set
)

// Handlers are the protocol endpoints; nil = not mounted. A handler receives
// the request with its full path; the web layer has already matched the
// method, applied the body limit and set the request id.
type Handlers struct {
	PAR          http.Handler // RFC 9126
	Authorize    http.Handler // authorization endpoint and its login/consent pages (PathAuthorize/...)
	Token        http.Handler
	Challenge    http.Handler // ABCA challenge endpoint
	Nonce        http.Handler // OpenID4VCI §7
	Credential   http.Handler // OpenID4VCI §8
	Deferred     http.Handler // OpenID4VCI §9
	Notification http.Handler // OpenID4VCI §11
	Offer        http.Handler // GET PathOffers + id
	// Admin is the back-office API under PathAdmin/. It authenticates its
	// callers itself (offer checks admin.tokens, with its public OpenAPI
	// document); web only places it on the admin listener when one is set.
	Admin    http.Handler
	IACACert http.Handler // IACA root certificate (PEM)
	IACACRL  http.Handler // IACA CRL (DER), the CRL distribution point of the DS
	// IssuerMetadata answers both the inserted and the legacy appended
	// well-known locations; ASMetadata likewise.
	IssuerMetadata http.Handler
	ASMetadata     http.Handler
}

// Route is one row of the routes table.
type Route struct {
	Name    string
	Methods []string
	Path    string // echo path template, absolute (prefix applied)
	Handler http.Handler
	// NoStore: responses carry tokens, nonces, offers or credentials and get
	// Cache-Control: no-store (RFC 6749 §5.1, OpenID4VCI §7.2, §8.3).
	NoStore bool
	// Admin: served on the admin listener when one is configured.
	Admin bool
	// CORS: called by browser-based wallets across origins. These endpoints
	// use no cookies (wallets authenticate with attestation headers and
	// DPoP-bound tokens), so any origin may call them; see cors.go.
	CORS bool
	// Limited: a stateful public endpoint, passed through Options.Limit
	// (rate limiting). Metadata, certificates and health endpoints are not:
	// they need no state and stay available while the store is down.
	Limited bool
}

var (
	get      = []string{http.MethodGet}
	post     = []string{http.MethodPost}
	getPost  = []string{http.MethodGet, http.MethodPost}
	adminAll = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
)

// routes is the table: one place listing every endpoint the issuer can serve.
// Rows whose handler is nil are dropped.
func routes(prefix string, h Handlers) []Route {
	p := prefix
	rows := []Route{
		{Name: "credential_issuer_metadata", Methods: get, Path: WellKnownCredentialIssuer + p, Handler: h.IssuerMetadata, CORS: true},
		{Name: "oauth_as_metadata", Methods: get, Path: WellKnownAS + p, Handler: h.ASMetadata, CORS: true},
		{Name: "par", Methods: post, Path: p + PathPAR, Handler: h.PAR, NoStore: true, CORS: true, Limited: true},
		{Name: "authorize", Methods: getPost, Path: p + PathAuthorize, Handler: h.Authorize, NoStore: true, Limited: true},
		{Name: "authorize_pages", Methods: getPost, Path: p + PathAuthorize + "/*", Handler: h.Authorize, NoStore: true, Limited: true},
		{Name: "token", Methods: post, Path: p + PathToken, Handler: h.Token, NoStore: true, CORS: true, Limited: true},
		{Name: "challenge", Methods: post, Path: p + PathChallenge, Handler: h.Challenge, NoStore: true, CORS: true, Limited: true},
		{Name: "nonce", Methods: post, Path: p + PathNonce, Handler: h.Nonce, NoStore: true, CORS: true, Limited: true},
		{Name: "credential", Methods: post, Path: p + PathCredential, Handler: h.Credential, NoStore: true, CORS: true, Limited: true},
		{Name: "deferred_credential", Methods: post, Path: p + PathDeferred, Handler: h.Deferred, NoStore: true, CORS: true, Limited: true},
		{Name: "notification", Methods: post, Path: p + PathNotification, Handler: h.Notification, NoStore: true, CORS: true, Limited: true},
		{Name: "credential_offer", Methods: get, Path: p + PathOffers + ":id", Handler: h.Offer, NoStore: true, CORS: true, Limited: true},
		{Name: "credential_offer_pages", Methods: get, Path: p + PathOffers + ":id/*", Handler: h.Offer, NoStore: true, Limited: true},
		{Name: "admin", Methods: adminAll, Path: p + PathAdmin + "/*", Handler: h.Admin, NoStore: true, Admin: true},
		{Name: "iaca_certificate", Methods: get, Path: p + PathIACA, Handler: h.IACACert, CORS: true},
		{Name: "iaca_crl", Methods: get, Path: p + PathIACACRL, Handler: h.IACACRL},
	}
	if p != "" {
		// Legacy appended locations (OpenID4VCI drafts 13-15; RFC 8414 §5
		// compatibility). At the host root both forms coincide.
		rows = append(rows,
			Route{Name: "credential_issuer_metadata_legacy", Methods: get, Path: p + WellKnownCredentialIssuer, Handler: h.IssuerMetadata, CORS: true},
			Route{Name: "oauth_as_metadata_legacy", Methods: get, Path: p + WellKnownAS, Handler: h.ASMetadata, CORS: true},
		)
	}
	out := rows[:0]
	for _, r := range rows {
		if r.Handler != nil {
			out = append(out, r)
		}
	}
	return out
}

// NormalizePrefix turns an issuer identifier's path into a route prefix:
// "" or "/tenant" (no trailing slash).
func NormalizePrefix(p string) string {
	p = strings.TrimRight(p, "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}
