package dpop_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
	"github.com/mdoc-issuer/issuer/nonce"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// One proof sent by 64 goroutines at once: exactly one is accepted, all
// others are rejected as replays (RFC 9449 §11.1).
func TestReplayConcurrent(t *testing.T) {
	for _, resource := range []bool{false, true} {
		f := newFixture(t, true, resource)
		r := f.request(f.proof())
		const n = 64
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			mu       sync.Mutex
			accepted int
			replays  int
		)
		for range n {
			wg.Go(func() {
				<-start
				_, err := f.v.Verify(context.Background(), r)
				mu.Lock()
				defer mu.Unlock()
				switch e := oauth.As(err); {
				case err == nil:
					accepted++
				case e != nil && e.Code == oauth.CodeInvalidDPoPProof && strings.Contains(e.Description, "replayed"):
					replays++
				default:
					t.Errorf("unexpected error %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if accepted != 1 || replays != n-1 {
			t.Fatalf("resource=%v: %d accepted, %d replays; want 1 and %d", resource, accepted, replays, n-1)
		}
	}
}

// An accepted proof is remembered at least until it fails the iat check.
func TestReplayTTLCoversWindow(t *testing.T) {
	for _, skew := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		f := newFixture(t, false, false)
		iat := f.clock.Now().Add(skew)
		r := f.request(f.proof(dpoptest.IssuedAt(iat)))
		if _, err := f.v.Verify(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		exp := f.replay.expires[0]
		if last := iat.Add(dpop.DefaultIATWindow); exp.Before(last) {
			t.Fatalf("iat skew %v: remembered until %v, proof acceptable until %v", skew, exp, last)
		}
		// While the proof passes the iat check it is a replay, afterwards it is too old.
		f.clock.Advance(iat.Add(dpop.DefaultIATWindow).Sub(f.clock.Now()))
		_, err := f.v.Verify(context.Background(), r)
		if e := oauth.As(err); e == nil || !strings.Contains(e.Description, "replayed") {
			t.Fatalf("iat skew %v: at window end got %v, want replay", skew, err)
		}
		f.clock.Advance(time.Second)
		_, err = f.v.Verify(context.Background(), r)
		if e := oauth.As(err); e == nil || !strings.Contains(e.Description, "too old") {
			t.Fatalf("iat skew %v: after window got %v, want too old", skew, err)
		}
	}
}

// RFC 9449 §8 (AS) and §9 (resource): a proof without nonce gets
// use_dpop_nonce and a DPoP-Nonce; the retry with that nonce succeeds, and a
// nonce from Verifier.Nonce (e.g. on the nonce endpoint) works too.
func TestNonceChallengeAndRetry(t *testing.T) {
	for _, resource := range []bool{false, true} {
		f := newFixture(t, true, resource)
		_, err := f.v.Verify(context.Background(), f.request(f.proof(dpoptest.WithoutClaim("nonce"))))
		e := oauth.As(err)
		if e == nil || e.Code != oauth.CodeUseDPoPNonce {
			t.Fatalf("resource=%v: got %v, want use_dpop_nonce", resource, err)
		}
		n := e.Header.Get(dpop.HeaderDPoPNonce)
		if n == "" {
			t.Fatal("no DPoP-Nonce")
		}
		if _, err := f.v.Verify(context.Background(), f.request(f.proof(dpoptest.Nonce(n)))); err != nil {
			t.Fatalf("resource=%v: retry with the returned nonce: %v", resource, err)
		}
		n2, err := f.v.Nonce()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.v.Verify(context.Background(), f.request(f.proof(dpoptest.Nonce(n2)))); err != nil {
			t.Fatalf("resource=%v: nonce from Verifier.Nonce: %v", resource, err)
		}
		if !f.v.NoncesRequired() {
			t.Fatal("NoncesRequired false with a nonce source")
		}
	}
}

func TestNonceWithoutSource(t *testing.T) {
	f := newFixture(t, false, false)
	if n, err := f.v.Nonce(); err == nil || n != "" {
		t.Fatalf("Nonce() = %q, %v without a source", n, err)
	}
	if f.v.NoncesRequired() {
		t.Fatal("NoncesRequired true without a source")
	}
}

func TestNewVerifier(t *testing.T) {
	f := newFixture(t, false, false)
	for _, tc := range []struct {
		name string
		o    dpop.Options
	}{
		{"no replay cache", dpop.Options{}},
		{"negative window", dpop.Options{Replay: f.replay, IATWindow: -time.Second}},
		{"negative skew", dpop.Options{Replay: f.replay, FutureSkew: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := dpop.NewVerifier(tc.o); err == nil {
				t.Fatal("NewVerifier accepted bad options")
			}
		})
	}
}

// A configured window and skew are honoured.
func TestCustomWindow(t *testing.T) {
	f := newFixture(t, false, false)
	v, err := dpop.NewVerifier(dpop.Options{Replay: f.replay, Now: f.clock.Now, IATWindow: 10 * time.Second, FutureSkew: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		off  time.Duration
		ok   bool
	}{
		{"10 s old", -10 * time.Second, true},
		{"11 s old", -11 * time.Second, false},
		{"2 s ahead", 2 * time.Second, true},
		{"3 s ahead", 3 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), f.request(f.proof(dpoptest.IssuedAt(f.clock.Now().Add(tc.off)))))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// A Request.URL that is not absolute is a server misconfiguration: 500,
// never a client error and never an accept.
func TestMisconfiguredURL(t *testing.T) {
	f := newFixture(t, false, false)
	r := f.request(f.proof())
	r.URL = "/token"
	_, err := f.v.Verify(context.Background(), r)
	if e := oauth.As(err); e == nil || e.Status != http.StatusInternalServerError {
		t.Fatalf("got %v, want 500", err)
	}
}

func TestStorageErrorIsUnavailable(t *testing.T) {
	f := newFixture(t, false, true)
	f.replay.fail = storage.ErrUnavailable
	_, err := f.v.Verify(context.Background(), f.request(f.proof()))
	if !errors.Is(err, oauth.ErrTemporarilyDown) || !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("got %v, want temporarily_unavailable wrapping storage.ErrUnavailable", err)
	}
}

func TestChallenge(t *testing.T) {
	for _, tc := range []struct{ code, desc, want string }{
		{"", "", `DPoP algs="ES256"`},
		{"invalid_token", "", `DPoP error="invalid_token", algs="ES256"`},
		{"use_dpop_nonce", "need nonce", `DPoP error="use_dpop_nonce", error_description="need nonce", algs="ES256"`},
		{"invalid_dpop_proof", "a \"quoted\" \\ value\n", `DPoP error="invalid_dpop_proof", error_description="a 'quoted' ' value?", algs="ES256"`},
	} {
		if got := dpop.Challenge(tc.code, tc.desc); got != tc.want {
			t.Errorf("Challenge(%q, %q) = %s, want %s", tc.code, tc.desc, got, tc.want)
		}
	}
	e := dpop.ResourceError(http.StatusUnauthorized, oauth.CodeInvalidToken, "expired")
	if e.Status != 401 || e.Header.Get("WWW-Authenticate") != `DPoP error="invalid_token", error_description="expired", algs="ES256"` {
		t.Fatalf("ResourceError = %+v", e)
	}
}

// Thumbprint agrees with go-jose for EC keys (computed directly) and matches
// the RFC 7638 §3.1 example for RSA.
func TestThumbprint(t *testing.T) {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		for range 20 { // covers coordinates with leading zero bytes now and then
			priv, err := ecdsa.GenerateKey(c, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := (&jose.JSONWebKey{Key: &priv.PublicKey}).Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			want := base64.RawURLEncoding.EncodeToString(ref)
			for _, k := range []any{&priv.PublicKey, priv} {
				got, err := dpop.Thumbprint(&jose.JSONWebKey{Key: k})
				if err != nil || got != want {
					t.Fatalf("%s %T: Thumbprint = %q, %v; go-jose %q", c.Params().Name, k, got, err, want)
				}
			}
		}
	}
	n, err := base64.RawURLEncoding.DecodeString(rfc7638N)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	got, err := dpop.Thumbprint(&jose.JSONWebKey{Key: rsaKey})
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; err != nil || got != want {
		t.Fatalf("RFC 7638 §3.1 example: %q, %v; want %q", got, err, want)
	}
	if _, err := dpop.Thumbprint(nil); err == nil {
		t.Fatal("Thumbprint(nil) succeeded")
	}
	if _, err := dpop.Thumbprint(&jose.JSONWebKey{}); err == nil {
		t.Fatal("Thumbprint(empty) succeeded")
	}
	k := dpoptest.NewKey()
	if got, _ := dpop.Thumbprint(&k.JWK); got != k.JKT {
		t.Fatalf("dpoptest JKT %q != Thumbprint %q", k.JKT, got)
	}
}

// FuzzVerify feeds arbitrary DPoP header values through the whole
// verification. Every outcome must be an *oauth.Error with a DPoP code, and
// anything accepted must carry a signature go-jose also verifies with the
// returned key.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, false, false)
	fx.v, _ = dpop.NewVerifier(dpop.Options{Replay: nopReplay{}, Now: fx.clock.Now})
	f.Add(fx.proof())
	f.Add(fx.proof(dpoptest.Typ("JWT")))
	f.Add(fx.proof(dpoptest.Alg("none")))
	f.Add(fx.proof(dpoptest.PrivateJWK()))
	f.Add(fx.proof(dpoptest.CorruptSignature()))
	f.Add(fx.proof(dpoptest.Claim("iat", 1.5e300)))
	f.Add(fx.proof(dpoptest.Header("crit", []string{"b64"})))
	f.Add(fx.proof(dpoptest.Claim("htu", "https://ISSUER.example:443/./token?x#y")))
	f.Add("a.b.c")
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := fx.v.Verify(context.Background(), dpop.Request{Method: "POST", URL: tokenURL, DPoP: []string{s}})
		if err != nil {
			e := oauth.As(err)
			if e == nil || e.Code != oauth.CodeInvalidDPoPProof || e.Status != http.StatusBadRequest {
				t.Fatalf("unexpected error %#v", err)
			}
			return
		}
		sig, perr := jose.ParseSignedCompact(s, []jose.SignatureAlgorithm{jose.ES256})
		if perr != nil {
			t.Fatalf("accepted a proof go-jose cannot parse: %v", perr)
		}
		if _, verr := sig.Verify(p.Key); verr != nil {
			t.Fatalf("accepted a proof go-jose does not verify: %v", verr)
		}
	})
}

type nopReplay struct{}

func (nopReplay) Remember(context.Context, string, string, time.Time) error { return nil }

// BenchmarkVerify measures a full verification at the resource (parse,
// claims, ath, ES256 signature, thumbprint, binding) without a store.
func BenchmarkVerify(b *testing.B) {
	fx := newFixture(b, false, true)
	v, err := dpop.NewVerifier(dpop.Options{Replay: nopReplay{}, Now: fx.clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	r := fx.request(fx.proof())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyReject measures the cost of a proof rejected before the
// signature check (wrong htu), the path an attacker can drive cheaply.
func BenchmarkVerifyReject(b *testing.B) {
	fx := newFixture(b, false, true)
	r := fx.request(fx.proof(dpoptest.Claim("htu", "https://issuer.example/other")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fx.v.Verify(context.Background(), r); err == nil {
			b.Fatal("accepted")
		}
	}
}

// Two instances sharing the store and the nonce keys: a nonce issued by one
// is accepted by the other, and a proof accepted by one is a replay at the
// other (RFC 9449 §11.1 across instances).
func TestAcrossInstances(t *testing.T) {
	f := newFixture(t, true, true)
	keys := [][]byte{bytes.Repeat([]byte{7}, 32)} // the fixture's nonce keys
	ns, err := nonce.New(keys, "dpop", 5*time.Minute, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dpop.NewVerifier(dpop.Options{Replay: f.replay, Nonces: ns, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.Nonce()
	if err != nil {
		t.Fatal(err)
	}
	r := f.request(f.proof(dpoptest.Nonce(n)))
	if _, err := f.v.Verify(context.Background(), r); err != nil {
		t.Fatalf("instance A rejected a nonce from instance B: %v", err)
	}
	_, err = b.Verify(context.Background(), r)
	if e := oauth.As(err); e == nil || e.Code != oauth.CodeInvalidDPoPProof || !strings.Contains(e.Description, "replayed") {
		t.Fatalf("instance B accepted a proof used at instance A: %v", err)
	}
}
