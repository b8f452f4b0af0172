package offer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
)

// TestRecordIDNotStored: the offer id is the store key and is left out of
// the stored value; records written with it (before) still load, and a
// stored id that names another offer is refused.
func TestRecordIDNotStored(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","subject":"u"}`)
	ctx := t.Context()
	b, err := e.store.Get(ctx, kindOffer, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]any
	if err := storage.Decode(b, &stored); err != nil {
		t.Fatal(err)
	}
	if _, ok := stored["id"]; ok {
		t.Fatalf("stored offer record carries its id: %v", stored)
	}
	r, err := e.svc.load(ctx, c.ID)
	if err != nil || r.ID != c.ID {
		t.Fatalf("load: %+v, %v; want id %q", r, err, c.ID)
	}
	for _, tc := range []struct {
		id      string
		wantErr bool
	}{{"legacy-offer", false}, {"other-offer", true}} {
		old := *r
		old.V, old.ID = 1, "legacy-offer" // the former encoding: state and id included
		raw, err := storage.Encode(&old)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.Put(ctx, kindOffer, tc.id, raw, e.clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := e.svc.load(ctx, tc.id)
		if (err != nil) != tc.wantErr || err == nil && got.ID != tc.id {
			t.Fatalf("load %s: %+v, %v", tc.id, got, err)
		}
	}
}

// TestStoredLifecycle: a new record holds no state; each step appends one
// [state, at] event to it (a CBOR sequence) and the record itself is never
// rewritten.
func TestStoredLifecycle(t *testing.T) { forEachBackend(t, testStoredLifecycle) }

func testStoredLifecycle(t *testing.T, newEnv envFactory) {
	e := newEnv(t)
	c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","subject":"u"}`)
	ctx := t.Context()
	created, err := e.store.Get(ctx, kindOffer, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := storage.Decode(created, &m); err != nil {
		t.Fatalf("a new record is one CBOR item: %v", err)
	}
	for _, k := range []string{"st", "fa", "ra", "xa"} {
		if _, ok := m[k]; ok {
			t.Fatalf("new record stores %q", k)
		}
	}
	t0 := e.clock.Now()
	e.fetch(t, c.ID)
	e.clock.Advance(time.Second)
	if err := e.svc.MarkRedeemed(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.svc.Cancel(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Cancel(ctx, c.ID); err != nil {
		t.Fatalf("second cancel: %v", err)
	}
	b, err := e.store.Get(ctx, kindOffer, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, created) {
		t.Fatal("the record was rewritten")
	}
	rest := b[len(created):]
	want := []event{{State: stFetched, At: t0.UnixMilli()}, {State: stRedeemed, At: t0.Add(time.Second).UnixMilli()}, {State: stCancelled, At: t0.Add(2 * time.Second).UnixMilli()}}
	for i, w := range want {
		var ev event
		if rest, err = storage.DecodeFirst(rest, &ev); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev != w {
			t.Fatalf("event %d = %+v, want %+v", i, ev, w)
		}
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the events (a second fetch or cancel appended)", len(rest))
	}
	st, err := e.svc.Status(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateCancelled || st.FetchedAt == nil || !st.FetchedAt.Equal(t0) || st.RedeemedAt == nil ||
		!st.RedeemedAt.Equal(t0.Add(time.Second)) || st.CancelledAt == nil || !st.CancelledAt.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("status %+v", st)
	}
}

// TestFold: how events fold over a record: steps the lifecycle does not
// allow are ignored, and so are fetches and redemptions at or after expiry.
func TestFold(t *testing.T) {
	const exp = 1000
	tests := []struct {
		name   string
		base   string // version 1 state; "" = version 2
		events []event
		want   string
	}{
		{"created", "", nil, StateCreated},
		{"fetched", "", []event{{State: stFetched, At: 1}}, StateFetched},
		{"redeemed without fetch", "", []event{{State: stRedeemed, At: 1}}, StateRedeemed},
		{"fetched after redemption ignored", "", []event{{State: stRedeemed, At: 1}, {State: stFetched, At: 2}}, StateRedeemed},
		{"second redemption ignored", "", []event{{State: stRedeemed, At: 1}, {State: stRedeemed, At: 2}}, StateRedeemed},
		{"cancelled after redemption", "", []event{{State: stRedeemed, At: 1}, {State: stCancelled, At: 2}}, StateCancelled},
		{"nothing after cancellation", "", []event{{State: stCancelled, At: 1}, {State: stRedeemed, At: 2}}, StateCancelled},
		{"redemption at expiry void", "", []event{{State: stRedeemed, At: exp}}, StateCreated},
		{"fetch after expiry void", "", []event{{State: stFetched, At: exp + 1}}, StateCreated},
		{"cancellation after expiry", "", []event{{State: stCancelled, At: exp + 1}}, StateCancelled},
		{"unknown state ignored", "", []event{{State: 9, At: 1}}, StateCreated},
		{"v1 redeemed stays", StateRedeemed, []event{{State: stRedeemed, At: 5}}, StateRedeemed},
		{"v1 fetched redeemed", StateFetched, []event{{State: stRedeemed, At: 5}}, StateRedeemed},
		{"v1 cancelled stays", StateCancelled, []event{{State: stFetched, At: 5}}, StateCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := record{V: recordVersion, State: tc.base, ExpiresAt: exp}
			if tc.base != "" {
				r.V = 1
			}
			b, err := storage.Encode(&r)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range tc.events {
				eb, err := storage.Encode(&ev)
				if err != nil {
					t.Fatal(err)
				}
				b = append(b, eb...)
			}
			got, err := decodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.want {
				t.Fatalf("state %q, want %q", got.State, tc.want)
			}
		})
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	enc := func(v any) []byte {
		b, err := storage.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ev := enc(&event{State: stFetched, At: 1})
	tests := map[string][]byte{
		"version 3":            enc(&record{V: 3}),
		"version 2 with state": enc(&record{V: recordVersion, State: StateRedeemed}),
		"version 2 with time":  enc(&record{V: recordVersion, RedeemedAt: 5}),
		"truncated event":      append(enc(&record{V: recordVersion}), ev[:len(ev)-1]...),
		"event not an array":   append(enc(&record{V: recordVersion}), enc("x")...),
		"too many events":      append(enc(&record{V: recordVersion}), bytes.Repeat(ev, maxEvents+1)...),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeRecord(b); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestVersion1Records: records written by the compare-and-swap version
// keep their lifecycle: a redeemed one is not redeemed again, a fetched
// one is redeemed once, a cancelled one is not served.
func TestVersion1Records(t *testing.T) { forEachBackend(t, testVersion1Records) }

func testVersion1Records(t *testing.T, newEnv envFactory) {
	e := newEnv(t)
	ctx := t.Context()
	now := e.clock.Now()
	put := func(id, state string) {
		t.Helper()
		r := record{V: 1, State: state, Grant: GrantPreAuthorized, ConfigurationIDs: []string{cfgMDL},
			CreatedAt: now.UnixMilli(), ExpiresAt: now.Add(time.Hour).UnixMilli()}
		b, err := storage.Encode(&r)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.Create(ctx, kindOffer, id, b, now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	put("v1-redeemed", StateRedeemed)
	put("v1-fetched", StateFetched)
	put("v1-cancelled", StateCancelled)
	if err := e.svc.MarkRedeemed(ctx, "v1-redeemed"); !errors.Is(err, ErrAlreadyRedeemed) {
		t.Fatalf("redeemed v1 record redeemed again: %v", err)
	}
	if err := e.svc.MarkRedeemed(ctx, "v1-fetched"); err != nil {
		t.Fatalf("fetched v1 record: %v", err)
	}
	if err := e.svc.MarkRedeemed(ctx, "v1-fetched"); !errors.Is(err, ErrAlreadyRedeemed) {
		t.Fatalf("second redemption: %v", err)
	}
	if _, err := e.svc.Fetch(ctx, "v1-cancelled"); !errors.Is(err, ErrCancelled) {
		t.Fatalf("cancelled v1 record served: %v", err)
	}
	if err := e.svc.MarkRedeemed(ctx, "v1-cancelled"); !errors.Is(err, ErrCancelled) {
		t.Fatalf("cancelled v1 record redeemed: %v", err)
	}
}

// TestLateRedemptionVoid: a redemption at the offer's expiry is refused
// and leaves the offer expired, not redeemed.
func TestLateRedemptionVoid(t *testing.T) { forEachBackend(t, testLateRedemptionVoid) }

func testLateRedemptionVoid(t *testing.T, newEnv envFactory) {
	e := newEnv(t)
	c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","subject":"u","expires_in":60}`)
	e.clock.Advance(time.Minute)
	if err := e.svc.MarkRedeemed(t.Context(), c.ID); !errors.Is(err, ErrExpired) {
		t.Fatalf("MarkRedeemed at expiry: %v", err)
	}
	if s := e.state(t, c.ID); s != StateExpired {
		t.Fatalf("state %q", s)
	}
}

// minter is a PreAuthCodeMinter: codes with a grant record the offer keeps.
type minter struct {
	fakePreAuth
	minted map[string]PreAuthorization
}

func (m *minter) MintPreAuthorizedCode(_ context.Context, p PreAuthorization) (string, []byte, error) {
	code := rand.Text() + rand.Text()
	m.minted[code] = p
	return code, []byte("grant of " + code[:6]), nil
}

// TestOfferKeepsMintedCode: with a minting PreAuth, the offer's id is
// derived from its code, the offer keeps the grant record, and
// PreAuthorization finds it by the code alone, in any state; other codes
// and offers are not found.
func TestOfferKeepsMintedCode(t *testing.T) { forEachBackend(t, testOfferKeepsMintedCode) }

func testOfferKeepsMintedCode(t *testing.T, newEnv envFactory) {
	m := &minter{minted: map[string]PreAuthorization{}}
	e := newEnv(t, func(o *Options) { o.PreAuth = m })
	ctx := t.Context()
	c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","subject":"u","tx_code":{"length":6}}`)
	code := c.CredentialOffer.Grants.PreAuthorizedCode.PreAuthorizedCode
	p, ok := m.minted[code]
	if !ok || c.ID != offerIDFor(code) || p.OfferID != "" || p.Subject != "u" || p.TxCode != c.TxCode {
		t.Fatalf("offer %s for code minted with %+v", c.ID, p)
	}
	if !strings.HasSuffix(c.CredentialOfferURI, "/offers/"+c.ID) || strings.Contains(c.CredentialOfferURI, code) {
		t.Fatalf("credential_offer_uri %s", c.CredentialOfferURI)
	}
	for _, step := range []func(){
		func() {},
		func() { e.fetch(t, c.ID) },
		func() {
			if err := e.svc.MarkRedeemed(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
		},
		func() {
			if _, err := e.svc.Cancel(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
		},
	} {
		step()
		id, grant, err := e.svc.PreAuthorization(ctx, code)
		if err != nil || id != c.ID || string(grant) != "grant of "+code[:6] {
			t.Fatalf("PreAuthorization: %q, %q, %v", id, grant, err)
		}
	}
	for name, code := range map[string]string{
		"unknown":   rand.Text(),
		"empty":     "",
		"too long":  strings.Repeat("a", 257),
		"offer id":  c.ID,
		"truncated": code[:len(code)-1],
	} {
		if _, _, err := e.svc.PreAuthorization(ctx, code); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// An authorization_code offer keeps no code.
	a := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"authorization_code"}`)
	if _, _, err := e.svc.PreAuthorization(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("authorization_code offer: %v", err)
	}
}
