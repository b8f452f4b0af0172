package web

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// servePprof dispatches PathPprof + name to net/http/pprof without touching
// http.DefaultServeMux: profile (CPU, ?seconds=N), trace, symbol and cmdline
// have handlers of their own; the index and every named profile (heap,
// goroutine, allocs, block, mutex, threadcreate) are served by pprof.Index,
// which reads the name from the path.
func servePprof(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, PathPprof) {
	case "profile":
		pprof.Profile(w, r)
	case "trace":
		pprof.Trace(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "cmdline":
		pprof.Cmdline(w, r)
	default:
		pprof.Index(w, r)
	}
}
