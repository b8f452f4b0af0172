package credential

import (
	"context"
	"errors"
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

// notificationRecord binds a notification_id (kind KindNotification) to the
// client it was issued to and the issued-credential records it covers.
type notificationRecord struct {
	V               int      `cbor:"v"`
	ClientID        string   `cbor:"cid"`
	ConfigurationID string   `cbor:"cfg"`
	WalletProvider  string   `cbor:"wp"`
	Records         []string `cbor:"recs"`
	Event           string   `cbor:"ev,omitempty"`
	Expires         int64    `cbor:"exp"`
}

// notificationItem returns a fresh notification_id and the record to
// create for it; the caller stores it together with the issued records.
func (s *Service) notificationItem(g *oauth.Grant, configID string, records []string, now time.Time) (string, storage.Item, error) {
	nid, err := randomID()
	if err != nil {
		return "", storage.Item{}, oauth.ServerError(err)
	}
	exp := now.Add(s.o.NotificationTTL)
	b, err := storage.Encode(notificationRecord{V: 1, ClientID: g.ClientID, ConfigurationID: configID,
		WalletProvider: g.WalletProvider, Records: records, Expires: exp.Unix()})
	if err != nil {
		return "", storage.Item{}, oauth.ServerError(err)
	}
	return nid, storage.Item{Kind: KindNotification, Key: secretKey(nid), Value: b, ExpiresAt: exp}, nil
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
	key := secretKey(nid)
	for range 5 {
		old, err := s.o.Store.Get(ctx, KindNotification, key)
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrAlreadyUsed) {
			return oauth.New(http.StatusBadRequest, oauth.CodeInvalidNotificationID, "notification_id unknown or expired")
		}
		if err != nil {
			return wireError(err)
		}
		var rec notificationRecord
		if err := storage.Decode(old, &rec); err != nil {
			return oauth.ServerError(err)
		}
		// Notification ids are bound to the client they were issued to.
		if rec.ClientID != g.ClientID {
			return oauth.New(http.StatusBadRequest, oauth.CodeInvalidNotificationID, "notification_id unknown or expired")
		}
		if rec.Event == ev {
			s.setDPoPNonce(w)
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		rec.Event = ev
		b, err := storage.Encode(rec)
		if err != nil {
			return oauth.ServerError(err)
		}
		err = s.o.Store.Swap(ctx, KindNotification, key, old, b, time.Unix(rec.Expires, 0))
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return wireError(err)
		}
		if err := s.markRecords(ctx, rec.Records, ev); err != nil {
			return wireError(err)
		}
		s.emit(ctx, Event{Type: EventNotification, ConfigurationID: rec.ConfigurationID, ClientID: rec.ClientID,
			WalletProvider: rec.WalletProvider, Count: len(rec.Records), RecordIDs: rec.Records, NotificationEvent: ev})
		s.setDPoPNonce(w)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return oauth.Unavailable(1, storage.ErrConflict)
}

// markRecords sets the notification status of issued-credential records.
// Records that expired are skipped.
func (s *Service) markRecords(ctx context.Context, ids []string, ev string) error {
	now := s.o.Now().Unix()
	for _, id := range ids {
		for attempt := 0; ; attempt++ {
			old, err := s.o.Store.Get(ctx, KindIssued, id)
			if errors.Is(err, storage.ErrNotFound) {
				break
			}
			if err != nil {
				return err
			}
			var rec IssuedRecord
			if err := storage.Decode(old, &rec); err != nil {
				return err
			}
			rec.NotificationStatus, rec.NotificationAt = ev, now
			b, err := storage.Encode(rec)
			if err != nil {
				return err
			}
			exp := time.Unix(rec.IssuedAt, 0).Add(s.o.RecordTTL)
			if v := time.Unix(rec.ValidUntil, 0); rec.ValidUntil != 0 && v.After(exp) {
				exp = v
			}
			err = s.o.Store.Swap(ctx, KindIssued, id, old, b, exp)
			if errors.Is(err, storage.ErrConflict) && attempt < 5 {
				continue
			}
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			break
		}
	}
	return nil
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
