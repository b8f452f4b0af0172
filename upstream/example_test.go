package upstream_test

import (
	"context"
	"fmt"

	"github.com/mdoc-issuer/issuer/upstream"
	"github.com/mdoc-issuer/issuer/upstream/oidctest"
)

// The login sequence as the authorization server runs it: New once at
// startup; Start when the End-User picks the provider on the login page
// (keep the attempt in the store under StateKey, bound to the flow and the
// browser); Finish on the callback after consuming the stored attempt.
func Example() {
	const callback = "https://issuer.example/authorize/upstream/callback"
	op, err := oidctest.Start(oidctest.Options{RedirectURIs: []string{callback}, Subject: "user-42"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer op.Close()

	ctx := context.Background()
	p, err := upstream.New(ctx, upstream.Options{
		Issuer: op.Issuer(), ClientID: op.ClientID(), ClientSecret: op.ClientSecret(),
		RedirectURL: callback, Scopes: []string{"profile"}, Name: "Example IdP",
		HTTPClient: op.Client(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	attempt, err := p.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	stored := map[string]upstream.Start{upstream.StateKey(attempt.State): attempt}

	// The browser goes to attempt.URL and comes back to the callback.
	cb, err := op.Authorize(attempt.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	q := cb.Query()
	key := upstream.StateKey(q.Get("state"))
	s, ok := stored[key]
	delete(stored, key) // consume: one use
	if !ok {
		fmt.Println("unknown login attempt")
		return
	}
	id, err := p.Finish(ctx, q, s)
	if err != nil {
		fmt.Println(upstream.OAuthError(err).Code)
		return
	}
	fmt.Println(p.Name(), id.Subject)
	// Output: Example IdP user-42
}
