// Package tlsconf builds the server TLS configuration: TLS 1.3, or TLS 1.2
// restricted to the cipher suites FAPI 2.0 Security Profile §5.2.1 (via BCP
// 195) permits, which HAIP §3 points to; certificates come from PEM files and
// are reloaded without a restart when the files change.
package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// CipherSuites are the TLS 1.2 suites allowed (FAPI 2.0 SP §5.2.1.2): ECDHE
// with AES-GCM only. TLS 1.3 suites are not configurable in Go and are all
// AEAD.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}

// Reloader serves the certificate in a pair of PEM files and reloads it when
// either file's modification time or size changes. A pair that fails to load
// keeps the previous certificate in service and is reported by Err.
type Reloader struct {
	certFile, keyFile string
	check             time.Duration
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string
	lastCheck time.Time
	err       error
}

// NewReloader loads the pair once; it fails if that first load fails. The
// files are checked for changes at most once per check interval (default 5 s).
func NewReloader(certFile, keyFile string, check time.Duration) (*Reloader, error) {
	if check <= 0 {
		check = 5 * time.Second
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, check: check, now: time.Now}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reloader) fileStamp() (string, error) {
	var s string
	for _, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d/%d;", st.ModTime().UnixNano(), st.Size())
	}
	return s, nil
}

func (r *Reloader) reload() error {
	stamp, err := r.fileStamp()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tlsconf: load %s: %w", r.certFile, err)
	}
	r.cert, r.stamp = &cert, stamp
	return nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.lastCheck) >= r.check {
		r.lastCheck = now
		if stamp, err := r.fileStamp(); err != nil {
			r.err = err
		} else if stamp != r.stamp {
			r.err = r.reload()
		}
	}
	if r.cert == nil {
		return nil, errors.New("tlsconf: no certificate")
	}
	return r.cert, nil
}

// Err returns the last reload failure, or nil.
func (r *Reloader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Server returns a server configuration using r for certificates.
func Server(r *Reloader) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   CipherSuites,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}
