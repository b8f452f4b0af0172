package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/e2e/wallet"
	"github.com/mdoc-issuer/issuer/mdoc"
)

// TestFlows runs every wallet flow against one issuer process per store
// backend (memory; redis when ISSUER_TEST_REDIS_URL is set).
func TestFlows(t *testing.T) {
	skipProcessTests(t)
	for _, backend := range backends(t) {
		t.Run(backend, func(t *testing.T) {
			d := newDeployment(t, deploymentOptions{Backend: backend})
			d.start(t, 0)
			for _, s := range flowScenarios {
				t.Run(s.name, func(t *testing.T) {
					s.run(t, &flowEnv{d: d, client: d.httpClient(nil)})
				})
			}
		})
	}
}

// flowEnv is what a scenario runs against: a deployment and the HTTP client
// to reach it (direct, or through a rotating load balancer).
type flowEnv struct {
	d      *deployment
	client *http.Client
}

func (e *flowEnv) wallet(t *testing.T, intercept func(string, *http.Request)) *wallet.Wallet {
	return e.d.newWallet(t, e.client, intercept)
}

var flowScenarios = []struct {
	name string
	run  func(t *testing.T, e *flowEnv)
}{
	{"authorization_code_scope", testScopeFlow},
	{"authorization_details_identifier", testAuthorizationDetailsFlow},
	{"pre_authorized_offer_claims_tx_code", testPreAuthorizedFlow},
	{"batch_of_three", testBatchFlow},
	{"key_attestation_required", testKeyAttestationFlow},
	{"encryption", testEncryptionFlow},
	{"deferred", testDeferredFlow},
	{"authorization_code_offer_issuer_state", testIssuerStateOffer},
	{"offer_cancelled_and_tx_code_attempts", testOfferCancelledAndTxCodeAttempts},
	{"untrusted_client_and_redirect_uri", testUntrustedClient},
	{"admin_auth_and_offer_expiry", testAdminAndOfferExpiry},
	{"refresh_token_dpop_bound", testRefreshFlow},
	{"code_replay_revokes", testCodeReplay},
	{"concurrent_redemption_exactly_once", testConcurrentRedemption},
	{"dpop_proof_replay", testDPoPReplay},
	{"attestation_pop_replay", testAttestationPoPReplay},
}

var bg = context.Background()

// protocolError requires err to be a protocol error with the code.
func requireProtocolError(t *testing.T, err error, code string) *wallet.ProtocolError {
	t.Helper()
	var pe *wallet.ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("want error %s, got %v", code, err)
	}
	if pe.Code != code {
		t.Fatalf("want error %s, got %v", code, pe)
	}
	return pe
}

// verifyIssued checks each credential with mdoc.Verify against the IACA and
// the doctype and requires the device keys to be exactly the keys proven,
// one credential per key (any order: OpenID4VCI §8.3 does not tie the order
// of credentials to the order of proofs).
func verifyIssued(t *testing.T, e *flowEnv, res *wallet.CredentialResponse, keys []*ecdsa.PrivateKey) []*mdoc.Verified {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("credential response status %d, want 200", res.Status)
	}
	if len(res.Credentials) != len(keys) {
		t.Fatalf("got %d credentials for %d keys", len(res.Credentials), len(keys))
	}
	want := map[string]bool{}
	for _, k := range keys {
		want[wallet.Thumbprint(&k.PublicKey)] = true
	}
	seen := map[string]bool{}
	var out []*mdoc.Verified
	for i, c := range res.Credentials {
		v, err := mdoc.Verify(c, mdoc.VerifyOptions{Roots: e.d.IACA, DocType: docTypeMDL})
		if err != nil {
			t.Fatalf("credential %d does not verify: %v", i, err)
		}
		pub, ok := v.DeviceKey.Key.(*ecdsa.PublicKey)
		if !ok {
			t.Fatalf("credential %d: device key is %T, want a P-256 key", i, v.DeviceKey.Key)
		}
		tp := wallet.Thumbprint(pub)
		if !want[tp] {
			t.Fatalf("credential %d is bound to a key the wallet did not prove", i)
		}
		if seen[tp] {
			t.Fatalf("credential %d is bound to the same key as an earlier one", i)
		}
		seen[tp] = true
		out = append(out, v)
	}
	return out
}

// requireElements compares issued element values with the given ones
// (JSON-normalised: full-dates as strings, bytes as standard base64).
func requireElements(t *testing.T, v *mdoc.Verified, ns string, want map[string]any) {
	t.Helper()
	got := v.Elements[ns]
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("element %s/%s missing", ns, name)
			continue
		}
		gj, err := json.Marshal(normalizeElement(g))
		if err != nil {
			t.Fatal(err)
		}
		wj, _ := json.Marshal(w)
		var gv, wv any
		_ = json.Unmarshal(gj, &gv)
		_ = json.Unmarshal(wj, &wv)
		if !reflect.DeepEqual(gv, wv) {
			t.Errorf("element %s/%s = %s, want %s", ns, name, gj, wj)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("element %s/%s was issued but not given", ns, name)
		}
	}
}

func normalizeElement(v any) any {
	switch x := v.(type) {
	case mdoc.FullDate:
		return string(x)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case map[any]any:
		m := map[string]any{}
		for k, vv := range x {
			m[fmt.Sprint(k)] = normalizeElement(vv)
		}
		return m
	case map[string]any:
		m := map[string]any{}
		for k, vv := range x {
			m[k] = normalizeElement(vv)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, vv := range x {
			out[i] = normalizeElement(vv)
		}
		return out
	}
	return v
}

func newKeys(n int) []*ecdsa.PrivateKey {
	ks := make([]*ecdsa.PrivateKey, n)
	for i := range ks {
		ks[i] = wallet.NewKey()
	}
	return ks
}

// lastStatus is the HTTP status of the wallet's last exchange of a step.
func lastStatus(w *wallet.Wallet, step string) int {
	ex := w.Exchanges()
	for i := len(ex) - 1; i >= 0; i-- {
		if ex[i].Step == step {
			return ex[i].Status
		}
	}
	return 0
}

// testScopeFlow: authorization code flow with scope (HAIP §4.3), one
// credential with the End-User's dataset claims, notification -> 204.
func testScopeFlow(t *testing.T, e *flowEnv) {
	w := e.wallet(t, nil)
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeys(1)
	res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	vs := verifyIssued(t, e, res, keys)
	requireElements(t, vs[0], nsMDL, datasetClaims())
	if res.NotificationID == "" {
		t.Fatal("no notification_id (the issuer advertises a notification endpoint)")
	}
	if err := w.Notify(bg, tok, res.NotificationID, "credential_accepted"); err != nil {
		t.Fatal(err)
	}
	if s := lastStatus(w, "notification"); s != http.StatusNoContent {
		t.Fatalf("notification answered %d, want 204 (OpenID4VCI §11.2)", s)
	}
	err = w.Notify(bg, tok, "not-"+res.NotificationID, "credential_accepted")
	requireProtocolError(t, err, "invalid_notification_id")
	err = w.Notify(bg, tok, res.NotificationID, "credential_revoked")
	requireProtocolError(t, err, "invalid_notification_request")
	// A configuration the token does not cover is an authorization error
	// (OpenID4VCI §8.3.1.1, RFC 6750 §3.1).
	_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confDeferred})
	if pe := requireProtocolError(t, err, "insufficient_scope"); pe.Status != http.StatusForbidden {
		t.Fatalf("configuration outside the token: HTTP %d, want 403", pe.Status)
	}
}

// testAuthorizationDetailsFlow: with authorization_details the token
// response lists credential_identifiers, which must then be used
// (OpenID4VCI §6.2, §8.2).
func testAuthorizationDetailsFlow(t *testing.T, e *flowEnv) {
	w := e.wallet(t, nil)
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{ConfigurationIDs: []string{confMDL}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ad := range tok.AuthorizationDetails {
		if ad.Type != "openid_credential" || ad.CredentialConfigurationID != confMDL {
			t.Fatalf("unexpected authorization detail %+v", ad)
		}
		ids = append(ids, ad.CredentialIdentifiers...)
	}
	if len(ids) == 0 {
		t.Fatal("token response has no credential_identifiers for the requested authorization_details")
	}
	_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL})
	requireProtocolError(t, err, "invalid_credential_request")
	_, err = w.Credential(bg, tok, wallet.CredentialRequest{Identifier: "not-" + ids[0]})
	requireProtocolError(t, err, "unknown_credential_identifier")
	keys := newKeys(1)
	res, err := w.Credential(bg, tok, wallet.CredentialRequest{Identifier: ids[0], Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, e, res, keys)
}

// offerClaims are the claims an operator attaches to a pre-authorized offer.
func offerClaims() map[string]any {
	return map[string]any{
		"family_name": "Offer-Holder", "given_name": "Ada", "birth_date": "1999-12-31",
		"issue_date": "2026-01-02", "expiry_date": "2031-01-01", "issuing_country": "UT",
		"issuing_authority": "E2E Offer Desk", "document_number": "OFR-42",
		"portrait":               "/9j/4AAQSkZJRgABAQD/2Q==",
		"un_distinguishing_sign": "UT", "age_over_18": true,
		"driving_privileges": []any{map[string]any{"vehicle_category_code": "A", "issue_date": "2020-02-02", "expiry_date": "2030-02-02"}},
	}
}

// createOffer makes a pre-authorized offer through the admin API and
// returns its offer URI and tx_code.
func createOffer(t *testing.T, e *flowEnv, req map[string]any) (offerURI, txCode string) {
	t.Helper()
	var created struct {
		OfferURI string `json:"offer_uri"`
		TxCode   string `json:"tx_code"`
	}
	if s := e.d.admin(t, e.client, http.MethodPost, "/offers", req, &created); s != http.StatusCreated {
		t.Fatalf("create offer: HTTP %d, want 201", s)
	}
	if created.OfferURI == "" {
		t.Fatal("create offer: no offer_uri")
	}
	return created.OfferURI, created.TxCode
}

// testPreAuthorizedFlow: offer with claims and tx_code from the admin API;
// a wrong tx_code is invalid_grant (OpenID4VCI §6.3), the right one
// succeeds, and the credential carries exactly the offer's claims.
func testPreAuthorizedFlow(t *testing.T, e *flowEnv) {
	claims := offerClaims()
	offerURI, txCode := createOffer(t, e, map[string]any{
		"credential_configuration_ids": []string{confMDL},
		"grant":                        "pre-authorized_code",
		"tx_code":                      map[string]any{"input_mode": "numeric", "length": 6},
		"claims":                       map[string]any{confMDL: map[string]any{nsMDL: claims}},
	})
	if len(txCode) != 6 || strings.Trim(txCode, "0123456789") != "" {
		t.Fatalf("tx_code %q is not 6 digits", txCode)
	}
	w := e.wallet(t, nil)
	o, err := w.ResolveOffer(bg, offerURI)
	if err != nil {
		t.Fatal(err)
	}
	if _, tc, ok := o.PreAuthorizedCode(); !ok || tc == nil || tc.Length != 6 || tc.InputMode != "numeric" {
		t.Fatalf("offer grant lacks the tx_code description: %+v", o.Grants)
	}
	wrong := "000000"
	if txCode == wrong {
		wrong = "111111"
	}
	_, err = w.PreAuthorized(bg, o, wrong)
	requireProtocolError(t, err, "invalid_grant")
	tok, err := w.PreAuthorized(bg, o, txCode)
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeys(1)
	req := wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys}
	for _, ad := range tok.AuthorizationDetails {
		if ad.CredentialConfigurationID == confMDL && len(ad.CredentialIdentifiers) > 0 {
			req = wallet.CredentialRequest{Identifier: ad.CredentialIdentifiers[0], Keys: keys}
		}
	}
	res, err := w.Credential(bg, tok, req)
	if err != nil {
		t.Fatal(err)
	}
	vs := verifyIssued(t, e, res, keys)
	requireElements(t, vs[0], nsMDL, claims)
	// The code is single use.
	_, err = w.PreAuthorized(bg, o, txCode)
	requireProtocolError(t, err, "invalid_grant")
}

// testBatchFlow: three proofs -> three credentials, each bound to its proof
// key, all keys distinct (OpenID4VCI §8.2 proofs, batch_size 3).
func testBatchFlow(t *testing.T, e *flowEnv) {
	w := e.wallet(t, nil)
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeys(3)
	res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, e, res, keys)
	// More proofs than batch_size are refused (OpenID4VCI §8.2).
	_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: newKeys(4)})
	requireProtocolError(t, err, "invalid_credential_request")
}

// testKeyAttestationFlow: a configuration with key_attestations_required
// refuses plain jwt proofs and accepts a jwt proof with key_attestation
// (OpenID4VCI F.1) and the attestation proof type (F.3), binding every
// attested key.
func testKeyAttestationFlow(t *testing.T, e *flowEnv) {
	w := e.wallet(t, nil)
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confKA})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confKA})
	requireProtocolError(t, err, "invalid_proof")

	keys := newKeys(2)
	res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confKA, Keys: keys, AttestKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, e, res, keys)

	keys = newKeys(3)
	res, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confKA, Keys: keys, AttestationProof: true})
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, e, res, keys)

	// A trusted attester asserting a key storage level the configuration
	// does not accept (OpenID4VCI D.2) is refused.
	weak := e.d.newWalletWith(t, e.client, nil, e.d.keyAttesterAsserting("iso_18045_basic"))
	tok, err = weak.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confKA})
	if err != nil {
		t.Fatal(err)
	}
	for _, proof := range []wallet.CredentialRequest{
		{ConfigurationID: confKA, AttestKeys: true},
		{ConfigurationID: confKA, AttestationProof: true},
	} {
		_, err = weak.Credential(bg, tok, proof)
		requireProtocolError(t, err, "invalid_proof")
	}
}

// testEncryptionFlow: an encrypted request with an encrypted response, and
// an encrypted request with a plain response (OpenID4VCI §10).
func testEncryptionFlow(t *testing.T, e *flowEnv) {
	w := e.wallet(t, nil)
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeys(2)
	res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys, EncryptResponse: true, EncryptRequest: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Encrypted {
		t.Fatal("response was not encrypted")
	}
	verifyIssued(t, e, res, keys)

	keys = newKeys(1)
	res, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys, EncryptRequest: true})
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, e, res, keys)
}

// testDeferredFlow: 202 + transaction_id; poll -> 202; approve via the
// admin API; poll -> 200 once; again -> invalid_transaction_id (OpenID4VCI
// §9).
func testDeferredFlow(t *testing.T, e *flowEnv) {
	w := e.wallet(t, nil)
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confDeferred})
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeys(1)
	res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confDeferred, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusAccepted || res.TransactionID == "" {
		t.Fatalf("credential response %d with transaction_id %t, want 202 with one", res.Status, res.TransactionID != "")
	}
	poll, err := w.Deferred(bg, tok, res.TransactionID)
	if err != nil {
		t.Fatal(err)
	}
	if poll.Status != http.StatusAccepted {
		t.Fatalf("poll before approval: %d, want 202", poll.Status)
	}
	poll, err = w.DeferredWith(bg, tok, res.TransactionID, wallet.DeferredOptions{EncryptResponse: true})
	if err != nil {
		t.Fatal(err)
	}
	if poll.Status != http.StatusAccepted || !poll.Encrypted {
		t.Fatalf("encrypted poll before approval: %d encrypted %t, want an encrypted 202", poll.Status, poll.Encrypted)
	}
	_, err = w.Deferred(bg, tok, "not-"+res.TransactionID)
	requireProtocolError(t, err, "invalid_transaction_id")
	if s := e.d.admin(t, e.client, http.MethodPost, "/deferred/"+url.PathEscape(res.TransactionID)+"/approve", nil, nil); s/100 != 2 {
		t.Fatalf("approve: HTTP %d", s)
	}
	done, err := w.DeferredWith(bg, tok, res.TransactionID, wallet.DeferredOptions{EncryptResponse: true})
	if err != nil {
		t.Fatal(err)
	}
	if !done.Encrypted {
		t.Fatal("deferred credential response was not encrypted although requested (OpenID4VCI §9.2)")
	}
	vs := verifyIssued(t, e, done, keys)
	requireElements(t, vs[0], nsMDL, datasetClaims())
	_, err = w.Deferred(bg, tok, res.TransactionID)
	requireProtocolError(t, err, "invalid_transaction_id")

	// Polling at the wallet's pace until a back office approves.
	res, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confDeferred, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	approved := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		s, b, err := e.d.adminRaw(e.client, http.MethodPost, "/deferred/"+url.PathEscape(res.TransactionID)+"/approve", nil)
		if err == nil && s/100 != 2 {
			err = fmt.Errorf("HTTP %d %s", s, b)
		}
		approved <- err
	}()
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	done, err = w.PollDeferred(ctx, tok, res.TransactionID, wallet.DeferredOptions{}, 100*time.Millisecond)
	if aerr := <-approved; aerr != nil {
		t.Fatalf("approve: %v", aerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, e, done, keys)
	if polls := w.Exchanges(); len(polls) < 2 || polls[len(polls)-2].Status != http.StatusAccepted {
		t.Fatal("PollDeferred did not poll a pending transaction before it was approved")
	}

	// A rejected transaction is credential_request_denied (OpenID4VCI §9.3).
	res, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confDeferred})
	if err != nil {
		t.Fatal(err)
	}
	if s := e.d.admin(t, e.client, http.MethodPost, "/deferred/"+url.PathEscape(res.TransactionID)+"/reject", nil, nil); s/100 != 2 {
		t.Fatalf("reject: HTTP %d", s)
	}
	_, err = w.Deferred(bg, tok, res.TransactionID)
	requireProtocolError(t, err, "credential_request_denied")
}

// testConcurrentRedemption: the same authorization code, and the same
// pre-authorized code, redeemed by two wallets at once. One-time artifacts
// are consumed atomically: at most one redemption succeeds and the other is
// invalid_grant. (That the winner's token is then revoked, RFC 6749 §4.1.2,
// is TestConcurrentDoubleRedemptionRevokes.)
func testConcurrentRedemption(t *testing.T, e *flowEnv) {
	concurrentRedemptions(t, e, false, 4)
}

func concurrentRedemptions(t *testing.T, e *flowEnv, checkRevoked bool, rounds int) {
	for round := 0; round < rounds; round++ {
		w := e.wallet(t, nil)
		a, err := w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		twin := e.wallet(t, nil)
		twin.SetDPoPKey(w.DPoPKey()) // the code is bound to this key (dpop_jkt)
		requireAtMostOnce(t, "authorization code", [2]*wallet.Wallet{w, twin}, checkRevoked,
			func(x *wallet.Wallet) (*wallet.Token, error) { return x.RedeemCode(bg, a) })

		offerURI, _ := createOffer(t, e, map[string]any{
			"credential_configuration_ids": []string{confMDL}, "grant": "pre-authorized_code",
			"claims": map[string]any{confMDL: map[string]any{nsMDL: offerClaims()}},
		})
		o, err := w.ResolveOffer(bg, offerURI)
		if err != nil {
			t.Fatal(err)
		}
		requireAtMostOnce(t, "pre-authorized code", [2]*wallet.Wallet{w, twin}, checkRevoked,
			func(x *wallet.Wallet) (*wallet.Token, error) { return x.PreAuthorized(bg, o, "") })
	}
}

// requireAtMostOnce redeems with both wallets at once: at most one
// succeeds and the other gets invalid_grant; with checkRevoked the winner's
// access token must then be refused.
func requireAtMostOnce(t *testing.T, what string, ws [2]*wallet.Wallet, checkRevoked bool, redeem func(*wallet.Wallet) (*wallet.Token, error)) {
	t.Helper()
	toks := make([]*wallet.Token, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			toks[i], errs[i] = redeem(w)
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
			if !checkRevoked {
				continue
			}
			_, cerr := ws[i].Credential(bg, toks[i], wallet.CredentialRequest{ConfigurationID: confMDL})
			var pe *wallet.ProtocolError
			if !errors.As(cerr, &pe) || pe.Code != "invalid_token" {
				t.Errorf("%s: the token of the winning redemption still works after the concurrent double use (got %v, want invalid_token)", what, cerr)
			}
			continue
		}
		var pe *wallet.ProtocolError
		if !errors.As(err, &pe) || pe.Code != "invalid_grant" {
			t.Errorf("%s: concurrent redemption failed with %v, want invalid_grant", what, err)
		}
	}
	if ok > 1 {
		t.Fatalf("%s redeemed %d times concurrently, want at most once", what, ok)
	}
}

// testIssuerStateOffer: an authorization_code offer's issuer_state goes into
// PAR (OpenID4VCI §4.1.1, §5.1.3); the offer is then redeemed.
func testIssuerStateOffer(t *testing.T, e *flowEnv) {
	var created struct {
		ID       string `json:"id"`
		OfferURI string `json:"offer_uri"`
	}
	req := map[string]any{"credential_configuration_ids": []string{confMDL}, "grant": "authorization_code"}
	if s := e.d.admin(t, e.client, http.MethodPost, "/offers", req, &created); s != http.StatusCreated {
		t.Fatalf("create offer: HTTP %d", s)
	}
	w := e.wallet(t, nil)
	o, err := w.ResolveOffer(bg, created.OfferURI)
	if err != nil {
		t.Fatal(err)
	}
	if o.IssuerState() == "" {
		t.Fatal("authorization_code offer has no issuer_state")
	}
	if _, _, ok := o.PreAuthorizedCode(); ok {
		t.Fatal("authorization_code offer carries a pre-authorized code")
	}
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL, IssuerState: o.IssuerState()})
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeys(1)
	res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, e, res, keys)
	var st struct {
		State string `json:"state"`
	}
	if s := e.d.admin(t, e.client, http.MethodGet, "/offers/"+url.PathEscape(created.ID), nil, &st); s != http.StatusOK {
		t.Fatalf("offer status: HTTP %d", s)
	}
	if st.State != "redeemed" {
		t.Fatalf("offer state %q after the flow, want redeemed", st.State)
	}
	// issuer_state is untrusted input: an unknown one is ignored and the
	// flow proceeds as wallet-initiated (authz policy, OpenID4VCI §5.1.3
	// sets no rule).
	if _, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL, IssuerState: "not-" + o.IssuerState()}); err != nil {
		t.Fatalf("flow with an unknown issuer_state: %v", err)
	}
}

// testOfferCancelledAndTxCodeAttempts: a cancelled offer's pre-authorized
// code is refused; after tx_code_max_attempts wrong codes (default 5) the
// right one is refused too (OpenID4VCI §13.6.1 brute force).
func testOfferCancelledAndTxCodeAttempts(t *testing.T, e *flowEnv) {
	var created struct {
		ID       string `json:"id"`
		OfferURI string `json:"offer_uri"`
	}
	req := map[string]any{
		"credential_configuration_ids": []string{confMDL}, "grant": "pre-authorized_code",
		"claims": map[string]any{confMDL: map[string]any{nsMDL: offerClaims()}},
	}
	if s := e.d.admin(t, e.client, http.MethodPost, "/offers", req, &created); s != http.StatusCreated {
		t.Fatalf("create offer: HTTP %d", s)
	}
	w := e.wallet(t, nil)
	o, err := w.ResolveOffer(bg, created.OfferURI)
	if err != nil {
		t.Fatal(err)
	}
	if s := e.d.admin(t, e.client, http.MethodDelete, "/offers/"+url.PathEscape(created.ID), nil, nil); s/100 != 2 {
		t.Fatalf("cancel offer: HTTP %d", s)
	}
	_, err = w.PreAuthorized(bg, o, "")
	requireProtocolError(t, err, "invalid_grant")

	offerURI, txCode := createOffer(t, e, map[string]any{
		"credential_configuration_ids": []string{confMDL}, "grant": "pre-authorized_code",
		"tx_code": map[string]any{"input_mode": "numeric", "length": 6},
		"claims":  map[string]any{confMDL: map[string]any{nsMDL: offerClaims()}},
	})
	if o, err = w.ResolveOffer(bg, offerURI); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		wrong := fmt.Sprintf("%06d", i)
		if wrong == txCode {
			wrong = "999999"
		}
		_, err = w.PreAuthorized(bg, o, wrong)
		requireProtocolError(t, err, "invalid_grant")
	}
	_, err = w.PreAuthorized(bg, o, txCode)
	requireProtocolError(t, err, "invalid_grant")

	// Cancelled after redemption: the grant's access token is revoked
	// with the offer, and the offer reads as cancelled.
	if s := e.d.admin(t, e.client, http.MethodPost, "/offers", req, &created); s != http.StatusCreated {
		t.Fatalf("create offer: HTTP %d", s)
	}
	if o, err = w.ResolveOffer(bg, created.OfferURI); err != nil {
		t.Fatal(err)
	}
	tok, err := w.PreAuthorized(bg, o, "")
	if err != nil {
		t.Fatal(err)
	}
	if s := e.d.admin(t, e.client, http.MethodDelete, "/offers/"+url.PathEscape(created.ID), nil, nil); s/100 != 2 {
		t.Fatalf("cancel offer: HTTP %d", s)
	}
	var status struct {
		State string `json:"state"`
	}
	if s := e.d.admin(t, e.client, http.MethodGet, "/offers/"+url.PathEscape(created.ID), nil, &status); s != http.StatusOK || status.State != "cancelled" {
		t.Fatalf("status of the cancelled offer: HTTP %d, %q", s, status.State)
	}
	_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL})
	requireProtocolError(t, err, "invalid_token")
}

// testAdminAndOfferExpiry: the admin API refuses requests without a valid
// bearer token (RFC 6750 §3); an offer and its pre-authorized code expire
// with expires_in.
func testAdminAndOfferExpiry(t *testing.T, e *flowEnv) {
	req := map[string]any{
		"credential_configuration_ids": []string{confMDL}, "grant": "pre-authorized_code",
		"claims": map[string]any{confMDL: map[string]any{nsMDL: offerClaims()}}, "expires_in": 1,
	}
	for _, auth := range []string{"", "Bearer not-" + e.d.AdminToken, "Basic " + e.d.AdminToken} {
		r, _ := http.NewRequest(http.MethodPost, e.d.Issuer+"/admin/v1/offers", strings.NewReader(string(mustJSON(req))))
		r.Header.Set("Content-Type", "application/json")
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		res, err := e.client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("admin API with Authorization %q: HTTP %d, want 401", strings.SplitN(auth, " ", 2)[0], res.StatusCode)
		}
	}
	// The offer object comes with the 201, so nothing has to be fetched
	// before it expires.
	var created struct {
		OfferURI        string       `json:"offer_uri"`
		CredentialOffer wallet.Offer `json:"credential_offer"`
	}
	if s := e.d.admin(t, e.client, http.MethodPost, "/offers", req, &created); s != http.StatusCreated {
		t.Fatalf("create offer: HTTP %d", s)
	}
	offerURI, o := created.OfferURI, &created.CredentialOffer
	w := e.wallet(t, nil)
	time.Sleep(1100 * time.Millisecond)
	_, err := w.PreAuthorized(bg, o, "")
	requireProtocolError(t, err, "invalid_grant")
	if _, err := w.ResolveOffer(bg, offerURI); err == nil {
		t.Error("an expired offer is still served")
	}
}

// testUntrustedClient: an attestation from an untrusted provider is
// invalid_client at PAR (ABCA -07 §6); an unregistered redirect URI is
// refused at PAR.
func testUntrustedClient(t *testing.T, e *flowEnv) {
	rogue := newTestCA(t, "rogue wallet provider", nil)
	w := newWalletConfig(t, e, func(c *wallet.Config) {
		c.Attester = &wallet.X509Provider{Key: rogue.LeafKey, Chain: []*x509.Certificate{rogue.Leaf}}
	})
	_, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	var we *wallet.Error
	if !errors.As(err, &we) || we.Exchange == nil || we.Exchange.Status != http.StatusUnauthorized || !strings.Contains(we.Exchange.Response, "invalid_client") {
		t.Fatalf("untrusted attestation at PAR: want 401 invalid_client, got %v", err)
	}
	w = newWalletConfig(t, e, func(c *wallet.Config) { c.RedirectURI = "https://attacker.example/cb" })
	_, err = w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if !errors.As(err, &we) || we.Exchange == nil || we.Exchange.Status != http.StatusBadRequest {
		t.Fatalf("unregistered redirect_uri at PAR: want 400, got %v", err)
	}
}

// testRefreshFlow: the refresh token is bound to the DPoP key (RFC 9449
// §5): it works with that key and the new access token issues; with another
// key it is refused.
func testRefreshFlow(t *testing.T, e *flowEnv) {
	w := e.wallet(t, nil)
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh_token although oauth.refresh_tokens is on")
	}
	tok2, err := w.Refresh(bg, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeys(1)
	res, err := w.Credential(bg, tok2, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, e, res, keys)
	rt := tok2.RefreshToken
	if rt == "" {
		rt = tok.RefreshToken
	}
	original := w.DPoPKey()
	w.SetDPoPKey(wallet.NewKey())
	_, err = w.Refresh(bg, rt)
	var pe *wallet.ProtocolError
	if !errors.As(err, &pe) || (pe.Code != "invalid_grant" && pe.Code != "invalid_dpop_proof") {
		t.Fatalf("refresh with another DPoP key: want invalid_grant or invalid_dpop_proof, got %v", err)
	}
	// The access token is bound too.
	_, err = w.Credential(bg, tok2, wallet.CredentialRequest{ConfigurationID: confMDL})
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("credential request with another DPoP key: want 401, got %v", err)
	}
	w.SetDPoPKey(original)
}

// testCodeReplay: a second redemption of a code is invalid_grant, and the
// tokens of the first stop working (RFC 6749 §4.1.2, RFC 9700 §4.5).
func testCodeReplay(t *testing.T, e *flowEnv) {
	w := e.wallet(t, nil)
	a, err := w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := w.RedeemCode(bg, a)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.RedeemCode(bg, a)
	requireProtocolError(t, err, "invalid_grant")
	_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL})
	pe := requireProtocolError(t, err, "invalid_token")
	if pe.Status != http.StatusUnauthorized {
		t.Fatalf("revoked token: HTTP %d, want 401", pe.Status)
	}
	if tok.RefreshToken != "" {
		_, err = w.Refresh(bg, tok.RefreshToken)
		requireProtocolError(t, err, "invalid_grant")
	}
}

// capture records one header of the first request of a step and can
// substitute it into a later request of another step.
type capture struct {
	mu       sync.Mutex
	header   string
	from, to string
	value    string
	replayed int
}

func (c *capture) intercept(step string, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case step == c.from && c.value == "":
		c.value = r.Header.Get(c.header)
	case step == c.to && c.value != "":
		r.Header.Set(c.header, c.value)
		c.replayed++
	}
}

// testDPoPReplay: a DPoP proof accepted once is refused when sent again
// (RFC 9449 §11.1), here at the credential endpoint with the same token.
func testDPoPReplay(t *testing.T, e *flowEnv) {
	c := &capture{header: "DPoP", from: "credential", to: "replay"}
	w := e.wallet(t, func(step string, r *http.Request) {
		if step == "credential" && c.value != "" {
			step = "replay"
		}
		c.intercept(step, r)
	})
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeys(1)
	res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, e, res, keys)
	_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL})
	pe := requireProtocolError(t, err, "invalid_dpop_proof")
	if pe.Status != http.StatusUnauthorized {
		t.Fatalf("replayed proof: HTTP %d, want 401", pe.Status)
	}
	if c.replayed == 0 {
		t.Fatal("the proof was not replayed")
	}
}

// testAttestationPoPReplay: the client attestation PoP of the PAR request
// is refused at the token endpoint (ABCA -07 §6: jti replay).
func testAttestationPoPReplay(t *testing.T, e *flowEnv) {
	c := &capture{header: "OAuth-Client-Attestation-PoP", from: "pushed authorization request", to: "token (authorization code)"}
	w := e.wallet(t, c.intercept)
	_, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	requireProtocolError(t, err, "invalid_client")
	if c.replayed == 0 {
		t.Fatal("the PoP was not replayed")
	}
}

// TestExpiredAuthorizationCode: a code redeemed after code_lifetime is
// invalid_grant (RFC 6749 §4.1.2; the suite's
// ensure-token-endpoint-fails-with-expired-auth-code).
func TestExpiredAuthorizationCode(t *testing.T) {
	skipProcessTests(t)
	d := newDeployment(t, deploymentOptions{Backend: "memory", CodeLifetime: "1s"})
	d.start(t, 0)
	w := d.newWallet(t, nil, nil)
	a, err := w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	_, err = w.RedeemCode(bg, a)
	requireProtocolError(t, err, "invalid_grant")
}

// TestEncryptionRequired: with request and response encryption required
// (OpenID4VCI §10, §12.2.4 encryption_required), plain requests and
// requests without credential_response_encryption are
// invalid_encryption_parameters; notifications stay plain JSON.
func TestEncryptionRequired(t *testing.T) {
	skipProcessTests(t)
	d := newDeployment(t, deploymentOptions{Backend: "memory", EncryptionRequired: true})
	d.start(t, 0)
	e := &flowEnv{d: d, client: d.httpClient(nil)}
	w := e.wallet(t, nil)
	for _, k := range []string{"credential_request_encryption", "credential_response_encryption"} {
		if m, _ := w.IssuerMetadata[k].(map[string]any); m["encryption_required"] != true {
			t.Errorf("%s.encryption_required = %v, want true", k, m["encryption_required"])
		}
	}
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL})
	requireProtocolError(t, err, "invalid_encryption_parameters")
	_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, EncryptRequest: true})
	requireProtocolError(t, err, "invalid_encryption_parameters")
	keys := newKeys(1)
	res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys, EncryptResponse: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Encrypted {
		t.Fatal("response not encrypted")
	}
	verifyIssued(t, e, res, keys)
	if err := w.Notify(bg, tok, res.NotificationID, "credential_accepted"); err != nil {
		t.Fatalf("plain notification with encryption required: %v", err)
	}
}
