package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuf) snapshot() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

// TestLogBuffer: INFO records are batched into one write and appear within
// the flush interval; WARN records are written at once with what precedes
// them; Close writes the rest; lines are never split.
func TestLogBuffer(t *testing.T) {
	out := &lockedBuf{}
	lb := newLogBuffer(out)
	log := slog.New(logHandler{Handler: slog.NewJSONHandler(lb, nil), buf: lb}).With("svc", "issuer")
	for i := range 50 {
		log.Info("http request", "n", i)
	}
	deadline := time.Now().Add(5 * logFlushInterval)
	for {
		s, writes := out.snapshot()
		if strings.Count(s, "\n") == 50 {
			if writes > 5 {
				t.Fatalf("50 records in %d writes", writes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("INFO records not written within %v: %q", 5*logFlushInterval, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	log.Info("before the warning")
	log.Warn("store unavailable")
	if s, _ := out.snapshot(); !strings.Contains(s, "before the warning") || !strings.Contains(s, "store unavailable") {
		t.Fatalf("WARN not written at once with what precedes it: %q", s)
	}
	big := strings.Repeat("x", logBufferSize)
	log.Info("large", "v", big)
	log.Info("last")
	if err := lb.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ := out.snapshot()
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
			t.Fatalf("split line %.80q", line)
		}
	}
	if !strings.Contains(s, `"msg":"last"`) || !strings.Contains(s, big) {
		t.Fatal("Close lost records")
	}
}
