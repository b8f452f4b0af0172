package claims

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/mdoc-issuer/issuer/credential"
	"github.com/mdoc-issuer/issuer/oauth"
)

// Defaults.
const (
	DefaultTimeout          = 5 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	maxSubjectLength        = 256
	maxJSONDepth            = 16
)

var (
	// ErrSourceUnavailable: the authentic source could not be asked or gave
	// no usable answer (connection failure, timeout, non-200 other than 404,
	// wrong media type, malformed or oversized body). The credential endpoint
	// answers 503 and issues nothing. The wrapped cause is for logs; it never
	// contains the subject or claim values.
	ErrSourceUnavailable = errors.New("claims: authentic source unavailable")
	// ErrUnknownSubject: the source answered 404 or has no data for the
	// subject and doctype. It wraps credential.ErrNoClaims, which the
	// credential endpoint answers with credential_request_denied.
	ErrUnknownSubject = fmt.Errorf("claims: unknown subject: %w", credential.ErrNoClaims)
)

// Options configure an HTTP authentic source.
type Options struct {
	// BaseURL: claims of a subject are read with
	// GET {BaseURL}/{subject}?doctype={doctype}. https unless AllowHTTP.
	BaseURL string
	// AllowHTTP permits an http BaseURL (development, sidecars on loopback).
	AllowHTTP bool
	// BearerToken, if set, is sent as "Authorization: Bearer" (RFC 6750 §2.1).
	BearerToken string
	// ClientCertFile and ClientKeyFile (PEM), if set, authenticate the issuer
	// with a TLS client certificate.
	ClientCertFile string
	ClientKeyFile  string
	// CAFile (PEM) holds the roots the source's server certificate must chain
	// to; "" = the system pool.
	CAFile string
	// Timeout bounds one lookup (connection, request, response body).
	Timeout time.Duration
	// MaxResponseBytes bounds the response body.
	MaxResponseBytes int64
	// DocTypes maps credential configuration ids to doctypes (Claims).
	DocTypes map[string]string
	// Transport replaces the transport built from the TLS options (tests).
	Transport http.RoundTripper
}

// Source reads namespaced claims from an HTTP authentic source. It is a
// credential.ClaimsSource.
type Source struct {
	base     *url.URL
	token    string
	client   *http.Client
	maxBytes int64
	docTypes map[string]string
}

// New checks the options, loads the TLS material and returns a Source.
func New(o Options) (*Source, error) {
	u, err := url.Parse(o.BaseURL)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("claims: BaseURL must be an absolute URL without credentials, query or fragment")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && o.AllowHTTP:
	default:
		return nil, fmt.Errorf("claims: BaseURL must use https (scheme %q)", u.Scheme)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	if strings.ContainsAny(o.BearerToken, "\r\n") {
		return nil, errors.New("claims: BearerToken contains a line break")
	}
	if (o.ClientCertFile == "") != (o.ClientKeyFile == "") {
		return nil, errors.New("claims: ClientCertFile and ClientKeyFile go together")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	rt := o.Transport
	if rt == nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("claims: CAFile: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, errors.New("claims: CAFile holds no PEM certificate")
			}
			tc.RootCAs = pool
		}
		if o.ClientCertFile != "" {
			cert, err := tls.LoadX509KeyPair(o.ClientCertFile, o.ClientKeyFile)
			if err != nil {
				return nil, fmt.Errorf("claims: client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		rt = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tc,
			TLSHandshakeTimeout:   o.Timeout,
			ResponseHeaderTimeout: o.Timeout,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		}
	}
	return &Source{
		base:  u,
		token: o.BearerToken,
		client: &http.Client{
			Transport: rt,
			Timeout:   o.Timeout,
			// Redirects are not followed: the bearer token must not travel
			// elsewhere, and a redirect is a misconfiguration.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		maxBytes: o.MaxResponseBytes,
		docTypes: o.DocTypes,
	}, nil
}

// Claims implements credential.ClaimsSource: the grant's subject is looked up
// for the doctype of the configuration.
func (s *Source) Claims(ctx context.Context, g *oauth.Grant, configurationID string) (map[string]map[string]any, error) {
	if g == nil || g.Subject == "" {
		return nil, fmt.Errorf("%w: the grant names no subject", ErrUnknownSubject)
	}
	docType, ok := s.docTypes[configurationID]
	if !ok {
		return nil, fmt.Errorf("%w: no doctype configured for configuration %s", ErrUnknownSubject, configurationID)
	}
	return s.Fetch(ctx, g.Subject, docType)
}

func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSourceUnavailable}, args...)...)
}

// Fetch reads the claims of subject for docType: namespace -> element ->
// value, numbers as int64 (integral) or float64. All or nothing: any failure
// returns no claims.
func (s *Source) Fetch(ctx context.Context, subject, docType string) (map[string]map[string]any, error) {
	if subject == "" || len(subject) > maxSubjectLength || strings.IndexFunc(subject, unicode.IsControl) >= 0 {
		return nil, fmt.Errorf("%w: subject is empty, too long or has control characters", ErrUnknownSubject)
	}
	if docType == "" {
		return nil, fmt.Errorf("%w: empty doctype", ErrUnknownSubject)
	}
	u := *s.base
	u.Path = s.base.Path + "/" + subject
	u.RawPath = s.base.EscapedPath() + "/" + url.PathEscape(subject)
	u.RawQuery = url.Values{"doctype": {docType}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, unavailable("build request: %w", err)
	}
	req.Header.Set("Accept", oauth.MediaJSON)
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// *url.Error carries the URL, which names the subject: keep only the
		// underlying cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, unavailable("request failed: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, ErrUnknownSubject
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, unavailable("source answered HTTP %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || (mt != oauth.MediaJSON && !strings.HasSuffix(mt, "+json")) {
		return nil, unavailable("source answered Content-Type %q, want application/json", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.maxBytes+1))
	if err != nil {
		return nil, unavailable("read response: %w", err)
	}
	if int64(len(body)) > s.maxBytes {
		return nil, unavailable("response exceeds %d bytes", s.maxBytes)
	}
	claims, err := ParseClaims(body)
	if err != nil {
		return nil, unavailable("%w", err)
	}
	if len(claims) == 0 {
		return nil, fmt.Errorf("%w: no data for the doctype", ErrUnknownSubject)
	}
	return claims, nil
}

// ParseClaims parses a source response: one JSON object of namespaces, each
// an object of data elements; no duplicate member names, bounded nesting, no
// trailing data. Empty namespaces are dropped. Integral numbers become int64,
// others float64; the doctype catalogue checks types at issuance.
func ParseClaims(body []byte) (map[string]map[string]any, error) {
	if err := checkJSON(body); err != nil {
		return nil, fmt.Errorf("malformed claims JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, errors.New("claims must be an object of namespaces, each an object of data elements")
	}
	out := make(map[string]map[string]any, len(raw))
	for ns, els := range raw {
		if ns == "" {
			return nil, errors.New("empty namespace name")
		}
		if len(els) == 0 {
			continue
		}
		m := make(map[string]any, len(els))
		for id, v := range els {
			if id == "" {
				return nil, fmt.Errorf("empty element identifier in namespace %s", ns)
			}
			nv, err := normalize(v)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", ns, id, err)
			}
			m[id] = nv
		}
		out[ns] = m
	}
	return out, nil
}

func normalize(v any) (any, error) {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i, nil
		}
		f, err := t.Float64()
		if err != nil {
			return nil, errors.New("number out of range")
		}
		// JSON does not distinguish 150 from 1.5e2: integral values exactly
		// representable as float64 become int64.
		if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			return int64(f), nil
		}
		return f, nil
	case []any:
		for i := range t {
			n, err := normalize(t[i])
			if err != nil {
				return nil, err
			}
			t[i] = n
		}
	case map[string]any:
		for k := range t {
			n, err := normalize(t[k])
			if err != nil {
				return nil, err
			}
			t[k] = n
		}
	}
	return v, nil
}

// checkJSON verifies data is exactly one JSON object without duplicate member
// names, nested at most maxJSONDepth deep.
func checkJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return errors.New("not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	if err := scan(dec, '{', 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// scan consumes the members of an object or the items of an array whose
// opening delimiter was read.
func scan(dec *json.Decoder, open json.Delim, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("nesting deeper than %d", maxJSONDepth)
	}
	seen := map[string]bool{}
	for dec.More() {
		if open == '{' {
			tok, err := dec.Token()
			if err != nil {
				return errors.New("not valid JSON")
			}
			name, _ := tok.(string)
			if seen[name] {
				return fmt.Errorf("duplicate member %q", name)
			}
			seen[name] = true
		}
		tok, err := dec.Token()
		if err != nil {
			return errors.New("not valid JSON")
		}
		if d, ok := tok.(json.Delim); ok {
			if err := scan(dec, d, depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return errors.New("not valid JSON")
	}
	return nil
}
