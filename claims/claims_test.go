package claims

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/credential"
	"github.com/mdoc-issuer/issuer/oauth"
)

const (
	testToken  = "source-token-0123456789"
	mdlDocType = "org.iso.18013.5.1.mDL"
	goodBody   = `{"org.iso.18013.5.1":{"family_name":"Doe","age_in_years":35,"height":1.5e2,"weight":72.5,"driving_privileges":[{"vehicle_category_code":"B"}]}}`
)

// source is a scripted authentic source that records what it was asked.
type source struct {
	status      int
	contentType string
	body        string
	delay       time.Duration
	gotPath     string
	gotQuery    string
	gotAuth     string
	gotAccept   string
	calls       int
}

func (s *source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls++
	s.gotPath, s.gotQuery, s.gotAuth, s.gotAccept = r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Accept")
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-r.Context().Done():
			return
		}
	}
	ct := s.contentType
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	status := s.status
	if status == 0 {
		status = 200
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(s.body))
}

func newHTTPSource(t *testing.T, h http.Handler, mutate ...func(*Options)) (*Source, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	o := Options{BaseURL: srv.URL + "/v1/persons/", AllowHTTP: true, BearerToken: testToken,
		Timeout: 2 * time.Second, MaxResponseBytes: 4096, DocTypes: map[string]string{"mdl": mdlDocType}}
	for _, m := range mutate {
		m(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

func TestFetch(t *testing.T) {
	tests := []struct {
		name        string
		src         source
		subject     string
		wantErr     error
		notErr      error
		wantInError string
	}{
		{"ok", source{body: goodBody}, "alice", nil, nil, ""},
		{"ok with +json media type", source{body: goodBody, contentType: "application/vnd.claims+json; charset=utf-8"}, "alice", nil, nil, ""},
		{"unknown subject 404", source{status: 404, body: `{"error":"nope"}`}, "alice", ErrUnknownSubject, ErrSourceUnavailable, ""},
		{"empty object", source{body: `{}`}, "alice", ErrUnknownSubject, ErrSourceUnavailable, ""},
		{"only empty namespaces", source{body: `{"org.iso.18013.5.1":{}}`}, "alice", ErrUnknownSubject, ErrSourceUnavailable, ""},
		{"server error", source{status: 500, body: `oops`}, "alice", ErrSourceUnavailable, credential.ErrNoClaims, "HTTP 500"},
		{"unavailable", source{status: 503}, "alice", ErrSourceUnavailable, credential.ErrNoClaims, "HTTP 503"},
		{"source rejects our token", source{status: 401}, "alice", ErrSourceUnavailable, credential.ErrNoClaims, "HTTP 401"},
		{"redirect not followed", source{status: 302}, "alice", ErrSourceUnavailable, credential.ErrNoClaims, "HTTP 302"},
		{"html", source{body: `<html>`, contentType: "text/html"}, "alice", ErrSourceUnavailable, credential.ErrNoClaims, "Content-Type"},
		{"no content type", source{body: goodBody, contentType: "bogus/"}, "alice", ErrSourceUnavailable, nil, "Content-Type"},
		{"bad json", source{body: `{"org.iso.18013.5.1":`}, "alice", ErrSourceUnavailable, credential.ErrNoClaims, "malformed"},
		{"array", source{body: `[]`}, "alice", ErrSourceUnavailable, nil, "object"},
		{"namespace not an object", source{body: `{"org.iso.18013.5.1":"Doe"}`}, "alice", ErrSourceUnavailable, nil, "namespaces"},
		{"duplicate element", source{body: `{"ns":{"a":1,"a":2}}`}, "alice", ErrSourceUnavailable, nil, "duplicate"},
		{"trailing data", source{body: goodBody + `{}`}, "alice", ErrSourceUnavailable, nil, "trailing"},
		{"oversized", source{body: `{"ns":{"a":"` + strings.Repeat("x", 5000) + `"}}`}, "alice", ErrSourceUnavailable, nil, "exceeds"},
		{"number out of range", source{body: `{"ns":{"a":1e999}}`}, "alice", ErrSourceUnavailable, nil, "ns/a"},
		{"empty subject", source{body: goodBody}, "", ErrUnknownSubject, ErrSourceUnavailable, ""},
		{"control character subject", source{body: goodBody}, "a\nb", ErrUnknownSubject, ErrSourceUnavailable, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			s, _ := newHTTPSource(t, &src)
			got, err := s.Fetch(t.Context(), tc.subject, mdlDocType)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				ns := got["org.iso.18013.5.1"]
				if ns["family_name"] != "Doe" || ns["age_in_years"] != int64(35) || ns["height"] != int64(150) || ns["weight"] != 72.5 {
					t.Errorf("claims %#v", ns)
				}
				dp, _ := ns["driving_privileges"].([]any)
				if len(dp) != 1 || dp[0].(map[string]any)["vehicle_category_code"] != "B" {
					t.Errorf("driving_privileges %#v", ns["driving_privileges"])
				}
				if src.gotPath != "/v1/persons/alice" || src.gotQuery != "doctype=org.iso.18013.5.1.mDL" {
					t.Errorf("asked %s?%s", src.gotPath, src.gotQuery)
				}
				if src.gotAuth != "Bearer "+testToken || src.gotAccept != "application/json" {
					t.Errorf("headers Authorization=%q Accept=%q", src.gotAuth, src.gotAccept)
				}
				return
			}
			if got != nil {
				t.Errorf("claims returned with an error: %v", got)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.notErr != nil && errors.Is(err, tc.notErr) {
				t.Errorf("err = %v must not match %v", err, tc.notErr)
			}
			if !strings.Contains(err.Error(), tc.wantInError) {
				t.Errorf("err %q does not mention %q", err, tc.wantInError)
			}
			if tc.subject != "" && strings.Contains(err.Error(), tc.subject) {
				t.Errorf("error names the subject: %v", err)
			}
			if strings.Contains(err.Error(), "Doe") {
				t.Errorf("error contains a claim value: %v", err)
			}
		})
	}
}

func TestSubjectEscaping(t *testing.T) {
	src := &source{body: goodBody}
	s, _ := newHTTPSource(t, src)
	if _, err := s.Fetch(t.Context(), "a/b c?d#e%", "org.example doc&x=1"); err != nil {
		t.Fatal(err)
	}
	if src.gotPath != "/v1/persons/a%2Fb%20c%3Fd%23e%25" {
		t.Errorf("path %q", src.gotPath)
	}
	if src.gotQuery != "doctype=org.example+doc%26x%3D1" {
		t.Errorf("query %q", src.gotQuery)
	}
}

func TestClaimsForGrant(t *testing.T) {
	src := &source{body: goodBody}
	s, _ := newHTTPSource(t, src)
	var _ credential.ClaimsSource = s
	got, err := s.Claims(t.Context(), &oauth.Grant{Subject: "bob"}, "mdl")
	if err != nil || got["org.iso.18013.5.1"]["family_name"] != "Doe" {
		t.Fatalf("Claims: %v %v", got, err)
	}
	if src.gotPath != "/v1/persons/bob" || src.gotQuery != "doctype=org.iso.18013.5.1.mDL" {
		t.Errorf("asked %s?%s", src.gotPath, src.gotQuery)
	}
	for _, tc := range []struct {
		name   string
		g      *oauth.Grant
		config string
	}{
		{"no grant", nil, "mdl"},
		{"no subject", &oauth.Grant{}, "mdl"},
		{"unknown configuration", &oauth.Grant{Subject: "bob"}, "pid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := src.calls
			if _, err := s.Claims(t.Context(), tc.g, tc.config); !errors.Is(err, credential.ErrNoClaims) {
				t.Errorf("err = %v, want credential.ErrNoClaims", err)
			}
			if src.calls != calls {
				t.Error("the source was asked")
			}
		})
	}
}

func TestUnreachableAndSlow(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		s, srv := newHTTPSource(t, &source{body: goodBody})
		srv.Close()
		_, err := s.Fetch(t.Context(), "alice", mdlDocType)
		if !errors.Is(err, ErrSourceUnavailable) || errors.Is(err, credential.ErrNoClaims) {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "alice") {
			t.Errorf("error names the subject: %v", err)
		}
	})
	t.Run("slow server times out", func(t *testing.T) {
		s, _ := newHTTPSource(t, &source{body: goodBody, delay: 5 * time.Second}, func(o *Options) { o.Timeout = 150 * time.Millisecond })
		start := time.Now()
		_, err := s.Fetch(t.Context(), "alice", mdlDocType)
		if !errors.Is(err, ErrSourceUnavailable) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("timeout took %v", d)
		}
	})
	t.Run("caller context cancelled", func(t *testing.T) {
		s, _ := newHTTPSource(t, &source{body: goodBody, delay: 5 * time.Second})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if _, err := s.Fetch(ctx, "alice", mdlDocType); !errors.Is(err, ErrSourceUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("redirect does not carry the token", func(t *testing.T) {
		other := &source{body: goodBody}
		otherSrv := httptest.NewServer(other)
		defer otherSrv.Close()
		s, _ := newHTTPSource(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, otherSrv.URL+"/x", http.StatusTemporaryRedirect)
		}))
		if _, err := s.Fetch(t.Context(), "alice", mdlDocType); !errors.Is(err, ErrSourceUnavailable) {
			t.Fatalf("err = %v", err)
		}
		if other.calls != 0 {
			t.Error("redirect was followed")
		}
	})
}

func TestNewOptions(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		o       Options
		wantErr string
	}{
		{"https", Options{BaseURL: "https://source.example/p"}, ""},
		{"http refused", Options{BaseURL: "http://source.example/p"}, "https"},
		{"http allowed", Options{BaseURL: "http://127.0.0.1:9/p", AllowHTTP: true}, ""},
		{"relative", Options{BaseURL: "/p"}, "absolute"},
		{"query", Options{BaseURL: "https://source.example/p?x=1"}, "query"},
		{"userinfo", Options{BaseURL: "https://u:p@source.example/p"}, "credentials"},
		{"cert without key", Options{BaseURL: "https://source.example", ClientCertFile: "c.pem"}, "go together"},
		{"missing cert files", Options{BaseURL: "https://source.example", ClientCertFile: filepath.Join(dir, "nope.pem"), ClientKeyFile: filepath.Join(dir, "nope.key")}, "client certificate"},
		{"missing CA file", Options{BaseURL: "https://source.example", CAFile: filepath.Join(dir, "nope.pem")}, "CAFile"},
		{"CA file without PEM", Options{BaseURL: "https://source.example", CAFile: caFile}, "no PEM"},
		{"token with newline", Options{BaseURL: "https://source.example", BearerToken: "a\nb"}, "line break"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// pki is a test CA with a helper to issue leaf certificates.
type pki struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &pki{cert: cert, key: key}
}

// clientFiles issues a client certificate and writes cert and key PEM files.
func (p *pki) clientFiles(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMutualTLS(t *testing.T) {
	clientCA := newPKI(t)
	src := &source{body: goodBody}
	var gotCN string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			gotCN = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		src.ServeHTTP(w, r)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()

	serverCA := filepath.Join(t.TempDir(), "server-ca.pem")
	writePEM(t, serverCA, "CERTIFICATE", srv.Certificate().Raw)
	certFile, keyFile := clientCA.clientFiles(t, "issuer-1")
	otherCert, otherKey := newPKI(t).clientFiles(t, "intruder")

	tests := []struct {
		name     string
		o        Options
		wantOK   bool
		wantCall bool
	}{
		{"client certificate and server CA", Options{CAFile: serverCA, ClientCertFile: certFile, ClientKeyFile: keyFile}, true, true},
		{"no client certificate", Options{CAFile: serverCA}, false, false},
		{"client certificate from another CA", Options{CAFile: serverCA, ClientCertFile: otherCert, ClientKeyFile: otherKey}, false, false},
		{"server not trusted", Options{ClientCertFile: certFile, ClientKeyFile: keyFile}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := src.calls
			tc.o.BaseURL = srv.URL + "/persons"
			tc.o.Timeout = 2 * time.Second
			s, err := New(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Fetch(t.Context(), "alice", mdlDocType)
			if tc.wantOK {
				if err != nil || got["org.iso.18013.5.1"]["family_name"] != "Doe" {
					t.Fatalf("Fetch: %v %v", got, err)
				}
				if gotCN != "issuer-1" || src.gotAuth != "" {
					t.Errorf("client CN %q, Authorization %q", gotCN, src.gotAuth)
				}
			} else if !errors.Is(err, ErrSourceUnavailable) {
				t.Fatalf("err = %v, want ErrSourceUnavailable", err)
			}
			if (src.calls > calls) != tc.wantCall {
				t.Errorf("source reached: %v", src.calls > calls)
			}
		})
	}
}

func TestParseClaims(t *testing.T) {
	deep := `{"ns":{"e":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}}`
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"ok", goodBody, ""},
		{"nested map numbers", `{"ns":{"m":{"n":7,"f":0.5}}}`, ""},
		{"too deep", deep, "nesting"},
		{"duplicate namespace", `{"ns":{"a":1},"ns":{"b":2}}`, "duplicate"},
		{"duplicate nested", `{"ns":{"m":{"x":1,"x":2}}}`, "duplicate"},
		{"empty namespace name", `{"":{"a":1}}`, "empty namespace"},
		{"empty element id", `{"ns":{"":1}}`, "empty element"},
		{"null namespace", `{"ns":null}`, ""},
		{"not json", `nope`, "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseClaims([]byte(tc.body))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if m, ok := got["ns"]["m"].(map[string]any); ok && (m["n"] != int64(7) || m["f"] != 0.5) {
					t.Errorf("nested numbers %#v", m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// FuzzParseClaims: the parser of source responses never panics and whatever
// it accepts is an object of objects that re-encodes as JSON.
func FuzzParseClaims(f *testing.F) {
	for _, s := range []string{goodBody, `{}`, `{"ns":{"a":[1,2,{"b":null}]}}`, `{"a":1}`, `[]`, `{"ns":{"a":1e999}}`, `{"ns":{"a":1,"a":2}}`, "{\"ns\":{\"a\":\"\xff\"}}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseClaims(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		for ns, els := range got {
			if ns == "" || len(els) == 0 {
				t.Fatalf("namespace %q with %d elements kept", ns, len(els))
			}
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}
