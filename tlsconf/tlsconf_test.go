package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writePair(t *testing.T, dir, cn string) (string, string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cf+".tmp", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf+".tmp", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
	os.Rename(cf+".tmp", cf)
	os.Rename(kf+".tmp", kf)
	return cf, kf
}

func serve(t *testing.T, cfg *tls.Config) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestServerPolicy(t *testing.T) {
	dir := t.TempDir()
	cf, kf := writePair(t, dir, "one")
	r, err := NewReloader(cf, kf, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, Server(r))
	for _, tc := range []struct {
		name   string
		client *tls.Config
		ok     bool
	}{
		{"TLS 1.3", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, true},
		{"TLS 1.2 GCM", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.2 CBC refused", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false},
		{"TLS 1.2 ChaCha refused", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, false},
		{"TLS 1.1 refused", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", addr, tc.client)
			if err == nil {
				c.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("handshake err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestReloadWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	cf, kf := writePair(t, dir, "one")
	r, err := NewReloader(cf, kf, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, Server(r))
	cn := func() string {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := cn(); got != "one" {
		t.Fatalf("cn %q", got)
	}
	time.Sleep(5 * time.Millisecond)
	writePair(t, dir, "two")
	time.Sleep(5 * time.Millisecond)
	if got := cn(); got != "two" {
		t.Fatalf("after rotation cn %q", got)
	}
	// A broken pair keeps the old certificate in service.
	os.WriteFile(kf, []byte("garbage"), 0o600)
	time.Sleep(5 * time.Millisecond)
	if got := cn(); got != "two" {
		t.Fatalf("after broken rotation cn %q", got)
	}
	if r.Err() == nil {
		t.Fatal("broken rotation not reported")
	}
}
