package config

import (
	"path/filepath"
	"time"
)

// Defaults. Lifetimes follow the limits validate enforces.
const (
	DefaultListen              = "localhost:8080"
	DefaultDataDir             = "data"
	DefaultKeyPrefix           = "issuer:"
	DefaultPARLifetime         = 60 * time.Second
	DefaultCodeLifetime        = 30 * time.Second
	DefaultAccessTokenLifetime = 5 * time.Minute
	DefaultIATWindow           = 60 * time.Second
	DefaultPreAuthLifetime     = 10 * time.Minute
	DefaultTxCodeMaxAttempts   = 5
	DefaultValidity            = 90 * 24 * time.Hour
	DefaultMaxBodyBytes        = 256 << 10
	DefaultRateWindow          = time.Minute
	DefaultRateClientAddress   = 600
	DefaultRateWallet          = 300
	DefaultTLSReload           = time.Minute
)

func (c *Config) applyDefaults() {
	set := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	dur := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	set(&c.Listen, DefaultListen)
	set(&c.DataDir, DefaultDataDir)
	c.DataDir = c.Path(c.DataDir)
	set(&c.Log.Level, "info")
	set(&c.Log.Format, "json")
	set(&c.Store.Backend, "memory")
	set(&c.Store.KeyPrefix, DefaultKeyPrefix)
	if c.PKI.Dir == "" {
		c.PKI.Dir = filepath.Join(c.DataDir, "pki")
	}
	c.PKI.Dir = c.Path(c.PKI.Dir)
	if c.PKI.AutoInit == nil {
		v := c.Development
		c.PKI.AutoInit = &v
	}

	for _, cc := range c.CredentialConfigurations {
		if cc == nil {
			continue
		}
		if cc.BatchSize == 0 {
			cc.BatchSize = 1
		}
		dur(&cc.Validity, DefaultValidity)
		if len(cc.ProofTypes) == 0 {
			cc.ProofTypes = []string{"jwt"}
		}
	}

	o := &c.OAuth
	dur(&o.PARLifetime, DefaultPARLifetime)
	dur(&o.CodeLifetime, DefaultCodeLifetime)
	dur(&o.AccessTokenLifetime, DefaultAccessTokenLifetime)
	dur(&o.DPoP.IATWindow, DefaultIATWindow)
	if o.DPoP.NonceRequired == nil {
		v := true
		o.DPoP.NonceRequired = &v
	}
	if o.PreAuthorized.Enabled == nil {
		v := true
		o.PreAuthorized.Enabled = &v
	}
	dur(&o.PreAuthorized.CodeLifetime, DefaultPreAuthLifetime)
	if o.PreAuthorized.TxCodeMaxAttempts == 0 {
		o.PreAuthorized.TxCodeMaxAttempts = DefaultTxCodeMaxAttempts
	}

	for i := range c.WalletProviders {
		p := &c.WalletProviders[i]
		for j := range p.Roots {
			p.Roots[j] = c.Path(p.Roots[j])
		}
		p.JWKS = c.Path(p.JWKS)
	}
	for i := range c.KeyAttestationIssuers {
		p := &c.KeyAttestationIssuers[i]
		for j := range p.Roots {
			p.Roots[j] = c.Path(p.Roots[j])
		}
		p.JWKS = c.Path(p.JWKS)
	}
	c.UsersFile = c.Path(c.UsersFile)
	c.Claims.Dataset = c.Path(c.Claims.Dataset)
	c.Encryption.KeyFile = c.Path(c.Encryption.KeyFile)
	c.TLS.CertFile = c.Path(c.TLS.CertFile)
	c.TLS.KeyFile = c.Path(c.TLS.KeyFile)
	if c.Encryption.Enabled {
		if len(c.Encryption.AlgValues) == 0 {
			c.Encryption.AlgValues = []string{"ECDH-ES"}
		}
		if len(c.Encryption.EncValues) == 0 {
			c.Encryption.EncValues = []string{"A128GCM", "A256GCM"}
		}
	}

	h := &c.HTTP
	dur(&h.ReadHeaderTimeout, 5*time.Second)
	dur(&h.ReadTimeout, 15*time.Second)
	dur(&h.WriteTimeout, 30*time.Second)
	dur(&h.IdleTimeout, 120*time.Second)
	dur(&h.HandlerTimeout, 20*time.Second)
	dur(&h.ShutdownGrace, 15*time.Second)
	if h.MaxBodyBytes == 0 {
		h.MaxBodyBytes = DefaultMaxBodyBytes
	}
	dur(&c.TLS.ReloadInterval, DefaultTLSReload)

	rl := &c.RateLimits
	dur(&rl.Window, DefaultRateWindow)
	if rl.ClientAddress == 0 {
		rl.ClientAddress = DefaultRateClientAddress
	}
	if rl.Wallet == 0 {
		rl.Wallet = DefaultRateWallet
	}
	c.Audit.File = c.Path(c.Audit.File)
}
