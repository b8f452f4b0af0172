package authz

import (
	"context"

	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/wia"
)

// AttestedClient is the client a wallet attestation authenticates.
type AttestedClient = wia.Client

// ClientAuthenticator is the wallet attestation verifier (*wia.Verifier):
// Authenticate checks the OAuth-Client-Attestation and
// OAuth-Client-Attestation-PoP headers (ABCA-07 §6) and returns the client, or
// an *oauth.Error (invalid_client, use_attestation_challenge, ...).
type ClientAuthenticator interface {
	Authenticate(ctx context.Context, attestation, pop []string, clientID string) (*AttestedClient, error)
	Challenge() (string, error)
}

// DPoPRequest is what the DPoP verifier checks.
type DPoPRequest = dpop.Request

// DPoPProof is a verified DPoP proof.
type DPoPProof = dpop.Proof

// DPoPVerifier verifies DPoP proofs (*dpop.Verifier, RFC 9449 §4.3) and hands
// out server nonces (§8). Verify returns *oauth.Error (invalid_dpop_proof,
// use_dpop_nonce with a DPoP-Nonce header).
type DPoPVerifier interface {
	Verify(ctx context.Context, r DPoPRequest) (*DPoPProof, error)
	Nonce() (string, error)
}
