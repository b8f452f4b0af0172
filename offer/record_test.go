package offer

import (
	"context"
	"errors"
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
	ctx := context.Background()
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
	r, _, err := e.svc.load(ctx, c.ID)
	if err != nil || r.ID != c.ID {
		t.Fatalf("load: id %q, %v; want %q", r.ID, err, c.ID)
	}

	tests := []struct {
		name    string
		id      string
		wantErr bool
	}{
		{"written with its own id", "legacy-offer", false},
		{"id naming another offer", "other-offer", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := *r
			old.ID = "legacy-offer"
			raw, err := storage.Encode(&old) // the former encoding, id included
			if err != nil {
				t.Fatal(err)
			}
			if err := e.store.Put(ctx, kindOffer, tc.id, raw, e.clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			got, _, err := e.svc.load(ctx, tc.id)
			if tc.wantErr {
				if err == nil {
					t.Fatal("load accepted a record naming another offer")
				}
				return
			}
			if err != nil || got.ID != tc.id || got.State != r.State {
				t.Fatalf("load: %+v, %v", got, err)
			}
			// An update rewrites it without the id.
			if err := e.svc.MarkRedeemed(ctx, tc.id); err != nil && !errors.Is(err, ErrAlreadyRedeemed) {
				t.Fatalf("MarkRedeemed: %v", err)
			}
			b, err := e.store.Get(ctx, kindOffer, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := storage.Decode(b, &m); err != nil {
				t.Fatal(err)
			}
			if _, ok := m["id"]; ok {
				t.Fatalf("updated record still carries its id: %v", m)
			}
		})
	}
}
