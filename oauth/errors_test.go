package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestErrorIsByCode(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", InvalidGrant("code expired"))
	if !errors.Is(err, ErrInvalidGrant) {
		t.Fatal("errors.Is by code failed")
	}
	if errors.Is(err, ErrInvalidClient) {
		t.Fatal("matched another code")
	}
	if As(err).Description != "code expired" {
		t.Fatal("As lost the description")
	}
}

func TestWriteErrorHidesUnknownErrors(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, errors.New("redis: secret detail"))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("internal text leaked: %s", rec.Body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("no Cache-Control: no-store")
	}
}

func TestWriteErrorHeadersAndSanitizing(t *testing.T) {
	rec := httptest.NewRecorder()
	e := New(http.StatusUnauthorized, CodeUseDPoPNonce, `bad "nonce"\`+"\n").
		WithHeader(HeaderDPoPNonce, "n1")
	WriteError(rec, e)
	if rec.Code != 401 || rec.Header().Get("DPoP-Nonce") != "n1" {
		t.Fatalf("status %d headers %v", rec.Code, rec.Header())
	}
	want := `{"error":"use_dpop_nonce","error_description":"bad 'nonce''?"}` + "\n"
	if rec.Body.String() != want {
		t.Fatalf("body %q, want %q", rec.Body, want)
	}
	if e.Header.Get(HeaderDPoPNonce) != "n1" || New(400, "x", "").Header != nil {
		t.Fatal("WithHeader must copy")
	}
}
