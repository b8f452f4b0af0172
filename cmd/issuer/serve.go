package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mdoc-issuer/issuer/config"
	"github.com/mdoc-issuer/issuer/mdoc"
	"github.com/mdoc-issuer/issuer/metadata"
	"github.com/mdoc-issuer/issuer/pki"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/tlsconf"
	"github.com/mdoc-issuer/issuer/web"
)

// app is the wired issuer. newApp builds it in dependency order; each
// protocol package is added as one step that fills its Options from cfg and
// sets its handlers in a.handlers and its endpoints in a.meta (see
// wireProtocols).
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	now      func() time.Time
	registry *prometheus.Registry

	store     storage.Store
	nonceKeys [][]byte        // secrets.nonce_keys, decoded (first signs)
	catalogue *mdoc.Catalogue // built-in doctypes + config doctypes (claims validation)
	confs     []resolvedConf  // credential configurations with their claims
	pki       *pki.Bundle     // nil when no PKI is present
	handlers  web.Handlers    // mounted protocol endpoints
	metaAS    *metadata.AuthorizationServer
	meta      *metadata.Service // built after every protocol is wired
	proto     protocols
	reqEnc    *metadata.RequestEncryption
	resEnc    *metadata.ResponseEncryption
	web       *web.Server
	audit     *auditor // nil without audit.file
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log, now: time.Now, registry: prometheus.NewRegistry()}
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"configurations", a.loadConfigurations},
		{"secrets", a.loadSecrets},
		{"store", a.openStore},
		{"audit", a.openAudit},
		{"pki", a.loadPKI},
		{"protocols", a.wireProtocols},
		{"metadata", a.buildMetadata},
		{"web", a.buildWeb},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			a.close()
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return a, nil
}

func (a *app) close() {
	a.audit.close()
	if a.store != nil {
		_ = a.store.Close()
	}
}

func (a *app) loadConfigurations(context.Context) error {
	cat, confs, err := resolveConfigurations(a.cfg)
	a.catalogue, a.confs = cat, confs
	return err
}

// loadSecrets decodes secrets.nonce_keys. In development, when none are
// configured, one key is generated once into data_dir/secrets/nonce-keys
// (0600) and reused on later starts, so nonces survive a restart.
func (a *app) loadSecrets(context.Context) error {
	keys, err := a.cfg.NonceKeys()
	if err != nil {
		return err
	}
	if len(keys) == 0 && a.cfg.Development {
		path := filepath.Join(a.cfg.DataDir, "secrets", "nonce-keys")
		key, err := devKey(path)
		if err != nil {
			return err
		}
		keys = [][]byte{key}
		a.log.Info("using the development nonce key", "file", path)
	}
	a.nonceKeys = keys
	if len(a.cfg.Admin.Tokens) == 0 && a.cfg.Development {
		// A development issuer gets an admin token of its own, so `issuer
		// offer` and the startup offer work at once.
		t, err := devAdminToken(a.cfg.DataDir)
		if err != nil {
			return err
		}
		a.cfg.Admin.Tokens = []string{t}
		a.log.Info("using the development admin token", "file", filepath.Join(a.cfg.DataDir, devAdminTokenFile))
	}
	return nil
}

// loadPKI opens the IACA / Document Signer / metadata-signing bundle: created
// on first start when pki.auto_init is on (development), loaded when the
// directory holds one, otherwise absent (signed metadata off).
func (a *app) loadPKI(context.Context) error {
	c := a.cfg.PKI
	var err error
	switch {
	case config.Bool(c.AutoInit, false):
		a.pki, err = pki.Init(c.Dir, pki.InitOptions{
			Country: c.Country, State: c.State, Organization: c.Organization, IssuerURL: a.cfg.Issuer,
		})
	case fileExists(filepath.Join(c.Dir, pki.FileIACACert)):
		a.pki, err = pki.Load(c.Dir)
	default:
		a.log.Warn("no PKI found; create it with `issuer pki init`", "dir", c.Dir)
	}
	if err != nil {
		return err
	}
	if a.pki != nil {
		der := a.pki.IACA.Raw
		a.handlers.IACACert = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/x-pem-file")
			_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		})
	}
	return nil
}

// endpoint is the absolute URL of a mounted endpoint, "" when h is nil so
// that metadata advertises only what is served.
func (a *app) endpoint(h http.Handler, path string) string {
	if h == nil {
		return ""
	}
	return a.cfg.Issuer + path
}

func (a *app) buildMetadata(context.Context) error {
	o := metadata.Options{
		Issuer:               a.cfg.Issuer,
		CredentialEndpoint:   a.endpoint(a.handlers.Credential, web.PathCredential),
		NonceEndpoint:        a.endpoint(a.handlers.Nonce, web.PathNonce),
		DeferredEndpoint:     a.endpoint(a.handlers.Deferred, web.PathDeferred),
		NotificationEndpoint: a.endpoint(a.handlers.Notification, web.PathNotification),
		Display:              issuerDisplay(a.cfg.Display),
		AS:                   a.metaAS,
		RequestEncryption:    a.reqEnc,
		ResponseEncryption:   a.resEnc,
		Now:                  a.now,
	}
	// The AS metadata document is always served: this issuer is its own
	// authorization server. Before authz is mounted it lists no endpoints.
	if o.AS == nil {
		o.AS = &metadata.AuthorizationServer{}
	}
	for _, c := range a.confs {
		o.Configurations = append(o.Configurations, c.Metadata)
	}
	if a.pki != nil && a.pki.MetaKey != nil && a.pki.Meta != nil {
		// HAIP §4.1: x5c without the trust anchor (the metadata CA).
		o.Signer = &metadata.Signer{Key: a.pki.MetaKey, Chain: []*x509.Certificate{a.pki.Meta}}
	}
	if o.CredentialEndpoint == "" {
		a.log.Warn("credential endpoint not mounted: the metadata lacks credential_endpoint")
	}
	m, err := metadata.New(o)
	if err != nil {
		return err
	}
	a.meta = m
	a.handlers.IssuerMetadata = m.IssuerHandler()
	a.handlers.ASMetadata = m.ASHandler()
	return nil
}

func (a *app) buildWeb(context.Context) error {
	h := a.cfg.HTTP
	prefix, err := issuerPath(a.cfg.Issuer)
	if err != nil {
		return err
	}
	var ready func(context.Context) error
	if a.store != nil {
		ready = a.store.Ping
	}
	var pprofTokens []string
	if a.cfg.Admin.Pprof {
		pprofTokens = a.cfg.Admin.Tokens
	}
	a.web, err = web.New(web.Options{
		PathPrefix:     prefix,
		Handlers:       a.handlers,
		SeparateAdmin:  a.cfg.Admin.Listen != "",
		Ready:          ready,
		Logger:         a.log,
		Registry:       a.registry,
		MaxBodyBytes:   h.MaxBodyBytes,
		HandlerTimeout: h.HandlerTimeout.D(),
		Limit:          a.rateLimit(),
		PprofTokens:    pprofTokens,
	})
	return err
}

// serve runs the issuer until ctx is done. listening, when not nil, receives
// the bound addresses (public first) once the listeners are open.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, listening func(public, admin net.Addr)) error {
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	h := cfg.HTTP
	t := web.Timeouts{ReadHeader: h.ReadHeaderTimeout.D(), Read: h.ReadTimeout.D(), Write: h.WriteTimeout.D(), Idle: h.IdleTimeout.D()}

	var tlsConfig *tls.Config
	if cfg.TLS.CertFile != "" {
		r, err := tlsconf.NewReloader(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.ReloadInterval.D())
		if err != nil {
			return err
		}
		tlsConfig = tlsconf.Server(r)
	}
	var ls []web.Listener
	listen := func(addr string, handler http.Handler) (net.Addr, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		srv := web.NewHTTPServer(handler, t, log)
		srv.TLSConfig = tlsConfig
		ls = append(ls, web.Listener{Server: srv, Listener: ln})
		return ln.Addr(), nil
	}
	pub, err := listen(cfg.Listen, a.web.Handler())
	if err != nil {
		return err
	}
	var adm net.Addr
	if cfg.Admin.Listen != "" {
		if adm, err = listen(cfg.Admin.Listen, a.web.AdminHandler()); err != nil {
			_ = ls[0].Listener.Close()
			return err
		}
	}
	attrs := []any{"issuer", cfg.Issuer, "listen", pub.String(), "store", cfg.Store.Backend,
		"development", cfg.Development, "tls", tlsConfig != nil, "version", version}
	if adm != nil {
		attrs = append(attrs, "admin_listen", adm.String())
	}
	log.Info("issuer listening", attrs...)
	if cfg.Development {
		a.banner(ctx, os.Stderr, pub)
	}
	if listening != nil {
		listening(pub, adm)
	}
	err = web.ServeWith(ctx, web.Shutdown{Grace: h.ShutdownGrace.D(), Delay: h.ShutdownDelay.D(), OnDrain: func() {
		log.Info("shutting down: draining", "delay", h.ShutdownDelay.D().String(), "grace", h.ShutdownGrace.D().String())
		a.web.Drain()
	}}, ls...)
	log.Info("issuer stopped")
	return err
}

func issuerPath(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", err
	}
	return web.NormalizePrefix(u.EscapedPath()), nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
