package e2e

import (
	"os"
	"testing"

	"github.com/mdoc-issuer/issuer/e2e/wallet"
)

// skipKnownBug skips a test that shows an open issuer bug, unless
// ISSUER_TEST_RUN_KNOWN_BUGS=1 (to check a fix).
func skipKnownBug(t *testing.T, bug string) {
	t.Helper()
	if os.Getenv("ISSUER_TEST_RUN_KNOWN_BUGS") != "1" {
		t.Skip("issuer bug: " + bug)
	}
}

// TestDefaultValidityIssues: a configuration that leaves credential
// validity at its default (8760h) with a PKI from `issuer pki init` must be
// able to issue. Today every credential request fails with 500: the
// Document Signer certificate of pki init expires in less than 365 days and
// mdoc refuses an MSO that outlives it; the issuer only warns at start.
func TestDefaultValidityIssues(t *testing.T) {
	skipProcessTests(t)
	skipKnownBug(t, "default credential validity (8760h) outlives the Document Signer certificate made by `issuer pki init`: every credential request is 500")
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
// wins and the other gets invalid_grant, as it must; but the winner's access
// token stays usable, although the double use was detected (RFC 6749
// §4.1.2: SHOULD revoke the tokens issued from the code; the sequential
// replay in TestFlows/*/code_replay_revokes does revoke). Seen on memory and
// redis in about a third of the rounds.
func TestConcurrentDoubleRedemptionRevokes(t *testing.T) {
	skipProcessTests(t)
	skipKnownBug(t, "a concurrent double redemption of a code leaves the winner's token usable (no revocation)")
	d := newDeployment(t, deploymentOptions{Backend: "memory"})
	d.start(t, 0)
	concurrentRedemptions(t, &flowEnv{d: d, client: d.httpClient(nil)}, true, 12)
}
