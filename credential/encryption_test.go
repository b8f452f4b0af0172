package credential

import (
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
)

func walletEncJWK(t testing.TB, k *ecdsa.PrivateKey, alg string) map[string]any {
	m := pubJWK(k)
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

// encryptRequest seals a JSON request to the issuer's request encryption key
// the way the conformance wallet does (kid, cty json).
func (h *harness) encryptRequest(v any, kid string, enc jose.ContentEncryption, zip bool) []byte {
	h.t.Helper()
	pub := &h.encKey.PublicKey
	opts := (&jose.EncrypterOptions{}).WithContentType("json")
	if zip {
		opts.Compression = jose.DEFLATE
	}
	e, err := jose.NewEncrypter(enc, jose.Recipient{Algorithm: jose.ECDH_ES, Key: pub, KeyID: kid}, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	obj, err := e.Encrypt(mustJSON(h.t, v))
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		h.t.Fatal(err)
	}
	return []byte(s)
}

func TestEncryptedRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name        string
		contentType string
		reqEnc      jose.ContentEncryption
		respEnc     string
		zip         bool
		kid         string
	}{
		{name: "T77 A128GCM request, A256GCM response", contentType: "application/jwt", reqEnc: jose.A128GCM, respEnc: "A256GCM", kid: "wallet-1"},
		{name: "JWE labelled application/json", contentType: "application/json", reqEnc: jose.A256GCM, respEnc: "A128GCM"},
		{name: "zip DEF both ways", contentType: "application/jwt", reqEnc: jose.A256GCM, respEnc: "A256GCM", zip: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, withEncryption(true, true))
			wk := newKey(t)
			jwk := walletEncJWK(t, wk, "ECDH-ES")
			if tc.kid != "" {
				jwk["kid"] = tc.kid
			}
			cre := map[string]any{"jwk": jwk, "enc": tc.respEnc}
			if tc.zip {
				cre["zip"] = "DEF"
			}
			body := h.encryptRequest(map[string]any{"credential_configuration_id": "mdl",
				"proofs":                         map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{})}},
				"credential_response_encryption": cre}, "req-enc-1", tc.reqEnc, tc.zip)
			rec := h.send(req{path: PathCredential, contentType: tc.contentType, body: body})
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/jwt" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
			}
			obj, err := jose.ParseEncryptedCompact(rec.Body.String(), []jose.KeyAlgorithm{jose.ECDH_ES}, []jose.ContentEncryption{jose.ContentEncryption(tc.respEnc)})
			if err != nil {
				t.Fatal(err)
			}
			if obj.Header.KeyID != tc.kid {
				t.Fatalf("kid %q, want %q", obj.Header.KeyID, tc.kid)
			}
			if _, z := obj.Header.ExtraHeaders["zip"]; z != tc.zip {
				t.Fatalf("zip header present=%v", z)
			}
			plain, err := obj.Decrypt(wk)
			if err != nil {
				t.Fatal(err)
			}
			var b credentialResponseBody
			if err := json.Unmarshal(plain, &b); err != nil {
				t.Fatal(err)
			}
			if c := credsOf(t, b); len(c) != 1 || c[0].JKT != jktOf(t, &h.holder.PublicKey) || b.NotificationID == "" {
				t.Fatalf("decrypted response %s", plain)
			}
		})
	}
}

func TestEncryptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []harnessOpt
		build func(h *harness) req
	}{
		{name: "T78 unsupported enc A192GCM", build: func(h *harness) req {
			return h.encReq(map[string]any{"jwk": walletEncJWK(h.t, newKey(h.t), "ECDH-ES"), "enc": "A192GCM"}, "req-enc-1", false)
		}},
		{name: "jwk alg UNSUPPORTED_ALG", build: func(h *harness) req {
			return h.encReq(map[string]any{"jwk": walletEncJWK(h.t, newKey(h.t), "UNSUPPORTED_ALG"), "enc": "A128GCM"}, "req-enc-1", false)
		}},
		{name: "jwk without alg", build: func(h *harness) req {
			return h.encReq(map[string]any{"jwk": walletEncJWK(h.t, newKey(h.t), ""), "enc": "A128GCM"}, "req-enc-1", false)
		}},
		{name: "jwk with private part", build: func(h *harness) req {
			k := newKey(h.t)
			b, _ := json.Marshal(jose.JSONWebKey{Key: k, Algorithm: "ECDH-ES"})
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			return h.encReq(map[string]any{"jwk": m, "enc": "A128GCM"}, "req-enc-1", false)
		}},
		{name: "zip not advertised", opts: []harnessOpt{func(o *Options) {
			o.Encryption = &EncryptionOptions{}
		}}, build: func(h *harness) req {
			return h.encReq(map[string]any{"jwk": walletEncJWK(h.t, newKey(h.t), "ECDH-ES"), "enc": "A128GCM", "zip": "DEF"}, "req-enc-1", false)
		}},
		{name: "request zip not advertised", opts: []harnessOpt{func(o *Options) {
			o.Encryption = &EncryptionOptions{}
		}}, build: func(h *harness) req {
			return h.encReq(map[string]any{"jwk": walletEncJWK(h.t, newKey(h.t), "ECDH-ES"), "enc": "A128GCM"}, "req-enc-1", true)
		}},
		{name: "unknown kid", build: func(h *harness) req {
			return h.encReq(map[string]any{"jwk": walletEncJWK(h.t, newKey(h.t), "ECDH-ES"), "enc": "A128GCM"}, "other-kid", false)
		}},
		{name: "response encryption required but absent", build: func(h *harness) req {
			return h.encReq(nil, "req-enc-1", false)
		}},
		{name: "garbage JWE", build: func(h *harness) req {
			return req{path: PathCredential, contentType: "application/jwt", body: []byte("eyJhbGciOiJFQ0RILUVTIn0.a.b.c.d")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if opts == nil {
				opts = []harnessOpt{withEncryption(false, true)}
			}
			h := newHarness(t, opts...)
			rec := h.send(tc.build(h))
			// VCI §8.3.1.2: errors are plain JSON, never encrypted.
			wantError(t, rec, 400, oauth.CodeInvalidEncryptionParameters)
		})
	}
}

func (h *harness) encReq(cre map[string]any, kid string, zip bool) req {
	m := map[string]any{"credential_configuration_id": "mdl",
		"proofs": map[string]any{"jwt": []string{h.proof(h.holder, h.cnonce(), proofOpts{})}}}
	if cre != nil {
		m["credential_response_encryption"] = cre
	}
	return req{path: PathCredential, contentType: "application/jwt", body: h.encryptRequest(m, kid, jose.A128GCM, zip)}
}

func TestMetadataFragments(t *testing.T) {
	h := newHarness(t, withEncryption(false, false))
	m := h.svc.Metadata()
	if m.CredentialEndpoint != testIssuer+PathCredential || m.NonceEndpoint != testIssuer+PathNonce ||
		m.DeferredCredentialEndpoint != testIssuer+PathDeferred || m.NotificationEndpoint != testIssuer+PathNotification {
		t.Fatalf("endpoints %+v", m)
	}
	if m.BatchCredentialIssuance == nil || m.BatchCredentialIssuance.BatchSize != 3 {
		t.Fatal("batch_credential_issuance")
	}
	if m.CredentialRequestEncryption == nil || m.CredentialResponseEncryption == nil {
		t.Fatal("encryption objects must be published together")
	}
	b, _ := json.Marshal(m)
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	keys := raw["credential_request_encryption"].(map[string]any)["jwks"].(map[string]any)["keys"].([]any)
	k := keys[0].(map[string]any)
	if k["kid"] != "req-enc-1" || k["use"] != "enc" || k["alg"] != "ECDH-ES" || k["d"] != nil {
		t.Fatalf("published key %v", k)
	}
	cm, ok := h.svc.ConfigurationMetadata("mdl_ka")
	if !ok || cm.CryptographicBindingMethodsSupported[0] != "cose_key" || cm.ProofTypesSupported["jwt"].KeyAttestationsRequired == nil ||
		cm.ProofTypesSupported["attestation"].ProofSigningAlgValuesSupported[0] != "ES256" {
		t.Fatalf("configuration metadata %+v", cm)
	}
	h2 := newHarness(t, func(o *Options) { o.BatchSize = 1 })
	if h2.svc.Metadata().BatchCredentialIssuance != nil || h2.svc.Metadata().CredentialRequestEncryption != nil {
		t.Fatal("batch/encryption advertised without support")
	}
	h3 := newHarness(t, func(o *Options) {
		o.BatchSize = 1
		c := o.Configurations["mdl"]
		c.BatchSize = 7
		o.Configurations["mdl"] = c
	})
	if b := h3.svc.Metadata().BatchCredentialIssuance; b == nil || b.BatchSize != 7 {
		t.Fatalf("batch_size is not the largest configuration limit: %+v", b)
	}
	_ = http.StatusOK
}
