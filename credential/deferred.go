package credential

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// Deferred transaction states.
const (
	deferredPending  = "pending"
	deferredApproved = "approved"
	deferredRejected = "rejected"
)

// ErrUnknownTransaction: no live deferred transaction with that id.
var ErrUnknownTransaction = errors.New("credential: unknown deferred transaction")

// ErrTransactionDecided: the transaction was already approved or rejected.
var ErrTransactionDecided = errors.New("credential: deferred transaction already decided")

// deferredRecord is a deferred transaction (kind KindDeferred). It keeps the
// validated device keys and the grant binding; claim values are fetched only
// when the credentials are issued.
type deferredRecord struct {
	V               int      `cbor:"v"`
	State           string   `cbor:"st"`
	ConfigurationID string   `cbor:"cfg"`
	Keys            [][]byte `cbor:"keys"` // public JWKs (JSON)
	JKTs            []string `cbor:"jkts"`
	KAIssuer        string   `cbor:"kai,omitempty"`
	ClientID        string   `cbor:"cid"`
	RequestID       string   `cbor:"rid"`
	WalletProvider  string   `cbor:"wp"`
	Created         int64    `cbor:"t"`
	Expires         int64    `cbor:"exp"`
}

func (s *Service) createDeferred(ctx context.Context, g *grantCtx, configID string, pk *provenKeys) (string, error) {
	if err := s.rememberProofs(ctx, pk); err != nil {
		return "", err
	}
	keys, err := jwkJSON(pk.keys)
	if err != nil {
		return "", oauth.ServerError(err)
	}
	tx, err := randomID()
	if err != nil {
		return "", oauth.ServerError(err)
	}
	now := s.o.Now()
	exp := now.Add(s.o.DeferredTTL)
	rec := deferredRecord{V: 1, State: deferredPending, ConfigurationID: configID, Keys: keys, JKTs: pk.jkts,
		KAIssuer: pk.attestationIssuer, ClientID: g.ClientID, RequestID: g.RequestID,
		WalletProvider: g.WalletProvider, Created: now.Unix(), Expires: exp.Unix()}
	b, err := storage.Encode(rec)
	if err != nil {
		return "", oauth.ServerError(err)
	}
	if err := s.o.Store.Create(ctx, KindDeferred, secretKey(tx), b, exp); err != nil {
		return "", wireError(err)
	}
	s.emit(ctx, Event{Type: EventCredentialDeferred, ConfigurationID: configID, ClientID: g.ClientID,
		WalletProvider: g.WalletProvider, Count: len(keys), TransactionID: tx})
	return tx, nil
}

// Deferred transaction states reported by DeferredStatus.
const (
	DeferredPending  = deferredPending
	DeferredApproved = deferredApproved
	DeferredRejected = deferredRejected
)

// DeferredInfo describes a live deferred transaction for the admin API: no
// claim values, no keys.
type DeferredInfo struct {
	State           string
	ConfigurationID string
	ClientID        string
	WalletProvider  string
	Keys            int
	Created         time.Time
	Expires         time.Time
}

// DeferredStatus reports a deferred transaction that has not been redeemed.
// ErrUnknownTransaction if there is none.
func (s *Service) DeferredStatus(ctx context.Context, transactionID string) (*DeferredInfo, error) {
	b, err := s.o.Store.Get(ctx, KindDeferred, secretKey(transactionID))
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrAlreadyUsed) {
		return nil, ErrUnknownTransaction
	}
	if err != nil {
		return nil, err
	}
	var rec deferredRecord
	if err := storage.Decode(b, &rec); err != nil {
		return nil, err
	}
	return &DeferredInfo{State: rec.State, ConfigurationID: rec.ConfigurationID, ClientID: rec.ClientID,
		WalletProvider: rec.WalletProvider, Keys: len(rec.Keys), Created: time.Unix(rec.Created, 0),
		Expires: time.Unix(rec.Expires, 0)}, nil
}

// ApproveDeferred marks a pending deferred transaction ready: the next poll
// of the Deferred Credential Endpoint issues the credentials.
func (s *Service) ApproveDeferred(ctx context.Context, transactionID string) error {
	return s.decideDeferred(ctx, transactionID, deferredApproved)
}

// RejectDeferred marks a pending deferred transaction refused: polls get
// credential_request_denied (VCI §9.3).
func (s *Service) RejectDeferred(ctx context.Context, transactionID string) error {
	return s.decideDeferred(ctx, transactionID, deferredRejected)
}

func (s *Service) decideDeferred(ctx context.Context, tx, state string) error {
	key := secretKey(tx)
	for range 5 {
		old, err := s.o.Store.Get(ctx, KindDeferred, key)
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrAlreadyUsed) {
			return ErrUnknownTransaction
		}
		if err != nil {
			return err
		}
		var rec deferredRecord
		if err := storage.Decode(old, &rec); err != nil {
			return err
		}
		if rec.State != deferredPending {
			return ErrTransactionDecided
		}
		rec.State = state
		b, err := storage.Encode(rec)
		if err != nil {
			return err
		}
		err = s.o.Store.Swap(ctx, KindDeferred, key, old, b, time.Unix(rec.Expires, 0))
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrAlreadyUsed) {
			return ErrUnknownTransaction
		}
		if err != nil {
			return err
		}
		ev := EventDeferredApproved
		if state == deferredRejected {
			ev = EventDeferredRejected
		}
		s.emit(ctx, Event{Type: ev, ConfigurationID: rec.ConfigurationID, ClientID: rec.ClientID, WalletProvider: rec.WalletProvider, TransactionID: tx})
		return nil
	}
	return storage.ErrConflict
}

func invalidTransaction(msg string) *oauth.Error {
	return oauth.New(http.StatusBadRequest, oauth.CodeInvalidTransactionID, "%s", msg)
}

// serveDeferred is the Deferred Credential Endpoint (VCI §9).
func (s *Service) serveDeferred(w http.ResponseWriter, r *http.Request) (err error) {
	ctx := r.Context()
	g, err := s.authorize(r, PathDeferred)
	if err != nil {
		return err
	}
	defer func() { s.failed(ctx, PathDeferred, g, err) }()
	obj, re, err := s.readRequestObject(w, r)
	if err != nil {
		return err
	}
	tx, has, ok := optString(obj, "transaction_id")
	if !ok || !has || tx == "" {
		return oauth.InvalidCredentialRequest("transaction_id missing or not a string")
	}
	key := secretKey(tx)
	b, err := s.o.Store.Get(ctx, KindDeferred, key)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrAlreadyUsed) {
		return invalidTransaction("transaction_id unknown, expired or already redeemed")
	}
	if err != nil {
		return wireError(err)
	}
	var rec deferredRecord
	if err := storage.Decode(b, &rec); err != nil {
		return oauth.ServerError(err)
	}
	// VCI §9: the access token must be valid for the original request.
	if rec.ClientID != g.ClientID || rec.RequestID != g.RequestID {
		return resourceError(oauth.InvalidToken("access token was not issued for this transaction"))
	}
	switch rec.State {
	case deferredPending:
		return s.writeResult(w, http.StatusAccepted, credentialResponse{TransactionID: tx, Interval: s.interval()}, re)
	case deferredRejected:
		return oauth.New(http.StatusBadRequest, oauth.CodeCredentialRequestDenied, "the issuer refused this credential request")
	case deferredApproved:
	default:
		return oauth.ServerError(errors.New("deferred record in unknown state"))
	}
	cfg, ok := s.config(rec.ConfigurationID)
	if !ok {
		return oauth.New(http.StatusBadRequest, oauth.CodeCredentialRequestDenied, "the credential configuration is no longer offered")
	}
	pk := &provenKeys{jkts: rec.JKTs, attestationIssuer: rec.KAIssuer}
	for _, kb := range rec.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(kb); err != nil {
			return oauth.ServerError(err)
		}
		pk.keys = append(pk.keys, &k)
	}
	if len(pk.keys) != len(pk.jkts) {
		return oauth.ServerError(errors.New("deferred record keys inconsistent"))
	}
	// Exactly one poll wins the approved transaction (VCI §9.3: the id is
	// invalid once the credentials were delivered).
	if _, err := s.o.Store.Consume(ctx, KindDeferred, key); err != nil {
		if errors.Is(err, storage.ErrAlreadyUsed) || errors.Is(err, storage.ErrNotFound) {
			return invalidTransaction("transaction_id already redeemed")
		}
		return wireError(err)
	}
	resp, err := s.issue(ctx, g.Grant, rec.ConfigurationID, cfg, pk)
	if err != nil {
		// Nothing was delivered: restore the approved transaction for a retry.
		if perr := s.o.Store.Put(ctx, KindDeferred, key, b, time.Unix(rec.Expires, 0)); perr != nil {
			return wireError(perr)
		}
		return err
	}
	return s.writeResult(w, http.StatusOK, resp, re)
}
