package offer

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/mdoc-issuer/issuer/oauth"
)

// PublicPrefix is the path, after the path of PublicBaseURL (default: the
// issuer identifier), under which web mounts PublicHandler (without
// stripping it).
const PublicPrefix = "/offers/"

//go:embed templates/page.html
var templateFS embed.FS

var pageTemplate = template.Must(template.ParseFS(templateFS, "templates/page.html"))

// PublicHandler serves, for live offers only (created or fetched, not
// expired), below the path of PublicBaseURL:
//
//	GET {path}/offers/{id}         the credential offer (OpenID4VCI §4.1.3), marks it fetched
//	GET {path}/offers/{id}/qr.png  QR code of the offer URI
//	GET {path}/offers/{id}/qr.svg  the same as SVG
//	GET {path}/offers/{id}/page    an HTML page with the QR code and a same-device link
//
// Everything else, and every expired, cancelled or redeemed offer, is 404 with
// a JSON error. HEAD is not served.
func (s *Service) PublicHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, s.publicPath+PublicPrefix)
		if !ok || rest == "" {
			oauth.WriteError(w, notFound())
			return
		}
		id, sub, _ := strings.Cut(rest, "/")
		switch sub {
		case "", "qr.png", "qr.svg", "page":
		default:
			oauth.WriteError(w, notFound())
			return
		}
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			oauth.WriteError(w, oauth.New(http.StatusMethodNotAllowed, oauth.CodeMethodNotAllowed, "only GET is allowed"))
			return
		}
		if sub == "" {
			s.serveOffer(w, r, id)
			return
		}
		if _, err := s.liveOffer(r.Context(), id); err != nil {
			oauth.WriteError(w, publicError(err))
			return
		}
		switch sub {
		case "qr.png":
			s.serveQR(w, id, "image/png", QRPNG)
		case "qr.svg":
			s.serveQR(w, id, "image/svg+xml", QRSVG)
		case "page":
			s.servePage(w, id)
		}
	})
}

func notFound() *oauth.Error {
	return oauth.New(http.StatusNotFound, oauth.CodeNotFound, "no such credential offer")
}

// publicError hides why an offer is not served: unknown, expired, cancelled
// and redeemed all read as 404 (OFF-09 policy).
func publicError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrExpired), errors.Is(err, ErrCancelled), errors.Is(err, ErrAlreadyRedeemed):
		return notFound()
	}
	return err
}

// serveOffer answers the by-reference fetch: application/json, never signed
// (OpenID4VCI §4.1.3), Cache-Control: no-store (§4.1.3 caching advice).
func (s *Service) serveOffer(w http.ResponseWriter, r *http.Request, id string) {
	o, err := s.Fetch(r.Context(), id)
	if err != nil {
		oauth.WriteError(w, publicError(err))
		return
	}
	oauth.WriteJSON(w, http.StatusOK, o, true)
}

func (s *Service) serveQR(w http.ResponseWriter, id, mediaType string, render func(string) ([]byte, error)) {
	b, err := render(s.OfferURI(id))
	if err != nil {
		oauth.WriteError(w, oauth.ServerError(err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", mediaType)
	h.Set(oauth.HeaderCacheControl, oauth.CacheNoStore)
	h.Set("X-Content-Type-Options", "nosniff")
	if mediaType == "image/svg+xml" {
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	}
	_, _ = w.Write(b)
}

type pageData struct {
	OfferURI template.URL
	QRSVG    template.HTML
}

func (s *Service) servePage(w http.ResponseWriter, id string) {
	svg, err := QRSVG(s.OfferURI(id))
	if err != nil {
		oauth.WriteError(w, oauth.ServerError(err))
		return
	}
	var buf bytes.Buffer
	// The offer URI is built by OfferURI from the configured issuer and a
	// base64url id; the SVG is generated here: both are trusted markup.
	if err := pageTemplate.Execute(&buf, pageData{OfferURI: template.URL(s.OfferURI(id)), QRSVG: template.HTML(svg)}); err != nil {
		oauth.WriteError(w, oauth.ServerError(err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set(oauth.HeaderCacheControl, oauth.CacheNoStore)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	_, _ = w.Write(buf.Bytes())
}
