package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/mdoc-issuer/issuer/authz"
	"github.com/mdoc-issuer/issuer/config"
	"github.com/mdoc-issuer/issuer/credential"
	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/mdoc"
	"github.com/mdoc-issuer/issuer/metadata"
	"github.com/mdoc-issuer/issuer/nonce"
	"github.com/mdoc-issuer/issuer/offer"
	"github.com/mdoc-issuer/issuer/pki"
	"github.com/mdoc-issuer/issuer/wia"
)

// Nonce lifetimes. c_nonce: long enough for a wallet to sign its proofs
// after fetching one (OpenID4VCI §7.2 leaves it to the issuer); DPoP server
// nonces: RFC 9449 §8 recommends short-lived values.
const (
	cNonceLifetime    = 5 * time.Minute
	dpopNonceLifetime = 5 * time.Minute
	// challengeLifetime bounds an attestation challenge; a wallet fetches
	// one right before its PAR or token request.
	challengeLifetime = 5 * time.Minute
)

//go:embed devdata/claims.yaml
var devClaimsYAML []byte

// protocols holds the wired protocol services.
type protocols struct {
	authz      *authz.Server
	credential *credential.Service
	offers     *offer.Service
	devWallet  *devWallet // development only
}

// wireProtocols builds the authorization server, the credential issuer and
// the offer service from the configuration and mounts their handlers.
func (a *app) wireProtocols(ctx context.Context) error {
	if a.pki == nil {
		return errors.New("no PKI: the Document Signer certificate and key are needed to issue; run `issuer pki init` (or set pki.auto_init in development)")
	}
	if len(a.nonceKeys) == 0 {
		return errors.New("secrets.nonce_keys: required outside development")
	}
	trust, err := a.trust()
	if err != nil {
		return err
	}
	dpopVerifier, err := a.dpopVerifier()
	if err != nil {
		return err
	}
	wo := wia.Options{
		Issuer:    a.cfg.Issuer,
		Providers: trust.wallets,
		Replay:    a.store,
		Now:       a.now,
	}
	if a.cfg.OAuth.AttestationChallenges {
		ch, err := nonce.New(a.nonceKeys, "wia-challenge", challengeLifetime, a.now)
		if err != nil {
			return err
		}
		wo.Challenges, wo.RequireChallenge = ch, true
	}
	attest, err := wia.NewVerifier(wo)
	if err != nil {
		return fmt.Errorf("wallet_providers: %w", err)
	}
	up, err := a.upstreamLogin(ctx)
	if err != nil {
		return err
	}
	authn, err := a.authenticator(up != nil)
	if err != nil {
		return err
	}
	var upstreamPaths authz.Paths
	upstreamPrefix := authz.DefaultUpstreamSubjectPrefix
	if u := a.cfg.UpstreamOIDC; u != nil {
		upstreamPaths.UpstreamCallback, upstreamPrefix = u.CallbackPath(), u.Prefix()
	}
	secret, rotated := derivedSecrets(a.nonceKeys, "authz-token-hmac")
	o := a.cfg.OAuth
	az, err := authz.New(authz.Options{
		Issuer:                a.cfg.Issuer,
		CredentialIssuer:      a.cfg.Issuer,
		Store:                 a.store,
		GlobalSecret:          secret,
		RotatedSecrets:        rotated,
		Attestation:           attest,
		DPoP:                  dpopVerifier,
		Credentials:           a.authzCredentials(),
		ClaimNames:            a.claimNames,
		Authenticator:         authn,
		Upstream:              up,
		UpstreamSubjectPrefix: &upstreamPrefix,
		Paths:                 upstreamPaths,
		OnTokenIssued:         a.auditTokenIssued(),
		ChallengeEndpoint:     a.cfg.OAuth.AttestationChallenges,
		Offers:                a.auditOffers(offerLink{a}),
		AccessTokenLifespan:   o.AccessTokenLifetime.D(),
		AuthorizeCodeLifespan: o.CodeLifetime.D(),
		PARLifespan:           o.PARLifetime.D(),
		RefreshTokens:         o.RefreshTokens,
		TxCodeMaxAttempts:     o.PreAuthorized.TxCodeMaxAttempts,
		Now:                   a.now,
		Logger:                a.log,
	})
	if err != nil {
		return fmt.Errorf("authorization server: %w", err)
	}
	a.proto.authz = az
	h := az.Handler()
	a.handlers.PAR, a.handlers.Authorize, a.handlers.Token = h, h, h
	if a.cfg.OAuth.AttestationChallenges {
		a.handlers.Challenge = h
	}

	// offer and credential refer to each other (offer claims, deferred
	// approval): the offer service reaches the credential service through
	// a.proto once both exist.
	offers, err := offer.New(offer.Options{
		Issuer:             a.cfg.Issuer,
		Store:              a.store,
		Configurations:     a.offerConfigurations(),
		PreAuth:            a.preAuthIssuer(az),
		Validator:          a.catalogue,
		Deferred:           deferredApprover{a},
		AdminTokens:        a.cfg.Admin.Tokens,
		MaxPreAuthLifetime: o.PreAuthorized.CodeLifetime.D(),
		Retention:          max(o.AccessTokenLifetime.D(), 24*time.Hour),
		Now:                a.now,
	})
	if err != nil {
		return fmt.Errorf("offers: %w", err)
	}
	a.proto.offers = offers
	a.handlers.Offer = offers.PublicHandler()
	a.handlers.Admin = a.auditAdmin(offers.AdminHandler())

	cs, err := a.credentialService(az, dpopVerifier, trust, offers)
	if err != nil {
		return fmt.Errorf("credential issuer: %w", err)
	}
	a.proto.credential = cs
	ch := cs.Handler()
	a.handlers.Nonce, a.handlers.Credential, a.handlers.Notification = ch, ch, ch
	cm := cs.Metadata()
	if cm.DeferredCredentialEndpoint != "" {
		a.handlers.Deferred = ch
	}
	if req, res := cm.CredentialRequestEncryption, cm.CredentialResponseEncryption; req != nil && res != nil {
		a.reqEnc = &metadata.RequestEncryption{JWKS: req.JWKS, EncValues: req.EncValuesSupported, ZipValues: req.ZipValuesSupported, Required: req.EncryptionRequired}
		a.resEnc = &metadata.ResponseEncryption{AlgValues: res.AlgValuesSupported, EncValues: res.EncValuesSupported, ZipValues: res.ZipValuesSupported, Required: res.EncryptionRequired}
	}

	ep := az.Endpoints()
	a.metaAS = &metadata.AuthorizationServer{
		AuthorizationEndpoint: ep.Authorization,
		TokenEndpoint:         ep.Token,
		PAREndpoint:           ep.PAR,
		ChallengeEndpoint:     ep.Challenge,
		PreAuthorizedGrant:    config.Bool(o.PreAuthorized.Enabled, true),
		RefreshTokens:         o.RefreshTokens,
	}
	return nil
}

// trustAnchors are the configured wallet providers and key attestation
// issuers, read from their files.
type trustAnchors struct {
	wallets     []wia.Provider
	keyAttest   wia.KeyAttestationOptions
	keyAttestOn bool
}

func (a *app) trust() (*trustAnchors, error) {
	t := &trustAnchors{}
	for i, w := range a.cfg.WalletProviders {
		p := wia.Provider{Name: w.Name, RedirectURIs: w.RedirectURIs}
		for _, f := range w.Roots {
			certs, err := config.ReadCertificates(a.cfg.Path(f))
			if err != nil {
				return nil, fmt.Errorf("wallet_providers[%d].roots: %w", i, err)
			}
			p.Roots = append(p.Roots, certs...)
		}
		if w.JWKS != "" {
			set, err := config.ReadJWKS(a.cfg.Path(w.JWKS))
			if err != nil {
				return nil, fmt.Errorf("wallet_providers[%d].jwks: %w", i, err)
			}
			p.Keys = set.Keys
		}
		t.wallets = append(t.wallets, p)
	}
	for i, k := range a.cfg.KeyAttestationIssuers {
		for _, f := range k.Roots {
			certs, err := config.ReadCertificates(a.cfg.Path(f))
			if err != nil {
				return nil, fmt.Errorf("key_attestation_issuers[%d].roots: %w", i, err)
			}
			t.keyAttest.Roots = append(t.keyAttest.Roots, certs...)
		}
		if k.JWKS != "" {
			set, err := config.ReadJWKS(a.cfg.Path(k.JWKS))
			if err != nil {
				return nil, fmt.Errorf("key_attestation_issuers[%d].jwks: %w", i, err)
			}
			t.keyAttest.Keys = append(t.keyAttest.Keys, set.Keys...)
		}
		t.keyAttestOn = true
	}
	if a.cfg.Development && len(t.wallets) == 0 {
		// A development issuer trusts its own development wallet provider,
		// so `issuer selftest` and local wallets can use it at once.
		dw, err := ensureDevWallet(a.cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("development wallet provider: %w", err)
		}
		a.proto.devWallet = dw
		t.wallets = append(t.wallets, wia.Provider{Name: devWalletName, Roots: dw.rootPool(),
			RedirectURIs: devRedirectURIs})
		if !t.keyAttestOn {
			t.keyAttest.Roots, t.keyAttestOn = dw.rootPool(), true
		}
		a.log.Warn("development: trusting the development wallet provider", "dir", dw.Dir)
	}
	if len(t.wallets) == 0 {
		return nil, errors.New("wallet_providers: at least one trusted wallet provider is required (HAIP §4.4.1)")
	}
	t.keyAttest.Now = a.now
	return t, nil
}

// devRedirectURIs are the redirect URIs the development wallet provider's
// wallets may use: the selftest's and common local wallet callbacks.
var devRedirectURIs = []string{"http://localhost/callback", "http://127.0.0.1/callback", "https://wallet.example/callback"}

func (d *devWallet) rootPool() []*x509.Certificate { return []*x509.Certificate{d.Root} }

func (a *app) dpopVerifier() (*dpop.Verifier, error) {
	o := dpop.Options{Replay: a.store, Now: a.now, IATWindow: a.cfg.OAuth.DPoP.IATWindow.D()}
	if config.Bool(a.cfg.OAuth.DPoP.NonceRequired, true) {
		n, err := nonce.New(a.nonceKeys, "dpop", dpopNonceLifetime, a.now)
		if err != nil {
			return nil, err
		}
		o.Nonces = n
	}
	return dpop.NewVerifier(o)
}

// authenticator is the password login: the users file, the development
// test user, or none when the upstream login is the only one.
func (a *app) authenticator(upstreamLogin bool) (authz.Authenticator, error) {
	if a.cfg.UsersFile != "" {
		return authz.LoadUsersFile(a.cfg.Path(a.cfg.UsersFile))
	}
	if a.cfg.Development {
		a.log.Warn("development: login with the built-in test user", "username", authz.DevUsername)
		return authz.NewDevAuthenticator()
	}
	if upstreamLogin {
		return nil, nil
	}
	return nil, errors.New("users_file or upstream_oidc: required outside development (the authorization code flow needs an authenticator)")
}

func (a *app) authzCredentials() []authz.CredentialConfiguration {
	out := make([]authz.CredentialConfiguration, 0, len(a.confs))
	for _, c := range a.confs {
		display := c.ID
		if len(c.Config.Display) > 0 {
			display = c.Config.Display[0].Name
		}
		out = append(out, authz.CredentialConfiguration{ID: c.ID, Scope: c.Config.Scope, Display: display})
	}
	return out
}

// claimNames lists the claims a configuration issues, for the consent page
// (OpenID4VCI §15.1): display names where configured, else element ids.
func (a *app) claimNames(id string) []string {
	for _, c := range a.confs {
		if c.ID != id {
			continue
		}
		var names []string
		for _, cl := range c.Metadata.Claims {
			name := fmt.Sprint(cl.Path[len(cl.Path)-1])
			if len(cl.Display) > 0 && cl.Display[0].Name != "" {
				name = cl.Display[0].Name
			}
			names = append(names, name)
		}
		return names
	}
	return nil
}

func (a *app) offerConfigurations() map[string]offer.Configuration {
	out := map[string]offer.Configuration{}
	for _, c := range a.confs {
		out[c.ID] = offer.Configuration{DocType: c.Config.Doctype, Scope: c.Config.Scope}
	}
	return out
}

func (a *app) preAuthIssuer(az *authz.Server) offer.PreAuthCodeIssuer {
	if !config.Bool(a.cfg.OAuth.PreAuthorized.Enabled, true) {
		return nil
	}
	return preAuthCodes{az}
}

// preAuthCodes lends the authorization server's pre-authorized codes to
// the offer service: minted for an offer that keeps their grant record,
// revoked when the offer is cancelled.
type preAuthCodes struct{ az *authz.Server }

func authzPreAuth(p offer.PreAuthorization) authz.PreAuthorization {
	return authz.PreAuthorization{OfferID: p.OfferID, Subject: p.Subject, ConfigurationIDs: p.ConfigurationIDs,
		TxCode: p.TxCode, ExpiresAt: p.ExpiresAt}
}

func (c preAuthCodes) IssuePreAuthorizedCode(ctx context.Context, p offer.PreAuthorization) (string, error) {
	return c.az.IssuePreAuthorizedCode(ctx, authzPreAuth(p))
}

func (c preAuthCodes) MintPreAuthorizedCode(ctx context.Context, p offer.PreAuthorization) (string, []byte, error) {
	return c.az.MintPreAuthorizedCode(ctx, authzPreAuth(p))
}

func (c preAuthCodes) RevokePreAuthorizedCode(ctx context.Context, code string) error {
	return c.az.RevokePreAuthorizedCode(ctx, code)
}

// offerLink connects the authorization server to the offer service (built
// after it): issuer_state resolution at PAR, redemption marking at the token
// endpoint.
type offerLink struct{ a *app }

func (l offerLink) ResolveIssuerState(ctx context.Context, issuerState string) (string, string, error) {
	o, err := l.a.proto.offers.LookupIssuerState(ctx, issuerState)
	if err != nil {
		return "", "", err
	}
	return o.OfferID, o.Subject, nil
}

func (l offerLink) MarkRedeemed(ctx context.Context, offerID string) error {
	err := l.a.proto.offers.MarkRedeemed(ctx, offerID)
	if errors.Is(err, offer.ErrAlreadyRedeemed) {
		return fmt.Errorf("%w: %w", authz.ErrOfferRedeemed, err)
	}
	return err
}

func (l offerLink) PreAuthorization(ctx context.Context, code string) (string, []byte, error) {
	id, grant, err := l.a.proto.offers.PreAuthorization(ctx, code)
	if errors.Is(err, offer.ErrNotFound) {
		return "", nil, fmt.Errorf("%w: %w", authz.ErrUnknownCode, err)
	}
	return id, grant, err
}

func (l offerLink) Prefetch(ctx context.Context, offerID string) {
	l.a.proto.offers.Prefetch(ctx, offerID)
}

func (l offerLink) Cancel(ctx context.Context, offerID string) error {
	_, err := l.a.proto.offers.Cancel(ctx, offerID)
	return err
}

// deferredApprover forwards the admin API's decisions to the credential
// service, which is built after the offer service.
type deferredApprover struct{ a *app }

func (d deferredApprover) ApproveDeferred(ctx context.Context, id string) error {
	return d.a.proto.credential.ApproveDeferred(ctx, id)
}

func (d deferredApprover) RejectDeferred(ctx context.Context, id string) error {
	return d.a.proto.credential.RejectDeferred(ctx, id)
}

func (a *app) credentialService(az *authz.Server, dv *dpop.Verifier, t *trustAnchors, offers *offer.Service) (*credential.Service, error) {
	cn, err := nonce.New(a.nonceKeys, "c_nonce", cNonceLifetime, a.now)
	if err != nil {
		return nil, err
	}
	confs := map[string]credential.Configuration{}
	docTypes := map[string]string{}
	signer := credential.MdocSigner{
		Issuer:          &mdoc.Issuer{Signer: a.pki.DSKey, Chain: a.pki.DSChain(), Catalogue: a.catalogue, Now: a.now},
		ByConfiguration: map[string]*mdoc.Issuer{},
	}
	for _, c := range a.confs {
		cc := c.Config
		conf := credential.Configuration{DocType: cc.Doctype, ProofTypes: cc.ProofTypes, BatchSize: cc.BatchSize, Deferred: cc.Deferred}
		if ka := cc.KeyAttestationsRequired; ka != nil {
			conf.KeyAttestationsRequired = &credential.KeyAttestationRequirement{KeyStorage: ka.KeyStorage, UserAuthentication: ka.UserAuthentication}
		}
		confs[c.ID] = conf
		docTypes[c.ID] = cc.Doctype
		if v := cc.Validity.D(); v > 0 && a.now().Add(v).After(a.pki.DS.NotAfter) {
			// An MSO never outlives its Document Signer certificate: mdoc
			// cuts validUntil at the DS notAfter, so credentials get shorter.
			a.log.Warn("credential validity outlasts the Document Signer certificate: credentials end with it; rotate the DS certificate",
				"configuration", c.ID, "validity", v.String(), "ds_not_after", a.pki.DS.NotAfter)
		}
		if v := cc.Validity.D(); v > 0 {
			signer.ByConfiguration[c.ID] = &mdoc.Issuer{Signer: a.pki.DSKey, Chain: a.pki.DSChain(), Catalogue: a.catalogue, Now: a.now, Validity: v}
		}
	}
	subjects, err := a.subjectClaims(docTypes)
	if err != nil {
		return nil, err
	}
	o := credential.Options{
		Issuer:         a.cfg.Issuer,
		Configurations: confs,
		Tokens:         az,
		DPoP:           dv,
		CNonces:        cn,
		Signer:         signer,
		Claims:         credential.ClaimsRouter{Offers: offers, Subjects: subjects},
		Store:          a.store,
		BatchSize:      1,
		Events:         a.credentialEvents(),
		Now:            a.now,
		MaxBodyBytes:   a.cfg.HTTP.MaxBodyBytes,
	}
	if t.keyAttestOn {
		kav, err := wia.NewKeyAttestationVerifier(t.keyAttest)
		if err != nil {
			return nil, fmt.Errorf("key_attestation_issuers: %w", err)
		}
		o.KeyAttestations = kav
	}
	if a.cfg.Encryption.Enabled {
		enc, err := a.encryptionOptions()
		if err != nil {
			return nil, err
		}
		o.Encryption = enc
	}
	return credential.New(o)
}

// subjectClaims is the claims source for authenticated subjects: the
// configured dataset, or the embedded development dataset.
func (a *app) subjectClaims(docTypes map[string]string) (credential.ClaimsSource, error) {
	if p := a.cfg.Claims.Dataset; p != "" {
		return credential.LoadDatasetClaims(a.cfg.Path(p), docTypes)
	}
	if !a.cfg.Development {
		a.log.Warn("no claims source configured: only offers with attached claims can be redeemed")
		return nil, nil
	}
	var data map[string]map[string]map[string]map[string]any
	if err := yaml.Unmarshal(devClaimsYAML, &data); err != nil {
		return nil, fmt.Errorf("development dataset: %w", err)
	}
	return credential.NewDatasetClaims(data, docTypes), nil
}

func (a *app) encryptionOptions() (*credential.EncryptionOptions, error) {
	e := a.cfg.Encryption
	key, err := loadECKey(a.cfg.Path(e.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("encryption.key_file: %w", err)
	}
	jwk := jose.JSONWebKey{Key: key, Algorithm: "ECDH-ES", Use: "enc"}
	kid, err := credential.Thumbprint(&jose.JSONWebKey{Key: &key.PublicKey})
	if err != nil {
		return nil, err
	}
	jwk.KeyID = kid
	o := &credential.EncryptionOptions{Keys: []jose.JSONWebKey{jwk}, RequestRequired: e.RequestRequired, ResponseRequired: e.ResponseRequired}
	for _, v := range e.EncValues {
		o.Encs = append(o.Encs, jose.ContentEncryption(v))
	}
	for _, z := range e.ZipValues {
		if z == "DEF" {
			o.Deflate = true
		}
	}
	return o, nil
}

// credentialEvents counts issuance events by type, configuration, wallet
// provider and error code (the issuance funnel).
func (a *app) credentialEvents() func(context.Context, credential.Event) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "issuer_credential_events_total",
		Help: "Credential endpoint events by type, configuration, wallet provider and error code.",
	}, []string{"type", "configuration", "wallet_provider", "error"})
	a.registry.MustRegister(c)
	return func(ctx context.Context, e credential.Event) {
		c.WithLabelValues(e.Type, e.ConfigurationID, e.WalletProvider, e.ErrorCode).Add(float64(max(e.Count, 1)))
		a.auditCredentialEvent(ctx, e)
	}
}

// derivedSecrets derives a purpose-specific secret from each nonce key:
// HMAC-SHA256(key, purpose). The first signs; the rest verify (rotation).
func derivedSecrets(keys [][]byte, purpose string) ([]byte, [][]byte) {
	derive := func(k []byte) []byte {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(purpose))
		return m.Sum(nil)
	}
	var rotated [][]byte
	for _, k := range keys[1:] {
		rotated = append(rotated, derive(k))
	}
	return derive(keys[0]), rotated
}

// loadECKey reads the P-256 private key of request decryption (ECDH-ES needs
// the key itself, so it cannot stay behind a crypto.Signer).
func loadECKey(path string) (*ecdsa.PrivateKey, error) {
	s, err := pki.OpenSigner("file:" + path)
	if err != nil {
		return nil, err
	}
	k, ok := s.(*ecdsa.PrivateKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, errors.New("not a P-256 EC private key")
	}
	return k, nil
}
