package mdocinterop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/mdoc"
	"github.com/mdoc-issuer/issuer/pki"
)

const nodeDir = "../node"

type libResult struct {
	OK     bool     `json:"ok"`
	Failed []string `json:"failed"`
	Passed int      `json:"passed"`
}

type nodeResult struct {
	OWF   *libResult `json:"owf"`
	Auth0 *libResult `json:"auth0"`
	Error string     `json:"error"`
}

func requireNode(t *testing.T) string {
	t.Helper()
	required := os.Getenv("ISSUER_TEST_REQUIRE_NODE") == "1"
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(nodeDir, "node_modules", "@owf", "mdoc"))
	}
	if err == nil {
		_, err = os.Stat(filepath.Join(nodeDir, "node_modules", "@auth0", "mdl"))
	}
	if err != nil {
		if required {
			t.Fatalf("node interop required but unavailable: %v (run npm ci in e2e/node)", err)
		}
		t.Skipf("node or e2e/node/node_modules unavailable (%v); set ISSUER_TEST_REQUIRE_NODE=1 to fail instead", err)
	}
	return node
}

type fixture struct {
	bundle  *pki.Bundle
	issuer  *mdoc.Issuer
	holder  *ecdsa.PrivateKey
	holderJ *jose.JSONWebKey
	now     time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	// @auth0/mdl checks validity against the real clock, so issue at the real time.
	now := time.Now().UTC()
	b, err := pki.Init(filepath.Join(t.TempDir(), "pki"), pki.InitOptions{
		Country: "US", State: "US-NY", Organization: "Interop Test DMV",
		IssuerURL: "https://issuer.example.com", Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := pki.OpenSigner(b.DSKeyRef)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		bundle:  b,
		issuer:  &mdoc.Issuer{Signer: signer, Chain: b.DSChain(), Now: func() time.Time { return now }},
		holder:  hk,
		holderJ: &jose.JSONWebKey{Key: &hk.PublicKey},
		now:     now,
	}
}

func mdlClaims() map[string]map[string]any {
	return map[string]map[string]any{mdoc.NamespaceMDL: {
		"family_name": "Doe", "given_name": "Jane", "birth_date": "1990-04-01",
		"issue_date": "2026-01-10", "expiry_date": "2031-01-09", "issuing_country": "US",
		"issuing_jurisdiction": "US-NY", "issuing_authority": "NY DMV", "document_number": "D1234567",
		"portrait": "/9j/4AAQSkZJRgABAQD/2Q==", "un_distinguishing_sign": "USA",
		"age_over_18": true, "sex": 2, "height": 170,
		"driving_privileges": []any{
			map[string]any{"vehicle_category_code": "B", "issue_date": "2010-05-01", "expiry_date": "2031-01-09"},
			map[string]any{"vehicle_category_code": "A", "codes": []any{map[string]any{"code": "78"}}},
		},
	}}
}

func jwkJSON(t *testing.T, k any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runNode(t *testing.T, node string, f *fixture, cred []byte, docType string, devicePriv *ecdsa.PrivateKey, iacaPEM []byte) (*nodeResult, error) {
	t.Helper()
	in, err := json.Marshal(map[string]any{
		"issuerSigned":     base64.RawURLEncoding.EncodeToString(cred),
		"iacaPem":          string(iacaPEM),
		"deviceKeyJwk":     jwkJSON(t, &f.holder.PublicKey),
		"devicePrivateJwk": jwkJSON(t, devicePriv),
		"docType":          docType,
		"now":              f.now.Add(time.Minute).Format(time.RFC3339),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "verify-mdoc.mjs")
	cmd.Dir = nodeDir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res nodeResult
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil {
		t.Fatalf("node output not JSON: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	if res.Error != "" || res.OWF == nil || res.Auth0 == nil {
		t.Fatalf("verifier script failed: %s\nstderr: %s", res.Error, stderr.String())
	}
	return &res, runErr
}

// TestNodeLibrariesAcceptIssuedMDL: an mDL from mdoc.Issuer with a pki.Init
// PKI passes every check of @owf/mdoc and @auth0/mdl (IACA as the only trust
// anchor, device signature with the holder key).
func TestNodeLibrariesAcceptIssuedMDL(t *testing.T) {
	node := requireNode(t)
	f := newFixture(t)
	cred, _, err := f.issuer.Issue(mdoc.DocTypeMDL, mdlClaims(), f.holderJ)
	if err != nil {
		t.Fatal(err)
	}
	res, runErr := runNode(t, node, f, cred, mdoc.DocTypeMDL, f.holder, f.bundle.IACAPEM)
	t.Logf("owf: %+v; auth0: %+v", *res.OWF, *res.Auth0)
	if !res.OWF.OK {
		t.Errorf("@owf/mdoc rejected the credential: %v", res.OWF.Failed)
	}
	if !res.Auth0.OK {
		t.Errorf("@auth0/mdl rejected the credential: %v", res.Auth0.Failed)
	}
	if runErr != nil {
		t.Errorf("node exited with %v", runErr)
	}
	// The checks really ran: digests of all 14 items, signature, chain.
	if res.OWF.Passed < 14 || res.Auth0.Passed < 14 {
		t.Errorf("too few checks passed: owf %d, auth0 %d", res.OWF.Passed, res.Auth0.Passed)
	}
}

// TestNodeLibrariesRejectTampering: the same libraries reject a credential
// with one changed element value, and a presentation signed with a key other
// than the MSO device key.
func TestNodeLibrariesRejectTampering(t *testing.T) {
	node := requireNode(t)
	f := newFixture(t)
	cred, _, err := f.issuer.Issue(mdoc.DocTypeMDL, mdlClaims(), f.holderJ)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("changed element value", func(t *testing.T) {
		tampered := bytes.Clone(cred)
		i := bytes.Index(tampered, []byte("D1234567"))
		if i < 0 {
			t.Fatal("document_number not found")
		}
		tampered[i+1] = '9'
		if _, err := mdoc.Verify(tampered, mdoc.VerifyOptions{Roots: []*x509.Certificate{f.bundle.IACA}, Now: func() time.Time { return f.now }}); err == nil {
			t.Fatal("Go verifier accepted the tampered credential")
		}
		res, runErr := runNode(t, node, f, tampered, mdoc.DocTypeMDL, f.holder, f.bundle.IACAPEM)
		t.Logf("owf: %+v; auth0: %+v", *res.OWF, *res.Auth0)
		if res.OWF.OK || !containsCheck(res.OWF.Failed, "digest") {
			t.Errorf("@owf/mdoc did not report a digest failure: %+v", res.OWF)
		}
		if res.Auth0.OK || !containsCheck(res.Auth0.Failed, "digest") {
			t.Errorf("@auth0/mdl did not report a digest failure: %+v", res.Auth0)
		}
		if runErr == nil {
			t.Error("node exited 0 for a tampered credential")
		}
	})
	t.Run("foreign holder key", func(t *testing.T) {
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		res, runErr := runNode(t, node, f, cred, mdoc.DocTypeMDL, other, f.bundle.IACAPEM)
		t.Logf("owf: %+v; auth0: %+v", *res.OWF, *res.Auth0)
		if res.Auth0.OK || !containsCheck(res.Auth0.Failed, "Device signature") {
			t.Errorf("@auth0/mdl accepted a device signature by a foreign key: %+v", res.Auth0)
		}
		if !res.OWF.OK {
			t.Errorf("@owf/mdoc issuer-signed checks must still pass: %+v", res.OWF)
		}
		if runErr == nil {
			t.Error("node exited 0")
		}
	})
	t.Run("foreign IACA", func(t *testing.T) {
		foreign := newFixture(t)
		res, runErr := runNode(t, node, f, cred, mdoc.DocTypeMDL, f.holder, foreign.bundle.IACAPEM)
		t.Logf("owf: %+v; auth0: %+v", *res.OWF, *res.Auth0)
		if res.OWF.OK || !containsCheck(res.OWF.Failed, "Issuer certificate must be valid") {
			t.Errorf("@owf/mdoc accepted a chain to a foreign IACA: %+v", res.OWF)
		}
		if res.Auth0.OK || !containsCheck(res.Auth0.Failed, "Issuer certificate must be valid") {
			t.Errorf("@auth0/mdl accepted a chain to a foreign IACA: %+v", res.Auth0)
		}
		if runErr == nil {
			t.Error("node exited 0")
		}
	})
}

func containsCheck(failed []string, s string) bool {
	for _, f := range failed {
		if strings.Contains(f, s) {
			return true
		}
	}
	return false
}
