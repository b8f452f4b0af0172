package e2e

import (
	"crypto/ecdsa"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

// TestNpmWalletInterop drives the real issuer binary with an independent
// wallet built on @openid4vc/openid4vci and @openid4vc/oauth2
// (e2e/npmwallet/wallet.mjs) and checks every credential it obtains with two
// independent npm mdoc verifiers (e2e/node/verify-mdoc.mjs: @owf/mdoc and
// @auth0/mdl, the IACA published by the issuer as the only trust anchor).
//
// Flows: authorization code with PAR, PKCE S256, DPoP (server nonces) and
// wallet attestation client authentication, a key attestation in the jwt
// proof; the same from an admin-API offer with authorization_details;
// pre-authorized code from an admin-API offer with a tx_code, batch of two.
// Signed issuer metadata is verified against the issuer's metadata CA.
// Refusals: a wrong tx_code, a key attestation from an untrusted attester,
// and signed metadata under a foreign anchor.
func TestNpmWalletInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the issuer binary and node; skipped in -short mode")
	}
	node := requireNodeTools(t)
	ti := startIssuer(t)
	if missing := ti.missingEndpoints(t); len(missing) > 0 {
		t.Fatalf("the issuer binary does not advertise %s", strings.Join(missing, ", "))
	}
	iaca := ti.iacaPEM(t)

	t.Run("authorization_code", func(t *testing.T) {
		in := ti.walletInput(t, "authorization_code")
		holder := wiatest.NewKey()
		in["username"], in["password"] = testUser, testPassword
		in["credentialConfigurationId"] = mdlConfigID
		in["holderPrivateJwk"] = wiatest.PrivateJWK(holder)
		in["keyAttestation"] = ti.Attester.KeyAttestation([]*ecdsa.PublicKey{&holder.PublicKey})
		res := runWallet(t, ti, node, in)
		requireSteps(t, res, []wantStep{
			{"pushed authorization request", "POST", "/par", 201},
			{"authorization", "GET", "/authorize", 0},
			{"authorization: login", "POST", "", 303},
			{"authorization: consent", "POST", "", 303},
			{"token (authorization code)", "POST", "/token", 200},
			{"nonce", "POST", "/nonce", 200},
			{"credential", "POST", "/credential", 200},
		})
		if len(res.Credentials) != 1 {
			t.Fatalf("got %d credentials, want 1", len(res.Credentials))
		}
		verifyAll(t, node, res, iaca, "Doe")
	})

	t.Run("authorization_code offer with authorization_details", func(t *testing.T) {
		offerURI, _ := ti.createOffer(t, map[string]any{
			"credential_configuration_ids": []string{mdlConfigID},
			"grant":                        "authorization_code",
		})
		in := ti.walletInput(t, "authorization_code")
		in["offerUri"] = offerURI
		in["username"], in["password"] = testUser, testPassword
		in["authorizationDetails"] = true
		res := runWallet(t, ti, node, in)
		requireSteps(t, res, []wantStep{
			{"credential offer", "GET", "/offers/{id}", 200},
			{"pushed authorization request", "POST", "/par", 201},
			{"authorization: consent", "POST", "", 303},
			{"token (authorization code)", "POST", "/token", 200},
			{"credential", "POST", "/credential", 200},
		})
		// OpenID4VCI §6.2: a token response to authorization_details lists
		// credential_identifiers, and §8.2 then requires credential_identifier.
		if res.RequestedBy != "credential_identifier" {
			t.Fatalf("credential requested by %s, want credential_identifier", res.RequestedBy)
		}
		verifyAll(t, node, res, iaca, "Doe")
	})

	t.Run("authorization_code offer without state", func(t *testing.T) {
		// Openid4vciClient.initiateAuthorization sends no state, which RFC
		// 6749 §4.1.1 makes optional (PKCE protects the code, RFC 7636).
		offerURI, _ := ti.createOffer(t, map[string]any{
			"credential_configuration_ids": []string{mdlConfigID},
			"grant":                        "authorization_code",
		})
		in := ti.walletInput(t, "authorization_code")
		in["offerUri"] = offerURI
		in["username"], in["password"] = testUser, testPassword
		in["sendState"] = false
		// The wallet fails if the authorization response carries a state.
		res := runWallet(t, ti, node, in)
		verifyAll(t, node, res, iaca, "Doe")
	})

	t.Run("pre-authorized_code", func(t *testing.T) {
		claims := mdlClaims()
		claims[mdlNamespace]["family_name"] = "Offered"
		offerURI, txCode := ti.createOffer(t, map[string]any{
			"credential_configuration_ids": []string{mdlConfigID},
			"grant":                        "pre-authorized_code",
			"tx_code":                      map[string]any{"input_mode": "numeric", "length": 6},
			"claims":                       claims,
		})
		if txCode == "" {
			t.Fatal("the admin API returned no tx_code")
		}
		in := ti.walletInput(t, "pre-authorized_code")
		in["offerUri"] = offerURI
		in["txCode"] = txCode
		in["batchSize"] = 2
		res := runWallet(t, ti, node, in)
		requireSteps(t, res, []wantStep{
			{"credential offer", "GET", "/offers/{id}", 200},
			{"token (pre-authorized code)", "POST", "/token", 200},
			{"nonce", "POST", "/nonce", 200},
			{"credential", "POST", "/credential", 200},
		})
		if len(res.Credentials) != 2 {
			t.Fatalf("got %d credentials, want a batch of 2", len(res.Credentials))
		}
		verifyAll(t, node, res, iaca, "Offered")
	})

	t.Run("signed metadata from a foreign anchor", func(t *testing.T) {
		if ti.MetadataCA == nil {
			t.Skip("the issuer has no metadata-signing CA")
		}
		in := ti.walletInput(t, "authorization_code")
		in["metadataTrustPem"] = string(iaca) // a CA that did not issue the metadata signer
		var res walletResult
		err := runNode(t, node, npmWalletDir, "wallet.mjs", in, &res)
		if err == nil || res.Step != "metadata" || !strings.Contains(res.Error, "trusted anchor") {
			t.Fatalf("want a metadata failure for an untrusted x5c chain, got %q at %q (%v; %s)", res.Error, res.Step, err, ti.state())
		}
	})

	t.Run("key attestation from an untrusted attester", func(t *testing.T) {
		offerURI, _ := ti.createOffer(t, map[string]any{
			"credential_configuration_ids": []string{mdlConfigID},
			"grant":                        "pre-authorized_code",
			"claims":                       mdlClaims(),
		})
		holder := wiatest.NewKey()
		in := ti.walletInput(t, "pre-authorized_code")
		in["offerUri"] = offerURI
		in["holderPrivateJwk"] = wiatest.PrivateJWK(holder)
		in["keyAttestation"] = wiatest.NewKeyAttester("untrusted-keys").KeyAttestation([]*ecdsa.PublicKey{&holder.PublicKey})
		var res walletResult
		err := runNode(t, node, npmWalletDir, "wallet.mjs", in, &res)
		if err == nil || len(res.Credentials) > 0 {
			t.Fatalf("a key attestation from an untrusted attester was accepted\n%s", res.trace())
		}
		if res.Step != "credential" || !strings.Contains(res.Error, "invalid_proof") {
			t.Fatalf("want invalid_proof at the credential endpoint, got %q at %q\n%s", res.Error, res.Step, res.trace())
		}
		t.Logf("refused as expected: %s", res.Error)
	})

	t.Run("pre-authorized_code wrong tx_code", func(t *testing.T) {
		offerURI, txCode := ti.createOffer(t, map[string]any{
			"credential_configuration_ids": []string{mdlConfigID},
			"grant":                        "pre-authorized_code",
			"tx_code":                      map[string]any{"input_mode": "numeric", "length": 6},
			"claims":                       mdlClaims(),
		})
		wrong := "000000"
		if txCode == wrong {
			wrong = "111111"
		}
		in := ti.walletInput(t, "pre-authorized_code")
		in["offerUri"] = offerURI
		in["txCode"] = wrong
		var res walletResult
		err := runNode(t, node, npmWalletDir, "wallet.mjs", in, &res)
		if err == nil || len(res.Credentials) > 0 {
			t.Fatalf("a wrong tx_code was accepted\n%s", res.trace())
		}
		if res.Step != "token (pre-authorized code)" || !strings.Contains(res.Error, "invalid_grant") {
			t.Fatalf("want invalid_grant at the token endpoint, got %q at %q\n%s", res.Error, res.Step, res.trace())
		}
	})
}

func runWallet(t *testing.T, ti *testIssuer, node string, in map[string]any) *walletResult {
	t.Helper()
	var res walletResult
	if err := runNode(t, node, npmWalletDir, "wallet.mjs", in, &res); err != nil || res.Error != "" {
		t.Fatalf("npm wallet failed at %q: %s (%v; %s)\n%s", res.Step, res.Error, err, ti.state(), res.trace())
	}
	if len(res.HolderPrivateJWKs) != len(res.Credentials) || len(res.HolderPublicJWKs) != len(res.Credentials) {
		t.Fatalf("wallet output has %d credentials but %d/%d holder keys", len(res.Credentials), len(res.HolderPrivateJWKs), len(res.HolderPublicJWKs))
	}
	if _, ok := in["metadataTrustPem"]; ok && !res.SignedMetadata {
		t.Fatal("the wallet was given the metadata trust anchor but used unsigned metadata")
	}
	t.Logf("npm wallet exchanges (signed metadata: %v, notified: %v):\n%s", res.SignedMetadata, res.Notified, res.trace())
	return &res
}

type wantStep struct {
	step, method, path string
	status             int // 0: any
}

// requireSteps checks that the wallet's exchanges contain, in order, a
// request matching each wanted step (the last exchange of that step, so a
// DPoP nonce retry before it is allowed).
func requireSteps(t *testing.T, res *walletResult, want []wantStep) {
	t.Helper()
	i := 0
	for _, w := range want {
		found := -1
		for j := i; j < len(res.Steps); j++ {
			s := res.Steps[j]
			if s.Step == w.step && s.Method == w.method && strings.Contains(s.URL, w.path) {
				found = j
			}
		}
		if found < 0 {
			t.Fatalf("no %s %s exchange in step %q\n%s", w.method, w.path, w.step, res.trace())
		}
		if got := res.Steps[found].Status; w.status != 0 && got != w.status {
			t.Fatalf("step %q ended with HTTP %d, want %d\n%s", w.step, got, w.status, res.trace())
		}
		i = found + 1
	}
}

type verifierResult struct {
	OWF   *libResult `json:"owf"`
	Auth0 *libResult `json:"auth0"`
	Error string     `json:"error"`
}

type libResult struct {
	OK     bool     `json:"ok"`
	Failed []string `json:"failed"`
	Passed int      `json:"passed"`
}

// verifyAll checks each credential with both npm verifiers (bound to the key
// that signed its proof) and that it carries the expected family_name.
func verifyAll(t *testing.T, node string, res *walletResult, iaca []byte, familyName string) {
	t.Helper()
	if res.ConfigurationID != mdlConfigID || res.DocType != mdlDocType {
		t.Fatalf("wallet used configuration %q doctype %q", res.ConfigurationID, res.DocType)
	}
	for i, c := range res.Credentials {
		var vr verifierResult
		err := runNode(t, node, npmVerifyDir, "verify-mdoc.mjs", map[string]any{
			"issuerSigned":     c,
			"iacaPem":          string(iaca),
			"deviceKeyJwk":     res.HolderPublicJWKs[i],
			"devicePrivateJwk": res.HolderPrivateJWKs[i],
			"docType":          mdlDocType,
			"now":              time.Now().UTC().Add(time.Minute).Format(time.RFC3339),
		}, &vr)
		if vr.Error != "" || vr.OWF == nil || vr.Auth0 == nil {
			t.Fatalf("credential %d: verifier script failed: %s (%v)", i, vr.Error, err)
		}
		if !vr.OWF.OK || !vr.Auth0.OK || err != nil {
			t.Fatalf("credential %d rejected: @owf/mdoc %+v, @auth0/mdl %+v", i, *vr.OWF, *vr.Auth0)
		}
		got, err := elementValue(c, mdlNamespace, "family_name")
		if err != nil {
			t.Fatalf("credential %d: %v", i, err)
		}
		if got != familyName {
			t.Fatalf("credential %d: family_name %q, want %q", i, got, familyName)
		}
	}
}

// elementValue reads one element of an IssuerSigned (ISO 18013-5 §8.3.2.1.2.2)
// without verifying it (the npm verifiers do that).
func elementValue(b64 string, namespace, element string) (any, error) {
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	var is struct {
		NameSpaces map[string][]cbor.Tag `cbor:"nameSpaces"`
	}
	if err := cbor.Unmarshal(raw, &is); err != nil {
		return nil, fmt.Errorf("IssuerSigned: %w", err)
	}
	for _, tag := range is.NameSpaces[namespace] {
		bs, ok := tag.Content.([]byte)
		if tag.Number != 24 || !ok {
			return nil, fmt.Errorf("IssuerSignedItemBytes is not tag 24 bstr")
		}
		var item struct {
			ElementIdentifier string `cbor:"elementIdentifier"`
			ElementValue      any    `cbor:"elementValue"`
		}
		if err := cbor.Unmarshal(bs, &item); err != nil {
			return nil, fmt.Errorf("IssuerSignedItem: %w", err)
		}
		if item.ElementIdentifier == element {
			return item.ElementValue, nil
		}
	}
	return nil, fmt.Errorf("%s/%s not in the credential", namespace, element)
}
