package credential

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// Handler serves the Nonce, Credential, Deferred Credential and Notification
// endpoints at BaseURL's path + Path*.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel, ok := strings.CutPrefix(r.URL.Path, s.basePath)
		if !ok {
			oauth.WriteError(w, oauth.New(http.StatusNotFound, oauth.CodeNotFound, "no such endpoint"))
			return
		}
		var h func(http.ResponseWriter, *http.Request) error
		switch rel {
		case PathNonce:
			h = s.serveNonce
		case PathCredential:
			h = s.serveCredential
		case PathDeferred:
			h = s.serveDeferred
		case PathNotification:
			h = s.serveNotification
		default:
			oauth.WriteError(w, oauth.New(http.StatusNotFound, oauth.CodeNotFound, "no such endpoint"))
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			oauth.WriteError(w, oauth.New(http.StatusMethodNotAllowed, oauth.CodeMethodNotAllowed, "use POST"))
			return
		}
		if err := h(w, r); err != nil {
			oauth.WriteError(w, wireError(err))
		}
	})
}

// wireError maps store outages to 503 and leaves protocol errors as they are.
func wireError(err error) error {
	if oauth.As(err) != nil {
		return err
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return oauth.Unavailable(5, err)
	}
	return oauth.ServerError(err)
}

// serveNonce is the Nonce Endpoint (VCI §7): no access token, a fresh
// c_nonce, Cache-Control: no-store (§7.2), and a DPoP-Nonce for the
// Credential Endpoint (RFC 9449 §8.2, §9).
func (s *Service) serveNonce(w http.ResponseWriter, r *http.Request) error {
	n, err := s.o.CNonces.Issue()
	if err != nil {
		return oauth.ServerError(err)
	}
	if s.o.DPoP.NoncesRequired() {
		dn, err := s.o.DPoP.Nonce()
		if err != nil {
			return oauth.ServerError(err)
		}
		w.Header().Set(oauth.HeaderDPoPNonce, dn)
	}
	s.emit(r.Context(), Event{Type: EventNonceIssued})
	oauth.WriteJSON(w, http.StatusOK, map[string]string{"c_nonce": n}, true)
	return nil
}

const wwwAuthAlgs = `algs="ES256"`

// resourceError makes an authorization failure at a protected resource a 401
// with WWW-Authenticate (RFC 6750 §3, RFC 9449 §7.1), unless it carries its own.
func resourceError(e *oauth.Error) *oauth.Error {
	if e.Header.Get(oauth.HeaderWWWAuthenticate) != "" {
		return e
	}
	switch e.Code {
	case oauth.CodeInvalidToken, oauth.CodeInvalidDPoPProof, oauth.CodeUseDPoPNonce:
		c := *e
		c.Status = http.StatusUnauthorized
		return c.WithHeader(oauth.HeaderWWWAuthenticate, `DPoP error="`+e.Code+`", `+wwwAuthAlgs)
	case oauth.CodeInsufficientScope:
		return e.WithHeader(oauth.HeaderWWWAuthenticate, `DPoP error="insufficient_scope", `+wwwAuthAlgs)
	}
	return e
}

// authorize checks the access token and the DPoP proof of a request to a
// protected endpoint (VCI §8, §9, §11; RFC 9449 §7).
func (s *Service) authorize(r *http.Request, path string) (*grantCtx, error) {
	// FAPI 2.0 SP §5.3.4, RFC 6750 §2.3: never accept tokens in the query.
	if r.URL.Query().Has("access_token") {
		return nil, resourceError(oauth.InvalidRequest("access token in the query string is not accepted"))
	}
	authz := r.Header.Values("Authorization")
	if len(authz) == 0 {
		return nil, oauth.InvalidToken("no access token: use the Authorization header with the DPoP scheme").
			WithHeader(oauth.HeaderWWWAuthenticate, "DPoP "+wwwAuthAlgs)
	}
	if len(authz) > 1 {
		return nil, resourceError(oauth.InvalidRequest("more than one Authorization header"))
	}
	scheme, token, _ := strings.Cut(authz[0], " ")
	token = strings.TrimSpace(token)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		// RFC 9449 §7.2: no downgrade of DPoP-bound tokens; HAIP §4 makes
		// every token DPoP-bound.
		return nil, resourceError(oauth.InvalidToken("access tokens are DPoP-bound: use the DPoP scheme, not Bearer"))
	case !strings.EqualFold(scheme, oauth.TokenTypeDPoP):
		return nil, resourceError(oauth.InvalidToken("unsupported authorization scheme"))
	case token == "" || strings.ContainsAny(token, " \t,"):
		return nil, resourceError(oauth.InvalidToken("malformed access token"))
	}
	// The DPoP proof is checked first, its replay-cache write deferred
	// (storage.Pending) to travel with the access token's read; the key
	// binding is checked once the token is known (RFC 9449 §4.3 step 12).
	ctx, pending := storage.WithPending(r.Context())
	proof, err := s.o.DPoP.Verify(ctx, dpop.Request{
		Method:      r.Method,
		URL:         s.Endpoint(path),
		DPoP:        r.Header.Values(oauth.HeaderDPoP),
		AccessToken: token,
		Resource:    true,
	})
	if err != nil {
		if e := oauth.As(err); e != nil {
			return nil, resourceError(e)
		}
		return nil, wireError(err)
	}
	g, err := s.o.Tokens.ValidateAccessToken(ctx, token)
	if perr := pending.Settle(ctx); perr != nil {
		err = perr
	}
	if err != nil {
		if e := oauth.As(err); e != nil {
			return nil, resourceError(e)
		}
		return nil, wireError(err)
	}
	if g == nil || g.JKT == "" {
		return nil, resourceError(oauth.InvalidToken("access token is not DPoP-bound"))
	}
	if err := dpop.CheckBinding(proof, g.JKT, true); err != nil {
		return nil, resourceError(oauth.As(err))
	}
	return &grantCtx{Grant: g, ctx: storage.WithAnswers(r.Context(), pending)}, nil
}

// grantCtx is the authorized grant of a request.
type grantCtx struct {
	*oauth.Grant
	// ctx is the request's context with the records read ahead with the
	// access token (the offer its read hint names; storage.WithAnswers).
	ctx context.Context
}

// readBody reads the request body up to the configured limit.
func (s *Service) readBody(w http.ResponseWriter, r *http.Request, badCode string) ([]byte, string, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return nil, "", oauth.New(http.StatusBadRequest, badCode, "Content-Type must be application/json or application/jwt")
	}
	// One buffer of the announced size (bodies carry proofs of a few KiB).
	buf := bytes.Buffer{}
	if n := r.ContentLength; n > 0 && n <= s.o.MaxBodyBytes {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes))
	b := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, "", oauth.New(http.StatusBadRequest, badCode, "request body too large")
		}
		return nil, "", oauth.New(http.StatusBadRequest, badCode, "cannot read request body")
	}
	return b, strings.ToLower(mt), nil
}
