package authz

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/mdoc-issuer/issuer/storage"
)

// TestIndexAddFirstToken covers the grant index written for a grant's first
// token without a prior read: it must still see a revoked mark or an
// existing index and fall back to the read-modify-swap path.
func TestIndexAddFirstToken(t *testing.T) {
	tests := []struct {
		name    string
		before  func(t *testing.T, e *env, f *fositeStore)
		wantErr error
		wantAT  int
	}{
		{name: "no index yet", wantAT: 1},
		{
			name: "revoked grant",
			before: func(t *testing.T, e *env, f *fositeStore) {
				if err := f.revokeGrant(context.Background(), "req-1"); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: errGrantRevoked,
		},
		{
			name: "index with a live token",
			before: func(t *testing.T, e *env, f *fositeStore) {
				exp := e.clock.Now().Add(time.Minute)
				if err := f.indexAdd(context.Background(), "req-1", "sig-0", exp, false, true); err != nil {
					t.Fatal(err)
				}
			},
			wantAT: 2,
		},
		{
			name: "index whose tokens expired",
			before: func(t *testing.T, e *env, f *fositeStore) {
				exp := e.clock.Now().Add(time.Second)
				if err := f.indexAdd(context.Background(), "req-1", "sig-0", exp, false, true); err != nil {
					t.Fatal(err)
				}
				e.clock.Advance(2 * time.Second)
			},
			wantAT: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.srv.store
			if tc.before != nil {
				tc.before(t, e, f)
			}
			exp := e.clock.Now().Add(time.Minute)
			err := f.indexAdd(context.Background(), "req-1", "sig-1", exp, false, true)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("indexAdd: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			b, err := e.store.Get(context.Background(), kindGrant, "req-1")
			if err != nil {
				t.Fatal(err)
			}
			var idx grantIndexDTO
			if err := storage.Decode(b, &idx); err != nil {
				t.Fatal(err)
			}
			if len(idx.AT) != tc.wantAT || idx.AT[len(idx.AT)-1].Sig != "sig-1" || idx.Revoked {
				t.Fatalf("index %+v, want %d access tokens ending with sig-1", idx, tc.wantAT)
			}
		})
	}
}

// TestIsRefreshGrant: only a refresh_token grant skips the optimistic
// create of the grant index.
func TestIsRefreshGrant(t *testing.T) {
	tests := []struct {
		name string
		r    fosite.Requester
		want bool
	}{
		{"refresh_token", &fosite.AccessRequest{GrantTypes: fosite.Arguments{"refresh_token"}}, true},
		{"authorization_code", &fosite.AccessRequest{GrantTypes: fosite.Arguments{"authorization_code"}}, false},
		{"pre-authorized_code", &fosite.AccessRequest{GrantTypes: fosite.Arguments{"urn:ietf:params:oauth:grant-type:pre-authorized_code"}}, false},
		{"not an access request", &fosite.Request{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isRefreshGrant(tc.r); got != tc.want {
				t.Fatalf("isRefreshGrant = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCreateAccessTokenSessionFirstToken covers the access token and its new
// grant index written together: a revoked grant keeps no token, an existing
// index gets the token added.
func TestCreateAccessTokenSessionFirstToken(t *testing.T) {
	tests := []struct {
		name    string
		before  func(t *testing.T, e *env, f *fositeStore)
		wantErr error
		wantAT  int
	}{
		{name: "no index yet", wantAT: 1},
		{
			name: "revoked grant",
			before: func(t *testing.T, e *env, f *fositeStore) {
				if err := f.revokeGrant(context.Background(), "req-1"); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: errGrantRevoked,
		},
		{
			name: "index with a live token",
			before: func(t *testing.T, e *env, f *fositeStore) {
				if err := f.indexAdd(context.Background(), "req-1", "sig-0", e.clock.Now().Add(time.Minute), false, true); err != nil {
					t.Fatal(err)
				}
			},
			wantAT: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.srv.store
			if tc.before != nil {
				tc.before(t, e, f)
			}
			ctx := context.Background()
			r := &fosite.AccessRequest{
				GrantTypes: fosite.Arguments{"urn:ietf:params:oauth:grant-type:pre-authorized_code"},
				Request:    fosite.Request{ID: "req-1", Session: &Session{JKT: "jkt"}},
			}
			err := f.CreateAccessTokenSession(ctx, "sig-1", r)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("CreateAccessTokenSession: %v, want %v", err, tc.wantErr)
			}
			_, atErr := e.store.Get(ctx, kindAT, "sig-1")
			if tc.wantErr != nil {
				if !errors.Is(atErr, storage.ErrNotFound) {
					t.Fatalf("access token of a refused grant: %v, want it deleted", atErr)
				}
				return
			}
			if atErr != nil {
				t.Fatalf("access token: %v", atErr)
			}
			b, err := e.store.Get(ctx, kindGrant, "req-1")
			if err != nil {
				t.Fatal(err)
			}
			var idx grantIndexDTO
			if err := storage.Decode(b, &idx); err != nil {
				t.Fatal(err)
			}
			if len(idx.AT) != tc.wantAT || idx.AT[len(idx.AT)-1].Sig != "sig-1" {
				t.Fatalf("index %+v, want %d access tokens ending with sig-1", idx, tc.wantAT)
			}
		})
	}
}
