package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mdoc-issuer/issuer/e2e/wallet"
)

// router is the load balancer of the multi-instance test: it sends each
// wallet step to a chosen instance by rewriting the request's connection
// address. The URL path and the Host header keep the issuer identifier's
// authority, so DPoP htu and attestation aud stay the identifier's, as
// behind a real load balancer.
type router struct {
	mu     sync.Mutex
	routes map[string]string // step prefix -> instance address
	def    string
	sent   map[string]bool // instance addresses used
}

func (r *router) intercept(step string, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	addr, best := r.def, -1
	for prefix, a := range r.routes {
		if strings.HasPrefix(step, prefix) && len(prefix) > best {
			addr, best = a, len(prefix)
		}
	}
	req.URL.Host = addr
	r.sent[addr] = true
}

func (r *router) set(routes map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes = routes
}

// TestMultiInstance runs three issuer processes sharing one Redis with the
// same configuration (nonce keys, PKI, issuer identifier) and moves the
// wallet between them at every step: the flows succeed, and a code, a DPoP
// proof or an attestation PoP used on one instance is refused on another.
func TestMultiInstance(t *testing.T) {
	skipProcessTests(t)
	if redisURL(t) == "" {
		t.Skip("ISSUER_TEST_REDIS_URL not set")
	}
	d := newDeployment(t, deploymentOptions{Backend: "redis"})
	a := d.start(t, 0)
	b := d.start(t, freeLoopbackPort(t))
	cPort := freeLoopbackPort(t)
	c := d.start(t, cPort)
	e := &flowEnv{d: d, client: d.httpClient(nil)}

	newRouted := func(t *testing.T, extra func(string, *http.Request)) (*wallet.Wallet, *router) {
		rt := &router{def: a.Addr, sent: map[string]bool{}, routes: map[string]string{
			"pushed authorization request": a.Addr,
			"authorization: open":          b.Addr,
			"authorization: login":         c.Addr,
			"authorization: approve":       a.Addr,
			"authorization":                b.Addr,
			"token":                        c.Addr,
			"nonce":                        a.Addr,
			"credential":                   c.Addr,
			"deferred credential":          b.Addr,
			"notification":                 b.Addr,
			"credential offer":             b.Addr,
		}}
		w := d.newWallet(t, nil, func(step string, r *http.Request) {
			rt.intercept(step, r)
			if extra != nil {
				extra(step, r)
			}
		})
		return w, rt
	}

	t.Run("authorization_code_across_instances", func(t *testing.T) {
		w, rt := newRouted(t, nil)
		auth, err := w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := w.RedeemCode(bg, auth)
		if err != nil {
			t.Fatal(err)
		}
		keys := newKeys(3)
		res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		verifyIssued(t, e, res, keys)
		if err := w.Notify(bg, tok, res.NotificationID, "credential_accepted"); err != nil {
			t.Fatal(err)
		}
		if len(rt.sent) != 3 {
			t.Fatalf("the flow used %d instances, want 3", len(rt.sent))
		}
		// The code redeemed on C is refused on A, and the grant's token
		// stops working on B.
		rt.set(map[string]string{"token": a.Addr, "credential": b.Addr, "nonce": c.Addr})
		_, err = w.RedeemCode(bg, auth)
		requireProtocolError(t, err, "invalid_grant")
		_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL})
		requireProtocolError(t, err, "invalid_token")
	})

	t.Run("dpop_proof_replayed_on_another_instance", func(t *testing.T) {
		var proof string
		var replayed bool
		var mu sync.Mutex
		w, rt := newRouted(t, func(step string, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if step != "credential" {
				return
			}
			if proof == "" {
				proof = r.Header.Get("DPoP")
				return
			}
			r.Header.Set("DPoP", proof)
			replayed = true
		})
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
		rt.set(map[string]string{"credential": b.Addr})
		_, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL})
		requireProtocolError(t, err, "invalid_dpop_proof")
		if !replayed {
			t.Fatal("the proof was not replayed")
		}
	})

	t.Run("attestation_pop_replayed_on_another_instance", func(t *testing.T) {
		cp := &capture{header: "OAuth-Client-Attestation-PoP", from: "pushed authorization request", to: "token (authorization code)"}
		w, _ := newRouted(t, cp.intercept)
		_, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
		requireProtocolError(t, err, "invalid_client")
		if cp.replayed == 0 {
			t.Fatal("the PoP was not replayed")
		}
	})

	t.Run("pre_authorized_and_deferred_across_instances", func(t *testing.T) {
		offerURI, txCode := createOffer(t, e, map[string]any{
			"credential_configuration_ids": []string{confMDL},
			"grant":                        "pre-authorized_code",
			"tx_code":                      map[string]any{"input_mode": "numeric", "length": 6},
			"claims":                       map[string]any{confMDL: map[string]any{nsMDL: offerClaims()}},
		})
		w, rt := newRouted(t, nil)
		o, err := w.ResolveOffer(bg, offerURI)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := w.PreAuthorized(bg, o, txCode)
		if err != nil {
			t.Fatal(err)
		}
		rt.set(map[string]string{"credential": b.Addr, "nonce": c.Addr})
		keys := newKeys(1)
		req := wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys}
		for _, ad := range tok.AuthorizationDetails {
			if len(ad.CredentialIdentifiers) > 0 {
				req = wallet.CredentialRequest{Identifier: ad.CredentialIdentifiers[0], Keys: keys}
			}
		}
		res, err := w.Credential(bg, tok, req)
		if err != nil {
			t.Fatal(err)
		}
		vs := verifyIssued(t, e, res, keys)
		requireElements(t, vs[0], nsMDL, offerClaims())
		// The pre-authorized code redeemed on A is refused on B, which
		// revokes the grant for every instance.
		rt.set(map[string]string{"token": b.Addr, "credential": c.Addr})
		_, err = w.PreAuthorized(bg, o, txCode)
		requireProtocolError(t, err, "invalid_grant")
		_, err = w.Credential(bg, tok, req)
		requireProtocolError(t, err, "invalid_token")

		// Deferred: requested on C, approved through A, collected on B,
		// refused again on C.
		rt.set(map[string]string{"credential": c.Addr, "deferred credential": b.Addr, "token": a.Addr, "authorization": c.Addr})
		tok, err = w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confDeferred})
		if err != nil {
			t.Fatal(err)
		}
		res, err = w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confDeferred, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusAccepted {
			t.Fatalf("deferred configuration answered %d, want 202", res.Status)
		}
		if s := d.admin(t, e.client, http.MethodPost, "/deferred/"+url.PathEscape(res.TransactionID)+"/approve", nil, nil); s/100 != 2 {
			t.Fatalf("approve: HTTP %d", s)
		}
		done, err := w.Deferred(bg, tok, res.TransactionID)
		if err != nil {
			t.Fatal(err)
		}
		verifyIssued(t, e, done, keys)
		rt.set(map[string]string{"deferred credential": c.Addr})
		_, err = w.Deferred(bg, tok, res.TransactionID)
		requireProtocolError(t, err, "invalid_transaction_id")
	})
	t.Run("concurrent_redemption_on_two_instances", func(t *testing.T) {
		for round := 0; round < 3; round++ {
			w, rw := newRouted(t, nil)
			twin, rt := newRouted(t, nil)
			rw.set(map[string]string{"pushed authorization request": a.Addr, "authorization": b.Addr, "token": a.Addr})
			rt.set(map[string]string{"token": c.Addr})
			auth, err := w.Authorize(bg, wallet.AuthorizeOptions{Scope: confMDL})
			if err != nil {
				t.Fatal(err)
			}
			twin.SetDPoPKey(w.DPoPKey())
			requireAtMostOnce(t, "authorization code", [2]*wallet.Wallet{w, twin}, false,
				func(x *wallet.Wallet) (*wallet.Token, error) { return x.RedeemCode(bg, auth) })
		}
	})

	t.Run("parallel_wallets_round_robin", func(t *testing.T) {
		addrs := []string{a.Addr, b.Addr, c.Addr}
		const n = 6
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			var mu sync.Mutex
			next := i
			w := d.newWallet(t, nil, func(step string, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				r.URL.Host = addrs[next%len(addrs)]
				next++
			})
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confMDL})
				if err != nil {
					errs <- err
					return
				}
				for k := 0; k < 2; k++ {
					keys := newKeys(2)
					res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confMDL, Keys: keys})
					if err != nil {
						errs <- err
						return
					}
					if len(res.Credentials) != 2 {
						errs <- fmt.Errorf("%d credentials for 2 keys", len(res.Credentials))
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("restart_keeps_state", func(t *testing.T) {
		w, rt := newRouted(t, nil)
		tok, err := w.AuthorizationCode(bg, wallet.AuthorizeOptions{Scope: confDeferred})
		if err != nil {
			t.Fatal(err)
		}
		keys := newKeys(1)
		res, err := w.Credential(bg, tok, wallet.CredentialRequest{ConfigurationID: confDeferred, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusAccepted {
			t.Fatalf("deferred configuration answered %d, want 202", res.Status)
		}
		// Restart C (SIGTERM, exit 0, start again on its port): the grant,
		// the access token and the pending transaction live in Redis.
		c.Stop(t)
		c = d.start(t, cPort)
		rt.set(map[string]string{"deferred credential": c.Addr, "credential": c.Addr, "nonce": c.Addr})
		poll, err := w.Deferred(bg, tok, res.TransactionID)
		if err != nil {
			t.Fatal(err)
		}
		if poll.Status != http.StatusAccepted {
			t.Fatalf("poll after restart: %d, want 202", poll.Status)
		}
		if s := d.admin(t, e.client, http.MethodPost, "/deferred/"+url.PathEscape(res.TransactionID)+"/approve", nil, nil); s/100 != 2 {
			t.Fatalf("approve: HTTP %d", s)
		}
		done, err := w.Deferred(bg, tok, res.TransactionID)
		if err != nil {
			t.Fatal(err)
		}
		verifyIssued(t, e, done, keys)
	})
}
