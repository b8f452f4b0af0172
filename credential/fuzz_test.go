package credential

import (
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
)

// checkOutcome fails on anything but a success or a 4xx protocol error with
// a known code: a wallet must never get a 5xx or a panic from bad input.
func checkOutcome(t *testing.T, err error, okCodes ...string) {
	t.Helper()
	if err == nil {
		return
	}
	e := oauth.As(err)
	if e == nil {
		t.Fatalf("not a protocol error: %v", err)
	}
	if e.Status < 400 || e.Status >= 500 {
		t.Fatalf("status %d for %v", e.Status, e)
	}
	for _, c := range okCodes {
		if e.Code == c {
			return
		}
	}
	t.Fatalf("unexpected code %s (%s)", e.Code, e.Description)
}

var proofCodes = []string{oauth.CodeInvalidProof, oauth.CodeInvalidNonce, oauth.CodeInvalidCredentialRequest}

// FuzzCredentialRequest drives the whole Credential Endpoint with an
// arbitrary JSON body behind valid authorization.
func FuzzCredentialRequest(f *testing.F) {
	h := newHarness(f)
	cn := h.cnonce()
	p := h.proof(h.holder, cn, proofOpts{})
	for _, s := range []string{
		`{"credential_configuration_id":"mdl","proofs":{"jwt":["` + p + `"]}}`,
		`{"credential_identifier":"x","proofs":{"attestation":["a.b.c"]}}`,
		`{"credential_configuration_id":"mdl","proof":{"proof_type":"jwt","jwt":"x"}}`,
		`{"credential_configuration_id":"mdl_deferred","proofs":{"jwt":[1,2]}}`,
		`{"credential_configuration_id":"mdl","credential_response_encryption":{"jwk":{},"enc":"A128GCM"}}`,
		`{"a":1,"a":2}`, `[]`, `{`, `null`, ``, `{"proofs":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		h.t = t
		rec := h.send(req{path: PathCredential, body: body})
		switch {
		case rec.Code == http.StatusOK || rec.Code == http.StatusAccepted:
		case rec.Code >= 400 && rec.Code < 500:
			var b oauth.Body
			if json.Unmarshal(rec.Body.Bytes(), &b) != nil || b.Error == "" {
				t.Fatalf("4xx without error body: %q", rec.Body)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzJWTProof verifies arbitrary jwt proof strings.
func FuzzJWTProof(f *testing.F) {
	h := newHarness(f)
	cn := h.cnonce()
	cfg := h.opts.Configurations["mdl"]
	g := &grantCtx{Grant: &oauth.Grant{ClientID: testClient}}
	f.Add(h.proof(h.holder, cn, proofOpts{}))
	f.Add(h.proof(h.holder, cn, proofOpts{header: map[string]any{"kid": "x"}}))
	f.Add(h.proof(h.holder, cn, proofOpts{header: map[string]any{"jwk": nil, "x5c": []string{"AAAA"}}}))
	f.Add(h.proof(h.holder, cn, proofOpts{claims: map[string]any{"aud": []any{1, "x"}, "iat": "now", "exp": 1e300}}))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("...")
	f.Fuzz(func(t *testing.T, p string) {
		h.t = t
		raw, _ := json.Marshal(map[string]any{"jwt": []string{p}})
		pk, err := h.svc.verifyProofs(t.Context(), cfg, raw, g)
		checkOutcome(t, err, proofCodes...)
		if err == nil && len(pk.keys) != 1 {
			t.Fatalf("%d keys from one proof", len(pk.keys))
		}
	})
}

// FuzzKeyAttestationHeader feeds arbitrary key attestations to the
// handling of a jwt proof's key_attestation header (verification, exp, nonce,
// attested key match, requirement) and to the attestation proof type.
// Signing a fresh proof per input would make the target too slow under
// coverage instrumentation; the seeds run the full proof path as well.
func FuzzKeyAttestationHeader(f *testing.F) {
	h := newHarness(f)
	cn := h.cnonce()
	cfg := h.opts.Configurations["mdl_ka"]
	g := &grantCtx{Grant: &oauth.Grant{ClientID: testClient}}
	seeds := []string{
		h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, "", nil),
		h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, cn, map[string]any{"attested_keys": []any{map[string]any{"kty": "EC"}}}),
		h.keyAttestation(nil, cn, map[string]any{"attested_keys": "x", "exp": -1}),
		"a.b.c",
	}
	for _, s := range seeds {
		f.Add(s)
		p := h.proof(h.holder, cn, proofOpts{header: map[string]any{"key_attestation": s}})
		raw, _ := json.Marshal(map[string]any{"jwt": []string{p}})
		_, err := h.svc.verifyProofs(f.Context(), cfg, raw, g)
		if err != nil && oauth.As(err) == nil {
			f.Fatalf("seed: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, ka string) {
		h.t = t
		att, err := h.svc.verifyKeyAttestation(t.Context(), ka, true)
		checkOutcome(t, err, proofCodes...)
		if err == nil {
			_ = att.Attests(&jose.JSONWebKey{Key: &h.holder.PublicKey})
			checkOutcome(t, meetsRequirement(cfg.KeyAttestationsRequired, att), proofCodes...)
		}
		raw, _ := json.Marshal(map[string]any{"attestation": []string{ka}})
		_, err = h.svc.verifyProofs(t.Context(), cfg, raw, g)
		checkOutcome(t, err, proofCodes...)
	})
}

// FuzzJWERequest opens arbitrary encrypted request bodies and validates
// arbitrary credential_response_encryption objects.
func FuzzJWERequest(f *testing.F) {
	h := newHarness(f, withEncryption(false, false))
	valid := h.encryptRequest(map[string]any{"credential_configuration_id": "mdl"}, "req-enc-1", jose.A128GCM, true)
	f.Add(valid, []byte(`{"jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA","alg":"ECDH-ES"},"enc":"A128GCM"}`))
	f.Add([]byte("eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTEyOEdDTSIsImtpZCI6InJlcS1lbmMtMSJ9.a.b.c.d"), []byte(`{"jwk":null}`))
	f.Add([]byte("....."), []byte(`[]`))
	f.Fuzz(func(t *testing.T, body, cre []byte) {
		h.t = t
		plain, _, err := h.svc.openRequest(body, oauth.MediaJWT, oauth.CodeInvalidCredentialRequest)
		checkOutcome(t, err, oauth.CodeInvalidEncryptionParameters)
		if err == nil && plain == nil {
			t.Fatal("nil plaintext")
		}
		_, err = h.svc.responseEncryption(cre, true)
		checkOutcome(t, err, oauth.CodeInvalidEncryptionParameters)
	})
}

// FuzzDeferredAndNotification sends arbitrary bodies to the Deferred
// Credential and Notification endpoints behind valid authorization.
func FuzzDeferredAndNotification(f *testing.F) {
	h := newHarness(f)
	tx := h.startDeferred()
	b, _ := decodeCredentials(f, h.credential(map[string]any{"credential_configuration_id": "mdl",
		"proofs": map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{})}}}))
	for _, s := range []string{
		`{"transaction_id":"` + tx + `"}`,
		`{"notification_id":"` + b.NotificationID + `","event":"credential_accepted"}`,
		`{"notification_id":"` + b.NotificationID + `","event":"credential_failure","event_description":"x"}`,
		`{"transaction_id":7}`, `{"notification_id":[],"event":{}}`, `{}`, `nul`, `{"a":1}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		h.t = t
		for _, path := range []string{PathDeferred, PathNotification} {
			rec := h.send(req{path: path, body: body})
			switch {
			case rec.Code == http.StatusOK || rec.Code == http.StatusAccepted || rec.Code == http.StatusNoContent:
			case rec.Code >= 400 && rec.Code < 500:
				var e oauth.Body
				if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
					t.Fatalf("%s: 4xx without error body: %q", path, rec.Body)
				}
			default:
				t.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body)
			}
		}
	})
}
