package offer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mdoc-issuer/issuer/credential"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// Grant names accepted in the admin API's "grant" member.
const (
	GrantPreAuthorized     = "pre-authorized_code"
	GrantAuthorizationCode = "authorization_code"
)

// Offer states as reported by the admin API.
const (
	StateCreated   = "created"
	StateFetched   = "fetched"
	StateRedeemed  = "redeemed"
	StateExpired   = "expired"
	StateCancelled = "cancelled"
)

// Transaction code input modes (OpenID4VCI 1.0 §4.1.1).
const (
	InputNumeric = "numeric"
	InputText    = "text"
)

// Store kinds.
const (
	kindOffer       = "offer"
	kindIssuerState = "offer-is"
)

// Defaults and bounds.
const (
	DefaultLifetime    = 30 * time.Minute
	DefaultMaxLifetime = 30 * 24 * time.Hour
	DefaultRetention   = 24 * time.Hour
	// DefaultMaxPreAuthLifetime matches the authorization server's bound on
	// pre-authorized codes, which are short-lived (OpenID4VCI §4.1.1).
	DefaultMaxPreAuthLifetime = 24 * time.Hour
	DefaultMaxBodyBytes       = 256 << 10
	DefaultScheme             = "openid-credential-offer://"

	minTxCodeLength    = 4
	maxTxCodeLength    = 16
	defaultTxCodeLen   = 6
	maxTxDescription   = 300 // OpenID4VCI 1.0 §4.1.1
	maxSubjectLength   = 256
	minAdminToken      = 32
	idBytes            = 32 // offer id: the capability to read the offer
	issuerStateBytes   = 32 // >= 128 bits (issuer_state is opaque, §4.1.1)
	textTxCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
)

// Errors returned by the lifecycle methods. They wrap nothing secret.
var (
	ErrNotFound        = errors.New("offer: not found")
	ErrExpired         = errors.New("offer: expired")
	ErrCancelled       = errors.New("offer: cancelled")
	ErrAlreadyRedeemed = errors.New("offer: already redeemed")
	// ErrNoClaims: the offer carries no claims for the configuration; the
	// caller may look the offer's subject up elsewhere. It wraps
	// credential.ErrNoClaims, on which credential.ClaimsRouter falls back to
	// the subject's data.
	ErrNoClaims = fmt.Errorf("offer: no claims attached for configuration: %w", credential.ErrNoClaims)
)

// PreAuthorization is what the authorization server needs to mint a
// pre-authorized code for an offer (OpenID4VCI 1.0 §4.1.1, §6.1). TxCode is the
// transaction code in clear ("" = none); the authorization server stores only
// its hash.
type PreAuthorization struct {
	OfferID          string
	Subject          string
	ConfigurationIDs []string
	TxCode           string
	ExpiresAt        time.Time
}

// PreAuthCodeIssuer mints pre-authorized codes (authz).
type PreAuthCodeIssuer interface {
	IssuePreAuthorizedCode(ctx context.Context, p PreAuthorization) (code string, err error)
}

// PreAuthCodeMinter is optionally implemented by the PreAuthCodeIssuer
// (authz): it mints a code without storing anything and returns the grant
// record the authorization server reads at redemption. The offer keeps the
// record, its id is derived from the code (offerIDFor), and
// Service.PreAuthorization hands the record back: one store key per offer
// instead of two.
type PreAuthCodeMinter interface {
	MintPreAuthorizedCode(ctx context.Context, p PreAuthorization) (code string, grant []byte, err error)
}

// PreAuthCodeRevoker is optionally implemented by the PreAuthCodeIssuer: a
// cancelled offer's code is revoked so that the token endpoint refuses it.
type PreAuthCodeRevoker interface {
	RevokePreAuthorizedCode(ctx context.Context, code string) error
}

// PreAuthCodeIssuerFunc adapts a function to PreAuthCodeIssuer.
type PreAuthCodeIssuerFunc func(ctx context.Context, p PreAuthorization) (string, error)

// IssuePreAuthorizedCode implements PreAuthCodeIssuer.
func (f PreAuthCodeIssuerFunc) IssuePreAuthorizedCode(ctx context.Context, p PreAuthorization) (string, error) {
	return f(ctx, p)
}

// ClaimsValidator checks namespaced claims against the doctype catalogue
// (*mdoc.Catalogue). Errors name the offending "namespace/element" path and
// never contain values.
type ClaimsValidator interface {
	Validate(docType string, claims map[string]map[string]any) (map[string]map[string]any, error)
}

// DeferredApprover decides pending deferred issuance transactions
// (*credential.Service). Errors: an *oauth.Error is passed to the admin
// client; credential.ErrUnknownTransaction is 404,
// credential.ErrTransactionDecided 409.
type DeferredApprover interface {
	ApproveDeferred(ctx context.Context, transactionID string) error
	RejectDeferred(ctx context.Context, transactionID string) error
}

// Configuration is what the offer service needs of one entry of
// credential_configurations_supported.
type Configuration struct {
	DocType string
	// Scope is required for offers of the authorization_code grant
	// (HAIP 1.0 §4.2).
	Scope string
}

// Options configure a Service. Issuer, Store, Configurations are required;
// PreAuth is required for pre-authorized offers; Validator for offers that
// carry claims.
type Options struct {
	// Issuer is the Credential Issuer Identifier (OpenID4VCI §12.2.1); offer
	// URLs are built from it, never from request headers.
	Issuer string
	// PublicBaseURL is where PublicHandler is reachable; "" = Issuer.
	PublicBaseURL string
	Store         storage.Store
	// Configurations maps credential configuration ids to their doctype.
	Configurations map[string]Configuration
	PreAuth        PreAuthCodeIssuer
	Validator      ClaimsValidator
	Deferred       DeferredApprover
	// AdminTokens are the accepted bearer tokens of the admin API (each at
	// least 32 characters). None: the admin API refuses every request.
	AdminTokens []string
	// Scheme of the offer URI (OpenID4VCI §12.1.1 default, or "haip-vci://").
	Scheme string
	// DefaultLifetime and MaxLifetime bound expires_in.
	DefaultLifetime time.Duration
	MaxLifetime     time.Duration
	// MaxPreAuthLifetime bounds offers of the pre-authorized_code grant
	// (default 24 h, the authorization server's limit).
	MaxPreAuthLifetime time.Duration
	// Retention keeps a record after expiry or redemption so the admin API
	// can report its state and the credential endpoint can read its claims
	// (it should exceed the access and refresh token lifetimes).
	Retention time.Duration
	// MaxBodyBytes bounds admin request bodies.
	MaxBodyBytes int64
	Now          func() time.Time
}

// Service is the offer store with its HTTP faces.
type Service struct {
	o          Options
	publicBase string
	// adminPath and publicPath are the path prefixes of the issuer
	// identifier and of PublicBaseURL ("" or "/tenant"): web mounts the
	// handlers under them without stripping.
	adminPath  string
	publicPath string
	tokens     [][sha256.Size]byte
	now        func() time.Time
}

// New checks the options and returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("offer: Store is required")
	}
	if err := checkHTTPSURL(o.Issuer); err != nil {
		return nil, fmt.Errorf("offer: Issuer: %w", err)
	}
	base := o.PublicBaseURL
	if base == "" {
		base = o.Issuer
	}
	if err := checkHTTPSURL(base); err != nil {
		return nil, fmt.Errorf("offer: PublicBaseURL: %w", err)
	}
	if len(o.Configurations) == 0 {
		return nil, errors.New("offer: Configurations is empty")
	}
	for id, c := range o.Configurations {
		if id == "" || c.DocType == "" {
			return nil, fmt.Errorf("offer: configuration %q has no doctype", id)
		}
	}
	if o.Scheme == "" {
		o.Scheme = DefaultScheme
	}
	if !strings.HasSuffix(o.Scheme, "://") || strings.ContainsAny(strings.TrimSuffix(o.Scheme, "://"), ":/?#") {
		return nil, fmt.Errorf("offer: Scheme %q must look like name://", o.Scheme)
	}
	if o.DefaultLifetime <= 0 {
		o.DefaultLifetime = DefaultLifetime
	}
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = DefaultMaxLifetime
	}
	if o.MaxPreAuthLifetime <= 0 {
		o.MaxPreAuthLifetime = min(DefaultMaxPreAuthLifetime, o.MaxLifetime)
	}
	if o.DefaultLifetime > o.MaxLifetime {
		return nil, errors.New("offer: DefaultLifetime exceeds MaxLifetime")
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &Service{o: o, publicBase: strings.TrimSuffix(base, "/"), now: o.Now,
		adminPath: urlPath(o.Issuer), publicPath: urlPath(base)}
	if s.now == nil {
		s.now = time.Now
	}
	for i, t := range o.AdminTokens {
		if len(t) < minAdminToken {
			return nil, fmt.Errorf("offer: admin token %d is shorter than %d characters", i, minAdminToken)
		}
		s.tokens = append(s.tokens, sha256.Sum256([]byte(t)))
	}
	return s, nil
}

// urlPath returns the path of an absolute URL without trailing slash.
func urlPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.TrimRight(u.Path, "/")
}

func checkHTTPSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must be an absolute URL without query or fragment", raw)
	}
	if u.Scheme == "https" {
		return nil
	}
	// Development issuers on loopback may use http (config.Development).
	h := u.Hostname()
	if u.Scheme == "http" && (h == "localhost" || h == "127.0.0.1" || h == "::1") {
		return nil
	}
	return fmt.Errorf("%q must use https", raw)
}

// record is the stored offer (version 2; state.go has how its lifecycle is
// stored). Secrets kept: the pre-authorized code and issuer_state, which the
// by-reference offer must carry. The tx_code is never stored.
type record struct {
	V int `cbor:"v"`
	// ID is the offer id. It is the store key, so it is not stored in the
	// value (encode leaves it out, load sets it); records written before
	// carry it and decode as well.
	ID string `cbor:"id,omitempty"`
	// State and the three instants below are stored in version 1 only;
	// from version 2 on they are folded from the events (state.go).
	State            string   `cbor:"st,omitempty"`
	Grant            string   `cbor:"g"`
	ConfigurationIDs []string `cbor:"c"`
	PreAuthCode      string   `cbor:"pc,omitempty"`
	// PreAuthGrant is the grant record PreAuthCodeMinter returned with the
	// code (opaque here); absent for codes with a record of their own.
	PreAuthGrant []byte            `cbor:"pg,omitempty"`
	TxCode       *TxCode           `cbor:"tx,omitempty"`
	IssuerState  string            `cbor:"is,omitempty"`
	Subject      string            `cbor:"sub,omitempty"`
	Claims       map[string][]byte `cbor:"cl,omitempty"` // configuration id -> JSON
	CreatedAt    int64             `cbor:"ca"`
	ExpiresAt    int64             `cbor:"ea"`
	FetchedAt    int64             `cbor:"fa,omitempty"`
	RedeemedAt   int64             `cbor:"ra,omitempty"`
	CancelledAt  int64             `cbor:"xa,omitempty"`
}

const recordVersion = 2

// TxCode is the transaction code object of an offer (OpenID4VCI 1.0 §4.1.1).
type TxCode struct {
	InputMode   string `cbor:"m" json:"input_mode,omitempty"`
	Length      int    `cbor:"l" json:"length,omitempty"`
	Description string `cbor:"d,omitempty" json:"description,omitempty"`
}

// state returns the externally visible state at now.
func (r *record) state(now time.Time) string {
	if (r.State == StateCreated || r.State == StateFetched) && !now.Before(time.UnixMilli(r.ExpiresAt)) {
		return StateExpired
	}
	return r.State
}

// storeExpiry is when the record leaves the store.
func (r *record) storeExpiry(retention time.Duration) time.Time {
	t := time.UnixMilli(r.ExpiresAt).Add(retention)
	if r.RedeemedAt != 0 {
		if u := time.UnixMilli(r.RedeemedAt).Add(retention); u.After(t) {
			t = u
		}
	}
	return t
}

// CredentialOffer is the offer object (OpenID4VCI 1.0 §4.1.1).
type CredentialOffer struct {
	CredentialIssuer           string   `json:"credential_issuer"`
	CredentialConfigurationIDs []string `json:"credential_configuration_ids"`
	Grants                     Grants   `json:"grants"`
}

// Grants holds at most one grant of each type.
type Grants struct {
	AuthorizationCode *AuthorizationCodeGrant `json:"authorization_code,omitempty"`
	PreAuthorizedCode *PreAuthorizedCodeGrant `json:"urn:ietf:params:oauth:grant-type:pre-authorized_code,omitempty"`
}

// AuthorizationCodeGrant is the authorization_code grant of an offer.
type AuthorizationCodeGrant struct {
	IssuerState string `json:"issuer_state,omitempty"`
}

// PreAuthorizedCodeGrant is the pre-authorized code grant of an offer.
type PreAuthorizedCodeGrant struct {
	PreAuthorizedCode string  `json:"pre-authorized_code"`
	TxCode            *TxCode `json:"tx_code,omitempty"`
}

func (s *Service) offerObject(r *record) CredentialOffer {
	o := CredentialOffer{CredentialIssuer: s.o.Issuer, CredentialConfigurationIDs: slices.Clone(r.ConfigurationIDs)}
	switch r.Grant {
	case GrantAuthorizationCode:
		o.Grants.AuthorizationCode = &AuthorizationCodeGrant{IssuerState: r.IssuerState}
	case GrantPreAuthorized:
		g := &PreAuthorizedCodeGrant{PreAuthorizedCode: r.PreAuthCode}
		if r.TxCode != nil {
			tc := *r.TxCode
			g.TxCode = &tc
		}
		o.Grants.PreAuthorizedCode = g
	}
	return o
}

// OfferURL is the credential_offer_uri of the offer id (OpenID4VCI §4.1.3).
func (s *Service) OfferURL(id string) string { return s.publicBase + "/offers/" + url.PathEscape(id) }

// OfferURI is the offer URI that wallets scan or open: the scheme with the
// single query parameter credential_offer_uri (OpenID4VCI §4.1). It carries no
// secret: the offer is referenced by id and the tx_code is never in it.
func (s *Service) OfferURI(id string) string {
	return s.o.Scheme + "?credential_offer_uri=" + url.QueryEscape(s.OfferURL(id))
}

// CreateRequest is the body of POST /admin/v1/offers.
type CreateRequest struct {
	CredentialConfigurationIDs []string        `json:"credential_configuration_ids"`
	Grant                      string          `json:"grant"`
	TxCode                     *TxCode         `json:"tx_code,omitempty"`
	Claims                     json.RawMessage `json:"claims,omitempty"`
	Subject                    string          `json:"subject,omitempty"`
	ExpiresIn                  *int64          `json:"expires_in,omitempty"`
}

// Created is the result of Create (the body of the 201 response).
type Created struct {
	ID                 string          `json:"id"`
	State              string          `json:"state"`
	CredentialOfferURI string          `json:"credential_offer_uri"`
	OfferURI           string          `json:"offer_uri"`
	CredentialOffer    CredentialOffer `json:"credential_offer"`
	// TxCode is returned here only, once; deliver it over another channel
	// (OpenID4VCI §4.1.1, §13.6.1).
	TxCode    string    `json:"tx_code,omitempty"`
	QRPNG     string    `json:"qr_png"`
	QRSVG     string    `json:"qr_svg"`
	Page      string    `json:"page"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Status is an offer's state without secrets (GET /admin/v1/offers/{id}).
type Status struct {
	ID                         string     `json:"id"`
	State                      string     `json:"state"`
	Grant                      string     `json:"grant"`
	CredentialConfigurationIDs []string   `json:"credential_configuration_ids"`
	TxCodeRequired             bool       `json:"tx_code_required"`
	HasClaims                  bool       `json:"has_claims"`
	HasSubject                 bool       `json:"has_subject"`
	CreatedAt                  time.Time  `json:"created_at"`
	ExpiresAt                  time.Time  `json:"expires_at"`
	FetchedAt                  *time.Time `json:"fetched_at,omitempty"`
	RedeemedAt                 *time.Time `json:"redeemed_at,omitempty"`
	CancelledAt                *time.Time `json:"cancelled_at,omitempty"`
}

func msTime(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}

func (s *Service) status(r *record) Status {
	return Status{
		ID: r.ID, State: r.state(s.now()), Grant: r.Grant,
		CredentialConfigurationIDs: slices.Clone(r.ConfigurationIDs),
		TxCodeRequired:             r.TxCode != nil,
		HasClaims:                  len(r.Claims) > 0,
		HasSubject:                 r.Subject != "",
		CreatedAt:                  time.UnixMilli(r.CreatedAt).UTC(),
		ExpiresAt:                  time.UnixMilli(r.ExpiresAt).UTC(),
		FetchedAt:                  msTime(r.FetchedAt),
		RedeemedAt:                 msTime(r.RedeemedAt),
		CancelledAt:                msTime(r.CancelledAt),
	}
}

// Create validates the request, mints the pre-authorized code or issuer_state
// and stores the offer. Request errors are 400 invalid_request naming the
// failed check; store outages 503.
func (s *Service) Create(ctx context.Context, req CreateRequest) (*Created, error) {
	now := s.now()
	if len(req.CredentialConfigurationIDs) == 0 {
		return nil, oauth.InvalidRequest("credential_configuration_ids must be a non-empty array")
	}
	var unknown []string
	seen := map[string]bool{}
	for _, id := range req.CredentialConfigurationIDs {
		if seen[id] {
			return nil, oauth.InvalidRequest("credential_configuration_ids lists %q twice", id)
		}
		seen[id] = true
		if _, ok := s.o.Configurations[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return nil, oauth.InvalidRequest("unknown credential configuration ids: %s", strings.Join(quoteAll(unknown), ", "))
	}
	if len(req.Subject) > maxSubjectLength {
		return nil, oauth.InvalidRequest("subject is longer than %d bytes", maxSubjectLength)
	}
	lifetime := s.o.DefaultLifetime
	if req.ExpiresIn != nil {
		if *req.ExpiresIn <= 0 || *req.ExpiresIn > int64(s.o.MaxLifetime/time.Second) {
			return nil, oauth.InvalidRequest("expires_in must be between 1 and %d seconds", int64(s.o.MaxLifetime/time.Second))
		}
		lifetime = time.Duration(*req.ExpiresIn) * time.Second
	}
	expiresAt := now.Add(lifetime).Truncate(time.Millisecond)

	id, err := randomToken(idBytes)
	if err != nil {
		return nil, oauth.ServerError(err)
	}
	r := &record{
		V: recordVersion, ID: id, Grant: req.Grant,
		ConfigurationIDs: slices.Clone(req.CredentialConfigurationIDs),
		Subject:          req.Subject,
		CreatedAt:        now.UnixMilli(), ExpiresAt: expiresAt.UnixMilli(),
	}
	var txCode string
	switch req.Grant {
	case GrantAuthorizationCode:
		if req.TxCode != nil {
			return nil, oauth.InvalidRequest("tx_code is only allowed with the pre-authorized_code grant")
		}
		if len(req.Claims) > 0 {
			return nil, oauth.InvalidRequest("claims are only allowed with the pre-authorized_code grant")
		}
		for _, cid := range r.ConfigurationIDs {
			if s.o.Configurations[cid].Scope == "" {
				// HAIP 1.0 §4.2: the wallet needs the scope for the authorization request.
				return nil, oauth.InvalidRequest("configuration %q has no scope and cannot be offered with the authorization_code grant", cid)
			}
		}
		if r.IssuerState, err = randomToken(issuerStateBytes); err != nil {
			return nil, oauth.ServerError(err)
		}
	case GrantPreAuthorized:
		if s.o.PreAuth == nil {
			return nil, oauth.InvalidRequest("the pre-authorized_code grant is not enabled")
		}
		if lifetime > s.o.MaxPreAuthLifetime {
			if req.ExpiresIn == nil {
				lifetime = s.o.MaxPreAuthLifetime
				expiresAt = now.Add(lifetime).Truncate(time.Millisecond)
				r.ExpiresAt = expiresAt.UnixMilli()
			} else {
				return nil, oauth.InvalidRequest("expires_in of a pre-authorized_code offer must be at most %d seconds", int64(s.o.MaxPreAuthLifetime/time.Second))
			}
		}
		if req.TxCode != nil {
			tc, err := normalizeTxCode(*req.TxCode)
			if err != nil {
				return nil, err
			}
			r.TxCode = &tc
			if txCode, err = generateTxCode(tc); err != nil {
				return nil, oauth.ServerError(err)
			}
		}
		if r.Claims, err = s.checkClaims(req.Claims, r.ConfigurationIDs); err != nil {
			return nil, err
		}
		for _, cid := range r.ConfigurationIDs {
			if _, ok := r.Claims[cid]; !ok && r.Subject == "" {
				return nil, oauth.InvalidRequest("configuration %q has neither claims nor a subject to look them up", cid)
			}
		}
	case "":
		return nil, oauth.InvalidRequest("grant is required (pre-authorized_code or authorization_code)")
	default:
		return nil, oauth.InvalidRequest("grant must be pre-authorized_code or authorization_code")
	}

	if r.Grant == GrantPreAuthorized {
		p := PreAuthorization{OfferID: id, Subject: r.Subject, ConfigurationIDs: slices.Clone(r.ConfigurationIDs),
			TxCode: txCode, ExpiresAt: expiresAt}
		var code string
		if m, ok := s.o.PreAuth.(PreAuthCodeMinter); ok {
			p.OfferID = ""
			code, r.PreAuthGrant, err = m.MintPreAuthorizedCode(ctx, p)
			if err == nil && len(r.PreAuthGrant) == 0 {
				err = oauth.ServerError(errors.New("offer: pre-authorized code minted without a grant record"))
			}
			id = offerIDFor(code)
			r.ID = id
		} else {
			code, err = s.o.PreAuth.IssuePreAuthorizedCode(ctx, p)
		}
		if err != nil {
			return nil, dependencyError(err)
		}
		if code == "" {
			return nil, oauth.ServerError(errors.New("offer: empty pre-authorized code"))
		}
		r.PreAuthCode = code
	}
	if err := s.create(ctx, r); err != nil {
		s.revoke(ctx, r)
		return nil, err
	}
	if r.IssuerState != "" {
		if err := s.o.Store.Put(ctx, kindIssuerState, issuerStateKey(r.IssuerState), []byte(id), r.storeExpiry(s.o.Retention)); err != nil {
			_ = s.o.Store.Delete(ctx, kindOffer, id)
			return nil, storeError(err)
		}
	}
	return &Created{
		ID: id, State: StateCreated,
		CredentialOfferURI: s.OfferURL(id),
		OfferURI:           s.OfferURI(id),
		CredentialOffer:    s.offerObject(r),
		TxCode:             txCode,
		QRPNG:              s.OfferURL(id) + "/qr.png",
		QRSVG:              s.OfferURL(id) + "/qr.svg",
		Page:               s.OfferURL(id) + "/page",
		ExpiresAt:          expiresAt.UTC(),
	}, nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func normalizeTxCode(tc TxCode) (TxCode, error) {
	switch tc.InputMode {
	case "":
		tc.InputMode = InputNumeric
	case InputNumeric, InputText:
	default:
		return TxCode{}, oauth.InvalidRequest("tx_code.input_mode must be numeric or text")
	}
	if tc.Length == 0 {
		tc.Length = defaultTxCodeLen
	}
	if tc.Length < minTxCodeLength || tc.Length > maxTxCodeLength {
		return TxCode{}, oauth.InvalidRequest("tx_code.length must be between %d and %d", minTxCodeLength, maxTxCodeLength)
	}
	if n := len([]rune(tc.Description)); n > maxTxDescription {
		return TxCode{}, oauth.InvalidRequest("tx_code.description is longer than %d characters", maxTxDescription)
	}
	return tc, nil
}

// generateTxCode draws a transaction code of the requested shape from
// crypto/rand: decimal digits (numeric) or an unambiguous upper-case
// alphanumeric alphabet (text).
func generateTxCode(tc TxCode) (string, error) {
	alphabet := "0123456789"
	if tc.InputMode == InputText {
		alphabet = textTxCodeAlphabet
	}
	max := big.NewInt(int64(len(alphabet)))
	b := make([]byte, tc.Length)
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b), nil
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func issuerStateKey(issuerState string) string {
	h := sha256.Sum256([]byte(issuerState))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// checkClaims parses the claims member: either configuration id -> namespace
// -> element -> value, or, when exactly one configuration is offered,
// namespace -> element -> value. Every configuration's claims are validated
// against the doctype catalogue; the stored form is the JSON of each
// configuration's namespaces.
func (s *Service) checkClaims(raw json.RawMessage, configIDs []string) (map[string][]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, oauth.InvalidRequest("claims must be a JSON object")
	}
	if len(top) == 0 {
		return nil, oauth.InvalidRequest("claims must not be empty")
	}
	perConfig := map[string]json.RawMessage{}
	byConfig := true
	for k := range top {
		if !slices.Contains(configIDs, k) {
			byConfig = false
			break
		}
	}
	switch {
	case byConfig:
		perConfig = top
	case len(configIDs) == 1:
		perConfig[configIDs[0]] = raw
	default:
		var extra []string
		for k := range top {
			if !slices.Contains(configIDs, k) {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		return nil, oauth.InvalidRequest("claims: keys must be offered credential configuration ids; not offered: %s", strings.Join(quoteAll(extra), ", "))
	}
	if s.o.Validator == nil {
		return nil, oauth.InvalidRequest("claims cannot be attached: no doctype catalogue is configured")
	}
	out := make(map[string][]byte, len(perConfig))
	for cid, nsRaw := range perConfig {
		ns, err := decodeNamespaces(nsRaw)
		if err != nil {
			return nil, oauth.InvalidRequest("claims.%s: %v", cid, err)
		}
		if _, err := s.o.Validator.Validate(s.o.Configurations[cid].DocType, ns); err != nil {
			return nil, oauth.InvalidRequest("claims.%s: %v", cid, err)
		}
		b, err := json.Marshal(ns)
		if err != nil {
			return nil, oauth.ServerError(err)
		}
		out[cid] = b
	}
	return out, nil
}

// decodeNamespaces decodes namespace -> element -> value with numbers kept
// exact: integral numbers become int64, others float64.
func decodeNamespaces(raw []byte) (map[string]map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var m map[string]map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, errors.New("must be an object of namespaces, each an object of data elements")
	}
	for ns, els := range m {
		if els == nil {
			return nil, fmt.Errorf("namespace %q must be an object", ns)
		}
		for k, v := range els {
			els[k] = normalizeNumbers(v)
		}
	}
	return m, nil
}

func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, err := t.Float64()
		if err != nil {
			return t.String()
		}
		return f
	case []any:
		for i := range t {
			t[i] = normalizeNumbers(t[i])
		}
	case map[string]any:
		for k := range t {
			t[k] = normalizeNumbers(t[k])
		}
	}
	return v
}

// encode is the stored form of a new record: without the id, which is the
// store key, and without state (state.go).
func (r *record) encode() ([]byte, error) {
	c := *r
	c.ID = ""
	return storage.Encode(&c)
}

func (s *Service) create(ctx context.Context, r *record) error {
	b, err := r.encode()
	if err != nil {
		return oauth.ServerError(err)
	}
	return storeError(s.o.Store.Create(ctx, kindOffer, r.ID, b, r.storeExpiry(s.o.Retention)))
}

// validID bounds the ids looked up.
func validID(id string) bool { return id != "" && len(id) <= 128 }

// load returns the record with its events folded in.
func (s *Service) load(ctx context.Context, id string) (*record, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	b, err := s.o.Store.Get(ctx, kindOffer, id)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, storeError(err)
	}
	return decodeAs(b, id)
}

// decodeAs decodes the stored offer under id.
func decodeAs(b []byte, id string) (*record, error) {
	r, err := decodeRecord(b)
	if err != nil {
		return nil, oauth.ServerError(err)
	}
	if r.ID != "" && r.ID != id {
		return nil, oauth.ServerError(errors.New("offer: stored record names another offer"))
	}
	r.ID = id
	return r, nil
}

// step appends the step to state to at now, if the store's state allows
// it, and returns the record as it was before and whether the step was
// written. extend moves the record's expiry (zero: keep).
func (s *Service) step(ctx context.Context, id string, to uint8, now, extend time.Time) (*record, bool, error) {
	if !validID(id) {
		return nil, false, ErrNotFound
	}
	ev, err := encodeEvent(to, now)
	if err != nil {
		return nil, false, oauth.ServerError(err)
	}
	b, _, err := s.o.Store.Advance(ctx, kindOffer, id, steps[to], to, ev, extend)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, false, ErrNotFound
	case err != nil && !errors.Is(err, storage.ErrConflict):
		// ErrAlreadyUsed cannot happen: offers are never consumed.
		return nil, false, storeError(err)
	}
	r, derr := decodeAs(b, id)
	if derr != nil {
		return nil, false, derr
	}
	return r, err == nil, nil
}

func storeError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return oauth.Unavailable(5, err)
	}
	return oauth.ServerError(err)
}

// dependencyError maps a failure of the authorization server when minting a
// code: its *oauth.Error is kept, a store outage is 503, anything else 500.
func dependencyError(err error) error {
	if e := oauth.As(err); e != nil {
		return e
	}
	return storeError(err)
}

func (s *Service) revoke(ctx context.Context, r *record) {
	if r.PreAuthCode == "" {
		return
	}
	if rv, ok := s.o.PreAuth.(PreAuthCodeRevoker); ok {
		_ = rv.RevokePreAuthorizedCode(ctx, r.PreAuthCode)
	}
}

// Status returns the offer's state without secrets.
func (s *Service) Status(ctx context.Context, id string) (*Status, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	st := s.status(r)
	return &st, nil
}

// Cancel cancels the offer in any state: the by-reference offer answers 404,
// the pre-authorized code is revoked when the issuer supports it, and
// OfferClaims refuses (so no credential is issued even after redemption).
// Cancelling a cancelled offer is a no-op.
func (s *Service) Cancel(ctx context.Context, id string) (*Status, error) {
	now := s.now()
	r, stepped, err := s.step(ctx, id, stCancelled, now, time.Time{})
	if err != nil {
		return nil, err
	}
	if stepped {
		r.apply(event{State: stCancelled, At: now.UnixMilli()})
	}
	// Not stepped: every other state may be cancelled, so the store refused
	// because a cancellation came first, and r shows it.
	if rv, ok := s.o.PreAuth.(PreAuthCodeRevoker); ok && r.PreAuthCode != "" {
		if err := rv.RevokePreAuthorizedCode(ctx, r.PreAuthCode); err != nil {
			// The cancellation is recorded: OfferClaims refuses regardless.
			return nil, dependencyError(err)
		}
	}
	st := s.status(r)
	return &st, nil
}

// MarkRedeemed records that the offer's grant was used at the token endpoint
// (pre-authorized code) or authorization endpoint (issuer_state). It is the
// grant's single-use decision: of any number of concurrent calls for one
// offer, exactly one succeeds. Errors: ErrNotFound, ErrExpired, ErrCancelled,
// ErrAlreadyRedeemed, or a 503/500 *oauth.Error.
func (s *Service) MarkRedeemed(ctx context.Context, id string) error {
	now := s.now()
	r, stepped, err := s.step(ctx, id, stRedeemed, now, now.Add(s.o.Retention))
	if err != nil {
		return err
	}
	if err := servable(r, now); err != nil {
		return err
	}
	if !stepped {
		// The store holds a later state than the events show (a step
		// recorded by an instance whose clock was past the offer's
		// expiry): the redemption is not ours.
		return ErrAlreadyRedeemed
	}
	return nil
}

// offerIDFor is the id of the offer that keeps a minted pre-authorized
// code: derived one-way from the code (256 bits in, 256 bits out), so the
// token endpoint finds the offer from the code alone, and the id, which the
// credential_offer_uri shows, reveals nothing of the code.
func offerIDFor(code string) string {
	sum := sha256.Sum256([]byte("offer id\x00" + code))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// PreAuthorization returns the id of the offer that keeps the pre-authorized
// code and the grant record minted with it, whatever the offer's state (the
// redemption, MarkRedeemed, decides). ErrNotFound if no offer keeps the code
// (codes with a record of their own, unknown codes). Other errors come from
// the store unchanged: the replay outcome of marks pending in ctx rides
// along with this read.
func (s *Service) PreAuthorization(ctx context.Context, code string) (string, []byte, error) {
	if code == "" || len(code) > 256 {
		return "", nil, ErrNotFound
	}
	id := offerIDFor(code)
	b, err := s.o.Store.Get(ctx, kindOffer, id)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil, ErrNotFound
	}
	if err != nil {
		return "", nil, err
	}
	r, err := decodeAs(b, id)
	if err != nil {
		return "", nil, err
	}
	if r.Grant != GrantPreAuthorized || len(r.PreAuthGrant) == 0 || !constantTimeEqual(r.PreAuthCode, code) {
		return "", nil, ErrNotFound
	}
	return id, r.PreAuthGrant, nil
}

// Prefetch notes a read of the offer to travel with the request's next
// store read (storage.Prefetch): the credential endpoint reads the offer
// named by an access token with the token.
func (s *Service) Prefetch(ctx context.Context, id string) {
	if validID(id) {
		storage.Prefetch(ctx, s.o.Store, kindOffer, id)
	}
}

// IssuerStateOffer is what the authorization server learns from an
// issuer_state (OpenID4VCI §5.1.3): the offer it came from.
type IssuerStateOffer struct {
	OfferID          string
	Subject          string
	ConfigurationIDs []string
}

// LookupIssuerState resolves an issuer_state of a live authorization_code
// offer. Errors: ErrNotFound (unknown), ErrExpired, ErrCancelled,
// ErrAlreadyRedeemed, or a 503/500 *oauth.Error.
func (s *Service) LookupIssuerState(ctx context.Context, issuerState string) (*IssuerStateOffer, error) {
	if issuerState == "" || len(issuerState) > 512 {
		return nil, ErrNotFound
	}
	b, err := s.o.Store.Get(ctx, kindIssuerState, issuerStateKey(issuerState))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, storeError(err)
	}
	r, err := s.load(ctx, string(b))
	if err != nil {
		return nil, err
	}
	if !constantTimeEqual(r.IssuerState, issuerState) {
		return nil, ErrNotFound
	}
	switch r.state(s.now()) {
	case StateExpired:
		return nil, ErrExpired
	case StateCancelled:
		return nil, ErrCancelled
	case StateRedeemed:
		return nil, ErrAlreadyRedeemed
	}
	return &IssuerStateOffer{OfferID: r.ID, Subject: r.Subject, ConfigurationIDs: slices.Clone(r.ConfigurationIDs)}, nil
}

// OfferClaims returns the claims attached to the offer for the configuration
// (namespace -> element -> value, numbers as int64/float64). A cancelled or
// expired offer, or a configuration the offer does not cover, is refused with
// 400 credential_request_denied (OpenID4VCI §8.3.1.2): no credential may be
// issued for it. An offer without claims for the configuration gives
// ErrNoClaims (which wraps credential.ErrNoClaims).
func (s *Service) OfferClaims(ctx context.Context, offerID, configurationID string) (map[string]map[string]any, error) {
	r, err := s.load(ctx, offerID)
	if errors.Is(err, ErrNotFound) {
		return nil, denied("the credential offer is unknown or no longer kept").WithCause(err)
	}
	if err != nil {
		return nil, err
	}
	switch r.state(s.now()) {
	case StateCancelled:
		return nil, denied("the credential offer was cancelled").WithCause(ErrCancelled)
	case StateExpired:
		return nil, denied("the credential offer has expired").WithCause(ErrExpired)
	}
	if !slices.Contains(r.ConfigurationIDs, configurationID) {
		return nil, denied("the credential offer does not cover configuration %s", configurationID)
	}
	raw, ok := r.Claims[configurationID]
	if !ok {
		return nil, ErrNoClaims
	}
	return decodeNamespaces(raw)
}

func denied(format string, args ...any) *oauth.Error {
	return oauth.New(http.StatusBadRequest, oauth.CodeCredentialRequestDenied, format, args...)
}

// liveOffer returns the record if the offer can still be fetched.
func (s *Service) liveOffer(ctx context.Context, id string) (*record, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return r, servable(r, s.now())
}

// servable reports why the offer is no longer served, or nil.
func servable(r *record, now time.Time) error {
	switch r.state(now) {
	case StateCreated, StateFetched:
		return nil
	case StateExpired:
		return ErrExpired
	case StateCancelled:
		return ErrCancelled
	}
	return ErrAlreadyRedeemed
}

// Fetch returns the offer object for the credential_offer_uri and marks the
// offer fetched, in one store round trip. Expired, cancelled and redeemed
// offers are not served.
func (s *Service) Fetch(ctx context.Context, id string) (*CredentialOffer, error) {
	now := s.now()
	r, _, err := s.step(ctx, id, stFetched, now, time.Time{})
	if err != nil {
		return nil, err
	}
	if err := servable(r, now); err != nil {
		return nil, err
	}
	o := s.offerObject(r)
	return &o, nil
}
