package authz

import (
	"context"
	"errors"
	"testing"

	"github.com/ory/fosite"
)

type countingHandler struct {
	grant     string
	populated int
}

func (h *countingHandler) HandleTokenEndpointRequest(context.Context, fosite.AccessRequester) error {
	return nil
}

func (h *countingHandler) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	h.populated++
	return nil
}

func (h *countingHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (h *countingHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(h.grant)
}

// TestPopulateIfHandled: a request of another grant type gets the bare
// ErrUnknownRequest without reaching the handler; its own grant type is
// passed through.
func TestPopulateIfHandled(t *testing.T) {
	tests := []struct {
		name      string
		grant     string
		wantErr   error
		populated int
	}{
		{"own grant type", "authorization_code", nil, 1},
		{"other grant type", "urn:ietf:params:oauth:grant-type:pre-authorized_code", fosite.ErrUnknownRequest, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &countingHandler{grant: "authorization_code"}
			ar := &fosite.AccessRequest{GrantTypes: fosite.Arguments{tc.grant}}
			err := populateIfHandled{h}.PopulateTokenEndpointResponse(context.Background(), ar, fosite.NewAccessResponse())
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if h.populated != tc.populated {
				t.Fatalf("handler populated %d times, want %d", h.populated, tc.populated)
			}
		})
	}
}
