package dpop_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
)

// rfc7638N is the RSA modulus of the RFC 7638 §3.1 example key.
const rfc7638N = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"

// headerJSON returns the decoded JOSE header of a compact JWS.
func headerJSON(t testing.TB, jws string) []byte {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(jws[:strings.IndexByte(jws, '.')])
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// jwkOf returns the jwk header member a proof by k carries.
func jwkOf(t testing.TB, k *dpoptest.Key) map[string]any {
	t.Helper()
	var h struct {
		JWK map[string]any `json:"jwk"`
	}
	if err := json.Unmarshal(headerJSON(t, k.Proof("POST", "https://x.example/")), &h); err != nil {
		t.Fatal(err)
	}
	return h.JWK
}

func hexByte(c byte) string { return fmt.Sprintf("%02X", c) }
