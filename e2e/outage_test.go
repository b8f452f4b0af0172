package e2e

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mdoc-issuer/issuer/e2e/wallet"
)

// tcpProxy forwards connections to a target; cut drops every connection
// and refuses new ones until restore (a store outage).
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
	})
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// TestRedisOutage cuts the issuer's connection to Redis mid-flight: the
// stateful endpoints answer 503 with Retry-After (never a silent accept or
// a misleading client error), /readyz reports the outage, and once Redis is
// back the same wallet completes its flow.
func TestRedisOutage(t *testing.T) {
	skipProcessTests(t)
	u := redisURL(t)
	if u == "" {
		t.Skip("ISSUER_TEST_REDIS_URL not set")
	}
	scheme, rest, _ := strings.Cut(u, "://")
	host, path, _ := strings.Cut(rest, "/")
	if scheme != "redis" || strings.Contains(host, "@") {
		t.Skip("outage test needs a plain redis://host:port URL")
	}
	proxy := startTCPProxy(t, host)
	d := newDeployment(t, deploymentOptions{Backend: "redis"})
	d.env = append(d.env, "ISSUER_REDIS_URL=redis://"+proxy.ln.Addr().String()+"/"+path)
	in := d.start(t, 0)
	e := &flowEnv{d: d, client: d.httpClient(nil)}

	w := e.wallet(t, nil)
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}

	proxy.cut()
	res, err := e.client.Get("https://" + in.Addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: HTTP %d, want 503", res.StatusCode)
	}
	requireUnavailable := func(what string, err error) {
		t.Helper()
		var pe *wallet.ProtocolError
		var we *wallet.Error
		switch {
		case errors.As(err, &pe):
			if pe.Status != http.StatusServiceUnavailable || pe.Header.Get("Retry-After") == "" {
				t.Errorf("%s during the outage: HTTP %d %s (Retry-After %q), want 503 with Retry-After", what, pe.Status, pe.Code, pe.Header.Get("Retry-After"))
			}
		case errors.As(err, &we) && we.Exchange != nil:
			if we.Exchange.Status != http.StatusServiceUnavailable {
				t.Errorf("%s during the outage: HTTP %d, want 503", what, we.Exchange.Status)
			}
		default:
			t.Errorf("%s during the outage: %v, want 503", what, err)
		}
	}
	_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL})
	requireUnavailable("credential request", err)
	_, err = e.wallet(t, nil).AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	requireUnavailable("PAR", err)

	proxy.restore()
	keys := newKeys(1)
	cr, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
	if err != nil {
		t.Fatalf("credential request after Redis is back: %v", err)
	}
	verifyIssued(t, e, cr, keys)
}
