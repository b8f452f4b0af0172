package credential

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
)

// startDeferred sends a credential request for the deferred configuration
// and returns the transaction id (T81).
func (h *harness) startDeferred() string {
	h.t.Helper()
	rec := h.credential(map[string]any{"credential_configuration_id": "mdl_deferred",
		"proofs": map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{})}}})
	if rec.Code != http.StatusAccepted || rec.Header().Get("Cache-Control") != "no-store" {
		h.t.Fatalf("T81: %d %s", rec.Code, rec.Body)
	}
	var b map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &b)
	if _, has := b["credentials"]; has || b["interval"] != float64(5) || b["transaction_id"] == "" {
		h.t.Fatalf("T81 body %s", rec.Body)
	}
	return b["transaction_id"].(string)
}

func (h *harness) poll(tx string) *httptest.ResponseRecorder {
	return h.send(req{path: PathDeferred, body: mustJSON(h.t, map[string]any{"transaction_id": tx})})
}

func TestDeferredFlow(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			h := newHarness(t, onBackend(t, be))
			tx := h.startDeferred()
			if ev := h.events.byType(EventCredentialDeferred); len(ev) != 1 || ev[0].TransactionID != tx {
				t.Fatalf("deferred event %+v", ev)
			}
			if len(h.events.byType(EventCredentialIssued)) != 0 {
				t.Fatal("credential issued for a deferred configuration")
			}
			// T82: pending -> 202 with the same id.
			for range 2 {
				rec := h.poll(tx)
				var b credentialResponseBody
				_ = json.Unmarshal(rec.Body.Bytes(), &b)
				if rec.Code != 202 || b.TransactionID != tx || b.Interval != 5 || len(b.Credentials) != 0 {
					t.Fatalf("T82: %d %s", rec.Code, rec.Body)
				}
			}
			if st, err := h.svc.DeferredStatus(t.Context(), tx); err != nil || st.State != DeferredPending || st.ConfigurationID != "mdl_deferred" || st.Keys != 1 || st.ClientID != testClient {
				t.Fatalf("status %+v %v", st, err)
			}
			if err := h.svc.ApproveDeferred(t.Context(), tx); err != nil {
				t.Fatal(err)
			}
			if st, err := h.svc.DeferredStatus(t.Context(), tx); err != nil || st.State != DeferredApproved {
				t.Fatalf("status %+v %v", st, err)
			}
			if err := h.svc.ApproveDeferred(t.Context(), tx); !errors.Is(err, ErrTransactionDecided) {
				t.Fatalf("second approval: %v", err)
			}
			// Claims are read at issue time: the claims source is asked now.
			b, creds := decodeCredentials(t, h.poll(tx))
			if len(creds) != 1 || creds[0].JKT != jktOf(t, &h.holder.PublicKey) || b.NotificationID == "" || b.TransactionID != "" {
				t.Fatalf("T83: %+v %+v", b, creds)
			}
			// T83: the id is spent.
			wantError(t, h.poll(tx), 400, oauth.CodeInvalidTransactionID)
			if _, err := h.svc.DeferredStatus(t.Context(), tx); !errors.Is(err, ErrUnknownTransaction) {
				t.Fatalf("status after redemption: %v", err)
			}
		})
	}
}

func TestDeferredErrors(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				run    func(h *harness, tx string) *httptest.ResponseRecorder
				status int
				code   string
			}{
				{name: "T84 unknown transaction_id", run: func(h *harness, _ string) *httptest.ResponseRecorder {
					return h.poll("unknown-transaction")
				}, status: 400, code: oauth.CodeInvalidTransactionID},
				{name: "T84 token of another grant", run: func(h *harness, tx string) *httptest.ResponseRecorder {
					k := newKey(h.t)
					tok := h.issueToken(k, &oauth.Grant{ClientID: "another-client", Subject: "alice", CredentialConfigurationIDs: []string{"mdl_deferred"}})
					return h.send(req{path: PathDeferred, token: tok, dpopKey: k, body: mustJSON(h.t, map[string]any{"transaction_id": tx})})
				}, status: 401, code: oauth.CodeInvalidToken},
				{name: "no access token", run: func(h *harness, tx string) *httptest.ResponseRecorder {
					return h.send(req{path: PathDeferred, noAuth: true, body: mustJSON(h.t, map[string]any{"transaction_id": tx})})
				}, status: 401, code: oauth.CodeInvalidToken},
				{name: "rejected", run: func(h *harness, tx string) *httptest.ResponseRecorder {
					if err := h.svc.RejectDeferred(h.t.Context(), tx); err != nil {
						h.t.Fatal(err)
					}
					return h.poll(tx)
				}, status: 400, code: oauth.CodeCredentialRequestDenied},
				{name: "transaction_id missing", run: func(h *harness, _ string) *httptest.ResponseRecorder {
					return h.send(req{path: PathDeferred, body: []byte(`{}`)})
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "transaction_id not a string", run: func(h *harness, _ string) *httptest.ResponseRecorder {
					return h.send(req{path: PathDeferred, body: []byte(`{"transaction_id": 5}`)})
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "expired transaction", run: func(h *harness, tx string) *httptest.ResponseRecorder {
					h.clock.Advance(25 * 60 * 60 * 1e9)
					return h.poll(tx)
				}, status: 400, code: oauth.CodeInvalidTransactionID},
				{name: "claims source down after approval keeps the transaction", run: func(h *harness, tx string) *httptest.ResponseRecorder {
					if err := h.svc.ApproveDeferred(h.t.Context(), tx); err != nil {
						h.t.Fatal(err)
					}
					h.claims.fail = errOutage
					rec := h.poll(tx)
					wantError(h.t, rec, 503, oauth.CodeTemporarilyUnavailable)
					h.claims.fail = nil
					decodeCredentials(h.t, h.poll(tx))
					return h.poll(tx)
				}, status: 400, code: oauth.CodeInvalidTransactionID},
			} {
				t.Run(tc.name, func(t *testing.T) {
					h := newHarness(t, onBackend(t, be))
					tx := h.startDeferred()
					wantError(t, tc.run(h, tx), tc.status, tc.code)
				})
			}
			h := newHarness(t, onBackend(t, be))
			if err := h.svc.ApproveDeferred(t.Context(), "nope"); !errors.Is(err, ErrUnknownTransaction) {
				t.Fatalf("approve unknown: %v", err)
			}
		})
	}
}

// TestDeferredEncryptedPoll: the deferred request carries its own response
// encryption (VCI §9.1).
func TestDeferredEncryptedPoll(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			h := newHarness(t, withEncryption(false, false), onBackend(t, be))
			tx := h.startDeferred()
			if err := h.svc.ApproveDeferred(t.Context(), tx); err != nil {
				t.Fatal(err)
			}
			wk := newKey(t)
			body := h.encryptRequest(map[string]any{"transaction_id": tx,
				"credential_response_encryption": map[string]any{"jwk": walletEncJWK(t, wk, "ECDH-ES"), "enc": "A128GCM"}}, "req-enc-1", jose.A256GCM, false)
			rec := h.send(req{path: PathDeferred, contentType: "application/jwt", body: body})
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/jwt" {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			obj, err := jose.ParseEncryptedCompact(rec.Body.String(), []jose.KeyAlgorithm{jose.ECDH_ES}, []jose.ContentEncryption{jose.A128GCM})
			if err != nil {
				t.Fatal(err)
			}
			plain, err := obj.Decrypt(wk)
			if err != nil {
				t.Fatal(err)
			}
			var b credentialResponseBody
			if err := json.Unmarshal(plain, &b); err != nil || len(credsOf(t, b)) != 1 {
				t.Fatalf("%s", plain)
			}
		})
	}
}

func TestNotification(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			h := newHarness(t, onBackend(t, be))
			b, _ := decodeCredentials(t, h.credential(map[string]any{"credential_configuration_id": "mdl",
				"proofs": map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{})}}}))
			nid := b.NotificationID
			forged, _ := newNotificationID(1)
			// recount rewrites the credential count of a notification_id.
			recount := func(nid string, n byte) string {
				raw, err := base64.RawURLEncoding.DecodeString(nid)
				if err != nil || len(raw) != notificationSeedLen+1 {
					t.Fatalf("notification_id %q is not seed || count", nid)
				}
				raw[notificationSeedLen] = n
				return base64.RawURLEncoding.EncodeToString(raw)
			}
			notify := func(v any) *httptest.ResponseRecorder {
				return h.send(req{path: PathNotification, body: mustJSON(t, v)})
			}
			// T85: 204, idempotent.
			for range 2 {
				if rec := notify(map[string]any{"notification_id": nid, "event": "credential_accepted", "x-extra": 1}); rec.Code != 204 {
					t.Fatalf("T85: %d %s", rec.Code, rec.Body)
				}
			}
			ev := h.events.byType(EventNotification)
			if len(ev) != 1 || ev[0].NotificationEvent != NotificationAccepted {
				t.Fatalf("events %+v", ev)
			}
			r, err := h.svc.IssuedRecord(t.Context(), ev[0].RecordIDs[0])
			if err != nil || r.NotificationStatus != NotificationAccepted || r.NotificationAt == 0 {
				t.Fatalf("record %+v %v", r, err)
			}
			if rec := notify(map[string]any{"notification_id": nid, "event": "credential_deleted", "event_description": "user removed it"}); rec.Code != 204 {
				t.Fatalf("deleted: %d", rec.Code)
			}
			if r, _ := h.svc.IssuedRecord(t.Context(), ev[0].RecordIDs[0]); r.NotificationStatus != NotificationDeleted {
				t.Fatal("record status not updated")
			}

			other := newKey(t)
			otherTok := h.issueToken(other, &oauth.Grant{ClientID: "another-client", Subject: "alice", CredentialConfigurationIDs: []string{"mdl"}})
			for _, tc := range []struct {
				name   string
				r      req
				status int
				code   string
			}{
				{"T86 unknown id", req{path: PathNotification, body: mustJSON(t, map[string]any{"notification_id": "nope", "event": "credential_accepted"})}, 400, oauth.CodeInvalidNotificationID},
				{"T86 event foo", req{path: PathNotification, body: mustJSON(t, map[string]any{"notification_id": nid, "event": "foo"})}, 400, oauth.CodeInvalidNotificationRequest},
				{"event case differs", req{path: PathNotification, body: mustJSON(t, map[string]any{"notification_id": nid, "event": "CREDENTIAL_ACCEPTED"})}, 400, oauth.CodeInvalidNotificationRequest},
				{"T86 no token", req{path: PathNotification, noAuth: true, body: mustJSON(t, map[string]any{"notification_id": nid, "event": "credential_accepted"})}, 401, oauth.CodeInvalidToken},
				{"no event", req{path: PathNotification, body: mustJSON(t, map[string]any{"notification_id": nid})}, 400, oauth.CodeInvalidNotificationRequest},
				{"no notification_id", req{path: PathNotification, body: mustJSON(t, map[string]any{"event": "credential_failure"})}, 400, oauth.CodeInvalidNotificationRequest},
				{"bad event_description", req{path: PathNotification, body: mustJSON(t, map[string]any{"notification_id": nid, "event": "credential_failure", "event_description": "quote\""})}, 400, oauth.CodeInvalidNotificationRequest},
				{"malformed JSON", req{path: PathNotification, body: []byte(`{"notification_id":`)}, 400, oauth.CodeInvalidNotificationRequest},
				{"wrong content type", req{path: PathNotification, contentType: "text/plain", body: mustJSON(t, map[string]any{"notification_id": nid, "event": "credential_accepted"})}, 400, oauth.CodeInvalidNotificationRequest},
				{"another client's id", req{path: PathNotification, token: otherTok, dpopKey: other, body: mustJSON(t, map[string]any{"notification_id": nid, "event": "credential_failure"})}, 400, oauth.CodeInvalidNotificationID},
				{"forged id of the right shape", req{path: PathNotification, body: mustJSON(t, map[string]any{"notification_id": forged, "event": "credential_accepted"})}, 400, oauth.CodeInvalidNotificationID},
				{"id with a larger count", req{path: PathNotification, body: mustJSON(t, map[string]any{"notification_id": recount(nid, 2), "event": "credential_failure"})}, 400, oauth.CodeInvalidNotificationID},
				{"id with a zero count", req{path: PathNotification, body: mustJSON(t, map[string]any{"notification_id": recount(nid, 0), "event": "credential_failure"})}, 400, oauth.CodeInvalidNotificationID},
			} {
				t.Run(tc.name, func(t *testing.T) {
					wantError(t, h.send(tc.r), tc.status, tc.code)
				})
			}
			// Accepted for NotificationTTL after issuance, then unknown.
			h.clock.Advance(defaultNotificationTTL + time.Second)
			wantError(t, h.send(req{path: PathNotification, body: mustJSON(t, map[string]any{"notification_id": nid, "event": "credential_failure"})}), 400, oauth.CodeInvalidNotificationID)
		})
	}
}
