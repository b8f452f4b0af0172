package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mdoc-issuer/issuer/audit"
	"github.com/mdoc-issuer/issuer/authz"
	"github.com/mdoc-issuer/issuer/credential"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/offer"
)

// auditor writes the issuance audit log (package audit). Its fields are
// identifiers and metadata only: never claim values, tokens, codes, tx_codes
// or nonces. A nil *auditor records nothing.
type auditor struct {
	log      *audit.Log
	logger   interface{ Error(string, ...any) }
	failures prometheus.Counter
}

// openAudit opens audit.file (creating its directory 0700) when configured.
func (a *app) openAudit(context.Context) error {
	f := a.cfg.Audit.File
	if f == "" {
		if !a.cfg.Development {
			a.log.Warn("no audit log configured (audit.file): issuance is not recorded")
		}
		return nil
	}
	key, err := a.cfg.AuditKey()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return err
	}
	l, err := audit.Open(f, key, a.now)
	if err != nil {
		return err
	}
	fails := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "issuer_audit_write_failures_total",
		Help: "Audit records that could not be written (the event happened, its record is missing).",
	})
	a.registry.MustRegister(fails)
	a.audit = &auditor{log: l, logger: a.log, failures: fails}
	a.log.Info("audit log open", "file", f, "hmac", key != nil)
	return nil
}

func (au *auditor) close() {
	if au != nil {
		_ = au.log.Close()
	}
}

// record appends one event; a failure is logged and counted, not returned:
// the event (an issued credential) has already happened.
func (au *auditor) record(typ string, fields map[string]string) {
	if au == nil {
		return
	}
	for k, v := range fields {
		if v == "" {
			delete(fields, k)
		}
	}
	// Offer ids and transaction ids are bearer-like (an offer id leads to
	// its pre-authorized code): the log keeps a reference, not the value.
	for _, k := range []string{"offer_id", "transaction_id"} {
		if v, ok := fields[k]; ok {
			delete(fields, k)
			fields[strings.TrimSuffix(k, "_id")+"_ref"] = auditRef(v)
		}
	}
	if err := au.log.Append(audit.Event{Type: typ, Fields: fields}); err != nil {
		au.failures.Inc()
		au.logger.Error("audit record not written", "type", typ, "error", err.Error())
	}
}

// credentialEvent records the credential service's events: one record per
// issued credential (read back from its issued-credential record: DS serial,
// device key thumbprint), deferrals, deferred decisions and notifications.
func (a *app) auditCredentialEvent(ctx context.Context, e credential.Event) {
	au := a.audit
	if au == nil {
		return
	}
	base := func() map[string]string {
		return map[string]string{"configuration": e.ConfigurationID, "wallet_provider": e.WalletProvider}
	}
	switch e.Type {
	case credential.EventCredentialIssued:
		for _, id := range e.RecordIDs {
			f := base()
			f["record_id"] = id
			rec, err := a.proto.credential.IssuedRecord(ctx, id)
			if err != nil {
				f["record_error"] = "issued-credential record not readable"
			} else {
				f["doctype"] = rec.DocType
				f["ds_serial"] = rec.DSSerial
				f["device_key_jkt"] = rec.DeviceKeyJKT
				f["key_attestation_issuer"] = rec.KeyAttestationIssuer
				if rec.ValidUntil != 0 {
					f["valid_until"] = time.Unix(rec.ValidUntil, 0).UTC().Format(time.RFC3339)
				}
			}
			au.record(audit.CredentialIssued, f)
		}
	case credential.EventCredentialDeferred:
		f := base()
		f["transaction_id"] = e.TransactionID
		au.record(audit.CredentialDeferred, f)
	case credential.EventDeferredApproved, credential.EventDeferredRejected:
		f := base()
		f["decision"] = strings.TrimPrefix(e.Type, "deferred_")
		f["transaction_id"] = e.TransactionID
		au.record(audit.DeferredDecision, f)
	case credential.EventNotification:
		f := base()
		f["event"] = e.NotificationEvent
		f["record_ids"] = strings.Join(e.RecordIDs, ",")
		au.record(audit.Notification, f)
	}
}

// auditedOffers records offer redemptions seen by the token endpoint.
type auditedOffers struct {
	authz.OfferLink
	au *auditor
}

func (o auditedOffers) MarkRedeemed(ctx context.Context, offerID string) error {
	err := o.OfferLink.MarkRedeemed(ctx, offerID)
	if err == nil {
		o.au.record(audit.OfferRedeemed, map[string]string{"offer_id": offerID})
	}
	return err
}

func (a *app) auditOffers(l authz.OfferLink) authz.OfferLink {
	if a.audit == nil {
		return l
	}
	return auditedOffers{OfferLink: l, au: a.audit}
}

// capture records the status and (up to max bytes of) the body a handler
// writes, passing everything through. It keeps the error-recording
// interfaces of the writer it wraps, so access logs still see error codes.
type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	max    int
}

func (c *capture) WriteHeader(s int) {
	if c.status == 0 {
		c.status = s
	}
	c.ResponseWriter.WriteHeader(s)
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if room := c.max - c.body.Len(); room > 0 {
		c.body.Write(b[:min(room, len(b))])
	}
	return c.ResponseWriter.Write(b)
}

func (c *capture) RecordError(e *oauth.Error) {
	if r, ok := c.ResponseWriter.(oauth.ErrorRecorder); ok {
		r.RecordError(e)
	}
}

func (c *capture) RecordErrorCode(code string) {
	if r, ok := c.ResponseWriter.(oauth.ErrorCodeRecorder); ok {
		r.RecordErrorCode(code)
	}
}

func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// auditTokenIssued records each access token issued (authz hook): grant
// type, the verified client and wallet provider, the DPoP key thumbprint,
// the redeemed offer and the configurations.
func (a *app) auditTokenIssued() func(context.Context, authz.TokenIssued) {
	if a.audit == nil {
		return nil
	}
	return func(_ context.Context, t authz.TokenIssued) {
		a.audit.record(audit.TokenIssued, map[string]string{
			"grant_type":      t.GrantType,
			"client_id":       t.ClientID,
			"wallet_provider": t.WalletProvider,
			"dpop_jkt":        t.JKT,
			"offer_id":        t.OfferID,
			"configurations":  strings.Join(t.ConfigurationIDs, ","),
		})
	}
}

// auditAdmin records every admin API call that changes state (any method
// but GET/HEAD): method, route with identifiers replaced, status and the
// fingerprint of the bearer token used; plus offer.created and
// offer.cancelled records for successful offer calls. Request bodies (claims,
// subjects) and the tx_code of a created offer are never read into the log.
func (a *app) auditAdmin(next http.Handler) http.Handler {
	if a.audit == nil || next == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		c := &capture{ResponseWriter: w, max: 1 << 20}
		next.ServeHTTP(c, r)
		status := c.status
		if status == 0 {
			status = http.StatusOK
		}
		route, ids := adminRoute(r.URL.Path)
		f := map[string]string{"method": r.Method, "route": route, "status": strconv.Itoa(status), "admin_token": tokenFingerprint(r)}
		for k, v := range ids {
			f[k] = v
		}
		a.audit.record(audit.AdminAction, f)
		if status >= 300 {
			return
		}
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(route, offer.AdminPrefix+"/offers"):
			var created struct {
				ID              string `json:"id"`
				CredentialOffer struct {
					ConfigurationIDs []string `json:"credential_configuration_ids"`
					Grants           map[string]struct {
						TxCode json.RawMessage `json:"tx_code"`
					} `json:"grants"`
				} `json:"credential_offer"`
				ExpiresAt time.Time `json:"expires_at"`
			}
			if json.Unmarshal(c.body.Bytes(), &created) != nil {
				return
			}
			var grants []string
			txCode := false
			for g, v := range created.CredentialOffer.Grants {
				grants = append(grants, g)
				txCode = txCode || len(v.TxCode) > 0
			}
			slices.Sort(grants)
			a.audit.record(audit.OfferCreated, map[string]string{
				"offer_id":         created.ID,
				"configurations":   strings.Join(created.CredentialOffer.ConfigurationIDs, ","),
				"grants":           strings.Join(grants, ","),
				"tx_code_required": strconv.FormatBool(txCode),
				"expires_at":       created.ExpiresAt.UTC().Format(time.RFC3339),
			})
		case r.Method == http.MethodDelete && ids["offer_id"] != "":
			a.audit.record(audit.OfferCancelled, map[string]string{"offer_id": ids["offer_id"]})
		}
	})
}

// adminRoute turns an admin path into its route template, returning the
// identifiers it held: /admin/v1/offers/abc -> /admin/v1/offers/{id}.
func adminRoute(path string) (string, map[string]string) {
	segs := strings.Split(path, "/")
	ids := map[string]string{}
	for i := 1; i < len(segs); i++ {
		switch segs[i-1] {
		case "offers":
			if len(segs[i]) <= 128 {
				ids["offer_id"] = segs[i]
			}
			segs[i] = "{id}"
		case "deferred":
			if len(segs[i]) <= 128 {
				ids["transaction_id"] = segs[i]
			}
			segs[i] = "{transaction_id}"
		}
	}
	route := strings.Join(segs, "/")
	if len(route) > 256 {
		route = route[:256]
	}
	return route, ids
}

// auditRef is the reference the audit log keeps for a bearer-like
// identifier: the first 16 hex digits of its SHA-256. An operator holding the
// identifier finds its records by computing the same.
func auditRef(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:8])
}

// tokenFingerprint names the admin bearer token used (first 12 hex digits
// of its SHA-256), so actions can be told apart by operator without the
// token itself entering the log.
func tokenFingerprint(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:6])
}
