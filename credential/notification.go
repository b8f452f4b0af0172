package credential

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// Notification events (VCI §11.1).
const (
	NotificationAccepted = "credential_accepted"
	NotificationFailure  = "credential_failure"
	NotificationDeleted  = "credential_deleted"
)

// A notification_id (VCI §11) is base64url(seed || n): 16 random bytes and
// the number of credentials of the response (1..255). The issued-credential
// records of the response are stored under ids derived from it
// (recordIDs), so no record of the notification_id itself is kept: the
// notification endpoint finds the records by deriving their ids, and the
// records carry the client the credentials went to. The derivation is
// one-way: a record id (in the audit log, in events) does not reveal the
// notification_id.
const notificationSeedLen = 16

// newNotificationID returns a fresh notification_id covering n credentials.
func newNotificationID(n int) (string, error) {
	if n < 1 || n > 255 {
		return "", fmt.Errorf("credential: %d credentials in one response", n)
	}
	b := make([]byte, notificationSeedLen+1)
	if _, err := rand.Read(b[:notificationSeedLen]); err != nil {
		return "", err
	}
	b[notificationSeedLen] = byte(n)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// recordIDs derives the issued-record ids of a notification_id:
// base64url(SHA-256("issued" 0x00 seed || n || i)[:16]) for i < n (n in the
// input, so an altered count names no record). It reports false for a
// value that is not a notification_id of this format.
func recordIDs(nid string) ([]string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(nid)
	if err != nil || len(b) != notificationSeedLen+1 || b[notificationSeedLen] == 0 {
		return nil, false
	}
	n := int(b[notificationSeedLen])
	ids := make([]string, n)
	msg := make([]byte, 0, 7+notificationSeedLen+2)
	msg = append(msg, "issued\x00"...)
	msg = append(msg, b...)
	for i := range n {
		sum := sha256.Sum256(append(msg, byte(i)))
		ids[i] = base64.RawURLEncoding.EncodeToString(sum[:16])
	}
	return ids, true
}

func notificationRequestError(msg string) *oauth.Error {
	return oauth.New(http.StatusBadRequest, oauth.CodeInvalidNotificationRequest, "%s", msg)
}

// serveNotification is the Notification Endpoint (VCI §11): 204 for a known
// notification_id of this client, idempotent for repeats.
func (s *Service) serveNotification(w http.ResponseWriter, r *http.Request) (err error) {
	ctx := r.Context()
	g, err := s.authorize(r, PathNotification)
	if err != nil {
		return err
	}
	defer func() { s.failed(ctx, PathNotification, g, err) }()
	body, mt, err := s.readBody(w, r, oauth.CodeInvalidNotificationRequest)
	if err != nil {
		return err
	}
	if mt != oauth.MediaJSON {
		return notificationRequestError("Content-Type must be application/json")
	}
	obj, err := parseObject(body, oauth.CodeInvalidNotificationRequest)
	if err != nil {
		return err
	}
	nid, has, ok := optString(obj, "notification_id")
	if !ok || !has || nid == "" {
		return notificationRequestError("notification_id missing or not a string")
	}
	ev, has, ok := optString(obj, "event")
	if !ok || !has {
		return notificationRequestError("event missing or not a string")
	}
	switch ev {
	case NotificationAccepted, NotificationFailure, NotificationDeleted:
	default:
		return notificationRequestError("event must be credential_accepted, credential_failure or credential_deleted")
	}
	desc, has, ok := optString(obj, "event_description")
	if !ok || has && !validDescription(desc) {
		return notificationRequestError("event_description must be printable ASCII without quote or backslash")
	}
	ids, ok := recordIDs(nid)
	if !ok {
		return unknownNotification()
	}
	// The first record decides: it must exist, belong to this client and be
	// within NotificationTTL of issuance; its compare-and-swap makes one
	// request the one that reports the event.
	first, changed, err := s.markRecord(ctx, ids[0], ev, g.ClientID)
	if err != nil {
		return err
	}
	if first == nil {
		return unknownNotification()
	}
	// The other records follow (they are also brought up to date when an
	// earlier request stopped after the first one).
	for _, id := range ids[1:] {
		if _, _, err := s.markRecord(ctx, id, ev, g.ClientID); err != nil {
			return err
		}
	}
	if changed {
		s.emit(ctx, Event{Type: EventNotification, ConfigurationID: first.ConfigurationID, ClientID: first.ClientID,
			WalletProvider: first.WalletProvider, Count: len(ids), RecordIDs: ids, NotificationEvent: ev})
	}
	s.setDPoPNonce(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func unknownNotification() *oauth.Error {
	return oauth.New(http.StatusBadRequest, oauth.CodeInvalidNotificationID, "notification_id unknown or expired")
}

// markRecord sets the notification status of one issued-credential record
// of client clientID to ev. It returns the record (nil if it does not exist,
// has expired for notifications or belongs to another client) and whether
// this call changed it.
func (s *Service) markRecord(ctx context.Context, id, ev, clientID string) (*IssuedRecord, bool, error) {
	now := s.o.Now()
	for range 5 {
		old, err := s.o.Store.Get(ctx, KindIssued, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, wireError(err)
		}
		rec, err := decodeIssued(old)
		if err != nil {
			return nil, false, oauth.ServerError(err)
		}
		// Notification ids are bound to the client they were issued to and
		// accepted for NotificationTTL.
		if rec.ClientID != clientID || now.After(time.Unix(rec.IssuedAt, 0).Add(s.o.NotificationTTL)) {
			return nil, false, nil
		}
		if rec.NotificationStatus == ev {
			return rec, false, nil
		}
		rec.NotificationStatus, rec.NotificationAt = ev, now.Unix()
		b, err := encodeIssued(rec)
		if err != nil {
			return nil, false, oauth.ServerError(err)
		}
		err = s.o.Store.Swap(ctx, KindIssued, id, old, b, s.recordExpiry(rec))
		switch {
		case errors.Is(err, storage.ErrConflict):
			continue
		case errors.Is(err, storage.ErrNotFound):
			return nil, false, nil
		case err != nil:
			return nil, false, wireError(err)
		}
		return rec, true, nil
	}
	return nil, false, oauth.Unavailable(1, storage.ErrConflict)
}

// recordExpiry is when an issued-credential record leaves the store: RecordTTL
// after issuance, or the credential's validUntil if that is later.
func (s *Service) recordExpiry(rec *IssuedRecord) time.Time {
	exp := time.Unix(rec.IssuedAt, 0).Add(s.o.RecordTTL)
	if v := time.Unix(rec.ValidUntil, 0); rec.ValidUntil != 0 && v.After(exp) {
		exp = v
	}
	return exp
}

// validDescription: %x20-21 / %x23-5B / %x5D-7E (VCI §11.1).
func validDescription(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
