package authz

import (
	"context"
	"testing"

	"github.com/ory/fosite"
)

// TestAccessTokenRecordTrimmed: the access token record leaves out what
// ValidateAccessToken does not read (wallet instance key, issuer_state,
// request time) and keeps everything the grant carries.
func TestAccessTokenRecordTrimmed(t *testing.T) {
	e := newEnv(t)
	f := e.srv.store
	ctx := context.Background()
	r := &fosite.AccessRequest{
		GrantTypes: fosite.Arguments{"authorization_code"},
		Request: fosite.Request{
			ID: "req-1", RequestedAt: e.clock.Now().Add(-10e9), GrantedScope: fosite.Arguments{"mdl"},
			Session: &Session{Subject: "sub", JKT: "jkt", ClientKeyJKT: "instance-jkt", Provider: "wp",
				ConfigurationIDs: []string{"cfg"}, CredentialIdentifiers: map[string]string{"ci": "cfg"},
				OfferID: "offer", IssuerState: "issuer-state", NoState: true},
		},
	}
	if err := f.CreateAccessTokenSession(ctx, "sig-1", r); err != nil {
		t.Fatal(err)
	}
	d, _, err := f.loadToken(ctx, kindAT, "sig-1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		bad  bool
	}{
		{"request time", d.RequestedAt != 0},
		{"wallet instance key", d.Session == nil || d.Session.ClientKeyJKT != ""},
		{"issuer_state", d.Session == nil || d.Session.IssuerState != ""},
		{"no-state flag", d.Session == nil || d.Session.NoState},
		{"subject kept", d.Session == nil || d.Session.Subject != "sub"},
		{"DPoP binding kept", d.Session == nil || d.Session.JKT != "jkt"},
		{"provider kept", d.Session == nil || d.Session.Provider != "wp"},
		{"offer kept", d.Session == nil || d.Session.OfferID != "offer"},
		{"request id kept", d.ID != "req-1"},
		{"scopes kept", len(d.Granted) != 1 || d.Granted[0] != "mdl"},
		{"issue time kept", d.IssuedAt != e.clock.Now().Unix()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bad {
				t.Fatalf("stored access token record %+v, session %+v", d, d.Session)
			}
		})
	}
	got, err := f.GetAccessTokenSession(ctx, "sig-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !got.GetRequestedAt().Equal(e.clock.Now().Truncate(1e9).UTC()) {
		t.Fatalf("GetAccessTokenSession requested at %v, want the issue time", got.GetRequestedAt())
	}
}
