package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/web/httpx"
)

// HeaderRequestID carries the request id in both directions.
const HeaderRequestID = "X-Request-Id"

// requestIDRE is what an incoming X-Request-Id may look like to be reused;
// anything else is replaced, so logs never carry client-chosen bytes.
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// state is what one request accumulates for its access log line.
type state struct {
	errorCode string
	// cause is the internal cause of a 5xx written by a handler, for the log.
	cause  error
	status int
}

const stateKey = "web.state"

// recorder is the ResponseWriter handed to handlers and to oauth.WriteError:
// echo's response (status, size) plus the error-code recorder.
type recorder struct {
	*echo.Response
	st *state
}

// RecordError implements oauth.ErrorRecorder.
func (r *recorder) RecordError(e *oauth.Error) {
	r.st.errorCode = e.Code
	if e.Status >= 500 {
		r.st.cause, r.st.status = errors.Unwrap(e), e.Status
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.Response }

// RecordErrorCode implements oauth.ErrorCodeRecorder.
func (r *recorder) RecordErrorCode(code string) { r.st.errorCode = code }

var (
	_ oauth.ErrorRecorder     = (*recorder)(nil)
	_ oauth.ErrorCodeRecorder = (*recorder)(nil)
)

func writerFor(c echo.Context) http.ResponseWriter {
	st, _ := c.Get(stateKey).(*state)
	if st == nil {
		st = &state{}
		c.Set(stateKey, st)
	}
	return &recorder{Response: c.Response(), st: st}
}

// observe runs around every request, matched or not: request id, handler
// deadline, body limit, no-store, panic recovery, the one error handler,
// then the access log and metrics.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		id := req.Header.Get(HeaderRequestID)
		if !requestIDRE.MatchString(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(HeaderRequestID, id)
		if s.draining.Load() {
			c.Response().Header().Set("Connection", "close")
		}
		st := &state{}
		c.Set(stateKey, st)
		ctx := httpx.WithRequestID(req.Context(), id)
		if s.o.HandlerTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.o.HandlerTimeout)
			defer cancel()
		}
		req = req.WithContext(ctx)
		c.SetRequest(req)
		route := s.byPath[c.Path()]
		name := "unmatched"
		if route != nil {
			name = route.Name
			if route.NoStore {
				c.Response().Header().Set(oauth.HeaderCacheControl, oauth.CacheNoStore)
			}
		}

		var err error
		switch {
		case route != nil && route.CORS && cors(c, route):
			// A CORS preflight, answered without running the handler.
		case req.ContentLength > s.o.MaxBodyBytes:
			err = httpx.TooLarge()
		default:
			if req.Body != nil && req.Body != http.NoBody {
				req.Body = http.MaxBytesReader(c.Response(), req.Body, s.o.MaxBodyBytes)
			}
			err = s.call(next, c, name)
		}
		if err != nil {
			s.handleError(err, c)
		}

		res := c.Response()
		code := strconv.Itoa(res.Status)
		latency := time.Since(start)
		s.metrics.requests.WithLabelValues(name, methodLabel(req.Method), code, st.errorCode).Inc()
		s.metrics.latency.WithLabelValues(name).Observe(latency.Seconds())
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelError
		}
		if st.cause != nil {
			// A handler's server error: its cause is for operators. Causes
			// are errors of this codebase, which never carry secrets.
			s.log.LogAttrs(ctx, slog.LevelError, "request failed",
				slog.String("request_id", id), slog.String("route", name),
				slog.String("code", st.errorCode), slog.String("cause", st.cause.Error()))
		}
		// No query string, body, Authorization or DPoP header: they carry
		// codes, tokens and personal data.
		s.log.LogAttrs(ctx, level, "http request",
			slog.String("request_id", id),
			slog.String("method", req.Method),
			slog.String("route", name),
			slog.Int("status", res.Status),
			slog.String("error", st.errorCode),
			slog.Int64("bytes", res.Size),
			slog.Float64("latency_ms", float64(latency.Microseconds())/1000),
		)
		return nil
	}
}

// call runs the handler and turns a panic into a 500 (logged with its stack;
// only runtime errors' messages are logged, other panic values may hold data).
func (s *Server) call(next echo.HandlerFunc, c echo.Context, route string) (err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			panic(p)
		}
		msg := fmt.Sprintf("%T", p)
		if re, ok := p.(runtime.Error); ok {
			msg = re.Error()
		}
		s.log.Error("panic in handler", "request_id", httpx.RequestID(c.Request().Context()),
			"route", route, "panic", msg, "stack", string(debug.Stack()))
		err = oauth.ServerError(errors.New("panic: " + msg))
	}()
	return next(c)
}

// handleError is the one place where errors become responses: *oauth.Error
// as is; storage.ErrUnavailable as 503 temporarily_unavailable; echo's
// routing errors as JSON errors; anything else as 500 server_error without
// internal text.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		s.log.Warn("error after response started", "request_id", httpx.RequestID(c.Request().Context()), "error", err.Error())
		return
	}
	var he *echo.HTTPError
	var out error
	switch {
	case oauth.As(err) != nil:
		out = err
	case errors.Is(err, storage.ErrUnavailable):
		out = oauth.Unavailable(s.o.RetryAfter, err)
	case errors.As(err, &he):
		out = fromEcho(he)
	default:
		out = oauth.ServerError(err)
	}
	if e := oauth.As(out); e.Status >= 500 {
		s.log.Error("request failed", "request_id", httpx.RequestID(c.Request().Context()),
			"code", e.Code, "cause", causeText(e))
	}
	w := writerFor(c)
	if c.Request().Method == http.MethodHead {
		e := oauth.As(out)
		if r, ok := w.(oauth.ErrorRecorder); ok {
			r.RecordError(e)
		}
		w.WriteHeader(e.Status)
		return
	}
	oauth.WriteError(w, out)
}

func causeText(e *oauth.Error) string {
	if c := errors.Unwrap(e); c != nil {
		return c.Error()
	}
	return ""
}

// fromEcho maps echo's own errors (routing, binding) to protocol errors.
func fromEcho(he *echo.HTTPError) *oauth.Error {
	switch he.Code {
	case http.StatusNotFound:
		return oauth.New(http.StatusNotFound, oauth.CodeNotFound, "no such endpoint")
	case http.StatusMethodNotAllowed:
		return oauth.New(http.StatusMethodNotAllowed, oauth.CodeMethodNotAllowed, "method not allowed")
	case http.StatusRequestEntityTooLarge:
		return httpx.TooLarge()
	case http.StatusUnsupportedMediaType:
		return oauth.New(http.StatusUnsupportedMediaType, oauth.CodeInvalidRequest, "unsupported content type")
	case http.StatusServiceUnavailable:
		return oauth.Unavailable(5, he)
	}
	if he.Code >= 400 && he.Code < 500 {
		return oauth.New(he.Code, oauth.CodeInvalidRequest, "%s", http.StatusText(he.Code))
	}
	return oauth.ServerError(he)
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "issuer_http_requests_total",
			Help: "HTTP requests by route name, method, status and protocol error code.",
		}, []string{"route", "method", "status", "error"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "issuer_http_request_duration_seconds",
			Help:    "HTTP request latency by route name.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("web: metrics: %w", err)
		}
	}
	return m, nil
}
