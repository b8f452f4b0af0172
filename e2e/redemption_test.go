package e2e

import (
	"testing"

	"github.com/mdoc-issuer/issuer/e2e/wallet"
)

// TestDefaultValidityIssues: a configuration that leaves credential
// validity at its default with a PKI from `issuer pki init` can issue (an
// MSO is cut at the end of its Document Signer certificate instead of
// failing with 500).
func TestDefaultValidityIssues(t *testing.T) {
	skipProcessTests(t)
	d := newDeployment(t, deploymentOptions{Backend: "memory", DefaultValidity: true})
	d.start(t, 0)
	e := &flowEnv{d: d, client: d.httpClient(nil)}
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
	verifyIssued(t, e, res, keys)
}

// TestConcurrentDoubleRedemptionRevokes: when two token requests redeem the
// same authorization code (or pre-authorized code) at the same time, one
// wins and the other gets invalid_grant, and the winner's access token is
// revoked too (RFC 6749 §4.1.2), as after a sequential replay.
func TestConcurrentDoubleRedemptionRevokes(t *testing.T) {
	skipProcessTests(t)
	d := newDeployment(t, deploymentOptions{Backend: "memory"})
	d.start(t, 0)
	concurrentRedemptions(t, &flowEnv{d: d, client: d.httpClient(nil)}, true, 12)
}
