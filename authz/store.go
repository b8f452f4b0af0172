package authz

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"

	"github.com/mdoc-issuer/issuer/storage"
)

// Record kinds in storage.Records.
const (
	kindPAR     = "authz-par"     // key: hash(request_uri)
	kindCode    = "authz-code"    // key: HMAC signature of the authorization code
	kindPKCE    = "authz-pkce"    // key: code signature
	kindAT      = "authz-at"      // key: access token signature
	kindRT      = "authz-rt"      // key: refresh token signature
	kindGrant   = "authz-grant"   // key: request id (revocation index)
	kindPreAuth = "authz-preauth" // key: hash(pre-authorized code)
	kindFlow    = "authz-flow"    // key: login flow id
	kindLock    = "authz-lock"    // key: hash(username), login lockout
	counterTx   = "authz-txcode"  // key: hash(pre-authorized code)
	counterUser = "authz-login"   // key: hash(username)
)

const recordVersion = 1

// Sentinel errors of the adapter, mapped to OAuth errors in errors.go.
var (
	errCodeReused       = errors.New("authz: authorization code used twice")
	errRequestURIUsed   = errors.New("authz: request_uri already used")
	errRefreshReused    = errors.New("authz: refresh token used twice")
	errGrantRevoked     = errors.New("authz: grant revoked")
	errUnsupportedCAuth = errors.New("authz: client assertion authentication is not supported")
)

// sessionDTO is the stored form of Session.
type sessionDTO struct {
	Subject      string            `cbor:"1,keyasint,omitempty"`
	JKT          string            `cbor:"2,keyasint,omitempty"`
	ClientKeyJKT string            `cbor:"3,keyasint,omitempty"`
	Provider     string            `cbor:"4,keyasint,omitempty"`
	ConfigIDs    []string          `cbor:"5,keyasint,omitempty"`
	CredIDs      map[string]string `cbor:"6,keyasint,omitempty"`
	AuthzDetails bool              `cbor:"7,keyasint,omitempty"`
	OfferID      string            `cbor:"8,keyasint,omitempty"`
	IssuerState  string            `cbor:"9,keyasint,omitempty"`
	NoState      bool              `cbor:"10,keyasint,omitempty"`
}

// requestDTO is the stored form of a fosite request (PAR request,
// authorization code, PKCE data, access and refresh token). The client is
// kept by id (and provider, instance key, redirect URI), never as an object.
type requestDTO struct {
	V           int               `cbor:"0,keyasint"`
	ID          string            `cbor:"1,keyasint,omitempty"`
	RequestedAt int64             `cbor:"2,keyasint,omitempty"` // unix s
	ClientID    string            `cbor:"3,keyasint,omitempty"`
	RedirectURI string            `cbor:"4,keyasint,omitempty"`
	Requested   []string          `cbor:"5,keyasint,omitempty"`
	Granted     []string          `cbor:"6,keyasint,omitempty"`
	Form        map[string]string `cbor:"7,keyasint,omitempty"`
	Session     *sessionDTO       `cbor:"8,keyasint,omitempty"`
	State       string            `cbor:"9,keyasint,omitempty"`
	Exp         int64             `cbor:"10,keyasint,omitempty"` // unix ms, enforced on read
	IssuedAt    int64             `cbor:"11,keyasint,omitempty"` // unix s (tokens)
}

// grantIndexDTO lists the tokens issued under one request id so that
// RevokeAccessToken/RevokeRefreshToken (RFC 6749 §4.1.2 code replay, refresh
// token reuse) can find them.
type grantIndexDTO struct {
	V       int      `cbor:"0,keyasint"`
	Revoked bool     `cbor:"1,keyasint,omitempty"`
	AT      []tokRef `cbor:"2,keyasint,omitempty"`
	RT      []tokRef `cbor:"3,keyasint,omitempty"`
}

type tokRef struct {
	Sig string `cbor:"1,keyasint"`
	Exp int64  `cbor:"2,keyasint"` // unix ms
}

func keyHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// logRef is what logs show of a bearer-like identifier (an offer id leads to
// its pre-authorized code): the first 16 hex digits of its SHA-256, as in the
// audit log.
func logRef(id string) string {
	if id == "" {
		return ""
	}
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:8])
}

// fositeStore implements fosite's storage interfaces over storage.Store.
type fositeStore struct {
	s   *Server
	rec storage.Store
}

var (
	_ oauth2.CoreStorage            = (*fositeStore)(nil)
	_ oauth2.TokenRevocationStorage = (*fositeStore)(nil)
	_ pkce.PKCERequestStorage       = (*fositeStore)(nil)
	_ fosite.PARStorage             = (*fositeStore)(nil)
	_ fosite.ClientManager          = (*fositeStore)(nil)
	_ fosite.Storage                = (*fositeStore)(nil)
)

func (f *fositeStore) now() time.Time { return f.s.now() }

// ---- encoding ----

func toSessionDTO(s fosite.Session) *sessionDTO {
	ss, ok := s.(*Session)
	if !ok || ss == nil {
		return nil
	}
	return &sessionDTO{
		Subject: ss.Subject, JKT: ss.JKT, ClientKeyJKT: ss.ClientKeyJKT, Provider: ss.Provider,
		ConfigIDs: ss.ConfigurationIDs, CredIDs: ss.CredentialIdentifiers, AuthzDetails: ss.AuthorizationDetails,
		OfferID: ss.OfferID, IssuerState: ss.IssuerState, NoState: ss.NoState,
	}
}

func fromSessionDTO(d *sessionDTO) *Session {
	if d == nil {
		return &Session{}
	}
	return &Session{
		Subject: d.Subject, JKT: d.JKT, ClientKeyJKT: d.ClientKeyJKT, Provider: d.Provider,
		ConfigurationIDs: d.ConfigIDs, CredentialIdentifiers: d.CredIDs, AuthorizationDetails: d.AuthzDetails,
		OfferID: d.OfferID, IssuerState: d.IssuerState, NoState: d.NoState,
	}
}

// toDTO keeps the single-valued form parameters named in keep (all if keep
// is nil).
func toDTO(r fosite.Requester, exp time.Time, keep []string) requestDTO {
	d := requestDTO{
		V: recordVersion, ID: r.GetID(), RequestedAt: r.GetRequestedAt().Unix(),
		Requested: r.GetRequestedScopes(), Granted: r.GetGrantedScopes(),
		Session: toSessionDTO(r.GetSession()), Exp: exp.UnixMilli(),
	}
	if c := r.GetClient(); c != nil {
		d.ClientID = c.GetID()
	}
	if ar, ok := r.(fosite.AuthorizeRequester); ok {
		if u := ar.GetRedirectURI(); u != nil {
			d.RedirectURI = u.String()
		}
		d.State = ar.GetState()
	}
	for k, v := range r.GetRequestForm() {
		if len(v) != 1 || (keep != nil && !slices.Contains(keep, k)) {
			continue
		}
		if d.Form == nil {
			d.Form = map[string]string{}
		}
		d.Form[k] = v[0]
	}
	if d.RedirectURI == "" && d.Form["redirect_uri"] != "" {
		d.RedirectURI = d.Form["redirect_uri"]
	}
	return d
}

func (f *fositeStore) fromDTO(d *requestDTO) *fosite.Request {
	r := &fosite.Request{
		ID:             d.ID,
		RequestedAt:    time.Unix(d.RequestedAt, 0).UTC(),
		RequestedScope: fosite.Arguments(d.Requested),
		GrantedScope:   fosite.Arguments(d.Granted),
		Form:           url.Values{},
	}
	for k, v := range d.Form {
		r.Form.Set(k, v)
	}
	sess := fromSessionDTO(d.Session)
	r.Session = sess
	var redirects []string
	if d.RedirectURI != "" {
		redirects = []string{d.RedirectURI}
	}
	r.Client = f.s.newClient(d.ClientID, sess.Provider, sess.ClientKeyJKT, redirects)
	return r
}

func encode(v any) ([]byte, error) {
	b, err := storage.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("authz: encode record: %w", err)
	}
	return b, nil
}

func decodeRequest(b []byte) (*requestDTO, error) {
	var d requestDTO
	if err := storage.Decode(b, &d); err != nil {
		return nil, fmt.Errorf("authz: decode record: %w", err)
	}
	if d.V != recordVersion {
		return nil, fmt.Errorf("authz: record version %d not supported", d.V)
	}
	return &d, nil
}

func (f *fositeStore) expired(d *requestDTO) bool {
	return d.Exp != 0 && f.now().UnixMilli() >= d.Exp
}

// notFound maps storage.ErrNotFound to fosite.ErrNotFound and passes other
// errors (storage.ErrUnavailable) through for errors.go to map to 503.
func notFound(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fosite.ErrNotFound.WithWrap(err)
	}
	return err
}

// ---- fosite.ClientManager ----

// GetClient returns the client the wallet attestation of the current request
// authenticated (there is no client registry: ABCA, HAIP §4.4.1).
func (f *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	if slot, ok := ctx.Value(clientSlotKey{}).(*clientSlot); ok && slot.client != nil && slot.client.id == id {
		return slot.client, nil
	}
	return nil, fosite.ErrNotFound.WithHint("Clients are identified by their wallet attestation only.")
}

// ClientAssertionJWTValid rejects every client assertion: private_key_jwt
// is not a supported client authentication method here (HAIP §4.4.1).
func (f *fositeStore) ClientAssertionJWTValid(context.Context, string) error {
	return errUnsupportedCAuth
}

// SetClientAssertionJWT: see ClientAssertionJWTValid.
func (f *fositeStore) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return errUnsupportedCAuth
}

// ---- PAR (RFC 9126) ----

// parFormKeep are the PAR parameters the authorization endpoint and fosite's
// authorize handlers need; everything else is dropped before storing.
var parFormKeep = []string{"client_id", "redirect_uri", "response_type", "scope", "code_challenge", "code_challenge_method"}

func (f *fositeStore) CreatePARSession(ctx context.Context, requestURI string, ar fosite.AuthorizeRequester) error {
	exp := f.now().Add(f.s.o.PARLifespan)
	d := toDTO(ar, exp, parFormKeep)
	b, err := encode(d)
	if err != nil {
		return err
	}
	return f.rec.Create(ctx, kindPAR, keyHash(requestURI), b, exp)
}

// loadPAR returns the stored PAR request: fosite.ErrNotFound if unknown,
// expired or already used (errRequestURIUsed wrapped).
func (f *fositeStore) loadPAR(ctx context.Context, requestURI string) (*requestDTO, error) {
	b, err := f.rec.Get(ctx, kindPAR, keyHash(requestURI))
	if errors.Is(err, storage.ErrAlreadyUsed) {
		return nil, fosite.ErrNotFound.WithWrap(errRequestURIUsed)
	}
	if err != nil {
		return nil, notFound(err)
	}
	d, err := decodeRequest(b)
	if err != nil {
		return nil, err
	}
	if f.expired(d) {
		return nil, fosite.ErrNotFound
	}
	return d, nil
}

func (f *fositeStore) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	d, err := f.loadPAR(ctx, requestURI)
	if err != nil {
		return nil, err
	}
	r := f.fromDTO(d)
	ar := &fosite.AuthorizeRequest{
		Request:             *r,
		ResponseTypes:       fosite.Arguments{d.Form["response_type"]},
		State:               d.State,
		ResponseMode:        fosite.ResponseModeQuery,
		DefaultResponseMode: fosite.ResponseModeQuery,
	}
	if ar.RedirectURI, err = url.Parse(d.RedirectURI); err != nil {
		return nil, fmt.Errorf("authz: stored redirect_uri: %w", err)
	}
	return ar, nil
}

// DeletePARSession consumes the request_uri atomically: exactly one
// authorization completes per request_uri (RFC 9126 §4, FAPI 2.0).
func (f *fositeStore) DeletePARSession(ctx context.Context, requestURI string) error {
	_, err := f.rec.Consume(ctx, kindPAR, keyHash(requestURI))
	if errors.Is(err, storage.ErrAlreadyUsed) {
		return errRequestURIUsed
	}
	return notFound(err)
}

// ---- authorization codes ----

func (f *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, signature string, r fosite.Requester) error {
	exp := f.now().Add(f.s.o.AuthorizeCodeLifespan)
	b, err := encode(toDTO(r, exp, nil))
	if err != nil {
		return err
	}
	// The record outlives the code so that a replay within the access
	// token lifetime is recognised and revokes the tokens (RFC 6749 §4.1.2).
	return f.rec.Create(ctx, kindCode, signature, b, exp.Add(f.s.o.AccessTokenLifespan))
}

func (f *fositeStore) GetAuthorizeCodeSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	b, err := f.rec.Get(ctx, kindCode, signature)
	used := errors.Is(err, storage.ErrAlreadyUsed)
	if err != nil && !used {
		return nil, notFound(err)
	}
	d, derr := decodeRequest(b)
	if derr != nil {
		return nil, derr
	}
	if used {
		// Revoke here, not only in the caller: fosite revokes on this error
		// in HandleTokenEndpointRequest but not in
		// PopulateTokenEndpointResponse, which a concurrent redemption
		// reaches (RFC 6749 §4.1.2).
		f.s.o.Logger.Warn("authz: authorization code used twice; revoking its grant", "client_id", d.ClientID)
		if rerr := f.revokeGrant(ctx, d.ID); rerr != nil {
			return nil, rerr
		}
		return f.fromDTO(d), fosite.ErrInvalidatedAuthorizeCode
	}
	if f.expired(d) {
		return nil, fosite.ErrNotFound.WithHint("The authorization code has expired.")
	}
	return f.fromDTO(d), nil
}

// InvalidateAuthorizeCodeSession consumes the code atomically. The loser of
// a race (or a replay) gets errCodeReused and the tokens of the first use
// are revoked (RFC 6749 §4.1.2).
func (f *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	b, err := f.rec.Consume(ctx, kindCode, signature)
	if errors.Is(err, storage.ErrAlreadyUsed) {
		if d, derr := decodeRequest(b); derr == nil {
			f.s.o.Logger.Warn("authz: authorization code used twice; revoking its grant", "client_id", d.ClientID)
			if rerr := f.revokeGrant(ctx, d.ID); rerr != nil {
				return rerr
			}
		}
		return errCodeReused
	}
	return notFound(err)
}

// ---- PKCE ----

func (f *fositeStore) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	exp := f.now().Add(f.s.o.AuthorizeCodeLifespan)
	d := toDTO(r, exp, []string{"code_challenge", "code_challenge_method"})
	// Only the challenge is needed: drop scopes and session.
	d.Requested, d.Granted, d.Session, d.ID = nil, nil, nil, ""
	b, err := encode(d)
	if err != nil {
		return err
	}
	return f.rec.Create(ctx, kindPKCE, signature, b, exp)
}

func (f *fositeStore) GetPKCERequestSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	b, err := f.rec.Get(ctx, kindPKCE, signature)
	if err != nil {
		return nil, notFound(err)
	}
	d, err := decodeRequest(b)
	if err != nil {
		return nil, err
	}
	return f.fromDTO(d), nil
}

func (f *fositeStore) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return f.rec.Delete(ctx, kindPKCE, signature)
}

// ---- access and refresh tokens ----

func (f *fositeStore) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	b, exp, err := f.accessTokenRecord(r)
	if err != nil {
		return err
	}
	if !isRefreshGrant(r) && r.GetID() != "" {
		// A grant's first token: the token and a new grant index in one
		// store round trip.
		toks := []firstToken{{kind: kindAT, sig: signature, record: b, exp: exp}}
		items, err := firstTokenItems(r.GetID(), toks)
		if err != nil {
			return err
		}
		return f.settleFirstTokens(ctx, r.GetID(), toks, storage.CreateAll(ctx, f.rec, items))
	}
	if err := f.rec.Create(ctx, kindAT, signature, b, exp); err != nil {
		return err
	}
	if err := f.indexAdd(ctx, r.GetID(), signature, exp, false, false); err != nil {
		_ = f.rec.Delete(ctx, kindAT, signature)
		return err
	}
	return nil
}

// accessTokenRecord is the stored access token of r and its expiry.
func (f *fositeStore) accessTokenRecord(r fosite.Requester) ([]byte, time.Time, error) {
	now := f.now()
	exp := now.Add(f.s.o.AccessTokenLifespan)
	d := toDTO(r, exp, []string{})
	d.Form, d.RedirectURI, d.Requested = nil, "", nil
	d.IssuedAt = now.Unix()
	// The record keeps what ValidateAccessToken reads; the request time,
	// the wallet instance key and the login state of the authorization live
	// on in the grant's code or refresh token records, where the checks
	// that need them run.
	d.RequestedAt = 0
	if d.Session != nil {
		d.Session.ClientKeyJKT, d.Session.IssuerState, d.Session.NoState = "", "", false
	}
	b, err := encode(d)
	return b, exp, err
}

// firstToken is one token of a grant's first token response.
type firstToken struct {
	kind, sig string // kindAT or kindRT, and the token's signature
	record    []byte
	exp       time.Time
}

// firstTokenItems are the records of a grant's first tokens (the access
// token, and the refresh token if any): the tokens, then a new grant index
// listing them.
func firstTokenItems(requestID string, toks []firstToken) ([]storage.Item, error) {
	idx := grantIndexDTO{V: recordVersion}
	items := make([]storage.Item, 0, len(toks)+1)
	var until time.Time
	for _, t := range toks {
		ref := tokRef{Sig: t.sig, Exp: t.exp.UnixMilli()}
		if t.kind == kindRT {
			idx.RT = append(idx.RT, ref)
		} else {
			idx.AT = append(idx.AT, ref)
		}
		if t.exp.After(until) {
			until = t.exp
		}
		items = append(items, storage.Item{Kind: t.kind, Key: t.sig, Value: t.record, ExpiresAt: t.exp})
	}
	b, err := encode(idx)
	if err != nil {
		return nil, err
	}
	return append(items, storage.Item{Kind: kindGrant, Key: requestID, Value: b, ExpiresAt: until}), nil
}

// settleFirstTokens completes a grant's first tokens from the outcome of
// creating firstTokenItems. If only the index failed because it exists (a
// revoked mark, or tokens of the grant), the tokens are recorded in it by
// indexAdd. On any other failure the tokens are deleted: a token record
// without the response that hands it out must not stay usable.
func (f *fositeStore) settleFirstTokens(ctx context.Context, requestID string, toks []firstToken, err error) error {
	var ie *storage.ItemError
	if err == nil {
		return nil
	}
	if errors.As(err, &ie) && ie.Index == len(toks) && errors.Is(err, storage.ErrAlreadyExists) {
		err = nil
		for _, t := range toks {
			if err = f.indexAdd(ctx, requestID, t.sig, t.exp, t.kind == kindRT, false); err != nil {
				break
			}
		}
		if err == nil {
			return nil
		}
	}
	f.deleteTokens(ctx, toks)
	return err
}

// deleteTokens removes token records, best effort (the store may be down).
func (f *fositeStore) deleteTokens(ctx context.Context, toks []firstToken) {
	for _, t := range toks {
		_ = f.rec.Delete(ctx, t.kind, t.sig)
	}
}

func (f *fositeStore) loadToken(ctx context.Context, kind, signature string) (*requestDTO, []byte, error) {
	b, err := f.rec.Get(ctx, kind, signature)
	if err != nil && !errors.Is(err, storage.ErrAlreadyUsed) {
		return nil, nil, notFound(err)
	}
	d, derr := decodeRequest(b)
	if derr != nil {
		return nil, nil, derr
	}
	return d, b, err
}

// GetAccessTokenSession returns the stored access token request. Its
// session and client lack what CreateAccessTokenSession leaves out (wallet
// instance key, issuer_state); its request time is the token's issue time.
func (f *fositeStore) GetAccessTokenSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	d, _, err := f.loadToken(ctx, kindAT, signature)
	if err != nil {
		return nil, err
	}
	if f.expired(d) {
		return nil, fosite.ErrNotFound
	}
	if d.RequestedAt == 0 {
		d.RequestedAt = d.IssuedAt
	}
	return f.fromDTO(d), nil
}

func (f *fositeStore) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return f.rec.Delete(ctx, kindAT, signature)
}

func (f *fositeStore) CreateRefreshTokenSession(ctx context.Context, signature, _ string, r fosite.Requester) error {
	b, exp, err := f.refreshTokenRecord(r)
	if err != nil {
		return err
	}
	if err := f.rec.Create(ctx, kindRT, signature, b, exp); err != nil {
		return err
	}
	if err := f.indexAdd(ctx, r.GetID(), signature, exp, true, false); err != nil {
		_ = f.rec.Delete(ctx, kindRT, signature)
		return err
	}
	return nil
}

// refreshTokenRecord is the stored refresh token of r and its expiry.
func (f *fositeStore) refreshTokenRecord(r fosite.Requester) ([]byte, time.Time, error) {
	now := f.now()
	exp := now.Add(f.s.o.RefreshTokenLifespan)
	d := toDTO(r, exp, []string{})
	d.Form, d.RedirectURI, d.Requested = nil, "", nil
	d.IssuedAt = now.Unix()
	b, err := encode(d)
	return b, exp, err
}

func (f *fositeStore) GetRefreshTokenSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	d, _, err := f.loadToken(ctx, kindRT, signature)
	if errors.Is(err, storage.ErrAlreadyUsed) {
		// Reuse of a rotated refresh token: fosite revokes the grant.
		return f.fromDTO(d), fosite.ErrInactiveToken
	}
	if err != nil {
		return nil, err
	}
	if f.expired(d) {
		return nil, fosite.ErrNotFound
	}
	return f.fromDTO(d), nil
}

func (f *fositeStore) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return f.rec.Delete(ctx, kindRT, signature)
}

// RotateRefreshToken consumes the presented refresh token atomically; a
// concurrent second use loses (errRefreshReused).
func (f *fositeStore) RotateRefreshToken(ctx context.Context, _ string, signature string) error {
	_, err := f.rec.Consume(ctx, kindRT, signature)
	if errors.Is(err, storage.ErrAlreadyUsed) {
		return errRefreshReused
	}
	return notFound(err)
}

func (f *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return f.revokeGrant(ctx, requestID)
}

func (f *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	return f.revokeGrant(ctx, requestID)
}

// ---- grant index ----

const casAttempts = 16

// firstIndex is the encoded grant index listing one token.
func firstIndex(sig string, exp time.Time, refresh bool) ([]byte, error) {
	idx := grantIndexDTO{V: recordVersion}
	ref := tokRef{Sig: sig, Exp: exp.UnixMilli()}
	if refresh {
		idx.RT = []tokRef{ref}
	} else {
		idx.AT = []tokRef{ref}
	}
	return encode(idx)
}

// isRefreshGrant reports whether r is a refresh_token grant, whose grant
// index exists already.
func isRefreshGrant(r fosite.Requester) bool {
	ar, ok := r.(fosite.AccessRequester)
	return ok && ar.GetGrantTypes().Has("refresh_token")
}

// indexAdd records a token under its request id. It fails with
// errGrantRevoked when the grant was revoked meanwhile (a code replay racing
// the first redemption), so no token outlives a revocation.
//
// first says the grant's index most likely does not exist yet (the first
// token of a code or pre-authorized code redemption): the index is then
// created without reading it first, which saves a store round trip. Create
// fails on any live index (tokens, or a revoked mark), and the
// read-modify-swap loop handles that case as before.
func (f *fositeStore) indexAdd(ctx context.Context, requestID, sig string, exp time.Time, refresh, first bool) error {
	if requestID == "" {
		return errors.New("authz: token without request id")
	}
	nowMs := f.now().UnixMilli()
	if first {
		b, err := firstIndex(sig, exp, refresh)
		if err != nil {
			return err
		}
		err = f.rec.Create(ctx, kindGrant, requestID, b, exp)
		if !errors.Is(err, storage.ErrAlreadyExists) {
			return err
		}
	}
	return f.updateGrantIndex(ctx, requestID, func(idx *grantIndexDTO) (*grantIndexDTO, time.Time, error) {
		if idx.Revoked {
			return nil, time.Time{}, errGrantRevoked
		}
		ref := tokRef{Sig: sig, Exp: exp.UnixMilli()}
		prune := func(l []tokRef) []tokRef {
			return slices.DeleteFunc(l, func(t tokRef) bool { return t.Exp <= nowMs })
		}
		idx.AT, idx.RT = prune(idx.AT), prune(idx.RT)
		if refresh {
			idx.RT = append(idx.RT, ref)
		} else {
			idx.AT = append(idx.AT, ref)
		}
		until := exp
		for _, t := range append(slices.Clone(idx.AT), idx.RT...) {
			if e := time.UnixMilli(t.Exp); e.After(until) {
				until = e
			}
		}
		return idx, until, nil
	})
}

// updateGrantIndex applies change to the grant index of requestID with a
// compare-and-swap loop (absent index: an empty one; concurrent writers
// retry). change returns the new index and its expiry, or an error that ends
// the update.
func (f *fositeStore) updateGrantIndex(ctx context.Context, requestID string, change func(idx *grantIndexDTO) (*grantIndexDTO, time.Time, error)) error {
	for range casAttempts {
		old, err := f.rec.Get(ctx, kindGrant, requestID)
		idx := &grantIndexDTO{V: recordVersion}
		switch {
		case errors.Is(err, storage.ErrNotFound):
			old = nil
		case err != nil:
			return err
		default:
			if err := storage.Decode(old, idx); err != nil {
				return fmt.Errorf("authz: decode grant index: %w", err)
			}
		}
		next, until, err := change(idx)
		if err != nil {
			return err
		}
		b, err := encode(next)
		if err != nil {
			return err
		}
		if old == nil {
			err = f.rec.Create(ctx, kindGrant, requestID, b, until)
			if errors.Is(err, storage.ErrAlreadyExists) {
				continue
			}
		} else {
			err = f.rec.Swap(ctx, kindGrant, requestID, old, b, until)
			if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
				continue
			}
		}
		return err
	}
	return fmt.Errorf("authz: grant index contention: %w", storage.ErrUnavailable)
}

// revokeGrant marks the grant revoked (so no further token is recorded) and
// deletes every access and refresh token issued under it.
func (f *fositeStore) revokeGrant(ctx context.Context, requestID string) error {
	if requestID == "" {
		return nil
	}
	// Keep the revoked mark for as long as a token of the grant can be
	// created: the longest token lifetime.
	until := f.now().Add(max(f.s.o.AccessTokenLifespan, f.s.o.RefreshTokenLifespan))
	return f.updateGrantIndex(ctx, requestID, func(idx *grantIndexDTO) (*grantIndexDTO, time.Time, error) {
		for _, t := range idx.AT {
			if err := f.rec.Delete(ctx, kindAT, t.Sig); err != nil {
				return nil, time.Time{}, err
			}
		}
		for _, t := range idx.RT {
			if err := f.rec.Delete(ctx, kindRT, t.Sig); err != nil {
				return nil, time.Time{}, err
			}
		}
		return &grantIndexDTO{V: recordVersion, Revoked: true}, until, nil
	})
}
