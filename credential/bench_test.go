package credential

import (
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// Micro-benchmarks of the credential endpoint's hot paths through the real
// handler: DPoP, access token, proof verification, claims and the response,
// with the harness's fake signer (the MSO signature is mdoc's benchmark).
// Client-side work (signing the proofs, sealing the request) is outside the
// timer. The load benchmark of the whole issuer is cmd/issuer-bench.

// benchCredential runs one credential request per iteration; body makes the
// request body for a fresh c_nonce.
func benchCredential(b *testing.B, h *harness, contentType string, body func(cn string) []byte, check func(*testing.B, int, []byte)) {
	b.Helper()
	cn := h.cnonce()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := req{path: PathCredential, contentType: contentType, body: body(cn)}
		hdr := http.Header{}
		hdr.Set("Content-Type", contentType)
		hdr.Set("Authorization", "DPoP "+h.token)
		hdr.Set("DPoP", h.dpopProof(req{path: PathCredential, token: h.token, dpopKey: h.holder}))
		b.StartTimer()
		rec := h.do(http.MethodPost, r.path, hdr, "", r.body)
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
		if check != nil && i == 0 {
			b.StopTimer()
			check(b, rec.Code, rec.Body.Bytes())
			b.StartTimer()
		}
	}
}

// BenchmarkCredentialJWTProof: one jwt proof with its key in jwk.
func BenchmarkCredentialJWTProof(b *testing.B) {
	h := newHarness(b)
	benchCredential(b, h, "application/json", func(cn string) []byte {
		return mustJSON(b, map[string]any{"credential_configuration_id": "mdl",
			"proofs": map[string]any{"jwt": []string{h.proof(h.holder, cn, proofOpts{})}}})
	}, nil)
}

// BenchmarkCredentialJWTProofKeyAttestation: one jwt proof carrying a key
// attestation (x5c chain) in its header, as HAIP wallets send it.
func BenchmarkCredentialJWTProofKeyAttestation(b *testing.B) {
	h := newHarness(b)
	benchCredential(b, h, "application/json", func(cn string) []byte {
		ka := h.keyAttestation([]*ecdsa.PrivateKey{h.holder}, cn, nil)
		return mustJSON(b, map[string]any{"credential_configuration_id": "mdl_ka",
			"proofs": map[string]any{"jwt": []string{h.proof(h.holder, cn, proofOpts{header: map[string]any{"key_attestation": ka}})}}})
	}, nil)
}

// BenchmarkCredentialBatchKeyAttestation: a batch of 3 keys covered by one
// key attestation in one jwt proof.
func BenchmarkCredentialBatchKeyAttestation(b *testing.B) {
	h := newHarness(b)
	keys := []*ecdsa.PrivateKey{h.holder, newKey(b), newKey(b)}
	benchCredential(b, h, "application/json", func(cn string) []byte {
		ka := h.keyAttestation(keys, cn, nil)
		return mustJSON(b, map[string]any{"credential_configuration_id": "mdl_ka",
			"proofs": map[string]any{"jwt": []string{h.proof(h.holder, cn, proofOpts{header: map[string]any{"key_attestation": ka}})}}})
	}, func(b *testing.B, _ int, body []byte) {
		var r credentialResponseBody
		if err := json.Unmarshal(body, &r); err != nil || len(r.Credentials) != len(keys) {
			b.Fatalf("batch response %s", body)
		}
	})
}

// BenchmarkCredentialEncrypted: an encrypted request (ECDH-ES, A128GCM) asking
// for an encrypted response (ECDH-ES, A256GCM).
func BenchmarkCredentialEncrypted(b *testing.B) {
	h := newHarness(b, withEncryption(true, true))
	wk := newKey(b)
	benchCredential(b, h, "application/jwt", func(cn string) []byte {
		return h.encryptRequest(map[string]any{"credential_configuration_id": "mdl",
			"proofs":                         map[string]any{"jwt": []string{h.proof(h.holder, cn, proofOpts{})}},
			"credential_response_encryption": map[string]any{"jwk": walletEncJWK(b, wk, "ECDH-ES"), "enc": "A256GCM"}}, "req-enc-1", jose.A128GCM, false)
	}, func(b *testing.B, _ int, body []byte) {
		obj, err := jose.ParseEncryptedCompact(string(body), []jose.KeyAlgorithm{jose.ECDH_ES}, []jose.ContentEncryption{jose.A256GCM})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := obj.Decrypt(wk); err != nil {
			b.Fatal(err)
		}
	})
}
