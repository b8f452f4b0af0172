package credential

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/authz"
	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/nonce"
	"github.com/mdoc-issuer/issuer/wia"
)

// The production implementations satisfy the consumer-side interfaces.
var (
	_ TokenValidator         = (*authz.Server)(nil)
	_ DPoPVerifier           = (*dpop.Verifier)(nil)
	_ NonceSource            = (*nonce.Source)(nil)
	_ KeyAttestationVerifier = (*wia.KeyAttestationVerifier)(nil)
	_ Signer                 = MdocSigner{}
	_ ClaimsSource           = (*DatasetClaims)(nil)
	_ ClaimsSource           = ClaimsRouter{}
)

func TestNewRejectsBadOptions(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name   string
		mutate func(o *Options)
		want   string
	}{
		{"http issuer", func(o *Options) { o.Issuer = "http://issuer.example" }, "not https"},
		{"issuer with query", func(o *Options) { o.Issuer = "https://issuer.example/?a=b" }, "without query"},
		{"no configurations", func(o *Options) { o.Configurations = nil }, "no configurations"},
		{"no proof types", func(o *Options) { o.Configurations = map[string]Configuration{"x": {DocType: "d"}} }, "key binding"},
		{"unknown proof type", func(o *Options) {
			o.Configurations = map[string]Configuration{"x": {DocType: "d", ProofTypes: []string{"di_vp"}}}
		}, "unsupported proof type"},
		{"no doctype", func(o *Options) { o.Configurations = map[string]Configuration{"x": {ProofTypes: []string{"jwt"}}} }, "doctype"},
		{"key attestations without verifier", func(o *Options) { o.KeyAttestations = nil }, "KeyAttestationVerifier"},
		{"no token validator", func(o *Options) { o.Tokens = nil }, "TokenValidator"},
		{"no signer", func(o *Options) { o.Signer = nil }, "Signer"},
		{"no store", func(o *Options) { o.Store = nil }, "Store"},
		{"encryption without keys", func(o *Options) { o.Encryption = &EncryptionOptions{} }, "encryption keys"},
		{"encryption key without kid", func(o *Options) {
			o.Encryption = &EncryptionOptions{Keys: []jose.JSONWebKey{{Key: newKey(t)}}}
		}, "no kid"},
		{"encryption key public only", func(o *Options) {
			o.Encryption = &EncryptionOptions{Keys: []jose.JSONWebKey{{Key: &newKey(t).PublicKey, KeyID: "k"}}}
		}, "private key"},
		{"unsupported enc", func(o *Options) {
			o.Encryption = &EncryptionOptions{Keys: []jose.JSONWebKey{{Key: newKey(t), KeyID: "k"}}, Encs: []jose.ContentEncryption{jose.A128CBC_HS256}}
		}, "unsupported enc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := h.opts
			tc.mutate(&o)
			if _, err := New(o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBaseURLWithPath(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.BaseURL = "https://issuer.example/tenant/" })
	if got := h.svc.Endpoint(PathNonce); got != "https://issuer.example/tenant/nonce" {
		t.Fatal(got)
	}
	if rec := h.do(http.MethodPost, "/tenant"+PathNonce, nil, "", nil); rec.Code != 200 {
		t.Fatalf("%d", rec.Code)
	}
	if rec := h.do(http.MethodPost, PathNonce, nil, "", nil); rec.Code != 404 {
		t.Fatalf("path outside the base served: %d", rec.Code)
	}
}

// TestDeferredConcurrentPolls: of concurrent polls of an approved
// transaction exactly one gets the credentials.
func TestDeferredConcurrentPolls(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			h := newHarness(t, onBackend(t, be))
			tx := h.startDeferred()
			if err := h.svc.ApproveDeferred(t.Context(), tx); err != nil {
				t.Fatal(err)
			}
			const n = 8
			bodies := make([][]byte, n)
			reqs := make([]req, n)
			for i := range n {
				bodies[i] = mustJSON(t, map[string]any{"transaction_id": tx})
				reqs[i] = req{path: PathDeferred, body: bodies[i]}
				reqs[i].token = h.token
				reqs[i].dpopKey = h.holder
			}
			proofs := make([]string, n)
			for i := range n {
				proofs[i] = h.dpopProof(reqs[i])
			}
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					hdr := http.Header{}
					hdr.Set("Content-Type", "application/json")
					hdr.Set("Authorization", "DPoP "+h.token)
					hdr.Set("DPoP", proofs[i])
					codes[i] = h.do(http.MethodPost, PathDeferred, hdr, "", bodies[i]).Code
				}()
			}
			wg.Wait()
			ok := 0
			for _, c := range codes {
				switch c {
				case 200:
					ok++
				case 400:
				default:
					t.Fatalf("status %d", c)
				}
			}
			if ok != 1 {
				t.Fatalf("%d polls got credentials, codes %v", ok, codes)
			}
		})
	}
}
