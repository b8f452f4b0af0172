package upstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const fuzzIssuer = "https://idp.example.com"

// offlineProvider is a Provider with fixed metadata and one static key, for
// tests that make no HTTP call.
func offlineProvider(t testing.TB, issParam bool) (*Provider, *ecdsa.PrivateKey) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	p := &Provider{
		o: Options{Issuer: fuzzIssuer, ClientID: "client-1", SubjectClaim: "sub", Now: c.Now,
			ClockSkew: DefaultClockSkew, MaxIDTokenAge: DefaultMaxIDTokenAge},
		md:   Metadata{Issuer: fuzzIssuer, AuthorizationResponseIssParameterSupported: issParam},
		algs: []jose.SignatureAlgorithm{jose.ES256},
	}
	p.keys = &keySet{now: c.Now, minRefresh: time.Minute, maxAge: time.Hour,
		fetch: func(context.Context) ([]jose.JSONWebKey, error) {
			return []jose.JSONWebKey{{Key: k.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}, nil
		}}
	return p, k
}

func signPayload(t testing.TB, k *ecdsa.PrivateKey, payload []byte) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func validClaims(now time.Time) map[string]any {
	return map[string]any{"iss": fuzzIssuer, "sub": "u1", "aud": "client-1", "nonce": "n-0123456789",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
}

func TestVerifyIDTokenPayload(t *testing.T) {
	p, k := offlineProvider(t, false)
	now := p.o.Now()
	good, _ := json.Marshal(validClaims(now))
	tests := []struct {
		name    string
		payload string
		check   string
	}{
		{"valid", string(good), ""},
		{"array", `[1,2]`, "claims"},
		{"null", `null`, "claims"},
		{"trailing data", string(good) + `{}`, "claims"},
		{"not JSON", `claims`, "claims"},
		{"exp huge", strings.Replace(string(good), `"exp":`, `"exp":1e300,"x":`, 1), "exp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.verifyIDToken(context.Background(), signPayload(t, k, []byte(tc.payload)), "n-0123456789", "")
			if tc.check == "" {
				if err != nil {
					t.Fatalf("valid token refused: %v", err)
				}
				return
			}
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != tc.check {
				t.Fatalf("got %v, want check %q", err, tc.check)
			}
		})
	}
}

// FuzzParseCallback: the callback query is reachable by any browser. No
// input panics; a returned code implies the state matched and no parameter
// was repeated; errors never quote the stored state, nonce or verifier.
func FuzzParseCallback(f *testing.F) {
	s := Start{State: "state-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Nonce: "nonce-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
		CodeVerifier: "verifier-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"}
	for _, seed := range []string{
		"code=abc&state=" + s.State,
		"code=abc&state=" + s.State + "&iss=" + url.QueryEscape(fuzzIssuer),
		"error=access_denied&error_description=no&state=" + s.State,
		"error=%22%00x&error_uri=javascript:alert(1)&state=" + s.State,
		"code=a&code=b&state=" + s.State,
		"state=" + s.State + "&state=" + s.State + "&code=x",
		"code=abc&state=wrong",
		"code=%0a&state=" + s.State,
		"iss=https://evil&code=abc&state=" + s.State,
		"",
		"%zz",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	withIss, _ := offlineProvider(f, true)
	withoutIss, _ := offlineProvider(f, false)
	f.Fuzz(func(t *testing.T, raw string, issParam bool) {
		p := withoutIss
		if issParam {
			p = withIss
		}
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		code, err := p.ParseCallback(q, s)
		if err != nil {
			var ce *CheckError
			var pe *ProviderError
			if !errors.As(err, &ce) && !errors.As(err, &pe) {
				t.Fatalf("untyped error %v", err)
			}
			if pe != nil && (len(q["state"]) != 1 || q.Get("state") != s.State) {
				t.Fatal("provider error accepted with a wrong state")
			}
			for _, secret := range []string{s.Nonce, s.CodeVerifier} {
				if strings.Contains(err.Error(), secret) {
					t.Fatal("error leaks a stored secret")
				}
			}
			if ce != nil && strings.Contains(err.Error(), s.State) {
				t.Fatal("check error quotes the state")
			}
			if oe := OAuthError(err); oe == nil || oe.Status < 400 {
				t.Fatalf("OAuthError(%v) = %v", err, oe)
			}
			return
		}
		if len(q["state"]) != 1 || q.Get("state") != s.State {
			t.Fatal("code returned for a wrong state")
		}
		if len(q["code"]) != 1 || code != q.Get("code") || code == "" || !vschar(code) || q.Has("error") {
			t.Fatalf("unexpected code %q for %v", code, q)
		}
		if iss, ok := q["iss"]; (ok && (len(iss) != 1 || iss[0] != fuzzIssuer)) || (!ok && issParam) {
			t.Fatal("code returned despite a wrong or missing iss")
		}
	})
}

// FuzzVerifyIDToken: arbitrary token strings from the token endpoint never
// panic, and anything accepted carries the expected iss, aud and nonce.
func FuzzVerifyIDToken(f *testing.F) {
	p, k := offlineProvider(f, false)
	now := p.o.Now()
	good, _ := json.Marshal(validClaims(now))
	f.Add(signPayload(f, k, good))
	f.Add(signPayload(f, k, []byte(`{"iss":1}`)))
	f.Add(signPayload(f, k, []byte(`[]`)))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c.d.e")
	f.Add("....")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		claims, err := p.verifyIDToken(context.Background(), raw, "n-0123456789", "")
		if err != nil {
			return
		}
		if claims["iss"] != fuzzIssuer || claims["nonce"] != "n-0123456789" {
			t.Fatalf("accepted claims %v", claims)
		}
		aud, ok := audience(claims["aud"])
		if !ok || len(aud) == 0 {
			t.Fatalf("accepted aud %v", claims["aud"])
		}
	})
}
