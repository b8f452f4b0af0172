package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/audit"
	"github.com/mdoc-issuer/issuer/config"
	"github.com/mdoc-issuer/issuer/e2e/wallet"
	"github.com/mdoc-issuer/issuer/pki"
)

// Claim values no log line may contain: they are unique strings, so a hit
// can only come from the claims.
var offerClaims = map[string]any{
	"family_name":            "Qzxfamilyvalue",
	"given_name":             "Qzxgivenvalue",
	"birth_date":             "1977-07-13",
	"issue_date":             "2026-02-03",
	"expiry_date":            "2036-02-02",
	"issuing_country":        "UT",
	"issuing_authority":      "Qzx Licensing Office",
	"document_number":        "QZX-99127-DOC",
	"portrait":               "/9j/4AAQSkZJRgABAQ==",
	"driving_privileges":     []map[string]string{{"vehicle_category_code": "B"}},
	"un_distinguishing_sign": "UT",
}

// devDatasetValues are values of the development dataset (subject
// dev-subject-1) issued by the authorization code flow.
var devDatasetValues = []string{"Mustermann", "Erika", "DL-0000001", "1984-01-26", "Development Licensing Authority"}

type adminClient struct {
	t     *testing.T
	base  string
	token string
}

func (a adminClient) do(method, path string, body any) (int, []byte) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

type createdOffer struct {
	ID       string `json:"id"`
	OfferURI string `json:"offer_uri"`
	TxCode   string `json:"tx_code"`
}

func (a adminClient) createOffer(claims map[string]any) createdOffer {
	a.t.Helper()
	body := map[string]any{
		"credential_configuration_ids": []string{"org.iso.18013.5.1.mDL"},
		"grant":                        "pre-authorized_code",
		"tx_code":                      map[string]any{"length": 6, "input_mode": "numeric"},
	}
	if claims != nil {
		body["claims"] = map[string]any{"org.iso.18013.5.1": claims}
	} else {
		body["subject"] = "dev-subject-1"
	}
	status, b := a.do(http.MethodPost, "/admin/v1/offers", body)
	var c createdOffer
	if status != http.StatusCreated || json.Unmarshal(b, &c) != nil || c.TxCode == "" {
		a.t.Fatalf("create offer: %d %s", status, b)
	}
	return c
}

// TestHardeningAuditAndNoPersonalData issues credentials with known claim
// values through both flows on a real issuer process logging at debug level,
// then checks that no claim value, tx_code, code or token reached its output
// or the audit log; that the audit log holds the expected chained records
// and verifies with `issuer audit verify`, which finds an edited record; and
// that the tx_code attempt limit holds per offer.
func TestHardeningAuditAndNoPersonalData(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "audit", "audit.log")
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("A", 32)))
	admin := strings.Repeat("s", 40)
	p := startIssuerProcess(t, "", map[string]string{
		config.EnvLogLevel: "debug", config.EnvAuditFile: logFile, config.EnvAuditKey: key, config.EnvAdminTokens: admin,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ac := adminClient{t: t, base: p.base, token: admin}
	var secrets []string // values that must appear in no log

	// Pre-authorized flow with claims attached to the offer.
	off := ac.createOffer(offerClaims)
	secrets = append(secrets, off.TxCode)
	w := p.wallet(t, ctx, nil)
	o, err := w.ResolveOffer(ctx, off.OfferURI)
	if err != nil {
		t.Fatal(err)
	}
	code, _, _ := o.PreAuthorizedCode()
	secrets = append(secrets, code)
	tok, err := w.PreAuthorized(ctx, o, off.TxCode)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, tok.AccessToken)
	cr, err := w.Credential(ctx, tok, wallet.CredentialRequest{ConfigurationID: "org.iso.18013.5.1.mDL"})
	if err != nil || len(cr.Credentials) != 1 {
		t.Fatalf("credential: %v", err)
	}
	if !bytes.Contains(cr.Credentials[0], []byte(offerClaims["family_name"].(string))) {
		t.Fatal("the credential does not carry the offer's claims: the log check would prove nothing")
	}
	if err := w.Notify(ctx, tok, cr.NotificationID, "credential_accepted"); err != nil {
		t.Fatal(err)
	}
	jkt := wallet.Thumbprint(&cr.Keys[0].PublicKey)

	// Authorization code flow with the development dataset.
	w2 := p.wallet(t, ctx, nil)
	tok2, err := w2.AuthorizationCode(ctx, wallet.AuthorizeOptions{Scope: "org.iso.18013.5.1.mDL"})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, tok2.AccessToken)
	if _, err := w2.Credential(ctx, tok2, wallet.CredentialRequest{ConfigurationID: "org.iso.18013.5.1.mDL"}); err != nil {
		t.Fatal(err)
	}

	// tx_code attempts are limited per offer (authz, tx_code_max_attempts
	// = 5): after five wrong codes even the right one is refused.
	t.Run("tx_code attempt limit", func(t *testing.T) {
		off2 := ac.createOffer(nil)
		secrets = append(secrets, off2.TxCode)
		w3 := p.wallet(t, ctx, nil)
		o2, err := w3.ResolveOffer(ctx, off2.OfferURI)
		if err != nil {
			t.Fatal(err)
		}
		wrong := "000000"
		if wrong == off2.TxCode {
			wrong = "111111"
		}
		for i := 0; i < config.DefaultTxCodeMaxAttempts; i++ {
			if _, err := w3.PreAuthorized(ctx, o2, wrong); err == nil {
				t.Fatal("wrong tx_code accepted")
			}
		}
		if _, err := w3.PreAuthorized(ctx, o2, off2.TxCode); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("right tx_code after the limit: %v", err)
		}
	})

	off3 := ac.createOffer(offerClaims)
	secrets = append(secrets, off3.TxCode)
	if status, b := ac.do(http.MethodDelete, "/admin/v1/offers/"+off3.ID, nil); status >= 300 {
		t.Fatalf("cancel: %d %s", status, b)
	}

	if code := p.stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	logs := p.logs.String()
	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, `"route":"credential"`) || !strings.Contains(logs, `"route":"token"`) {
		t.Fatalf("the process output holds no access log of the issuance: the check would prove nothing\n%s", logs)
	}
	var personal []string
	for k, v := range offerClaims {
		if s, ok := v.(string); ok && k != "issuing_country" && k != "un_distinguishing_sign" {
			personal = append(personal, s)
		}
	}
	personal = append(personal, devDatasetValues...)
	for _, v := range append(personal, secrets...) {
		if strings.Contains(logs, v) {
			t.Errorf("%q appears in the log output", v)
		}
		if strings.Contains(string(raw), v) {
			t.Errorf("%q appears in the audit log", v)
		}
	}

	// The records.
	var recs []audit.Record
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	find := func(typ string, match func(map[string]string) bool) map[string]string {
		for _, r := range recs {
			if r.Type == typ && (match == nil || match(r.Fields)) {
				return r.Fields
			}
		}
		t.Errorf("no %s record in\n%s", typ, raw)
		return map[string]string{}
	}
	bundle, err := pki.Load(filepath.Join(p.dataDir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	ds := strings.ToLower(bundle.DS.SerialNumber.Text(16))
	issued := find(audit.CredentialIssued, func(f map[string]string) bool { return f["device_key_jkt"] == jkt })
	if issued["ds_serial"] != ds || issued["configuration"] != "org.iso.18013.5.1.mDL" ||
		issued["wallet_provider"] != devWalletName || issued["record_id"] == "" || issued["doctype"] != "org.iso.18013.5.1.mDL" {
		t.Errorf("credential.issued record %v (DS serial %s)", issued, ds)
	}
	created := find(audit.OfferCreated, func(f map[string]string) bool { return f["offer_ref"] == auditRef(off.ID) })
	if created["tx_code_required"] != "true" || created["configurations"] != "org.iso.18013.5.1.mDL" ||
		!strings.Contains(created["grants"], "pre-authorized_code") {
		t.Errorf("offer.created record %v", created)
	}
	find(audit.OfferRedeemed, func(f map[string]string) bool { return f["offer_ref"] == auditRef(off.ID) })
	find(audit.OfferCancelled, func(f map[string]string) bool { return f["offer_ref"] == auditRef(off3.ID) })
	tokens := 0
	for _, r := range recs {
		if r.Type == audit.TokenIssued {
			tokens++
		}
	}
	if tokens != 2 {
		t.Errorf("%d token.issued records, want 2", tokens)
	}
	find(audit.TokenIssued, func(f map[string]string) bool {
		return f["grant_type"] == "urn:ietf:params:oauth:grant-type:pre-authorized_code"
	})
	find(audit.TokenIssued, func(f map[string]string) bool {
		return f["grant_type"] == "authorization_code" && f["client_id"] != "" && f["dpop_jkt"] != "" && f["wallet_provider"] != ""
	})
	find(audit.Notification, func(f map[string]string) bool {
		return f["event"] == "credential_accepted" && f["record_ids"] == issued["record_id"]
	})
	find(audit.AdminAction, func(f map[string]string) bool {
		return f["method"] == "DELETE" && f["route"] == "/admin/v1/offers/{id}" && f["offer_ref"] == auditRef(off3.ID) &&
			f["status"] == "200" && len(f["admin_token"]) == 12
	})

	// issuer audit verify: intact, then with one record edited.
	t.Setenv("HARDENING_AUDIT_KEY", key)
	var out bytes.Buffer
	if code := run(ctx, []string{"audit", "verify", "--key-env", "HARDENING_AUDIT_KEY", logFile}, &out, &out); code != 0 ||
		!strings.Contains(out.String(), "ok,") {
		t.Fatalf("verify of the intact log: exit %d\n%s", code, out.String())
	}
	tampered := filepath.Join(dir, "tampered.log")
	edited := bytes.Replace(raw, []byte(`"tx_code_required":"true"`), []byte(`"tx_code_required":"false"`), 1)
	if bytes.Equal(edited, raw) {
		t.Fatal("nothing to tamper with")
	}
	if err := os.WriteFile(tampered, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run(ctx, []string{"audit", "verify", "--key-env", "HARDENING_AUDIT_KEY", tampered}, &out, &out); code != 1 ||
		!strings.Contains(out.String(), "BROKEN at line") {
		t.Fatalf("verify of an edited log: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run(ctx, []string{"audit", "verify", "--key-env", "", logFile}, &out, &out); code != 1 {
		t.Fatalf("verify without the HMAC key passed: %s", out.String())
	}
}

func TestHardeningAdminRouteTemplate(t *testing.T) {
	for _, tc := range []struct {
		path, route string
		ids         map[string]string
	}{
		{"/admin/v1/offers", "/admin/v1/offers", nil},
		{"/t/admin/v1/offers/abc", "/t/admin/v1/offers/{id}", map[string]string{"offer_id": "abc"}},
		{"/admin/v1/deferred/tx1/approve", "/admin/v1/deferred/{transaction_id}/approve", map[string]string{"transaction_id": "tx1"}},
		{"/admin/v1/offers/" + strings.Repeat("x", 200), "/admin/v1/offers/{id}", nil},
	} {
		t.Run(tc.path[:min(len(tc.path), 40)], func(t *testing.T) {
			route, ids := adminRoute(tc.path)
			if route != tc.route || len(ids) != len(tc.ids) {
				t.Fatalf("got %q %v", route, ids)
			}
			for k, v := range tc.ids {
				if ids[k] != v {
					t.Fatalf("got %v", ids)
				}
			}
		})
	}
}
