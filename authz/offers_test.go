package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// fakeOffers is an OfferLink over a map: issuer_state -> offer.
type fakeOffers struct {
	mu       sync.Mutex
	byState  map[string][2]string // offer id, subject
	redeemed map[string]bool
	refuse   map[string]bool // MarkRedeemed refuses (cancelled offer)
	down     bool
}

func (f *fakeOffers) ResolveIssuerState(_ context.Context, st string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return "", "", oauth.Unavailable(1, errors.New("down"))
	}
	o, ok := f.byState[st]
	if !ok || f.redeemed[o[0]] {
		return "", "", errors.New("offer: not found")
	}
	return o[0], o[1], nil
}

func (f *fakeOffers) MarkRedeemed(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return oauth.Unavailable(1, errors.New("down"))
	}
	if f.redeemed[id] {
		return ErrOfferRedeemed
	}
	if f.refuse[id] {
		return errors.New("offer: cannot be redeemed")
	}
	f.redeemed[id] = true
	return nil
}

func (f *fakeOffers) PreAuthorization(context.Context, string) (string, []byte, error) {
	return "", nil, ErrUnknownCode
}

func (f *fakeOffers) Prefetch(context.Context, string) {}

func (f *fakeOffers) Cancel(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse[id] = true
	return nil
}

func (f *fakeOffers) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeOffers) isRedeemed(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.redeemed[id]
}

func newOffers() *fakeOffers {
	return &fakeOffers{byState: map[string][2]string{
		"state-any":   {"offer-any", ""},
		"state-mine":  {"offer-mine", DevSubject},
		"state-other": {"offer-other", "someone-else"},
	}, redeemed: map[string]bool{}, refuse: map[string]bool{}}
}

// TestIssuerStateLinksOffer: OpenID4VCI §5.1.3, issuer_state links the grant
// to its offer only when the offer is live and made for the logged-in
// End-User (or anyone); otherwise it is ignored.
func TestIssuerStateLinksOffer(t *testing.T) {
	cases := []struct{ issuerState, wantOffer string }{
		{"state-any", "offer-any"},
		{"state-mine", "offer-mine"},
		{"state-other", ""},
		{"state-unknown", ""},
	}
	for _, c := range cases {
		t.Run(c.issuerState, func(t *testing.T) {
			offers := newOffers()
			e := newEnv(t, withOptions(func(o *Options) { o.Offers = offers }))
			w := e.newWallet("w1")
			f := w.parForm(testScope)
			f.Set("issuer_state", c.issuerState)
			tok := mustStatus(t, e.token(w, tokenReq{form: w.codeForm(e.code(w, f))}), 200)
			g, err := e.srv.ValidateAccessToken(context.Background(), tok.str("access_token"))
			if err != nil || g.OfferID != c.wantOffer || g.Subject != DevSubject {
				t.Fatalf("%+v %v", g, err)
			}
			if c.wantOffer != "" && !offers.isRedeemed(c.wantOffer) {
				t.Fatal("offer not marked redeemed")
			}
		})
	}
	t.Run("offer service down", func(t *testing.T) {
		offers := newOffers()
		offers.down = true
		e := newEnv(t, withOptions(func(o *Options) { o.Offers = offers }))
		w := e.newWallet("w1")
		f := w.parForm(testScope)
		f.Set("issuer_state", "state-any")
		c := e.login(w, e.pushed(w, f))
		p := e.browse(w, http.MethodPost, e.srv.Endpoints().Consent, map[string][]string{"flow": {c.flow}, "csrf_token": {c.csrf}, "action": {"approve"}})
		if p.status != http.StatusServiceUnavailable || p.location != "" {
			t.Fatalf("%d %q", p.status, p.location)
		}
	})
}

// TestPreAuthorizedOfferRedemption: redeeming a pre-authorized code marks
// its offer; a cancelled offer's code is refused and stays unconsumed; an
// offer outage is 503.
func TestPreAuthorizedOfferRedemption(t *testing.T) {
	offers := newOffers()
	e := newEnv(t, withOptions(func(o *Options) { o.Offers = offers }))
	w := e.newWallet("w1")
	mustStatus(t, e.token(w, tokenReq{form: preAuthForm(e.preAuthCode(""), "")}), 200)
	if !offers.isRedeemed("offer-1") {
		t.Fatal("offer not marked redeemed")
	}
	offers.set(func() { delete(offers.redeemed, "offer-1"); offers.refuse["offer-1"] = true })
	code := e.preAuthCode("")
	expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "")}), 400, oauth.CodeInvalidGrant)
	offers.set(func() { delete(offers.refuse, "offer-1"); offers.down = true })
	expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "")}), 503, oauth.CodeTemporarilyUnavailable)
	offers.set(func() { offers.down = false })
	mustStatus(t, e.token(w, tokenReq{form: preAuthForm(code, "")}), 200)
}

// TestRevokePreAuthorizedCode: a revoked live code is refused; revoking a
// redeemed code revokes its tokens; unknown codes are no error.
func TestRevokePreAuthorizedCode(t *testing.T) {
	e := newEnv(t)
	w := e.newWallet("w1")
	ctx := context.Background()
	live := e.preAuthCode("")
	if err := e.srv.RevokePreAuthorizedCode(ctx, live); err != nil {
		t.Fatal(err)
	}
	expectError(t, e.token(w, tokenReq{form: preAuthForm(live, "")}), 400, oauth.CodeInvalidGrant)

	used := e.preAuthCode("")
	tok := mustStatus(t, e.token(w, tokenReq{form: preAuthForm(used, "")}), 200).str("access_token")
	if err := e.srv.RevokePreAuthorizedCode(ctx, used); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.ValidateAccessToken(ctx, tok); err == nil {
		t.Fatal("token of a revoked pre-authorized code still valid")
	}
	if err := e.srv.RevokePreAuthorizedCode(ctx, "unknown"); err != nil {
		t.Fatal(err)
	}
}

// TestPreAuthorizedOfferSingleUse: with an offer, the offer's redemption
// is the code's single use: of concurrent redemptions at most one gets a
// token, a later replay revokes it, and a cancellation revokes the grant
// even after the tx_code lockout deleted the code's record.
func TestPreAuthorizedOfferSingleUse(t *testing.T) {
	t.Run("concurrent", func(t *testing.T) {
		offers := newOffers()
		e := newEnv(t, withOptions(func(o *Options) { o.Offers = offers }))
		code := e.preAuthCode("")
		wallets := make([]*wallet, 8)
		for i := range wallets {
			wallets[i] = e.newWallet(fmt.Sprint("w", i))
		}
		if ok, _, _ := raceTokenRequests(t, e, wallets, preAuthForm(code, "")); ok > 1 {
			t.Fatalf("%d successes", ok)
		}
	})
	t.Run("replay revokes", func(t *testing.T) {
		offers := newOffers()
		e := newEnv(t, withOptions(func(o *Options) { o.Offers = offers }))
		w := e.newWallet("w1")
		code := e.preAuthCode("")
		tok := mustStatus(t, e.token(w, tokenReq{form: preAuthForm(code, "")}), 200).str("access_token")
		if _, err := e.srv.ValidateAccessToken(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "")}), 400, oauth.CodeInvalidGrant)
		if _, err := e.srv.ValidateAccessToken(t.Context(), tok); err == nil {
			t.Fatal("token still valid after the code's replay")
		}
	})
	t.Run("cancel after lockout", func(t *testing.T) {
		offers := newOffers()
		e := newEnv(t, withOptions(func(o *Options) { o.Offers = offers }))
		w := e.newWallet("w1")
		code := e.preAuthCode("493817")
		tok := mustStatus(t, e.token(w, tokenReq{form: preAuthForm(code, "493817")}), 200).str("access_token")
		for range e.srv.o.TxCodeMaxAttempts {
			expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "000000")}), 400, oauth.CodeInvalidGrant)
		}
		if _, err := e.srv.o.Store.Get(t.Context(), kindPreAuth, keyHash(code)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("record after lockout: %v", err)
		}
		if _, err := e.srv.ValidateAccessToken(t.Context(), tok); err != nil {
			t.Fatalf("wrong tx_codes revoked the grant: %v", err)
		}
		if err := e.srv.RevokePreAuthorizedCode(t.Context(), code); err != nil {
			t.Fatal(err)
		}
		if _, err := e.srv.ValidateAccessToken(t.Context(), tok); err == nil {
			t.Fatal("token of a cancelled offer still valid")
		}
	})
}

// storeOffers is an OfferLink that keeps minted codes' grant records and
// redeems with the store's Advance, as the offer package does: the token's
// records ride along with the step. Offer states: 0 live, 1 redeemed, 2
// cancelled.
type storeOffers struct{ s storage.Store }

const kindTestOffer = "offer-test"

func (o storeOffers) add(t *testing.T, e *env, tx string) string {
	t.Helper()
	code, grant, err := e.srv.MintPreAuthorizedCode(t.Context(), PreAuthorization{OfferID: "ignored", Subject: "holder-7",
		ConfigurationIDs: []string{testConfigID}, TxCode: tx, ExpiresAt: e.clock.Now().Add(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.s.Create(t.Context(), kindTestOffer, keyHash(code), grant, e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return code
}

func (storeOffers) ResolveIssuerState(context.Context, string) (string, string, error) {
	return "", "", errors.New("offer: not found")
}

func (o storeOffers) PreAuthorization(ctx context.Context, code string) (string, []byte, error) {
	b, err := o.s.Get(ctx, kindTestOffer, keyHash(code))
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil, ErrUnknownCode
	}
	return keyHash(code), b, err
}

func (o storeOffers) MarkRedeemed(ctx context.Context, id string) error {
	_, st, err := o.s.Advance(ctx, kindTestOffer, id, storage.StateSet(0), 1, nil, time.Time{})
	if errors.Is(err, storage.ErrConflict) && st == 1 {
		return ErrOfferRedeemed
	}
	return err
}

func (o storeOffers) Prefetch(ctx context.Context, id string) {
	storage.Prefetch(ctx, o.s, kindTestOffer, id)
}

func (o storeOffers) Cancel(ctx context.Context, id string) error {
	_, _, err := o.s.Advance(ctx, kindTestOffer, id, storage.StateSet(0, 1), 2, nil, time.Time{})
	return err
}

// TestOfferKeepsCode: a code minted for an offer has no record of its own;
// the offer's read finds it, its redemption and the token's records go in
// one store operation; a replay is refused and revokes the first token; a
// refused redemption leaves no token; the tx_code lockout cancels the
// offer.
func TestOfferKeepsCode(t *testing.T) {
	backends := map[string]envOpt{"memory": withStore(memoryStore)}
	if os.Getenv("ISSUER_TEST_REDIS_URL") != "" {
		backends["redis"] = withStore(redisStore(redisURL(t)))
	}
	for name, backend := range backends {
		t.Run(name, func(t *testing.T) {
			var link storeOffers
			e := newEnv(t, backend, withOptions(func(o *Options) {
				link = storeOffers{o.Store}
				o.Offers = link
			}))
			ctx := t.Context()
			w := e.newWallet("w1")
			code := link.add(t, e, "")
			if _, err := e.store.Get(ctx, kindPreAuth, keyHash(code)); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a minted code has a record of its own: %v", err)
			}
			tok := mustStatus(t, e.token(w, tokenReq{form: preAuthForm(code, "")}), 200).str("access_token")
			g, err := e.srv.ValidateAccessToken(ctx, tok)
			if err != nil || g.OfferID != keyHash(code) || g.Subject != "holder-7" {
				t.Fatalf("grant %+v, %v", g, err)
			}
			// The token names its offer (a read hint), checked against
			// the grant; without the hint it is the same token.
			base, hint := splitReadHint(tok)
			if hint != g.OfferID {
				t.Fatalf("read hint %q, want the offer %q", hint, g.OfferID)
			}
			if _, err := e.srv.ValidateAccessToken(ctx, base); err != nil {
				t.Fatalf("token without its hint: %v", err)
			}
			for _, bad := range []string{base + "." + keyHash("other"), base + ".", tok + ".x"} {
				if _, err := e.srv.ValidateAccessToken(ctx, bad); err == nil {
					t.Fatalf("altered token %q accepted", bad)
				}
			}
			expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "")}), 400, oauth.CodeInvalidGrant)
			if _, err := e.srv.ValidateAccessToken(ctx, tok); err == nil {
				t.Fatal("token still valid after the code's replay")
			}

			// Cancelled before redemption: refused, and no token stays.
			code = link.add(t, e, "")
			if err := link.Cancel(ctx, keyHash(code)); err != nil {
				t.Fatal(err)
			}
			expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "")}), 400, oauth.CodeInvalidGrant)

			// The tx_code lockout cancels the offer: the right tx_code is
			// refused afterwards.
			code = link.add(t, e, "493817")
			for range e.srv.o.TxCodeMaxAttempts {
				expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "000000")}), 400, oauth.CodeInvalidGrant)
			}
			expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "493817")}), 400, oauth.CodeInvalidGrant)

			// Codes with a record of their own (of offer-1) still work.
			if err := e.store.Create(ctx, kindTestOffer, "offer-1", nil, e.clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			legacy := e.preAuthCode("")
			mustStatus(t, e.token(w, tokenReq{form: preAuthForm(legacy, "")}), 200)
		})
	}
}

// TestOfferKeepsCodeRefresh: with refresh tokens, both first tokens ride
// along with the redemption and are listed in one grant index: the refresh
// token works, and a replay of the code revokes both.
func TestOfferKeepsCodeRefresh(t *testing.T) {
	var link storeOffers
	e := newEnv(t, withRefresh(), withOptions(func(o *Options) {
		link = storeOffers{o.Store}
		o.Offers = link
	}))
	ctx := t.Context()
	w := e.newWallet("w1")
	code := link.add(t, e, "")
	first := mustStatus(t, e.token(w, tokenReq{form: preAuthForm(code, "")}), 200)
	rt := first.str("refresh_token")
	if rt == "" {
		t.Fatal("no refresh token")
	}
	b, err := e.store.Get(ctx, kindGrant, preAuthGrantID(code))
	if err != nil {
		t.Fatal(err)
	}
	var idx grantIndexDTO
	if err := storage.Decode(b, &idx); err != nil || len(idx.AT) != 1 || len(idx.RT) != 1 {
		t.Fatalf("grant index %+v, %v", idx, err)
	}
	refreshed := mustStatus(t, e.token(w, tokenReq{form: url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {rt}}}), 200)
	expectError(t, e.token(w, tokenReq{form: preAuthForm(code, "")}), 400, oauth.CodeInvalidGrant)
	for _, tok := range []string{first.str("access_token"), refreshed.str("access_token")} {
		if _, err := e.srv.ValidateAccessToken(ctx, tok); err == nil {
			t.Fatal("token still valid after the code's replay")
		}
	}
	expectError(t, e.token(w, tokenReq{form: url.Values{"grant_type": {oauth.GrantRefreshToken}, "refresh_token": {refreshed.str("refresh_token")}}}), 400, oauth.CodeInvalidGrant)
}
