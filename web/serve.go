package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Timeouts of an http.Server (slowloris and stuck-client protection).
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// NewHTTPServer returns an http.Server for h with the given timeouts, a 64
// KiB header limit and server errors logged through log.
func NewHTTPServer(h http.Handler, t Timeouts, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.Default()
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Listener pairs a server with the listener it serves. A server with a
// TLSConfig (certificates from its GetCertificate, e.g. tlsconf) serves TLS.
type Listener struct {
	Server   *http.Server
	Listener net.Listener
}

// Serve serves every listener until ctx is done or one fails, then shuts all
// of them down gracefully, giving in-flight requests up to grace to finish.
// It returns the first serve error, or nil after a requested shutdown.
func Serve(ctx context.Context, grace time.Duration, ls ...Listener) error {
	return ServeWith(ctx, Shutdown{Grace: grace}, ls...)
}

// Shutdown configures how ServeWith stops once its context is done.
type Shutdown struct {
	// Grace is the most time in-flight requests get once the listeners are
	// closed; after it, remaining connections are closed.
	Grace time.Duration
	// Delay is how long to keep serving before closing the listeners.
	Delay time.Duration
	// OnDrain runs when the context is done, before Delay: typically
	// Server.Drain, so /readyz fails while the load balancer notices.
	OnDrain func()
}

// ServeWith is Serve with a drain phase: when ctx is done it calls OnDrain,
// keeps serving for Delay, then stops accepting and gives in-flight requests
// up to Grace to finish (http.Server.Shutdown). A serve error skips the
// drain.
func ServeWith(ctx context.Context, sd Shutdown, ls ...Listener) error {
	grace := sd.Grace
	errc := make(chan error, len(ls))
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if l.Server.TLSConfig != nil {
				err = l.Server.ServeTLS(l.Listener, "", "")
			} else {
				err = l.Server.Serve(l.Listener)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	var first error
	select {
	case <-ctx.Done():
		if sd.OnDrain != nil {
			sd.OnDrain()
		}
		if sd.Delay > 0 {
			// Idle keep-alive connections are not closed here: a client
			// may be sending on one right now. Server.Drain makes responses
			// carry Connection: close instead, so connections end cleanly
			// after their current request.
			select {
			case <-time.After(sd.Delay):
			case first = <-errc:
			}
		}
	case first = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	for _, l := range ls {
		if err := l.Server.Shutdown(sctx); err != nil {
			_ = l.Server.Close()
			if first == nil {
				first = err
			}
		}
	}
	wg.Wait()
	return first
}
