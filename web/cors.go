package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mdoc-issuer/issuer/oauth"
)

// CORS (Fetch Standard §3.2) for routes flagged CORS. Browser-based wallets
// call the issuer from their own origin. No cookie or other ambient
// credential is ever accepted on these routes (clients authenticate with
// attestation headers, DPoP proofs and DPoP-bound tokens), so "*" is safe and
// credentials mode is not enabled.
var (
	corsAllowHeaders = strings.Join([]string{
		"Authorization", "Content-Type", oauth.HeaderDPoP,
		oauth.HeaderClientAttestation, oauth.HeaderClientAttestationPoP, HeaderRequestID,
	}, ", ")
	corsExposeHeaders = strings.Join([]string{
		oauth.HeaderDPoPNonce, oauth.HeaderWWWAuthenticate, oauth.HeaderAttestationChallenge,
		oauth.HeaderRetryAfter, HeaderRequestID, "Location",
	}, ", ")
)

// cors sets the CORS response headers of a flagged route and answers a
// preflight request; it reports whether it did (then no handler runs).
func cors(c echo.Context, rt *Route) bool {
	h := c.Response().Header()
	h.Set("Access-Control-Allow-Origin", "*")
	req := c.Request()
	if req.Method != http.MethodOptions || req.Header.Get("Access-Control-Request-Method") == "" {
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		return false
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(rt.Methods, ", "))
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", "600")
	c.Response().WriteHeader(http.StatusNoContent)
	return true
}
