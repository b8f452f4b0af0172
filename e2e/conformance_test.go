package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/e2e/wallet"
)

// TestConformanceExpectations checks, over real HTTP, what the OpenID
// Foundation's oid4vci-1_0-issuer-haip-test-plan expects of an issuer and
// the simulator does not exercise on its own (suite release 5.2.3): the
// suite's message
// shapes (no client_id at the token endpoint, extra parameters, the DPoP
// nonce retry that re-sends the credential request body), its DPoP
// negative tests, its authorization endpoint cases and its error shapes.
func TestConformanceExpectations(t *testing.T) {
	skipProcessTests(t)
	d := newDeployment(t, deploymentOptions{Backend: "memory"})
	d.start(t, 0)
	rec := &recorder{}
	client := d.httpClient(nil)
	client.Transport = rec.wrap(client.Transport)
	e := &flowEnv{d: d, client: client}

	t.Run("tls_bcp195", func(t *testing.T) {
		// EnsureTLS12RequireBCP195Ciphers, DisallowTLS10/11 and, under HAIP,
		// RequireOnlyBCP195RecommendedCiphersForTLS12 (a FAILURE).
		addr := hostOfIssuer(t, d.Issuer)
		for _, tc := range []struct {
			name string
			cfg  *tls.Config
			ok   bool
		}{
			{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
			{"TLS 1.2 ECDHE-ECDSA-AES128-GCM", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
			{"TLS 1.2 ECDHE-ECDSA-AES128-CBC-SHA", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false},
			{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
		} {
			tc.cfg.RootCAs = d.tlsRoots
			conn, err := tls.Dial("tcp", addr, tc.cfg)
			if err == nil {
				_ = conn.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("%s: handshake error %v, want success %t", tc.name, err, tc.ok)
			}
		}
	})

	t.Run("metadata_as_the_suite_checks", func(t *testing.T) { checkMetadataLikeSuite(t, e.wallet(t, nil)) })

	t.Run("token_request_without_client_id", func(t *testing.T) {
		w := e.wallet(t, func(step string, r *http.Request) {
			if strings.HasPrefix(step, "token") {
				editForm(t, r, func(f url.Values) { f.Del("client_id") })
			}
		})
		tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		res := rec.last("/token")
		var body map[string]any
		if err := json.Unmarshal(res.body, &body); err != nil {
			t.Fatal(err)
		}
		if _, ok := body["id_token"]; ok {
			t.Error("token response carries an id_token (ExpectNoIdTokenInTokenResponse)")
		}
		if n, _ := body["expires_in"].(float64); n <= 0 {
			t.Errorf("expires_in %v, want a positive number", body["expires_in"])
		}
		keys := newKeys(1)
		cr, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		verifyIssued(t, e, cr, keys)
		if date := rec.last("/credential").header.Get("Date"); date == "" {
			t.Error("credential response has no Date header (CheckForDateHeaderInResourceResponse)")
		} else if at, err := http.ParseTime(date); err != nil || time.Since(at).Abs() > 5*time.Minute {
			t.Errorf("credential response Date %q is not within 5 minutes", date)
		}
	})

	t.Run("suite_shaped_client_attestation", func(t *testing.T) {
		// The suite's attestation (CreateClientAttestationJwt) carries kid
		// and x5c, nbf and exp = iat + 300; its PoP carries nbf and exp too.
		inst := wallet.NewKey()
		var w *wallet.Wallet
		w = e.wallet(t, func(step string, r *http.Request) {
			if r.Header.Get("OAuth-Client-Attestation") == "" {
				return
			}
			now := time.Now().Unix()
			h := map[string]any{"typ": "oauth-client-attestation+jwt", "alg": "ES256", "kid": "suite-attester-1",
				"x5c": []string{base64.StdEncoding.EncodeToString(d.walletCA.Leaf.Raw)}}
			c := map[string]any{"iss": "e2e-wallet-provider", "sub": e2eClientID, "iat": now, "nbf": now, "exp": now + 300,
				"cnf": map[string]any{"jwk": publicJWKMap(&inst.PublicKey)}}
			r.Header.Set("OAuth-Client-Attestation", signES256(t, d.walletCA.LeafKey, h, c))
			ph := map[string]any{"typ": "oauth-client-attestation-pop+jwt", "alg": "ES256"}
			pc := map[string]any{"iss": e2eClientID, "aud": w.ASMetadata["issuer"], "iat": now, "nbf": now, "exp": now + 300,
				"jti": b64u(randomBytes(15))}
			r.Header.Set("OAuth-Client-Attestation-PoP", signES256(t, inst, ph, pc))
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
	})

	t.Run("unknown_parameters_ignored", func(t *testing.T) {
		const extra = "x7f3kq9d2m1z8w4p"
		w := e.wallet(t, func(step string, r *http.Request) {
			switch {
			case step == "pushed authorization request", strings.HasPrefix(step, "token"):
				editForm(t, r, func(f url.Values) { f.Set(extra, "lorem") })
			case step == "credential", step == "notification":
				editJSON(t, r, func(m map[string]any) { m[extra] = "ipsum" })
			}
		})
		tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		keys := newKeys(2)
		cr, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		verifyIssued(t, e, cr, keys)
		if err := w.Notify(bg, tok, cr.NotificationID, "credential_accepted"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("dpop_nonce_retry_resends_credential_body", func(t *testing.T) {
		// The suite's first credential call may carry a DPoP proof without
		// the resource server's nonce; on 401 use_dpop_nonce it re-sends
		// the same body (same c_nonce and key proof) with a new DPoP proof.
		var mu sync.Mutex
		first := true
		var w *wallet.Wallet
		w = e.wallet(t, func(step string, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if step == "credential" && first {
				first = false
				editDPoP(t, r, w.DPoPKey(), func(h, c map[string]any) { delete(c, "nonce") })
			}
		})
		tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		keys := newKeys(1)
		cr, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		verifyIssued(t, e, cr, keys)
		var statuses []int
		for _, ex := range w.Exchanges() {
			if ex.Step == "credential" {
				statuses = append(statuses, ex.Status)
			}
		}
		if len(statuses) != 2 || statuses[0] != http.StatusUnauthorized {
			t.Fatalf("credential exchanges %v, want a 401 nonce challenge then 200", statuses)
		}
	})

	t.Run("dpop_negative_tests", func(t *testing.T) { testDPoPNegative(t, e) })
	t.Run("key_proof_negative_tests", func(t *testing.T) { testKeyProofNegative(t, e) })

	t.Run("dpop_binding_at_par_and_token", func(t *testing.T) { testDPoPBindingAtPAR(t, e, rec) })

	t.Run("state_outside_the_pushed_request_ignored", func(t *testing.T) {
		// ensure-different-state-inside-and-outside-request-object: only the
		// pushed parameters count; the wallet requires PAR's state back.
		w := e.wallet(t, func(step string, r *http.Request) {
			if step == "authorization: open" {
				q := r.URL.Query()
				q.Set("state", "outside-state-0123")
				q.Set("scope", confDeferred)
				r.URL.RawQuery = q.Encode()
			}
		})
		tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confDeferred}); err == nil {
			t.Fatal("a scope outside the pushed request was granted")
		}
	})

	t.Run("token_requests_need_dpop_and_client_auth", func(t *testing.T) {
		// ensure-holder-of-key-required: a token request without DPoP is 400
		// invalid_request, invalid_grant or invalid_dpop_proof.
		w := e.wallet(t, func(step string, r *http.Request) {
			if step == "token (authorization code)" {
				r.Header.Del("DPoP")
			}
		})
		a, err := w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.RedeemCode(bg, a)
		var pe *wallet.ProtocolError
		if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest ||
			(pe.Code != "invalid_request" && pe.Code != "invalid_grant" && pe.Code != "invalid_dpop_proof") {
			t.Fatalf("token request without DPoP: want 400 invalid_request, invalid_grant or invalid_dpop_proof, got %v", err)
		}
		// The AS metadata says pre-authorized_grant_anonymous_access_supported
		// is false: a pre-authorized code without client authentication fails.
		if am := w.ASMetadata; am["pre-authorized_grant_anonymous_access_supported"] != true {
			offerURI, _ := createOffer(t, e, map[string]any{
				"credential_configuration_ids": []string{confMDL}, "grant": "pre-authorized_code",
				"claims": map[string]any{confMDL: map[string]any{nsMDL: offerClaims()}},
			})
			anon := e.wallet(t, func(step string, r *http.Request) {
				if step == "token (pre-authorized code)" {
					r.Header.Del("OAuth-Client-Attestation")
					r.Header.Del("OAuth-Client-Attestation-PoP")
				}
			})
			o, err := anon.ResolveOffer(bg, offerURI)
			if err != nil {
				t.Fatal(err)
			}
			_, err = anon.PreAuthorized(bg, o, "")
			if !errors.As(err, &pe) || (pe.Code != "invalid_client" && pe.Code != "invalid_request") {
				t.Fatalf("anonymous pre-authorized code redemption: want invalid_client, got %v", err)
			}
		}
		// refresh-token module: a refresh without client authentication fails.
		w2 := e.wallet(t, func(step string, r *http.Request) {
			if step == "token (refresh)" {
				r.Header.Del("OAuth-Client-Attestation")
				r.Header.Del("OAuth-Client-Attestation-PoP")
			}
		})
		tok, err := w2.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken == "" {
			return
		}
		_, err = w2.Refresh(bg, tok.RefreshToken)
		if !errors.As(err, &pe) || (pe.Code != "invalid_client" && pe.Code != "invalid_request" && pe.Code != "invalid_grant") {
			t.Fatalf("refresh without client authentication: want invalid_client, got %v", err)
		}
	})

	t.Run("access_token_in_query_refused", func(t *testing.T) {
		w := e.wallet(t, func(step string, r *http.Request) {
			if step == "credential" {
				at := strings.TrimPrefix(r.Header.Get("Authorization"), "DPoP ")
				r.Header.Del("Authorization")
				q := r.URL.Query()
				q.Set("access_token", at)
				r.URL.RawQuery = q.Encode()
			}
		})
		tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL})
		var pe *wallet.ProtocolError
		if !errors.As(err, &pe) || (pe.Status != 400 && pe.Status != 401 && pe.Status != 414) {
			t.Fatalf("access token in the query: want 400, 401 or 414, got %v", err)
		}
	})

	t.Run("redirect_uri_query_preserved", func(t *testing.T) {
		w := newWalletConfig(t, e, func(c *wallet.Config) { c.RedirectURI = e2eRedirectWithQuery })
		var loc string
		_, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rec.all("/authorize/consent") {
			if l := r.header.Get("Location"); l != "" {
				loc = l
			}
		}
		u, err := url.Parse(loc)
		if err != nil || u.Query().Get("dummy1") != "lorem" || u.Query().Get("dummy2") != "ipsum" || !strings.HasPrefix(loc, e2eRedirectWithQuery+"&") {
			t.Fatalf("redirect %q does not keep the registered query", redactLocation(loc))
		}
	})

	t.Run("browser_cookie_shared_across_authorizations", func(t *testing.T) {
		// The suite's browser keeps one cookie jar per module: the second
		// client's authorization runs with the first one's cookies. Each
		// authorization still shows the login form (docs/conformance.md §5).
		var mu sync.Mutex
		var cookie string
		w := e.wallet(t, func(step string, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if step == "authorization: approve" && cookie == "" {
				cookie = r.Header.Get("Cookie")
			}
			if strings.HasPrefix(step, "authorization") && cookie != "" {
				r.Header.Set("Cookie", cookie)
			}
		})
		for i := 0; i < 3; i++ {
			if _, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL}); err != nil {
				t.Fatalf("authorization %d with the shared browser cookie: %v", i+1, err)
			}
			if !bytes.Contains(rec.last("/authorize").body, []byte(`id="username"`)) {
				t.Fatalf("authorization %d did not show the login form", i+1)
			}
		}
		if cookie == "" {
			t.Fatal("the authorization pages set no cookie")
		}
	})

	t.Run("user_cancels_access_denied", func(t *testing.T) {
		w := e.wallet(t, nil)
		_, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL, Cancel: true})
		requireProtocolError(t, err, "access_denied")
	})

	t.Run("code_bound_to_client_and_pkce", func(t *testing.T) {
		w := e.wallet(t, nil)
		a, err := w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		other := newWalletConfig(t, e, func(c *wallet.Config) { c.ClientID = "e2e-other-wallet" })
		other.SetDPoPKey(w.DPoPKey())
		_, err = other.RedeemCode(bg, a)
		var pe *wallet.ProtocolError
		if !errors.As(err, &pe) || (pe.Code != "invalid_grant" && pe.Code != "invalid_client") {
			t.Fatalf("code redeemed by another client: want invalid_grant or invalid_client, got %v", err)
		}
		a2, err := w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		a2.CodeVerifier = strings.Repeat("A", 43)
		_, err = w.RedeemCode(bg, a2)
		requireProtocolError(t, err, "invalid_grant")
	})

	t.Run("refresh_token_bound_to_instance", func(t *testing.T) {
		// refresh-token module: with client attestation, a refresh by
		// another wallet instance (other attestation key) must fail even
		// with the DPoP key the token is bound to.
		w := e.wallet(t, nil)
		tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken == "" {
			t.Skip("no refresh token issued")
		}
		other := e.wallet(t, nil)
		other.SetDPoPKey(w.DPoPKey())
		if _, err := other.Refresh(bg, tok.RefreshToken); err == nil {
			t.Fatal("another wallet instance redeemed the refresh token (the suite's refresh-token module expects a rejection)")
		}
	})

	t.Run("credential_error_codes", func(t *testing.T) {
		w := e.wallet(t, nil)
		tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			req  wallet.CredentialRequest
			edit func(map[string]any)
			code string
		}{
			{"missing proofs", wallet.CredentialRequest{ConfigurationID: confMDL}, func(m map[string]any) { delete(m, "proofs") }, "invalid_proof"},
			{"random c_nonce", wallet.CredentialRequest{ConfigurationID: confMDL, Nonce: "6f1c2e9a-3b4d-4e5f-8a7b-9c0d1e2f3a4b"}, nil, "invalid_nonce"},
			{"unknown configuration", wallet.CredentialRequest{ConfigurationID: "5b0f0c3e-8d4a-4c1e-9f7a-2b6d8e0a1c3f"}, nil, "unknown_credential_configuration"},
			{"unknown identifier", wallet.CredentialRequest{Identifier: "unknown:5b0f0c3e-8d4a-4c1e"}, nil, "unknown_credential_identifier"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ew, etok := w, tok
				if tc.edit != nil {
					ew = e.wallet(t, func(step string, r *http.Request) {
						if step == "credential" {
							editJSON(t, r, tc.edit)
						}
					})
					var err error
					if etok, err = ew.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL}); err != nil {
						t.Fatal(err)
					}
				}
				_, err := ew.Credential(bg, etok, tc.req)
				pe := requireProtocolError(t, err, tc.code)
				if pe.Status != http.StatusBadRequest {
					t.Fatalf("HTTP %d, want 400", pe.Status)
				}
				var body map[string]any
				if err := json.Unmarshal(rec.last("/credential").body, &body); err != nil {
					t.Fatalf("error body is not JSON: %v", err)
				}
				for k := range body {
					if k != "error" && k != "error_description" && k != "error_uri" {
						t.Errorf("error body member %q (VCIValidateNoUnknownKeysInCredentialErrorResponse)", k)
					}
				}
			})
		}
	})

	t.Run("encryption_parameter_errors_are_plain_json", func(t *testing.T) {
		// fail-unsupported-encryption-algorithm: a bad jwk.alg inside the
		// encrypted request is 400 invalid_encryption_parameters, as plain
		// JSON (OpenID4VCI §8.3.1.2, §10).
		w := e.wallet(t, func(step string, r *http.Request) {
			if step == "credential" {
				r.Header.Set("Accept", "application/json") // the suite's Accept in the encrypted variant
			}
		})
		tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			edit func(map[string]any)
		}{
			{"jwk.alg UNSUPPORTED_ALG", func(b map[string]any) {
				enc := b["credential_response_encryption"].(map[string]any)
				jwk := mapOf(t, enc["jwk"])
				jwk["alg"] = "UNSUPPORTED_ALG"
				enc["jwk"] = jwk
			}},
			{"enc not offered", func(b map[string]any) {
				b["credential_response_encryption"].(map[string]any)["enc"] = "A192CBC-HS384"
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, EncryptResponse: true, Edit: tc.edit})
				pe := requireProtocolError(t, err, "invalid_encryption_parameters")
				if pe.Status != http.StatusBadRequest {
					t.Fatalf("HTTP %d, want 400", pe.Status)
				}
				if ct := rec.last("/credential").header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Fatalf("error Content-Type %q, want application/json (errors are never encrypted)", ct)
				}
			})
		}
		keys := newKeys(1)
		res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys, EncryptResponse: true})
		if err != nil {
			t.Fatal(err)
		}
		if ct := rec.last("/credential").header.Get("Content-Type"); !strings.HasPrefix(ct, "application/jwt") {
			t.Errorf("encrypted response Content-Type %q, want application/jwt", ct)
		}
		verifyIssued(t, e, res, keys)
	})

	t.Run("request_uri_reusable_until_completion_then_refused", func(t *testing.T) {
		// par-ensure-reused-request-uri-prior-to-auth-completion-succeeds:
		// a first visit that does not log in leaves the request_uri usable.
		var opened string
		w := e.wallet(t, func(step string, r *http.Request) {
			if step == "authorization: open" && opened == "" {
				opened = r.URL.String()
				res, err := e.client.Get(opened)
				if err != nil {
					t.Errorf("first visit: %v", err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Errorf("first visit: HTTP %d, want the login page", res.StatusCode)
				}
			}
		})
		if _, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL}); err != nil {
			t.Fatal(err)
		}
		// par-attempt-reuse-request_uri: after completion it is refused.
		res, err := e.client.Get(opened)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !bytes.Contains(b, []byte(`id="error-code">invalid_request_uri<`)) {
			t.Fatalf("reused request_uri: HTTP %d, want 400 with the error page naming invalid_request_uri", res.StatusCode)
		}
	})

	t.Run("par_rejections", func(t *testing.T) {
		w := e.wallet(t, nil)
		_, challenge := pkcePair()
		base := func() url.Values {
			return url.Values{
				"response_type": {"code"}, "client_id": {e2eClientID}, "redirect_uri": {e2eRedirect},
				"scope": {confMDL}, "state": {"abcdefghij"},
				"code_challenge": {challenge}, "code_challenge_method": {"S256"},
			}
		}
		for _, tc := range []struct {
			name string
			edit func(url.Values)
		}{
			{"no PKCE", func(f url.Values) { f.Del("code_challenge"); f.Del("code_challenge_method") }},
			{"plain PKCE", func(f url.Values) { f.Set("code_challenge_method", "plain") }},
			{"request_uri inside PAR", func(f url.Values) { f.Set("request_uri", "urn:ietf:params:oauth:request_uri:x") }},
			{"response_type token", func(f url.Values) { f.Set("response_type", "token") }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := base()
				tc.edit(f)
				_, err := w.PAR(bg, f)
				var we *wallet.Error
				if !errors.As(err, &we) || we.Exchange == nil || we.Exchange.Status != http.StatusBadRequest {
					t.Fatalf("want HTTP 400, got %v", err)
				}
				var body struct{ Error string }
				_ = json.Unmarshal(rec.last("/par").body, &body)
				if body.Error != "invalid_request" && !(tc.name == "request_uri inside PAR" && body.Error == "request_uri_not_supported") &&
					!(tc.name == "response_type token" && body.Error == "unsupported_response_type") {
					t.Fatalf("error %q, want invalid_request", body.Error)
				}
			})
		}
	})
}

// testDPoPNegative mirrors the suite's dpop-negative-tests module: many
// credential requests with one access token, each with a fresh c_nonce and
// key proof and a broken (or unusual but valid) DPoP proof.
func testDPoPNegative(t *testing.T, e *flowEnv) {
	var mu sync.Mutex
	var edit func(r *http.Request)
	w := e.wallet(t, func(step string, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if step == "credential" && edit != nil {
			edit(r)
		}
	})
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	// One call first so the wallet holds the resource server's DPoP nonce.
	if _, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL}); err != nil {
		t.Fatal(err)
	}
	claims := func(f func(h, c map[string]any)) func(*http.Request) {
		return func(r *http.Request) { editDPoP(t, r, w.DPoPKey(), f) }
	}
	fail := []struct {
		name string
		edit func(*http.Request)
	}{
		{"no DPoP header", func(r *http.Request) { r.Header.Del("DPoP") }},
		{"Bearer scheme without DPoP", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+strings.TrimPrefix(r.Header.Get("Authorization"), "DPoP "))
			r.Header.Del("DPoP")
		}},
		{"two DPoP headers", func(r *http.Request) { r.Header.Add("DPoP", r.Header.Get("DPoP")) }},
		{"malformed", func(r *http.Request) { r.Header.Set("DPoP", "not.a.jwt") }},
		{"wrong typ", claims(func(h, c map[string]any) { h["typ"] = "jwt" })},
		{"no typ", claims(func(h, c map[string]any) { delete(h, "typ") })},
		{"no jwk", claims(func(h, c map[string]any) { delete(h, "jwk") })},
		{"private key in jwk", claims(func(h, c map[string]any) { h["jwk"] = privateJWK(w.DPoPKey()) })},
		{"no jti", claims(func(h, c map[string]any) { delete(c, "jti") })},
		{"no htm", claims(func(h, c map[string]any) { delete(c, "htm") })},
		{"wrong htm", claims(func(h, c map[string]any) { c["htm"] = "PUT" })},
		{"no htu", claims(func(h, c map[string]any) { delete(c, "htu") })},
		{"other htu", claims(func(h, c map[string]any) { c["htu"] = e.d.Issuer + "/token" })},
		{"no iat", claims(func(h, c map[string]any) { delete(c, "iat") })},
		{"iat one hour ago", claims(func(h, c map[string]any) { c["iat"] = time.Now().Add(-time.Hour).Unix() })},
		{"iat in one hour", claims(func(h, c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() })},
		{"no ath", claims(func(h, c map[string]any) { delete(c, "ath") })},
		{"wrong ath", claims(func(h, c map[string]any) { c["ath"] = b64u(sha256Sum("another token")) })},
		{"bad signature", func(r *http.Request) {
			p := r.Header.Get("DPoP")
			sig, _ := base64.RawURLEncoding.DecodeString(p[strings.LastIndexByte(p, '.')+1:])
			sig[5] ^= 0x40
			r.Header.Set("DPoP", p[:strings.LastIndexByte(p, '.')+1]+b64u(sig))
		}},
		{"alg none", func(r *http.Request) {
			h, c := decodeJWT(t, r.Header.Get("DPoP"))
			h["alg"] = "none"
			r.Header.Set("DPoP", b64u(mustJSON(h))+"."+b64u(mustJSON(c))+".")
		}},
		{"key other than the token's", func(r *http.Request) {
			editDPoP(t, r, wallet.NewKey(), func(h, c map[string]any) {})
		}},
	}
	for _, tc := range fail {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			mu.Lock()
			edit = tc.edit
			mu.Unlock()
			_, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL})
			var pe *wallet.ProtocolError
			if !errors.As(err, &pe) || (pe.Status != 400 && pe.Status != 401) {
				t.Fatalf("want 400 or 401, got %v", err)
			}
		})
	}
	accept := []struct {
		name string
		edit func(*http.Request)
	}{
		{"htu with query and fragment", claims(func(h, c map[string]any) { c["htu"] = c["htu"].(string) + "?a=b#frag" })},
		{"extra nbf and exp", claims(func(h, c map[string]any) {
			c["nbf"] = time.Now().Add(-time.Minute).Unix()
			c["exp"] = time.Now().Add(time.Minute).Unix()
		})},
		{"extra header and claim members", claims(func(h, c map[string]any) { h["x-extra"] = "1"; c["x-extra"] = "2" })},
		{"iat 10 s before", claims(func(h, c map[string]any) { c["iat"] = time.Now().Add(-10 * time.Second).Unix() })},
		{"iat 10 s after", claims(func(h, c map[string]any) { c["iat"] = time.Now().Add(10 * time.Second).Unix() })},
		{"scheme in other case", func(r *http.Request) {
			r.Header.Set("Authorization", "dPoP "+strings.TrimPrefix(r.Header.Get("Authorization"), "DPoP "))
		}},
	}
	for _, tc := range accept {
		t.Run("accepted/"+tc.name, func(t *testing.T) {
			mu.Lock()
			edit = tc.edit
			mu.Unlock()
			keys := newKeys(1)
			res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
			if err != nil {
				t.Fatal(err)
			}
			verifyIssued(t, e, res, keys)
		})
	}
	mu.Lock()
	edit = nil
	mu.Unlock()
	keys := newKeys(1)
	res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
	if err != nil {
		t.Fatalf("sanity call after the negative tests: %v", err)
	}
	verifyIssued(t, e, res, keys)
}

// newWalletConfig builds a discovered wallet with an edited configuration.
func newWalletConfig(t *testing.T, e *flowEnv, edit func(*wallet.Config)) *wallet.Wallet {
	t.Helper()
	c := wallet.Config{
		Issuer: e.d.Issuer, HTTP: e.client, Attester: e.d.walletProvider(), KeyAttester: e.d.keyAttester(),
		ClientID: e2eClientID, RedirectURI: e2eRedirect, Username: e2eUser, Password: e2ePassword,
	}
	edit(&c)
	w, err := wallet.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Discover(bg); err != nil {
		t.Fatal(err)
	}
	return w
}

// recorder keeps every response (status, headers, body) by URL path.
type recorder struct {
	mu   sync.Mutex
	seen []recorded
}

type recorded struct {
	path   string
	status int
	header http.Header
	body   []byte
}

func (r *recorder) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		res, err := next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err != nil {
			return nil, err
		}
		res.Body = io.NopCloser(bytes.NewReader(b))
		r.mu.Lock()
		r.seen = append(r.seen, recorded{path: req.URL.Path, status: res.StatusCode, header: res.Header.Clone(), body: b})
		r.mu.Unlock()
		return res, nil
	})
}

func (r *recorder) all(path string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, s := range r.seen {
		if s.path == path {
			out = append(out, s)
		}
	}
	return out
}

// lastHeader is the value of a header in the latest response that had it.
func (r *recorder) lastHeader(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.seen) - 1; i >= 0; i-- {
		if v := r.seen[i].header.Get(name); v != "" {
			return v
		}
	}
	return ""
}

func (r *recorder) last(path string) recorded {
	all := r.all(path)
	if len(all) == 0 {
		return recorded{}
	}
	return all[len(all)-1]
}

// editForm rewrites a form-encoded request body.
func editForm(t *testing.T, r *http.Request, f func(url.Values)) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Error(err)
		return
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		t.Error(err)
		return
	}
	f(form)
	setBody(r, []byte(form.Encode()))
}

// editJSON rewrites a JSON request body (not an encrypted one).
func editJSON(t *testing.T, r *http.Request, f func(map[string]any)) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Error(err)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("request body is not JSON: %v", err)
		return
	}
	f(m)
	setBody(r, mustJSON(m))
}

func setBody(r *http.Request, b []byte) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// editDPoP re-signs the request's DPoP proof with key after f changed its
// header and claims.
func editDPoP(t *testing.T, r *http.Request, key *ecdsa.PrivateKey, f func(h, c map[string]any)) {
	h, c := decodeJWT(t, r.Header.Get("DPoP"))
	h["jwk"] = publicJWKMap(&key.PublicKey)
	c["jti"] = b64u(randomBytes(16))
	f(h, c)
	r.Header.Set("DPoP", signES256(t, key, h, c))
}

func decodeJWT(t *testing.T, compact string) (h, c map[string]any) {
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		t.Errorf("not a compact JWS")
		return map[string]any{}, map[string]any{}
	}
	for i, dst := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err == nil {
			err = json.Unmarshal(b, dst)
		}
		if err != nil {
			t.Errorf("JWS part %d: %v", i, err)
		}
	}
	return h, c
}

// signES256 signs header and claims as a compact JWS (RFC 7515, RFC 7518
// §3.4: R || S, 32 bytes each).
func signES256(t *testing.T, key *ecdsa.PrivateKey, h, c map[string]any) string {
	input := b64u(mustJSON(h)) + "." + b64u(mustJSON(c))
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64u(sig)
}

func publicJWKMap(k *ecdsa.PublicKey) map[string]any {
	b, err := k.Bytes() // 0x04 || X || Y (SEC 1 uncompressed)
	if err != nil || len(b) != 65 {
		panic("not a P-256 public key")
	}
	return map[string]any{"kty": "EC", "crv": "P-256", "x": b64u(b[1:33]), "y": b64u(b[33:])}
}

func privateJWK(k *ecdsa.PrivateKey) map[string]any {
	m := publicJWKMap(&k.PublicKey)
	d, err := k.Bytes()
	if err != nil {
		panic(err)
	}
	m["d"] = b64u(d)
	return m
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func sha256Sum(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// pkcePair returns an RFC 7636 S256 verifier and challenge.
func pkcePair() (verifier, challenge string) {
	verifier = b64u(randomBytes(32))
	return verifier, b64u(sha256Sum(verifier))
}

// redactLocation hides the code in a redirect for failure messages.
func redactLocation(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return "(unparsable)"
	}
	q := u.Query()
	if q.Has("code") {
		q.Set("code", "[redacted]")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// mapOf converts a JSON-marshalable value (a jose.JSONWebKey, say) into a
// generic JSON object.
func mapOf(t *testing.T, v any) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustJSON(v), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// checkMetadataLikeSuite applies the suite's metadata conditions (notes §2.4
// and §4.6): VCIValidateNonceEndpointInIssuerMetadata, the HAIP scope rule,
// COSE integer credential_signing_alg_values_supported, binding and proof
// types together, encryption blocks, https endpoints, and the AS metadata of
// the FAPI discovery test.
func checkMetadataLikeSuite(t *testing.T, w *wallet.Wallet) {
	im, am := w.IssuerMetadata, w.ASMetadata
	https := func(where, key string, m map[string]any) {
		if v, ok := m[key]; ok {
			s, _ := v.(string)
			if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
				t.Errorf("%s %s = %v, want an https URL", where, key, v)
			}
		}
	}
	for _, k := range []string{"credential_issuer", "credential_endpoint", "nonce_endpoint", "deferred_credential_endpoint", "notification_endpoint"} {
		https("issuer metadata", k, im)
	}
	if _, ok := im["nonce_endpoint"]; !ok {
		t.Error("issuer metadata has no nonce_endpoint (HAIP-4.1-5)")
	}
	if b, ok := im["batch_credential_issuance"].(map[string]any); ok {
		if n, _ := b["batch_size"].(float64); n < 2 {
			t.Errorf("batch_credential_issuance.batch_size %v, want an integer >= 2", b["batch_size"])
		}
	}
	confs, _ := im["credential_configurations_supported"].(map[string]any)
	if len(confs) == 0 {
		t.Fatal("no credential_configurations_supported")
	}
	for id, raw := range confs {
		c, _ := raw.(map[string]any)
		if c["format"] != "mso_mdoc" {
			t.Errorf("%s: format %v", id, c["format"])
		}
		if s, _ := c["doctype"].(string); s == "" {
			t.Errorf("%s: no doctype", id)
		}
		if s, _ := c["scope"].(string); s == "" || strings.ContainsAny(s, " \"\\") {
			t.Errorf("%s: scope %q is not one scope-token (HAIP: required)", id, s)
		}
		if _, ok := c["claims"]; ok {
			t.Errorf("%s: top-level claims (1.0 puts them under credential_metadata)", id)
		}
		algs, _ := c["credential_signing_alg_values_supported"].([]any)
		for _, a := range algs {
			if f, ok := a.(float64); !ok || f != float64(int64(f)) {
				t.Errorf("%s: credential_signing_alg_values_supported entry %v is not a COSE integer", id, a)
			}
		}
		_, bind := c["cryptographic_binding_methods_supported"]
		pts, proofs := c["proof_types_supported"].(map[string]any)
		if bind != proofs {
			t.Errorf("%s: cryptographic_binding_methods_supported and proof_types_supported must be present together", id)
		}
		for pt, v := range pts {
			m, _ := v.(map[string]any)
			if l, _ := m["proof_signing_alg_values_supported"].([]any); len(l) == 0 {
				t.Errorf("%s: proof type %s has no proof_signing_alg_values_supported", id, pt)
			}
		}
	}
	if enc, ok := im["credential_response_encryption"].(map[string]any); ok {
		for _, k := range []string{"alg_values_supported", "enc_values_supported", "encryption_required"} {
			if _, ok := enc[k]; !ok {
				t.Errorf("credential_response_encryption has no %s", k)
			}
		}
		if _, ok := im["credential_request_encryption"]; !ok {
			t.Error("response encryption offered without request encryption (VCIEnsureCredentialRequestEncryptionWhenResponseEncryptionOptional)")
		}
	}
	if enc, ok := im["credential_request_encryption"].(map[string]any); ok {
		for _, k := range []string{"jwks", "enc_values_supported", "encryption_required"} {
			if _, ok := enc[k]; !ok {
				t.Errorf("credential_request_encryption has no %s", k)
			}
		}
		jwks, _ := enc["jwks"].(map[string]any)
		keys, _ := jwks["keys"].([]any)
		if len(keys) == 0 {
			t.Error("credential_request_encryption.jwks has no keys")
		}
		for _, k := range keys {
			m, _ := k.(map[string]any)
			if m["kid"] == nil || m["kty"] == nil || m["d"] != nil {
				t.Errorf("request encryption key %v: needs kid and kty, no private part", m)
			}
		}
	}

	for _, k := range []string{"authorization_endpoint", "token_endpoint", "pushed_authorization_request_endpoint"} {
		if _, ok := am[k]; !ok {
			t.Errorf("AS metadata has no %s", k)
		}
		https("AS metadata", k, am)
	}
	for k := range am {
		if strings.HasSuffix(k, "_endpoint") {
			https("AS metadata", k, am)
		}
	}
	contains := func(key, want string) {
		l, _ := am[key].([]any)
		for _, v := range l {
			if v == want {
				return
			}
		}
		t.Errorf("AS metadata %s = %v, want it to contain %q", key, am[key], want)
	}
	contains("code_challenge_methods_supported", "S256")
	contains("response_types_supported", "code")
	contains("dpop_signing_alg_values_supported", "ES256")
	contains("token_endpoint_auth_methods_supported", "attest_jwt_client_auth")
	contains("client_attestation_signing_alg_values_supported", "ES256")
	contains("client_attestation_pop_signing_alg_values_supported", "ES256")
	if am["authorization_response_iss_parameter_supported"] != true {
		t.Error("authorization_response_iss_parameter_supported is not true")
	}
	if v, ok := am["require_pushed_authorization_requests"]; ok {
		if _, isBool := v.(bool); !isBool {
			t.Errorf("require_pushed_authorization_requests %v is not a boolean", v)
		}
	}
}

// testKeyProofNegative breaks jwt key proofs (OpenID4VCI F.1, F.4) and key
// attestations (Appendix D): each must be refused with invalid_proof (or
// invalid_nonce for a nonce the issuer did not issue), and the token keeps
// working.
func testKeyProofNegative(t *testing.T, e *flowEnv) {
	w := e.wallet(t, nil)
	tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	// reproof re-signs the first jwt proof after f edited it.
	reproof := func(key **ecdsa.PrivateKey, f func(h, c map[string]any)) func(map[string]any) {
		return func(body map[string]any) {
			proofs := body["proofs"].(map[string][]string)
			h, c := decodeJWT(t, proofs["jwt"][0])
			f(h, c)
			proofs["jwt"][0] = signES256(t, *key, h, c)
		}
	}
	var key *ecdsa.PrivateKey
	other := wallet.NewKey()
	for _, tc := range []struct {
		name string
		edit func(h, c map[string]any)
		code string
	}{
		{"wrong aud", func(h, c map[string]any) { c["aud"] = "https://other.example" }, "invalid_proof"},
		{"no nonce", func(h, c map[string]any) { delete(c, "nonce") }, "invalid_proof"},
		{"nonce not issued", func(h, c map[string]any) { c["nonce"] = b64u(randomBytes(24)) }, "invalid_nonce"},
		{"iat one hour ago", func(h, c map[string]any) { c["iat"] = time.Now().Add(-time.Hour).Unix() }, "invalid_proof"},
		{"no iat", func(h, c map[string]any) { delete(c, "iat") }, "invalid_proof"},
		{"wrong typ", func(h, c map[string]any) { h["typ"] = "JWT" }, "invalid_proof"},
		{"private key in jwk", func(h, c map[string]any) { h["jwk"] = privateJWK(key) }, "invalid_proof"},
		{"jwk of another key", func(h, c map[string]any) { h["jwk"] = publicJWKMap(&other.PublicKey) }, "invalid_proof"},
		{"jwk and kid", func(h, c map[string]any) { h["kid"] = "0" }, "invalid_proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key = wallet.NewKey()
			_, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL,
				Keys: []*ecdsa.PrivateKey{key}, Edit: reproof(&key, tc.edit)})
			pe := requireProtocolError(t, err, tc.code)
			if pe.Status != http.StatusBadRequest {
				t.Fatalf("HTTP %d, want 400", pe.Status)
			}
		})
	}

	// Key attestations, on the configuration that requires them.
	ka := e.wallet(t, nil)
	katok, err := ka.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confKA})
	if err != nil {
		t.Fatal(err)
	}
	rogue := newTestCA(t, "rogue key attester", nil)
	trusted := e.d.keyAttester()
	for _, tc := range []struct {
		name        string
		attester    wallet.KeyAttester
		attestation bool // attestation proof type instead of jwt + key_attestation
		code        string
	}{
		{"jwt proof key not attested", attestOther{trusted}, false, "invalid_proof"},
		{"untrusted key attester (jwt)", &wallet.X509Provider{Key: rogue.LeafKey, Chain: []*x509.Certificate{rogue.Leaf}, KeyStorage: []string{"iso_18045_high"}}, false, "invalid_proof"},
		{"untrusted key attester (attestation)", &wallet.X509Provider{Key: rogue.LeafKey, Chain: []*x509.Certificate{rogue.Leaf}, KeyStorage: []string{"iso_18045_high"}}, true, "invalid_proof"},
		{"expired key attestation", &wallet.X509Provider{Key: e.d.keyCA.LeafKey, Chain: []*x509.Certificate{e.d.keyCA.Leaf},
			KeyStorage: []string{"iso_18045_high"}, Lifetime: time.Minute, Now: func() time.Time { return time.Now().Add(-time.Hour) }}, true, "invalid_proof"},
		{"attestation nonce not issued", attestNonce{trusted, b64u(randomBytes(24))}, true, "invalid_nonce"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kw := newWalletConfig(t, e, func(c *wallet.Config) { c.KeyAttester = tc.attester })
			ktok, err := kw.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confKA})
			if err != nil {
				t.Fatal(err)
			}
			req := wallet.CredentialRequest{ConfigurationID: confKA, AttestKeys: !tc.attestation, AttestationProof: tc.attestation}
			_, err = kw.Credential(bg, ktok, req)
			requireProtocolError(t, err, tc.code)
		})
	}
	// Two jwt proofs carrying the same key attestation of two keys, signed
	// by each of them: one credential per distinct attested key (notes
	// P-KA2; the suite's VCIEnsureBatchBindingKeysAreDistinct).
	pair := newKeys(2)
	res, err := ka.Credential(bg, katok, wallet.CredentialRequest{ConfigurationID: confKA, Keys: pair, AttestKeys: true,
		Edit: func(body map[string]any) {
			proofs := body["proofs"].(map[string][]string)
			h, c := decodeJWT(t, proofs["jwt"][0])
			h["jwk"] = publicJWKMap(&pair[1].PublicKey)
			proofs["jwt"] = append(proofs["jwt"], signES256(t, pair[1], h, c))
		}})
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, e, res, pair)
	// More attested keys than batch_size: refused, or at most batch_size
	// credentials.
	res, err = ka.Credential(bg, katok, wallet.CredentialRequest{ConfigurationID: confKA, Keys: newKeys(4), AttestationProof: true})
	if err == nil && len(res.Credentials) > 3 {
		t.Errorf("%d credentials for a key attestation of 4 keys with batch_size 3", len(res.Credentials))
	}
	// Two proof types at once is not one proof type (OpenID4VCI §8.2).
	_, err = ka.Credential(bg, katok, wallet.CredentialRequest{ConfigurationID: confKA, AttestKeys: true,
		Edit: func(body map[string]any) {
			proofs := body["proofs"].(map[string][]string)
			proofs["attestation"] = []string{"e30.e30.sig"}
		}})
	var pe *wallet.ProtocolError
	if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest || (pe.Code != "invalid_proof" && pe.Code != "invalid_credential_request") {
		t.Errorf("proofs with two proof types: want 400 invalid_proof or invalid_credential_request, got %v", err)
	}

	keys := newKeys(1)
	res, err = ka.Credential(bg, katok, wallet.CredentialRequest{ConfigurationID: confKA, Keys: keys, AttestKeys: true})
	if err != nil {
		t.Fatalf("sanity call after the negative tests: %v", err)
	}
	verifyIssued(t, e, res, keys)
	keys = newKeys(1)
	res, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
	if err != nil {
		t.Fatalf("sanity call after the negative tests: %v", err)
	}
	verifyIssued(t, e, res, keys)
}

// attestOther attests fresh keys instead of the ones it is asked about.
type attestOther struct{ wallet.KeyAttester }

func (a attestOther) KeyAttestation(keys []*ecdsa.PublicKey, nonce string) (string, error) {
	others := make([]*ecdsa.PublicKey, len(keys))
	for i := range keys {
		others[i] = &wallet.NewKey().PublicKey
	}
	return a.KeyAttester.KeyAttestation(others, nonce)
}

// attestNonce puts a fixed nonce into the key attestation.
type attestNonce struct {
	wallet.KeyAttester
	nonce string
}

func (a attestNonce) KeyAttestation(keys []*ecdsa.PublicKey, _ string) (string, error) {
	return a.KeyAttester.KeyAttestation(keys, a.nonce)
}

// testDPoPBindingAtPAR: the authorization code is bound to the DPoP key of a
// DPoP header at PAR as well as to dpop_jkt (RFC 9449 §10, §10.1); a
// mismatch at PAR and a different key at the token endpoint are refused
// (ensure-dpopproof-at-par-endpoint-binding-success,
// ensure-mismatched-dpop-jkt-fails,
// ensure-token-endpoint-fails-with-mismatched-dpop-*).
func testDPoPBindingAtPAR(t *testing.T, e *flowEnv, rec *recorder) {
	parURL := func(w *wallet.Wallet) string { return w.ASMetadata["pushed_authorization_request_endpoint"].(string) }
	// parProof adds a DPoP header signed by key to the PAR request, with the
	// latest server nonce seen; jkt replaces dpop_jkt ("" removes it).
	parProof := func(w *wallet.Wallet, key **ecdsa.PrivateKey, jkt *string) func(string, *http.Request) {
		return func(step string, r *http.Request) {
			if step != "pushed authorization request" {
				return
			}
			c := map[string]any{"jti": b64u(randomBytes(16)), "htm": "POST", "htu": parURL(w), "iat": time.Now().Unix()}
			if n := rec.lastHeader("DPoP-Nonce"); n != "" {
				c["nonce"] = n
			}
			h := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": publicJWKMap(&(*key).PublicKey)}
			r.Header.Set("DPoP", signES256(t, *key, h, c))
			editForm(t, r, func(f url.Values) {
				if *jkt == "" {
					f.Del("dpop_jkt")
				} else {
					f.Set("dpop_jkt", *jkt)
				}
			})
		}
	}
	// A flow through the token endpoint leaves a server DPoP nonce in rec.
	if _, err := e.wallet(t, nil).AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL}); err != nil {
		t.Fatal(err)
	}
	var w *wallet.Wallet
	var key *ecdsa.PrivateKey
	var jkt string
	var hook func(string, *http.Request)
	w = e.wallet(t, func(step string, r *http.Request) {
		if hook != nil {
			hook(step, r)
		}
	})
	hook = parProof(w, &key, &jkt)

	// DPoP header at PAR, no dpop_jkt: the code is bound to that key.
	key = w.DPoPKey()
	a, err := w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	if s := rec.last("/par").status; s != http.StatusCreated {
		t.Fatalf("PAR with a DPoP header: HTTP %d", s)
	}
	original := w.DPoPKey()
	w.SetDPoPKey(wallet.NewKey())
	_, err = w.RedeemCode(bg, a)
	var pe *wallet.ProtocolError
	if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest ||
		(pe.Code != "invalid_grant" && pe.Code != "invalid_dpop_proof" && pe.Code != "invalid_request") {
		t.Fatalf("token with a key other than PAR's DPoP key: want 400 invalid_grant, invalid_dpop_proof or invalid_request, got %v", err)
	}
	w.SetDPoPKey(original)
	a, err = w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.RedeemCode(bg, a); err != nil {
		t.Fatalf("token with PAR's DPoP key: %v", err)
	}

	// DPoP header and a dpop_jkt of another key: PAR refuses.
	jkt = wallet.Thumbprint(&wallet.NewKey().PublicKey)
	_, err = w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
	var we *wallet.Error
	if !errors.As(err, &we) || we.Exchange == nil || we.Exchange.Status != http.StatusBadRequest {
		t.Fatalf("PAR with a mismatched dpop_jkt: want 400, got %v", err)
	}
	var body struct{ Error string }
	_ = json.Unmarshal(rec.last("/par").body, &body)
	if body.Error != "invalid_request" && body.Error != "invalid_dpop_proof" {
		t.Fatalf("PAR with a mismatched dpop_jkt: error %q, want invalid_request or invalid_dpop_proof", body.Error)
	}

	// dpop_jkt only (no DPoP header), then another key at the token endpoint.
	hook = nil
	a, err = w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
	if err != nil {
		t.Fatal(err)
	}
	w.SetDPoPKey(wallet.NewKey())
	_, err = w.RedeemCode(bg, a)
	if !errors.As(err, &pe) || pe.Status != http.StatusBadRequest ||
		(pe.Code != "invalid_grant" && pe.Code != "invalid_dpop_proof" && pe.Code != "invalid_request") {
		t.Fatalf("token with a key other than dpop_jkt: want 400 invalid_grant, invalid_dpop_proof or invalid_request, got %v", err)
	}
	w.SetDPoPKey(original)
}

func hostOfIssuer(t *testing.T, issuer string) string {
	t.Helper()
	u, err := url.Parse(issuer)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
