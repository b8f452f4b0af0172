package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestHardeningSIGTERM sends SIGTERM to a real issuer process during a
// burst of concurrent requests (metadata, nonce, token attempts) and while
// a slow request is still uploading its body. No request may get a 5xx;
// every request started before the signal must get its response (no reset);
// the slow request, still in flight when the listener closes, must finish;
// the process must exit 0 within the grace period.
func TestHardeningSIGTERM(t *testing.T) {
	const delay = time.Second
	p := startIssuerProcess(t, "http:\n  shutdown_delay: 1s\n  shutdown_grace: 10s\n", nil)
	if _, err := http.Get(p.base + "/healthz"); err != nil {
		t.Fatal(err)
	}

	type result struct {
		started time.Time
		what    string
		status  int
		err     error
	}
	var (
		mu      sync.Mutex
		results []result
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	reqs := []struct{ method, path, ct, body string }{
		{"GET", "/.well-known/openid-credential-issuer", "", ""},
		{"POST", "/nonce", "", ""},
		{"POST", "/token", "application/x-www-form-urlencoded", "grant_type=authorization_code&code=x&client_id=y"},
		{"GET", "/.well-known/oauth-authorization-server", "", ""},
	}
	client := &http.Client{Timeout: 15 * time.Second}
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				q := reqs[(i+n)%len(reqs)]
				req, _ := http.NewRequest(q.method, p.base+q.path, strings.NewReader(q.body))
				if q.body == "" {
					req.Body = nil
				}
				if q.ct != "" {
					req.Header.Set("Content-Type", q.ct)
				}
				r := result{started: time.Now(), what: q.method + " " + q.path}
				res, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					r.status = res.StatusCode
				}
				r.err = err
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if err != nil {
					// The listener is closed: stop this worker.
					return
				}
			}
		}(i)
	}

	// A request whose body arrives over 2 s: in flight when SIGTERM comes
	// and still when the listener closes after the drain delay.
	slow := make(chan result, 1)
	go func() {
		conn, err := net.Dial("tcp", strings.TrimPrefix(p.base, "http://"))
		if err != nil {
			slow <- result{err: err}
			return
		}
		defer conn.Close()
		body := "grant_type=authorization_code&code=slow&client_id=slow-client"
		fmt.Fprintf(conn, "POST /token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n",
			strings.TrimPrefix(p.base, "http://"), len(body))
		for i := 0; i < len(body); i += 8 {
			time.Sleep(2 * time.Second / time.Duration(len(body)/8+1))
			if _, err := io.WriteString(conn, body[i:min(i+8, len(body))]); err != nil {
				slow <- result{err: err}
				return
			}
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufioReader(conn), nil)
		if err != nil {
			slow <- result{err: err}
			return
		}
		res.Body.Close()
		slow <- result{status: res.StatusCode}
	}()

	time.Sleep(400 * time.Millisecond)
	sigAt := time.Now()
	code := p.stop(t, syscall.SIGTERM, 12*time.Second)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, p.logs)
	}

	var before, after, refused int
	for _, r := range results {
		if r.status >= 500 {
			t.Errorf("%s: %d during shutdown", r.what, r.status)
		}
		if r.started.Before(sigAt) {
			before++
			if r.err != nil {
				t.Errorf("%s started before SIGTERM failed: %v", r.what, r.err)
			}
			continue
		}
		after++
		if r.err != nil {
			refused++
			if !isConnError(r.err) {
				t.Errorf("%s after SIGTERM: unexpected error %v", r.what, r.err)
			}
		}
	}
	if before < 20 {
		t.Fatalf("burst too small to mean anything: %d requests before SIGTERM", before)
	}
	if refused == 0 {
		t.Error("no request was refused after SIGTERM: the listener never closed")
	}
	s := <-slow
	if s.err != nil || s.status >= 500 || s.status == 0 {
		t.Fatalf("in-flight slow request: status %d err %v\n%s", s.status, s.err, p.logs)
	}
	logs := p.logs.String()
	if !strings.Contains(logs, "shutting down: draining") || !strings.Contains(logs, "issuer stopped") {
		t.Errorf("shutdown not logged:\n%s", logs)
	}
	t.Logf("%d requests before SIGTERM, %d after (%d refused), slow request %d, drain %v", before, after, refused, s.status, delay)
}

// isConnError: the listener is closed or an idle connection was closed by
// the server's shutdown: a transport error, not an HTTP answer.
func isConnError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "server closed idle connection")
}
