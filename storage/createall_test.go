package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/storage"
)

// plainRecords is a Records without CreateAll; it records the Create calls
// and fails the one under failKey.
type plainRecords struct {
	storage.Records
	failKey string
	created []string
}

func (p *plainRecords) Create(_ context.Context, kind, key string, _ []byte, _ time.Time) error {
	if key == p.failKey {
		return storage.ErrAlreadyExists
	}
	p.created = append(p.created, kind+":"+key)
	return nil
}

// TestCreateAllFallback: without a BatchCreator, CreateAll creates the items
// one by one in order and stops at the first error.
func TestCreateAllFallback(t *testing.T) {
	exp := time.Now().Add(time.Minute)
	items := []storage.Item{{Kind: "a", Key: "1", ExpiresAt: exp}, {Kind: "a", Key: "2", ExpiresAt: exp}, {Kind: "b", Key: "3", ExpiresAt: exp}}
	tests := []struct {
		name    string
		failKey string
		wantErr error
		want    []string
	}{
		{"all created", "", nil, []string{"a:1", "a:2", "b:3"}},
		{"stops at the first error", "2", storage.ErrAlreadyExists, []string{"a:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &plainRecords{failKey: tc.failKey}
			err := storage.CreateAll(t.Context(), p, items)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("CreateAll: %v, want %v", err, tc.wantErr)
			}
			var ie *storage.ItemError
			if err != nil && (!errors.As(err, &ie) || ie.Index != 1) {
				t.Fatalf("CreateAll: %v (%T), want an ItemError for item 1", err, err)
			}
			if len(p.created) != len(tc.want) {
				t.Fatalf("created %v, want %v", p.created, tc.want)
			}
			for i := range tc.want {
				if p.created[i] != tc.want[i] {
					t.Fatalf("created %v, want %v", p.created, tc.want)
				}
			}
		})
	}
}
