package upstream

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/upstream/oidctest"
)

func finish(t *testing.T, e *env) error {
	t.Helper()
	s, cb := e.login(t)
	_, err := e.p.Finish(context.Background(), cb, s)
	return err
}

func TestJWKSRotation(t *testing.T) {
	e := newEnv(t, oidctest.Options{CodeLifetime: 3 * time.Hour, IDTokenLifetime: 3 * time.Hour}, nil)
	if err := finish(t, e); err != nil {
		t.Fatalf("first login: %v", err)
	}
	if n := e.op.Hits(oidctest.HitJWKS); n != 1 {
		t.Fatalf("JWKS fetched %d times after the first login, want 1 (cached since New)", n)
	}

	// Rotation: the new kid is unknown, the keys are refetched once.
	e.clock.Add(time.Minute)
	e.op.RotateKey(false)
	if err := finish(t, e); err != nil {
		t.Fatalf("login after rotation: %v", err)
	}
	if n := e.op.Hits(oidctest.HitJWKS); n != 2 {
		t.Fatalf("JWKS fetched %d times after rotation, want 2", n)
	}
	if err := finish(t, e); err != nil {
		t.Fatalf("second login after rotation: %v", err)
	}
	if n := e.op.Hits(oidctest.HitJWKS); n != 2 {
		t.Fatalf("JWKS fetched %d times, want the cached 2", n)
	}

	// Another rotation right after the last fetch: the refetch is rate
	// limited, the token is refused without a request.
	e.op.RotateKey(false)
	err := finish(t, e)
	var ce *CheckError
	if !errors.As(err, &ce) || ce.Check != "signature" {
		t.Fatalf("login right after a refetch: %v, want a signature check error", err)
	}
	if n := e.op.Hits(oidctest.HitJWKS); n != 2 {
		t.Fatalf("JWKS fetched %d times within the refresh interval, want 2", n)
	}
	// Tokens with random unknown kids do not cause fetches either.
	e.op.Tamper(func(tk *oidctest.Token) { tk.Signing = oidctest.SignUnknownKey })
	for range 3 {
		if err := finish(t, e); err == nil {
			t.Fatal("token by an unknown key accepted")
		}
	}
	if n := e.op.Hits(oidctest.HitJWKS); n != 2 {
		t.Fatalf("JWKS fetched %d times for unknown kids within the interval, want 2", n)
	}
	e.op.Tamper(nil)

	// After the interval the rotated key is fetched.
	e.clock.Add(31 * time.Second)
	if err := finish(t, e); err != nil {
		t.Fatalf("login after the refresh interval: %v", err)
	}
	if n := e.op.Hits(oidctest.HitJWKS); n != 3 {
		t.Fatalf("JWKS fetched %d times, want 3", n)
	}

	// Keys older than JWKSMaxAge are refetched before use.
	e.clock.Add(2 * time.Hour)
	if err := finish(t, e); err != nil {
		t.Fatalf("login after max age: %v", err)
	}
	if n := e.op.Hits(oidctest.HitJWKS); n != 4 {
		t.Fatalf("JWKS fetched %d times after max age, want 4", n)
	}
}

// TestJWKSWithoutKid: a token without kid is checked against every key of
// the set that fits its algorithm.
func TestJWKSWithoutKid(t *testing.T) {
	e := newEnv(t, oidctest.Options{}, nil)
	e.op.RotateKey(true) // the set now has two keys; the new one signs
	e.clock.Add(time.Minute)
	e.op.Tamper(func(tk *oidctest.Token) { tk.OmitKid = true })
	if err := finish(t, e); err == nil {
		t.Fatal("a kid-less token by a key not yet fetched was accepted")
	}
	// A token with the new kid makes the keys refetch; then kid-less tokens
	// of the new key verify too.
	e.op.Tamper(nil)
	if err := finish(t, e); err != nil {
		t.Fatalf("login with the new kid: %v", err)
	}
	e.op.Tamper(func(tk *oidctest.Token) { tk.OmitKid = true })
	if err := finish(t, e); err != nil {
		t.Fatalf("kid-less login with both keys cached: %v", err)
	}
}

func TestJWKSStaleAndDown(t *testing.T) {
	e := newEnv(t, oidctest.Options{CodeLifetime: 3 * time.Hour, IDTokenLifetime: 3 * time.Hour}, nil)
	s, cb := e.login(t)
	e.clock.Add(2 * time.Hour) // keys are older than JWKSMaxAge
	// Only the JWKS fails: point the provider at a closed server.
	gone := oidctest.New(t, oidctest.Options{})
	e.p.md.JWKSURI = gone.URL() + "/jwks"
	gone.Close()
	_, err := e.p.Finish(context.Background(), cb, s)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Finish with stale keys and JWKS down: %v, want ErrUnavailable (fail closed)", err)
	}
}

func TestJWKSWithoutUsableKeys(t *testing.T) {
	op := oidctest.New(t, oidctest.Options{RedirectURIs: []string{redirectURL}})
	op.TamperMetadata(func(m map[string]any) { m["jwks_uri"] = op.Issuer() + "/.well-known/openid-configuration" })
	_, err := New(context.Background(), Options{Issuer: op.Issuer(), ClientID: "c", ClientSecret: "s",
		RedirectURL: redirectURL, HTTPClient: op.Client()})
	var ce *CheckError
	if !errors.As(err, &ce) || ce.Stage != StageJWKS || ce.Check != "keys" {
		t.Fatalf("New: %v, want jwks keys check", err)
	}
	op.TamperMetadata(nil)
	op.SetDown(http.StatusBadGateway)
	if _, err := New(context.Background(), Options{Issuer: op.Issuer(), ClientID: "c", ClientSecret: "s",
		RedirectURL: redirectURL, HTTPClient: op.Client()}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New with provider down: %v, want ErrUnavailable", err)
	}
}

// TestJWKSConcurrentRotation: parallel logins after a rotation cause one
// refetch, and all succeed.
func TestJWKSConcurrentRotation(t *testing.T) {
	e := newEnv(t, oidctest.Options{}, nil)
	e.clock.Add(time.Minute)
	e.op.RotateKey(false)
	type attempt struct {
		s  Start
		cb map[string][]string
	}
	var attempts []attempt
	for range 8 {
		s, cb := e.login(t)
		attempts = append(attempts, attempt{s, cb})
	}
	errs := make(chan error, len(attempts))
	for _, a := range attempts {
		go func() {
			_, err := e.p.Finish(context.Background(), a.cb, a.s)
			errs <- err
		}()
	}
	for range attempts {
		if err := <-errs; err != nil {
			t.Errorf("parallel login: %v", err)
		}
	}
	if n := e.op.Hits(oidctest.HitJWKS); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (New + one refetch)", n)
	}
}
