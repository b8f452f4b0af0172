package ratelimit

import (
	"net/http/httptest"
	"testing"
)

// FuzzAttestationSubject: any OAuth-Client-Attestation header value yields a
// key of at most 256 bytes (or none), never a panic.
func FuzzAttestationSubject(f *testing.F) {
	for _, s := range []string{
		"", "a.b.c", "e30.eyJzdWIiOiJ3YWxsZXQifQ.sig", "e30.eyJzdWIiOjF9.x", "e30.!!!.x",
		"e30.eyJzdWIiOiJ3In0", "....", "e30.bnVsbA.x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("POST", "/par", nil)
		r.Header.Set("OAuth-Client-Attestation", v)
		if k := AttestationSubject(r); len(k) > 256 {
			t.Fatalf("key of %d bytes", len(k))
		}
	})
}
