package authz

import (
	"context"
	"errors"
	"net/url"

	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/upstream"
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

// ErrOfferRedeemed is what an OfferLink's MarkRedeemed returns (wrapped or
// not) when the offer was redeemed before: a second use of its code.
var ErrOfferRedeemed = errors.New("authz: credential offer already redeemed")

// ErrUnknownCode is what an OfferLink's PreAuthorization returns (wrapped or
// not) when no offer keeps the code.
var ErrUnknownCode = errors.New("authz: no offer keeps this pre-authorized code")

// OfferLink connects grants to the credential offers they redeem (the offer
// package's LookupIssuerState and MarkRedeemed).
type OfferLink interface {
	// ResolveIssuerState returns the offer of a live issuer_state
	// (OpenID4VCI §5.1.3) and the End-User it was made for ("" = anyone).
	// An unknown, expired, cancelled or redeemed issuer_state is a plain
	// error; an *oauth.Error with status >= 500 is an outage.
	ResolveIssuerState(ctx context.Context, issuerState string) (offerID, subject string, err error)
	// MarkRedeemed records that the offer's grant was used. It is the
	// single-use decision for the offer's pre-authorized code: of any
	// number of concurrent calls for one offer exactly one returns nil,
	// and every later call fails. ErrOfferRedeemed (wrapped or not) means
	// it was redeemed before; another plain error that it can no longer be
	// redeemed (cancelled, expired, unknown); an *oauth.Error with status
	// >= 500 an outage.
	MarkRedeemed(ctx context.Context, offerID string) error
	// PreAuthorization returns the offer that keeps the pre-authorized
	// code (one minted with MintPreAuthorizedCode) and the grant record
	// minted with it, whatever the offer's state. ErrUnknownCode if no offer
	// keeps the code; any other error is returned to the wallet as it is
	// (an outage, or the replay outcome of the request's pending marks,
	// which ride along with this read).
	PreAuthorization(ctx context.Context, code string) (offerID string, grant []byte, err error)
	// Prefetch notes a read of the offer to travel with the request's next
	// store read (storage.Prefetch); an access token names its offer.
	Prefetch(ctx context.Context, offerID string)
	// Cancel cancels the offer (its pre-authorized code was voided by the
	// tx_code lockout); an *oauth.Error with status >= 500 is an outage.
	Cancel(ctx context.Context, offerID string) error
}

// UpstreamLogin signs End-Users in at an upstream OpenID Connect provider
// (*upstream.Provider): the login page offers "Sign in with Name()".
type UpstreamLogin interface {
	// Name is the provider's display name on the login page.
	Name() string
	// Start creates a login attempt: the browser goes to URL; State, Nonce
	// and CodeVerifier are kept server-side until the callback.
	Start() (upstream.Start, error)
	// Finish checks the callback query against the attempt, redeems the
	// code and validates the ID token. Errors map to protocol errors with
	// upstream.OAuthError.
	Finish(ctx context.Context, callback url.Values, attempt upstream.Start) (*upstream.Identity, error)
}
