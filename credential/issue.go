package credential

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// Event types passed to Options.Events.
const (
	EventNonceIssued        = "nonce_issued"
	EventCredentialIssued   = "credential_issued"   // Count credentials, RecordIDs
	EventCredentialDeferred = "credential_deferred" // TransactionID awaits ApproveDeferred/RejectDeferred
	EventDeferredApproved   = "deferred_approved"
	EventDeferredRejected   = "deferred_rejected"
	EventNotification       = "notification" // NotificationEvent
	// EventRequestFailed: an authorized request to Endpoint was refused with
	// ErrorCode (the issuance funnel per wallet provider).
	EventRequestFailed = "request_failed"
)

// Event is an audit and metrics event. It never carries claim values, keys,
// tokens or nonces. TransactionID is meant for the review queue of the admin
// API, not for logs.
type Event struct {
	Type              string
	Time              time.Time
	ConfigurationID   string
	ClientID          string
	WalletProvider    string
	Count             int
	RecordIDs         []string
	TransactionID     string
	NotificationEvent string
	Endpoint          string // Path* of a failed request
	ErrorCode         string
}

// failed emits EventRequestFailed for a refused request whose grant is known.
func (s *Service) failed(ctx context.Context, endpoint string, g *grantCtx, err error) {
	if err == nil || g == nil {
		return
	}
	code := oauth.CodeServerError
	if e := oauth.As(err); e != nil {
		code = e.Code
	}
	s.emit(ctx, Event{Type: EventRequestFailed, Endpoint: endpoint, ClientID: g.ClientID, WalletProvider: g.WalletProvider, ErrorCode: code})
}

func (s *Service) emit(ctx context.Context, e Event) {
	if s.o.Events == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = s.o.Now()
	}
	s.o.Events(ctx, e)
}

// IssuedRecord is what the issuer keeps about each issued credential (kind
// KindIssued) for status management and audit: no claim values. It is
// stored as an issuedDTO (V 2); records stored with these text keys (V 1)
// are still read.
type IssuedRecord struct {
	V                    int    `cbor:"v"`
	ConfigurationID      string `cbor:"cfg"`
	DocType              string `cbor:"dt"`
	DSSerial             string `cbor:"ds"`
	DeviceKeyJKT         string `cbor:"jkt"`
	WalletProvider       string `cbor:"wp"`
	ClientID             string `cbor:"cid"`
	KeyAttestationIssuer string `cbor:"kai,omitempty"`
	IssuedAt             int64  `cbor:"iat"`
	ValidUntil           int64  `cbor:"exp,omitempty"`
	// NotificationStatus is the last event the wallet reported (VCI §11.1),
	// "" if none.
	NotificationStatus string `cbor:"ns,omitempty"`
	NotificationAt     int64  `cbor:"nat,omitempty"`
}

// IssuedRecord returns the issued-credential record with the given id.
func (s *Service) IssuedRecord(ctx context.Context, id string) (*IssuedRecord, error) {
	b, err := s.o.Store.Get(ctx, KindIssued, id)
	if err != nil {
		return nil, err
	}
	return decodeIssued(b)
}

type credentialObject struct {
	Credential string `json:"credential"`
}

// credentialResponse is the Credential Response (VCI §8.3) and the Deferred
// Credential Response (§9.2).
type credentialResponse struct {
	Credentials    []credentialObject `json:"credentials,omitempty"`
	NotificationID string             `json:"notification_id,omitempty"`
	TransactionID  string             `json:"transaction_id,omitempty"`
	Interval       int64              `json:"interval,omitempty"`
}

// AppendJSON implements oauth.JSONAppender: the bytes json.Marshal gives,
// written directly (a credential is several KiB of base64url that
// encoding/json would scan twice).
func (r credentialResponse) AppendJSON(dst []byte) []byte {
	n := 64 + len(r.NotificationID) + len(r.TransactionID)
	for _, c := range r.Credentials {
		n += len(c.Credential) + 20
	}
	dst = slices.Grow(dst, n)
	dst = append(dst, '{')
	sep := func() {
		if dst[len(dst)-1] != '{' {
			dst = append(dst, ',')
		}
	}
	if len(r.Credentials) > 0 {
		dst = append(dst, `"credentials":[`...)
		for i, c := range r.Credentials {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"credential":`...)
			dst = oauth.AppendJSONString(dst, c.Credential)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if r.NotificationID != "" {
		sep()
		dst = oauth.AppendJSONString(append(dst, `"notification_id":`...), r.NotificationID)
	}
	if r.TransactionID != "" {
		sep()
		dst = oauth.AppendJSONString(append(dst, `"transaction_id":`...), r.TransactionID)
	}
	if r.Interval != 0 {
		sep()
		dst = strconv.AppendInt(append(dst, `"interval":`...), r.Interval, 10)
	}
	return append(dst, '}')
}

// parseObject decodes a JSON object, refusing duplicate members (VCI
// §8.3.1.2 "duplicated parameter") and trailing data.
func parseObject(b []byte, badCode string) (map[string]json.RawMessage, error) {
	bad := func(msg string) error { return oauth.New(http.StatusBadRequest, badCode, "%s", msg) }
	obj, dups, ok := objectMembers(b)
	if !ok {
		if json.Valid(b) {
			return nil, bad("request body must be a JSON object")
		}
		return nil, bad("request body is not valid JSON")
	}
	if len(dups) > 0 {
		return nil, bad("duplicated parameter " + safeName(dups[0]))
	}
	return obj, nil
}

// optString reads an optional string member; present but not a string is
// an error.
func optString(obj map[string]json.RawMessage, k string) (string, bool, bool) {
	raw, ok := obj[k]
	if !ok || isAbsent(raw) {
		return "", false, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", true, false
	}
	return s, true, true
}

// readRequestObject reads the JSON object of a Credential or Deferred
// Credential Request, plain or encrypted (VCI §10), and the response
// encryption it asks for (VCI §8.2, §9.1: each request carries its own).
func (s *Service) readRequestObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, *responseEncryption, error) {
	body, mt, err := s.readBody(w, r, oauth.CodeInvalidCredentialRequest)
	if err != nil {
		return nil, nil, err
	}
	plain, encrypted, err := s.openRequest(body, mt, oauth.CodeInvalidCredentialRequest)
	if err != nil {
		return nil, nil, err
	}
	obj, err := parseObject(plain, oauth.CodeInvalidCredentialRequest)
	if err != nil {
		return nil, nil, err
	}
	re, err := s.responseEncryption(obj["credential_response_encryption"], encrypted)
	if err != nil {
		return nil, nil, err
	}
	return obj, re, nil
}

// serveCredential is the Credential Endpoint (VCI §8).
func (s *Service) serveCredential(w http.ResponseWriter, r *http.Request) (err error) {
	g, err := s.authorize(r, PathCredential)
	if err != nil {
		return err
	}
	ctx := g.ctx
	defer func() { s.failed(ctx, PathCredential, g, err) }()
	obj, re, err := s.readRequestObject(w, r)
	if err != nil {
		return err
	}
	configID, cfg, err := s.resolveConfiguration(g, obj)
	if err != nil {
		return err
	}
	if !isAbsent(obj["proof"]) {
		return oauth.InvalidCredentialRequest("the proof parameter was removed in OpenID4VCI 1.0: send proofs")
	}
	pk, err := s.verifyProofs(ctx, cfg, obj["proofs"], g)
	if err != nil {
		return err
	}
	if cfg.Deferred {
		tx, err := s.createDeferred(ctx, g, configID, pk)
		if err != nil {
			return err
		}
		return s.writeResult(w, http.StatusAccepted, credentialResponse{TransactionID: tx, Interval: s.interval()}, re)
	}
	resp, err := s.issue(ctx, g.Grant, configID, cfg, pk)
	if err != nil {
		return err
	}
	return s.writeResult(w, http.StatusOK, resp, re)
}

func (s *Service) interval() int64 {
	i := int64(s.o.DeferredInterval / time.Second)
	if i < 1 {
		i = 1
	}
	return i
}

// resolveConfiguration applies VCI §8.2: exactly one of
// credential_configuration_id (when the token response carried no
// credential_identifiers) and credential_identifier (when it did).
func (s *Service) resolveConfiguration(g *grantCtx, obj map[string]json.RawMessage) (string, Configuration, error) {
	cid, hasCID, okC := optString(obj, "credential_configuration_id")
	ident, hasIdent, okI := optString(obj, "credential_identifier")
	switch {
	case !okC:
		return "", Configuration{}, oauth.InvalidCredentialRequest("credential_configuration_id must be a string")
	case !okI:
		return "", Configuration{}, oauth.InvalidCredentialRequest("credential_identifier must be a string")
	case hasCID && hasIdent:
		return "", Configuration{}, oauth.InvalidCredentialRequest("send only one of credential_configuration_id and credential_identifier")
	case !hasCID && !hasIdent:
		return "", Configuration{}, oauth.InvalidCredentialRequest("credential_configuration_id or credential_identifier required")
	}
	if hasIdent {
		id, ok := g.CredentialIdentifiers[ident]
		if !ok || ident == "" {
			return "", Configuration{}, oauth.New(http.StatusBadRequest, oauth.CodeUnknownCredentialIdentifier, "credential_identifier was not issued with this access token")
		}
		cfg, ok := s.config(id)
		if !ok {
			return "", Configuration{}, oauth.New(http.StatusBadRequest, oauth.CodeUnknownCredentialIdentifier, "credential_identifier names no supported credential configuration")
		}
		return id, cfg, nil
	}
	cfg, ok := s.config(cid)
	if !ok || cid == "" {
		return "", Configuration{}, oauth.New(http.StatusBadRequest, oauth.CodeUnknownCredentialConfiguration, "credential_configuration_id is not supported by this issuer")
	}
	if len(g.CredentialIdentifiers) > 0 {
		return "", Configuration{}, oauth.InvalidCredentialRequest("credential_identifiers were issued with this access token: send credential_identifier")
	}
	if !g.Covers(cid) {
		// VCI §8.3.1.1: the token does not authorize this credential: RFC 6750 §3.1.
		return "", Configuration{}, resourceError(oauth.New(http.StatusForbidden, oauth.CodeInsufficientScope, "the access token does not cover this credential configuration"))
	}
	return cid, cfg, nil
}

// issue fetches the claims once and signs one credential per proven key
// (VCI §3.3.2, §8.3: same dataset, distinct device keys, salts and
// signatures), records each credential and creates the notification id.
func (s *Service) issue(ctx context.Context, g *oauth.Grant, configID string, cfg Configuration, pk *provenKeys) (*credentialResponse, error) {
	claims, err := s.o.Claims.Claims(ctx, g, configID)
	if err != nil {
		return nil, claimsError(err)
	}
	if len(claims) == 0 {
		return nil, claimsError(ErrNoClaims)
	}
	if err := s.rememberProofs(ctx, pk); err != nil {
		return nil, err
	}
	now := s.o.Now()
	resp := &credentialResponse{}
	signed, err := s.o.Signer.Sign(ctx, configID, cfg.DocType, claims, pk.keys)
	if err != nil {
		return nil, signerError(err)
	}
	if len(signed) != len(pk.keys) {
		return nil, oauth.ServerError(errors.New("signer returned a different number of credentials than keys"))
	}
	nid, err := newNotificationID(len(signed))
	if err != nil {
		return nil, oauth.ServerError(err)
	}
	ids, _ := recordIDs(nid)
	items := make([]storage.Item, 0, len(signed))
	for i, sg := range signed {
		resp.Credentials = append(resp.Credentials, credentialObject{Credential: base64.RawURLEncoding.EncodeToString(sg.Credential)})
		rec := IssuedRecord{
			V: issuedV2, ConfigurationID: configID, DocType: cfg.DocType, DSSerial: sg.DSSerial,
			DeviceKeyJKT: pk.jkts[i], WalletProvider: g.WalletProvider, ClientID: g.ClientID,
			KeyAttestationIssuer: pk.attestationIssuer, IssuedAt: now.Unix(),
		}
		if !sg.ValidUntil.IsZero() {
			rec.ValidUntil = sg.ValidUntil.Unix()
		}
		b, err := encodeIssued(&rec)
		if err != nil {
			return nil, oauth.ServerError(err)
		}
		items = append(items, storage.Item{Kind: KindIssued, Key: ids[i], Value: b, ExpiresAt: s.recordExpiry(&rec)})
	}
	// The issued records in one store round trip; the notification_id
	// needs no record of its own (see recordIDs).
	if err := storage.CreateAll(ctx, s.o.Store, items); err != nil {
		return nil, wireError(err)
	}
	resp.NotificationID = nid
	s.emit(ctx, Event{Type: EventCredentialIssued, ConfigurationID: configID, ClientID: g.ClientID,
		WalletProvider: g.WalletProvider, Count: len(ids), RecordIDs: ids})
	return resp, nil
}

// ErrInvalidClaims is returned by a Signer when the holder's data does not
// fit the doctype (a mandatory element missing, a value of the wrong type).
var ErrInvalidClaims = errors.New("credential: claims do not fit the doctype")

func signerError(err error) error {
	if e := oauth.As(err); e != nil {
		return e
	}
	if errors.Is(err, ErrInvalidClaims) {
		// The data of the issuing authority is at fault, not the request:
		// the wallet cannot fix it by retrying.
		return oauth.New(http.StatusBadRequest, oauth.CodeCredentialRequestDenied, "the credential data for this holder is incomplete or invalid").WithCause(err)
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return oauth.Unavailable(5, err)
	}
	return oauth.ServerError(err)
}

// randomID returns 128 random bits, base64url (GEN-02).
func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// secretKey is the store key of a wallet-held identifier (transaction_id):
// its SHA-256, so the store never holds the value itself.
func secretKey(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// jwkJSON encodes public device keys for storage.
func jwkJSON(keys []*jose.JSONWebKey) ([][]byte, error) {
	out := make([][]byte, 0, len(keys))
	for _, k := range keys {
		b, err := k.MarshalJSON()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
