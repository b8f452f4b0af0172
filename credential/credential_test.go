package credential

import (
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

type credentialResponseBody struct {
	Credentials []struct {
		Credential string `json:"credential"`
	} `json:"credentials"`
	NotificationID string `json:"notification_id"`
	TransactionID  string `json:"transaction_id"`
	Interval       int64  `json:"interval"`
}

// decodeCredentials checks a 200 Credential Response and returns the
// fake credentials it carries.
func decodeCredentials(t testing.TB, rec *httptest.ResponseRecorder) (credentialResponseBody, []fakeCredential) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("no Cache-Control: no-store")
	}
	var b credentialResponseBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	return b, credsOf(t, b)
}

func credsOf(t testing.TB, b credentialResponseBody) []fakeCredential {
	t.Helper()
	var out []fakeCredential
	for _, c := range b.Credentials {
		if strings.ContainsAny(c.Credential, "=+/") {
			t.Fatalf("credential not unpadded base64url: %q", c.Credential)
		}
		raw, err := base64.RawURLEncoding.DecodeString(c.Credential)
		if err != nil {
			t.Fatal(err)
		}
		var fc fakeCredential
		if err := json.Unmarshal(raw, &fc); err != nil {
			t.Fatal(err)
		}
		out = append(out, fc)
	}
	return out
}

func TestNonceEndpoint(t *testing.T) {
	h := newHarness(t)
	rec := h.do(http.MethodPost, PathNonce, nil, "", nil)
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("T11: %d %v", rec.Code, rec.Header())
	}
	if dn := rec.Header().Get("DPoP-Nonce"); dn != "" {
		t.Fatal("DPoP-Nonce without server nonces")
	}
	h.requireDPoPNonces()
	rec = h.do(http.MethodPost, PathNonce, nil, "", nil)
	if dn := rec.Header().Get("DPoP-Nonce"); dn == "" || h.dnonces.Check(dn) != nil {
		t.Fatal("no valid DPoP-Nonce header")
	}
	n1, n2 := h.cnonce(), h.cnonce()
	if n1 == n2 {
		t.Fatal("T12: two nonces are equal")
	}
	if err := h.cnonces.Check(n1); err != nil {
		t.Fatal(err)
	}
	rec = h.do(http.MethodGet, PathNonce, nil, "", nil)
	wantError(t, rec, http.StatusMethodNotAllowed, oauth.CodeMethodNotAllowed)
	if len(h.events.byType(EventNonceIssued)) != 4 {
		t.Fatal("nonce events not recorded")
	}
}

func TestCredentialHappyPath(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			h := newHarness(t, onBackend(t, be))
			cn := h.cnonce()
			rec := h.credential(map[string]any{
				"credential_configuration_id": "mdl",
				"proofs":                      map[string]any{"jwt": []string{h.proof(h.holder, cn, proofOpts{})}},
				"x-random-extra":              "ignored",
			})
			b, creds := decodeCredentials(t, rec)
			if len(creds) != 1 || creds[0].DocType != docMDL || creds[0].JKT != jktOf(t, &h.holder.PublicKey) {
				t.Fatalf("T54: credentials %+v", creds)
			}
			if creds[0].Claims["org.iso.18013.5.1"]["family_name"] != "Doe" {
				t.Fatal("claims not from the claims source")
			}
			if b.NotificationID == "" || b.TransactionID != "" || b.Interval != 0 {
				t.Fatalf("body %s", rec.Body)
			}
			var top map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &top)
			for k := range top {
				if k != "credentials" && k != "notification_id" {
					t.Fatalf("unexpected member %q", k)
				}
			}
			ev := h.events.byType(EventCredentialIssued)
			if len(ev) != 1 || ev[0].Count != 1 || ev[0].ClientID != testClient || ev[0].WalletProvider != testProvider {
				t.Fatalf("events %+v", ev)
			}
			r, err := h.svc.IssuedRecord(t.Context(), ev[0].RecordIDs[0])
			if err != nil {
				t.Fatal(err)
			}
			if r.ConfigurationID != "mdl" || r.DSSerial != "0a1b" || r.DeviceKeyJKT != creds[0].JKT || r.ClientID != testClient || r.WalletProvider != testProvider || r.IssuedAt != h.clock.Now().Unix() {
				t.Fatalf("record %+v", r)
			}
			// The same access token serves further requests (fresh nonce and proof).
			k2 := newKey(t)
			rec = h.credential(map[string]any{"credential_configuration_id": "mdl",
				"proofs": map[string]any{"jwt": []string{h.proof(k2, h.cnonce(), proofOpts{})}}})
			if _, c := decodeCredentials(t, rec); c[0].JKT != jktOf(t, &k2.PublicKey) {
				t.Fatal("second request not bound to its proof key")
			}
		})
	}
}

func TestCredentialIdentifier(t *testing.T) {
	h := newHarness(t)
	dk := newKey(t)
	tok := h.issueToken(dk, &oauth.Grant{ClientID: testClient, Subject: "alice", CredentialConfigurationIDs: []string{"mdl"},
		CredentialIdentifiers: map[string]string{"mdl-ident-1": "mdl"}})
	send := func(body map[string]any) *httptest.ResponseRecorder {
		return h.send(req{path: PathCredential, token: tok, dpopKey: dk, body: mustJSON(t, body)})
	}
	p := h.proof(dk, h.cnonce(), proofOpts{})
	if _, c := decodeCredentials(t, send(map[string]any{"credential_identifier": "mdl-ident-1", "proofs": map[string]any{"jwt": []string{p}}})); len(c) != 1 {
		t.Fatal("credential_identifier request failed")
	}
	// T63: credential_configuration_id after credential_identifiers were issued.
	wantError(t, send(map[string]any{"credential_configuration_id": "mdl", "proofs": map[string]any{"jwt": []string{p}}}),
		400, oauth.CodeInvalidCredentialRequest)
	// T62
	wantError(t, send(map[string]any{"credential_identifier": "unknown:1", "proofs": map[string]any{"jwt": []string{p}}}),
		400, oauth.CodeUnknownCredentialIdentifier)
}

// TestCredentialErrors covers the error cases of the Credential Endpoint
// (checklist T55-T76 and more).
func TestCredentialErrors(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			type tc struct {
				name   string
				opts   []harnessOpt
				setup  func(h *harness)
				build  func(h *harness) req
				status int
				code   string
			}
			body := func(h *harness, m map[string]any) []byte { return mustJSON(h.t, m) }
			withProofs := func(cfg string, proofs map[string]any) map[string]any {
				return map[string]any{"credential_configuration_id": cfg, "proofs": proofs}
			}
			jwtProof := func(h *harness, o proofOpts) map[string]any {
				return map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), o)}}
			}
			valid := func(h *harness) []byte { return body(h, withProofs("mdl", jwtProof(h, proofOpts{}))) }
			cases := []tc{
				{name: "T55 token in query", build: func(h *harness) req {
					return req{path: PathCredential, noAuth: true, query: "?access_token=" + h.token, body: valid(h)}
				}, status: 400, code: oauth.CodeInvalidRequest},
				{name: "no Authorization header", build: func(h *harness) req {
					return req{path: PathCredential, noAuth: true, body: valid(h)}
				}, status: 401, code: oauth.CodeInvalidToken},
				{name: "T56 Bearer scheme", build: func(h *harness) req {
					return req{path: PathCredential, scheme: "Bearer", body: valid(h)}
				}, status: 401, code: oauth.CodeInvalidToken},
				{name: "unknown access token", build: func(h *harness) req {
					return req{path: PathCredential, token: "at-unknown", body: valid(h)}
				}, status: 401, code: oauth.CodeInvalidToken},
				{name: "token not DPoP-bound", setup: func(h *harness) {
					h.tokens.put("at-unbound", &oauth.Grant{ClientID: testClient, CredentialConfigurationIDs: []string{"mdl"}})
				}, build: func(h *harness) req {
					return req{path: PathCredential, token: "at-unbound", body: valid(h)}
				}, status: 401, code: oauth.CodeInvalidToken},
				{name: "T57 no DPoP header", build: func(h *harness) req {
					return req{path: PathCredential, noDPoP: true, body: valid(h)}
				}, status: 401, code: oauth.CodeInvalidDPoPProof},
				{name: "T58 DPoP key is not the token's key", build: func(h *harness) req {
					return req{path: PathCredential, dpopKey: newKey(h.t), body: valid(h)}
				}, status: 401, code: oauth.CodeInvalidToken},
				{name: "T57 DPoP without ath", build: func(h *harness) req {
					return req{path: PathCredential, dpopOpts: []dpoptest.Option{dpoptest.Claim("ath", nil)}, body: valid(h)}
				}, status: 401, code: oauth.CodeInvalidDPoPProof},
				{name: "T57 DPoP with wrong ath", build: func(h *harness) req {
					return req{path: PathCredential, dpopOpts: []dpoptest.Option{dpoptest.AccessToken("another-token")}, body: valid(h)}
				}, status: 401, code: oauth.CodeInvalidDPoPProof},
				{name: "DPoP htu of another endpoint", build: func(h *harness) req {
					return req{path: PathCredential, dpopOpts: []dpoptest.Option{dpoptest.Claim("htu", testIssuer+PathNotification)}, body: valid(h)}
				}, status: 401, code: oauth.CodeInvalidDPoPProof},
				{name: "T59 replayed DPoP proof", build: func(h *harness) req {
					r := req{path: PathCredential, dpopOpts: []dpoptest.Option{dpoptest.JTI("fixed-jti-1")}, body: valid(h)}
					if first := h.send(r); first.Code != 200 {
						h.t.Fatalf("first use: %d %s", first.Code, first.Body)
					}
					r.body = valid(h)
					return r
				}, status: 401, code: oauth.CodeInvalidDPoPProof},
				{name: "T60 DPoP nonce required", setup: func(h *harness) { h.requireDPoPNonces() }, build: func(h *harness) req {
					return req{path: PathCredential, body: valid(h)}
				}, status: 401, code: oauth.CodeUseDPoPNonce},
				{name: "T61 unknown configuration", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("urn:uuid:8a0e", jwtProof(h, proofOpts{})))}
				}, status: 400, code: oauth.CodeUnknownCredentialConfiguration},
				{name: "T62 unknown credential_identifier", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, map[string]any{"credential_identifier": "unknown:1", "proofs": jwtProof(h, proofOpts{})})}
				}, status: 400, code: oauth.CodeUnknownCredentialIdentifier},
				{name: "T63 both identifiers", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, map[string]any{"credential_identifier": "x", "credential_configuration_id": "mdl", "proofs": jwtProof(h, proofOpts{})})}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "T63 neither identifier", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, map[string]any{"proofs": jwtProof(h, proofOpts{})})}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "configuration id not a string", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, map[string]any{"credential_configuration_id": 7, "proofs": jwtProof(h, proofOpts{})})}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "T64 configuration not covered by the token", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("other", jwtProof(h, proofOpts{})))}
				}, status: 403, code: oauth.CodeInsufficientScope},
				{name: "T65 no proofs", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, map[string]any{"credential_configuration_id": "mdl"})}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "legacy proof parameter", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, map[string]any{"credential_configuration_id": "mdl",
						"proof": map[string]any{"proof_type": "jwt", "jwt": h.proof(h.holder, h.cnonce(), proofOpts{})}})}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "T66 proof without nonce", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{claims: map[string]any{"nonce": nil}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T67 random nonce", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{claims: map[string]any{"nonce": "6f1c2a4e-0d6b-4d55-9d59-2b2b8a0e1c11"}})))}
				}, status: 400, code: oauth.CodeInvalidNonce},
				{name: "T67 expired nonce", build: func(h *harness) req {
					p := h.proof(h.holder, h.cnonce(), proofOpts{claims: map[string]any{"iat": h.clock.Now().Add(6 * time.Minute).Unix()}})
					h.clock.Advance(6 * time.Minute)
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"jwt": []string{p}}))}
				}, status: 400, code: oauth.CodeInvalidNonce},
				{name: "T68 typ JWT", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{header: map[string]any{"typ": "JWT"}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T68 aud not the issuer", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{claims: map[string]any{"aud": "https://other.example"}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T68 alg ES384", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{header: map[string]any{"alg": "ES384"}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T68 alg none", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{header: map[string]any{"alg": "none"}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T68 jwk with private key", build: func(h *harness) req {
					j := pubJWK(h.holder)
					d, err := h.holder.Bytes()
					if err != nil {
						h.t.Fatal(err)
					}
					j["d"] = base64.RawURLEncoding.EncodeToString(d)
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{header: map[string]any{"jwk": j}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T68 jwk and kid", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{header: map[string]any{"kid": "k1"}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "kid only", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{header: map[string]any{"kid": "did:example:1#k", "jwk": nil}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "no key in header", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{header: map[string]any{"jwk": nil}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "proof with an unsupported crit header", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{header: map[string]any{"crit": []string{"x-ext"}, "x-ext": 1}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "proof with a trust_chain", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{header: map[string]any{"trust_chain": []string{"a"}}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "proof with a P-384 jwk", build: func(h *harness) req {
					j := pubJWK(h.holder)
					j["crv"] = "P-384"
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{header: map[string]any{"jwk": j}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "proof expired (exp)", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{claims: map[string]any{"exp": h.clock.Now().Add(-2 * time.Minute).Unix()}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T68 broken signature", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{signer: newKey(h.t)})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "iat in the future", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{claims: map[string]any{"iat": h.clock.Now().Add(5 * time.Minute).Unix()}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "iat too old", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{claims: map[string]any{"iat": h.clock.Now().Add(-10 * time.Minute).Unix()}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "iat missing", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{claims: map[string]any{"iat": nil}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "iss not the client", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{claims: map[string]any{"iss": "someone-else"}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "proof jti replayed", build: func(h *harness) req {
					p := h.proof(h.holder, h.cnonce(), proofOpts{claims: map[string]any{"jti": "j-1"}})
					rec := h.credential(withProofs("mdl", map[string]any{"jwt": []string{p}}))
					if rec.Code != 200 {
						h.t.Fatalf("first use: %d %s", rec.Code, rec.Body)
					}
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"jwt": []string{p}}))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "proof jti replayed in one request", build: func(h *harness) req {
					cn := h.cnonce()
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"jwt": []string{
						h.proof(h.holder, cn, proofOpts{claims: map[string]any{"jti": "same"}}),
						h.proof(newKey(h.t), cn, proofOpts{claims: map[string]any{"jti": "same"}}),
					}}))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T69 key attestation required, none sent", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl_ka", jwtProof(h, proofOpts{})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T70 key attestation bad signature", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, "", nil, wiatest.WithBadSignature())
					return req{path: PathCredential, body: body(h, withProofs("mdl_ka", jwtProof(h, proofOpts{header: map[string]any{"key_attestation": ka}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T70 key attestation self-signed x5c", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, "", nil, wiatest.SelfSigned())
					return req{path: PathCredential, body: body(h, withProofs("mdl_ka", jwtProof(h, proofOpts{header: map[string]any{"key_attestation": ka}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T70 key attestation from an untrusted attester", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, "", nil, wiatest.Untrusted())
					return req{path: PathCredential, body: body(h, withProofs("mdl_ka", jwtProof(h, proofOpts{header: map[string]any{"key_attestation": ka}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "key attestation with a wrong typ", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, "", nil, wiatest.WithTyp("keyattestation+jwt"))
					return req{path: PathCredential, body: body(h, withProofs("mdl_ka", jwtProof(h, proofOpts{header: map[string]any{"key_attestation": ka}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T70 key attestation without exp in jwt proof", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, "", map[string]any{"exp": nil})
					return req{path: PathCredential, body: body(h, withProofs("mdl_ka", jwtProof(h, proofOpts{header: map[string]any{"key_attestation": ka}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T70 key attestation expired", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, "", map[string]any{"exp": h.clock.Now().Add(-time.Minute).Unix()})
					return req{path: PathCredential, body: body(h, withProofs("mdl_ka", jwtProof(h, proofOpts{header: map[string]any{"key_attestation": ka}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T70 key_storage below requirement", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, "", map[string]any{"key_storage": []string{"iso_18045_basic"}})
					return req{path: PathCredential, body: body(h, withProofs("mdl_ka", jwtProof(h, proofOpts{header: map[string]any{"key_attestation": ka}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "key attestation with a foreign nonce", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, "not-a-c-nonce", nil)
					return req{path: PathCredential, body: body(h, withProofs("mdl_ka", jwtProof(h, proofOpts{header: map[string]any{"key_attestation": ka}})))}
				}, status: 400, code: oauth.CodeInvalidNonce},
				{name: "T71 proof key not attested", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{newKey(h.t)}, "", nil)
					return req{path: PathCredential, body: body(h, withProofs("mdl_ka", jwtProof(h, proofOpts{header: map[string]any{"key_attestation": ka}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T72 attestation proof with two JWTs", build: func(h *harness) req {
					cn := h.cnonce()
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, cn, nil)
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"attestation": []string{ka, ka}}))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "attestation proof without nonce", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, "", nil)
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"attestation": []string{ka}}))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "attestation proof with a bad nonce", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, "bogus", nil)
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"attestation": []string{ka}}))}
				}, status: 400, code: oauth.CodeInvalidNonce},
				{name: "attestation proof type not accepted", build: func(h *harness) req {
					ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, h.cnonce(), nil)
					return req{path: PathCredential, body: body(h, withProofs("mdl_deferred", map[string]any{"attestation": []string{ka}}))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T73 two proof types", build: func(h *harness) req {
					p := h.proof(h.holder, h.cnonce(), proofOpts{})
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"jwt": []string{p}, "attestation": []string{p}}))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "unknown proof type", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"di_vp": []string{"x"}}))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "proofs.jwt a string", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"jwt": h.proof(h.holder, h.cnonce(), proofOpts{})}))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "empty proofs.jwt", build: func(h *harness) req {
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"jwt": []string{}}))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "same key in two proofs", build: func(h *harness) req {
					cn := h.cnonce()
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"jwt": []string{h.proof(h.holder, cn, proofOpts{}), h.proof(h.holder, cn, proofOpts{})}}))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "T75 more proofs than batch_size", build: func(h *harness) req {
					cn := h.cnonce()
					var ps []string
					for range 4 {
						ps = append(ps, h.proof(newKey(h.t), cn, proofOpts{}))
					}
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"jwt": ps}))}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "more attested keys than batch_size", build: func(h *harness) req {
					keys := []*ecdsa.PrivateKey{h.holder, newKey(h.t), newKey(h.t), newKey(h.t)}
					ka := h.keyAttestation(keys, "", nil)
					return req{path: PathCredential, body: body(h, withProofs("mdl", jwtProof(h, proofOpts{header: map[string]any{"key_attestation": ka}})))}
				}, status: 400, code: oauth.CodeInvalidProof},
				{name: "no batch: two proofs", opts: []harnessOpt{func(o *Options) { o.BatchSize = 0 }}, build: func(h *harness) req {
					cn := h.cnonce()
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"jwt": []string{h.proof(h.holder, cn, proofOpts{}), h.proof(newKey(h.t), cn, proofOpts{})}}))}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "configuration batch size below the default", opts: []harnessOpt{func(o *Options) {
					c := o.Configurations["mdl"]
					c.BatchSize = 1
					o.Configurations["mdl"] = c
				}}, build: func(h *harness) req {
					cn := h.cnonce()
					return req{path: PathCredential, body: body(h, withProofs("mdl", map[string]any{"jwt": []string{h.proof(h.holder, cn, proofOpts{}), h.proof(newKey(h.t), cn, proofOpts{})}}))}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "T76 text/plain", build: func(h *harness) req {
					return req{path: PathCredential, contentType: "text/plain", body: valid(h)}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "T76 malformed JSON", build: func(h *harness) req {
					return req{path: PathCredential, body: []byte(`{"credential_configuration_id": "mdl",`)}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "JSON array body", build: func(h *harness) req {
					return req{path: PathCredential, body: []byte(`["mdl"]`)}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "duplicated parameter", build: func(h *harness) req {
					return req{path: PathCredential, body: []byte(`{"credential_configuration_id":"mdl","credential_configuration_id":"other"}`)}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "body too large", build: func(h *harness) req {
					return req{path: PathCredential, body: []byte(`{"x":"` + strings.Repeat("a", 600<<10) + `"}`)}
				}, status: 400, code: oauth.CodeInvalidCredentialRequest},
				{name: "T79 response encryption in a plain request", opts: []harnessOpt{withEncryption(false, false)}, build: func(h *harness) req {
					m := withProofs("mdl", jwtProof(h, proofOpts{}))
					m["credential_response_encryption"] = map[string]any{"jwk": walletEncJWK(h.t, newKey(h.t), "ECDH-ES"), "enc": "A128GCM"}
					return req{path: PathCredential, body: body(h, m)}
				}, status: 400, code: oauth.CodeInvalidEncryptionParameters},
				{name: "T80 request encryption required, plain request", opts: []harnessOpt{withEncryption(true, false)}, build: func(h *harness) req {
					return req{path: PathCredential, body: valid(h)}
				}, status: 400, code: oauth.CodeInvalidEncryptionParameters},
				{name: "response encryption without issuer support", build: func(h *harness) req {
					m := withProofs("mdl", jwtProof(h, proofOpts{}))
					m["credential_response_encryption"] = map[string]any{"jwk": walletEncJWK(h.t, newKey(h.t), "ECDH-ES"), "enc": "A128GCM"}
					return req{path: PathCredential, body: body(h, m)}
				}, status: 400, code: oauth.CodeInvalidEncryptionParameters},
				{name: "JWE request without issuer support", build: func(h *harness) req {
					return req{path: PathCredential, contentType: "application/jwt", body: []byte("a.b.c.d.e")}
				}, status: 400, code: oauth.CodeInvalidEncryptionParameters},
				{name: "claims source has no data", setup: func(h *harness) {
					h.tokens.put(h.token, &oauth.Grant{ClientID: testClient, Subject: "bob", JKT: jktOf(h.t, &h.holder.PublicKey), CredentialConfigurationIDs: []string{"mdl"}})
				}, build: func(h *harness) req {
					return req{path: PathCredential, body: valid(h)}
				}, status: 400, code: oauth.CodeCredentialRequestDenied},
				{name: "claims source down", setup: func(h *harness) { h.claims.fail = errOutage }, build: func(h *harness) req {
					return req{path: PathCredential, body: valid(h)}
				}, status: 503, code: oauth.CodeTemporarilyUnavailable},
				{name: "store down", setup: func(h *harness) { h.claims.fail = storage.ErrUnavailable }, build: func(h *harness) req {
					return req{path: PathCredential, body: valid(h)}
				}, status: 503, code: oauth.CodeTemporarilyUnavailable},
				{name: "GET on credential endpoint", build: func(h *harness) req {
					return req{path: PathCredential}
				}, status: 405, code: oauth.CodeMethodNotAllowed},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					h := newHarness(t, append(c.opts, onBackend(t, be))...)
					if c.setup != nil {
						c.setup(h)
					}
					r := c.build(h)
					var rec *httptest.ResponseRecorder
					if c.name == "GET on credential endpoint" {
						rec = h.do(http.MethodGet, PathCredential, nil, "", nil)
					} else {
						rec = h.send(r)
					}
					wantError(t, rec, c.status, c.code)
					if c.status == 400 && c.code != oauth.CodeInvalidRequest && c.code != oauth.CodeMethodNotAllowed {
						if ev := h.events.byType(EventRequestFailed); len(ev) != 1 || ev[0].ErrorCode != c.code || ev[0].ClientID != testClient || ev[0].Endpoint != PathCredential {
							t.Fatalf("failure events %+v", ev)
						}
					}
					if c.status == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "DPoP") {
						t.Fatalf("401 without WWW-Authenticate: DPoP: %v", rec.Header())
					}
					if c.code == oauth.CodeUseDPoPNonce && rec.Header().Get("DPoP-Nonce") == "" {
						t.Fatal("use_dpop_nonce without DPoP-Nonce")
					}
					if n := len(h.events.byType(EventCredentialIssued)); c.name != "proof jti replayed" && c.name != "T59 replayed DPoP proof" && n != 0 {
						t.Fatalf("%d credentials issued on a failed request", n)
					}
				})
			}
		})
	}
}

// TestDPoPNonceRetry: a failed request consumes nothing; the same body
// (same proof, same c_nonce) succeeds after the DPoP nonce retry (T60).
func TestDPoPNonceRetry(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			h := newHarness(t, onBackend(t, be))
			h.requireDPoPNonces()
			b := mustJSON(t, map[string]any{"credential_configuration_id": "mdl",
				"proofs": map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{})}}})
			rec := h.send(req{path: PathCredential, body: b})
			wantError(t, rec, 401, oauth.CodeUseDPoPNonce)
			dn := rec.Header().Get("DPoP-Nonce")
			rec = h.send(req{path: PathCredential, body: b, dpopNonce: dn})
			decodeCredentials(t, rec)
			if n := rec.Header().Values("DPoP-Nonce"); len(n) != 1 || h.dnonces.Check(n[0]) != nil {
				t.Fatalf("success without one fresh DPoP-Nonce: %v", n)
			}
			// The Nonce Endpoint's DPoP-Nonce is accepted too.
			n := h.do(http.MethodPost, PathNonce, nil, "", nil).Header().Get("DPoP-Nonce")
			b = mustJSON(t, map[string]any{"credential_configuration_id": "mdl",
				"proofs": map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{})}}})
			decodeCredentials(t, h.send(req{path: PathCredential, body: b, dpopNonce: n}))
		})
	}
}

func TestBatchIssuance(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			h := newHarness(t, onBackend(t, be))
			cn := h.cnonce()
			keys := []*ecdsa.PrivateKey{newKey(t), newKey(t), newKey(t)}
			var ps []string
			for _, k := range keys {
				ps = append(ps, h.proof(k, cn, proofOpts{}))
			}
			body, creds := decodeCredentials(t, h.credential(map[string]any{"credential_configuration_id": "mdl", "proofs": map[string]any{"jwt": ps}}))
			if len(creds) != 3 {
				t.Fatalf("T74: %d credentials", len(creds))
			}
			salts := map[string]bool{}
			for i, c := range creds {
				if c.JKT != jktOf(t, &keys[i].PublicKey) {
					t.Fatalf("credential %d not bound to proof key %d", i, i)
				}
				salts[c.Salt] = true
				a, _ := json.Marshal(c.Claims)
				b, _ := json.Marshal(creds[0].Claims)
				if string(a) != string(b) {
					t.Fatal("claims differ across the batch")
				}
			}
			if len(salts) != 3 {
				t.Fatal("salts repeat across the batch")
			}
			ev := h.events.byType(EventCredentialIssued)
			if len(ev) != 1 || len(ev[0].RecordIDs) != 3 {
				t.Fatalf("events %+v", ev)
			}
			// One notification_id covers the batch: every record is marked.
			nid := body.NotificationID
			if rec := h.send(req{path: PathNotification, body: mustJSON(t, map[string]any{"notification_id": nid, "event": NotificationAccepted})}); rec.Code != 204 {
				t.Fatalf("notification: %d %s", rec.Code, rec.Body)
			}
			for _, id := range ev[0].RecordIDs {
				if r, err := h.svc.IssuedRecord(t.Context(), id); err != nil || r.NotificationStatus != NotificationAccepted {
					t.Fatalf("record %s: %+v %v", id, r, err)
				}
			}
			if n := h.events.byType(EventNotification); len(n) != 1 || len(n[0].RecordIDs) != 3 {
				t.Fatalf("notification events %+v", n)
			}
		})
	}
}

// TestKeyAttestationKeys: with a key attestation in a jwt proof every
// attested key becomes a device key (VCI F.1); the attestation proof type
// binds all attested keys (F.3).
func TestKeyAttestationKeys(t *testing.T) {
	for _, typ := range []string{ProofTypeJWT, ProofTypeAttestation} {
		t.Run(typ, func(t *testing.T) {
			h := newHarness(t)
			cn := h.cnonce()
			keys := []*ecdsa.PrivateKey{h.holder, newKey(t), newKey(t)}
			var proofs map[string]any
			if typ == ProofTypeJWT {
				ka := h.keyAttestation(keys, "", nil)
				// two proofs with the same attestation: the union is the three keys
				proofs = map[string]any{"jwt": []string{
					h.proof(keys[0], cn, proofOpts{header: map[string]any{"key_attestation": ka}}),
					h.proof(keys[1], cn, proofOpts{header: map[string]any{"key_attestation": ka}}),
				}}
			} else {
				proofs = map[string]any{"attestation": []string{h.keyAttestation(keys, cn, nil)}}
			}
			_, creds := decodeCredentials(t, h.credential(map[string]any{"credential_configuration_id": "mdl_ka", "proofs": proofs}))
			if len(creds) != 3 {
				t.Fatalf("%d credentials", len(creds))
			}
			want := map[string]bool{}
			for _, k := range keys {
				want[jktOf(t, &k.PublicKey)] = true
			}
			for _, c := range creds {
				if !want[c.JKT] {
					t.Fatal("credential bound to a key that was not attested")
				}
				delete(want, c.JKT)
			}
			r, err := h.svc.IssuedRecord(t.Context(), h.events.byType(EventCredentialIssued)[0].RecordIDs[0])
			if err != nil || r.KeyAttestationIssuer != testAttester {
				t.Fatalf("record %+v %v", r, err)
			}
		})
	}
}

func TestX5CProofKey(t *testing.T) {
	h := newHarness(t)
	k := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "holder"},
		NotBefore: h.clock.Now().Add(-time.Hour), NotAfter: h.clock.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(nilReader{}, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	p := h.proof(k, h.cnonce(), proofOpts{header: map[string]any{"jwk": nil, "x5c": []string{base64.StdEncoding.EncodeToString(der)}}})
	_, creds := decodeCredentials(t, h.credential(map[string]any{"credential_configuration_id": "mdl", "proofs": map[string]any{"jwt": []string{p}}}))
	if creds[0].JKT != jktOf(t, &k.PublicKey) {
		t.Fatal("x5c proof not bound to the certificate key")
	}
	p = h.proof(k, h.cnonce(), proofOpts{header: map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(der)}}})
	wantError(t, h.credential(map[string]any{"credential_configuration_id": "mdl", "proofs": map[string]any{"jwt": []string{p}}}), 400, oauth.CodeInvalidProof)
}

type nilReader struct{}

func (nilReader) Read(p []byte) (int, error) { copy(p, randBytes(len(p))); return len(p), nil }

// TestFailedRequestKeepsProofUsable: a request refused for a reason the
// wallet does not control (claims source down) does not burn the proof's
// jti; the same body succeeds on retry, and only once.
func TestFailedRequestKeepsProofUsable(t *testing.T) {
	h := newHarness(t)
	b := mustJSON(t, map[string]any{"credential_configuration_id": "mdl",
		"proofs": map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{claims: map[string]any{"jti": "j-retry"}})}}})
	h.claims.fail = errOutage
	wantError(t, h.send(req{path: PathCredential, body: b}), 503, oauth.CodeTemporarilyUnavailable)
	h.claims.fail = nil
	decodeCredentials(t, h.send(req{path: PathCredential, body: b}))
	wantError(t, h.send(req{path: PathCredential, body: b}), 400, oauth.CodeInvalidProof)
}

// TestProofKeyFromKeyAttestation: a jwt proof may name its key through the
// key attestation alone (VCI F.1: signed by one of attested_keys), with or
// without a kid; jwk, kid and x5c stay mutually exclusive.
func TestProofKeyFromKeyAttestation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header func(ka string) map[string]any
		signer int // index into keys; -1 = a key that is not attested
		status int
		code   string
	}{
		{"no jwk, no kid", func(ka string) map[string]any { return map[string]any{"jwk": nil, "key_attestation": ka} }, 1, 200, ""},
		{"kid with key attestation", func(ka string) map[string]any {
			return map[string]any{"jwk": nil, "kid": "1", "key_attestation": ka}
		}, 1, 200, ""},
		{"signer not attested", func(ka string) map[string]any { return map[string]any{"jwk": nil, "key_attestation": ka} }, -1, 400, oauth.CodeInvalidProof},
		{"jwk and kid", func(ka string) map[string]any { return map[string]any{"kid": "0", "key_attestation": ka} }, 0, 400, oauth.CodeInvalidProof},
		{"kid without key attestation", func(string) map[string]any { return map[string]any{"jwk": nil, "kid": "0"} }, 0, 400, oauth.CodeInvalidProof},
		{"no key at all", func(string) map[string]any { return map[string]any{"jwk": nil} }, 0, 400, oauth.CodeInvalidProof},
		{"crit header", func(ka string) map[string]any {
			return map[string]any{"crit": []string{"exp"}, "key_attestation": ka}
		}, 0, 400, oauth.CodeInvalidProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			cn := h.cnonce()
			keys := []*ecdsa.PrivateKey{h.holder, newKey(t)}
			ka := h.keyAttestation(keys, "", nil)
			signer := newKey(t)
			if tc.signer >= 0 {
				signer = keys[tc.signer]
			}
			p := h.proof(signer, cn, proofOpts{header: tc.header(ka)})
			rec := h.credential(map[string]any{"credential_configuration_id": "mdl_ka", "proofs": map[string]any{"jwt": []string{p}}})
			if tc.status != 200 {
				wantError(t, rec, tc.status, tc.code)
				return
			}
			_, creds := decodeCredentials(t, rec)
			if len(creds) != len(keys) {
				t.Fatalf("%d credentials for %d attested keys", len(creds), len(keys))
			}
		})
	}
}
