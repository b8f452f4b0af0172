package authz_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/mdoc-issuer/issuer/authz"
	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/nonce"
	"github.com/mdoc-issuer/issuer/storage/memory"
	"github.com/mdoc-issuer/issuer/wia"
)

// Example shows the wiring cmd/issuer does: one store, a DPoP verifier with
// AS nonces, the wallet attestation verifier with the trusted providers (and
// their redirect URIs), a users file, the credential configurations.
func Example() {
	const issuer = "https://issuer.example"
	store := memory.New(memory.Options{})
	defer store.Close()

	dpopNonces, err := nonce.New([][]byte{[]byte("dpop-nonce-key-0123456789abcdef!")}, "dpop", 5*time.Minute, nil)
	if err != nil {
		log.Fatal(err)
	}
	dv, err := dpop.NewVerifier(dpop.Options{Replay: store, Nonces: dpopNonces})
	if err != nil {
		log.Fatal(err)
	}
	wv, err := wia.NewVerifier(wia.Options{Issuer: issuer, Replay: store, Providers: []wia.Provider{{
		Name:         "example-wallet-provider",
		Keys:         nil, // pinned keys and/or Roots for x5c attestations
		RedirectURIs: []string{"https://wallet.example/cb"},
	}}})
	if err != nil {
		log.Fatal(err)
	}
	users, err := authz.NewDevAuthenticator() // production: authz.LoadUsersFile(path)
	if err != nil {
		log.Fatal(err)
	}
	srv, err := authz.New(authz.Options{
		Issuer:           issuer,
		CredentialIssuer: issuer,
		Store:            store,
		GlobalSecret:     []byte("a dedicated secret of at least 32 bytes!"),
		Attestation:      wv,
		DPoP:             dv,
		Authenticator:    users,
		Credentials:      []authz.CredentialConfiguration{{ID: "org.iso.18013.5.1.mDL", Scope: "mdl", Display: "Mobile driving licence"}},
		ClaimNames:       func(string) []string { return []string{"family_name", "given_name", "portrait"} },
		RefreshTokens:    true,
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler()) // web mounts PAR, authorize (+ /authorize/*), token, challenge
	code, err := srv.IssuePreAuthorizedCode(context.Background(), authz.PreAuthorization{
		OfferID: "offer-1", ConfigurationIDs: []string{"org.iso.18013.5.1.mDL"}, TxCode: "493536",
		ExpiresAt: time.Now().Add(10 * time.Minute)})
	if err != nil {
		log.Fatal(err)
	}
	_ = code // goes into the credential offer
}
