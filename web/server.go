package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mdoc-issuer/issuer/oauth"
)

// Options configure the HTTP layer.
type Options struct {
	// PathPrefix is the path of the issuer identifier ("" or "/tenant").
	PathPrefix string
	Handlers   Handlers
	// AdminTokens, when set, makes web require one of them as a bearer
	// token (RFC 6750 §2.1) on every admin route before the admin handler
	// runs. Leave it empty for an admin handler that authenticates itself
	// (offer does, and keeps its OpenAPI document public).
	AdminTokens []string
	// SeparateAdmin serves the admin API and /metrics on AdminHandler
	// instead of Handler.
	SeparateAdmin bool
	// Ready reports readiness for /readyz (typically the store's Ping);
	// nil = always ready.
	Ready func(context.Context) error
	// Logger receives access logs and server errors; nil = slog.Default().
	Logger *slog.Logger
	// Registry collects the HTTP metrics and is served on /metrics; nil = a
	// new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// MaxBodyBytes caps request bodies (413 above); 0 = 256 KiB.
	MaxBodyBytes int64
	// HandlerTimeout is the deadline of each request's context; 0 = none.
	HandlerTimeout time.Duration
	// RetryAfter is the Retry-After seconds of 503 answers; 0 = 5.
	RetryAfter int
	// PprofTokens, when set, serves the Go runtime profiles of
	// net/http/pprof under PathPprof beside /metrics, to callers that
	// present one of them as a bearer token.
	PprofTokens []string
	// Limit, when set, wraps the handler of every Limited route (rate
	// limiting, see package ratelimit). It runs after the request id, body
	// limit and CORS preflight handling, so preflights are not counted.
	Limit func(route string, next http.Handler) http.Handler
}

// Server is the configured HTTP layer.
type Server struct {
	o       Options
	log     *slog.Logger
	main    *echo.Echo
	admin   *echo.Echo
	routes  []Route
	byPath  map[string]*Route
	metrics *metrics
	tokens  [][32]byte
	// pprofTokens guard PathPprof (Options.PprofTokens).
	pprofTokens [][32]byte
	// draining is set once shutdown starts: /readyz answers 503 so that
	// load balancers stop routing here while in-flight requests finish.
	draining atomic.Bool
}

// Drain makes /readyz answer 503 from now on and every response carry
// Connection: close (graceful shutdown: clients move to other instances
// before the listener closes).
func (s *Server) Drain() { s.draining.Store(true) }

// New builds the HTTP layer from the routes table.
func New(o Options) (*Server, error) {
	o.PathPrefix = NormalizePrefix(o.PathPrefix)
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 256 << 10
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 5
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, log: o.Logger, metrics: m, byPath: map[string]*Route{}}
	if s.tokens, err = hashTokens(o.AdminTokens); err != nil {
		return nil, err
	}
	if s.pprofTokens, err = hashTokens(o.PprofTokens); err != nil {
		return nil, err
	}
	s.main = s.newEcho()
	if o.SeparateAdmin {
		s.admin = s.newEcho()
	}

	s.routes = routes(o.PathPrefix, o.Handlers)
	ops := []Route{
		{Name: "healthz", Methods: get, Path: PathHealthz, Handler: http.HandlerFunc(s.healthz), NoStore: true},
		{Name: "readyz", Methods: get, Path: PathReadyz, Handler: http.HandlerFunc(s.readyz), NoStore: true},
		{Name: "metrics", Methods: get, Path: PathMetrics, NoStore: true, Admin: true,
			Handler: promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{})},
	}
	if len(o.PprofTokens) > 0 {
		ops = append(ops, Route{Name: "pprof", Methods: get, Path: PathPprof + "*", NoStore: true, Admin: true,
			Handler: http.HandlerFunc(servePprof)})
	}
	s.routes = append(s.routes, ops...)
	for i := range s.routes {
		r := &s.routes[i]
		e := s.main
		if r.Admin && s.admin != nil {
			e = s.admin
		}
		if _, dup := s.byPath[r.Path]; dup {
			return nil, errors.New("web: duplicate route path " + r.Path)
		}
		s.byPath[r.Path] = r
		handler := r.Handler
		if r.Limited && o.Limit != nil {
			handler = o.Limit(r.Name, handler)
		}
		h := s.wrap(handler)
		switch {
		case r.Name == "pprof":
			h = requireBearer(s.pprofTokens, h)
		case r.Admin && r.Name != "metrics" && len(s.tokens) > 0:
			h = requireBearer(s.tokens, h)
		}
		for _, m := range r.Methods {
			e.Add(m, r.Path, h)
		}
	}
	// The health endpoints answer on the admin listener too, for probes
	// that only reach it.
	if s.admin != nil {
		for _, r := range ops[:2] {
			s.admin.GET(r.Path, s.wrap(r.Handler))
		}
	}
	return s, nil
}

func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe)
	return e
}

// hashTokens hashes bearer tokens for requireBearer.
func hashTokens(tokens []string) ([][32]byte, error) {
	var out [][32]byte
	for _, t := range tokens {
		if t == "" {
			return nil, errors.New("web: empty admin token")
		}
		out = append(out, sha256.Sum256([]byte(t)))
	}
	return out, nil
}

// Handler is the public HTTP handler.
func (s *Server) Handler() http.Handler { return s.main }

// AdminHandler serves the admin API and /metrics when SeparateAdmin is set;
// otherwise nil.
func (s *Server) AdminHandler() http.Handler {
	if s.admin == nil {
		return nil
	}
	return s.admin
}

// Routes returns the mounted routes.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// wrap mounts a plain handler. Unlike echo.WrapHandler it passes a writer
// that implements oauth.ErrorCodeRecorder, so error codes written by the
// handler reach the access log and metrics.
func (s *Server) wrap(h http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		h.ServeHTTP(writerFor(c), c.Request())
		return nil
	}
}

// requireAdmin checks the admin bearer token (RFC 6750 §2.1) in constant time
// against every configured token (hashed, so lengths do not leak either).
func requireBearer(tokens [][32]byte, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		auth := c.Request().Header.Values("Authorization")
		var tok string
		if len(auth) == 1 {
			if scheme, t, ok := strings.Cut(auth[0], " "); ok && strings.EqualFold(scheme, "Bearer") {
				tok = t
			}
		}
		if tok == "" {
			return oauth.InvalidToken("admin bearer token required").
				WithHeader(oauth.HeaderWWWAuthenticate, `Bearer realm="admin"`)
		}
		sum := sha256.Sum256([]byte(tok))
		match := 0
		for _, t := range tokens {
			match |= subtle.ConstantTimeCompare(sum[:], t[:])
		}
		if match != 1 {
			return oauth.InvalidToken("admin bearer token not accepted").
				WithHeader(oauth.HeaderWWWAuthenticate, `Bearer realm="admin", error="invalid_token"`)
		}
		return next(c)
	}
}

type status struct {
	Status string `json:"status"`
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	oauth.WriteJSON(w, http.StatusOK, status{"ok"}, true)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		oauth.WriteError(w, oauth.Unavailable(s.o.RetryAfter, errors.New("shutting down")))
		return
	}
	if s.o.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.o.Ready(ctx); err != nil {
			s.log.Warn("not ready", "error", err.Error())
			oauth.WriteError(w, oauth.Unavailable(s.o.RetryAfter, err))
			return
		}
	}
	oauth.WriteJSON(w, http.StatusOK, status{"ready"}, true)
}
