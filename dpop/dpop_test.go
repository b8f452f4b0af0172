package dpop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
	"github.com/mdoc-issuer/issuer/nonce"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/storage/memory"
	"github.com/mdoc-issuer/issuer/storage/storagetest"
)

const (
	tokenURL = "https://issuer.example/token"
	credURL  = "https://issuer.example/credential"
	token    = "access-token-0123456789"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// replay wraps the memory store's replay cache to inject failures and record
// the expiry of remembered proofs.
type replay struct {
	storage.ReplayCache
	fail    error
	mu      sync.Mutex
	expires []time.Time
}

func (r *replay) Remember(ctx context.Context, kind, id string, exp time.Time) error {
	if r.fail != nil {
		return r.fail
	}
	if kind != dpop.ReplayKind {
		return errors.New("unexpected kind " + kind)
	}
	r.mu.Lock()
	r.expires = append(r.expires, exp)
	r.mu.Unlock()
	return r.ReplayCache.Remember(ctx, kind, id, exp)
}

type fixture struct {
	clock    *storagetest.Clock
	replay   *replay
	nonces   *nonce.Source
	cnonces  *nonce.Source // same keys, purpose c_nonce
	v        *dpop.Verifier
	key      *dpoptest.Key
	resource bool
}

func newFixture(t testing.TB, withNonces, resource bool) *fixture {
	t.Helper()
	f := &fixture{clock: storagetest.NewClock(start), key: dpoptest.NewKey(), resource: resource}
	st := memory.New(memory.Options{Now: f.clock.Now, SweepInterval: -1})
	t.Cleanup(func() { _ = st.Close() })
	f.replay = &replay{ReplayCache: st}
	keys := [][]byte{bytes.Repeat([]byte{7}, 32)}
	var err error
	if f.cnonces, err = nonce.New(keys, "c_nonce", 5*time.Minute, f.clock.Now); err != nil {
		t.Fatal(err)
	}
	o := dpop.Options{Replay: f.replay, Now: f.clock.Now}
	if withNonces {
		if f.nonces, err = nonce.New(keys, "dpop", 5*time.Minute, f.clock.Now); err != nil {
			t.Fatal(err)
		}
		o.Nonces = f.nonces
	}
	if f.v, err = dpop.NewVerifier(o); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) url() string {
	if f.resource {
		return credURL
	}
	return tokenURL
}

// proof is a valid proof for the fixture's endpoint (with ath at the
// resource and a server nonce when required), changed by opts.
func (f *fixture) proof(opts ...dpoptest.Option) string {
	base := []dpoptest.Option{dpoptest.IssuedAt(f.clock.Now())}
	if f.resource {
		base = append(base, dpoptest.AccessToken(token))
	}
	if f.nonces != nil {
		n, err := f.nonces.Issue()
		if err != nil {
			panic(err)
		}
		base = append(base, dpoptest.Nonce(n))
	}
	return f.key.Proof(http.MethodPost, f.url(), append(base, opts...)...)
}

func (f *fixture) request(dpopValues ...string) dpop.Request {
	r := dpop.Request{Method: http.MethodPost, URL: f.url(), DPoP: dpopValues, Resource: f.resource}
	if f.resource {
		r.AccessToken = token
		r.BoundJKT = f.key.JKT
	}
	return r
}

// want is an expected outcome: zero status means the proof is accepted.
type want struct {
	status int
	code   string
}

var (
	ok          = want{}
	asInvalid   = want{http.StatusBadRequest, oauth.CodeInvalidDPoPProof}
	rsInvalid   = want{http.StatusUnauthorized, oauth.CodeInvalidDPoPProof}
	asUseNonce  = want{http.StatusBadRequest, oauth.CodeUseDPoPNonce}
	rsUseNonce  = want{http.StatusUnauthorized, oauth.CodeUseDPoPNonce}
	rsBadToken  = want{http.StatusUnauthorized, oauth.CodeInvalidToken}
	unavailable = want{http.StatusServiceUnavailable, oauth.CodeTemporarilyUnavailable}
	notApplies  = want{-1, ""}
)

type row struct {
	name string
	ref  string // the requirement (RFC 9449 section and step)
	// nonces makes server nonces mandatory.
	nonces bool
	// req builds the request; nil sends f.proof().
	req func(t *testing.T, f *fixture) dpop.Request
	// as and rs are the outcomes at the authorization server and at the
	// resource (credential endpoint); notApplies skips that endpoint kind.
	as, rs want
}

func send(opts ...dpoptest.Option) func(*testing.T, *fixture) dpop.Request {
	return func(_ *testing.T, f *fixture) dpop.Request { return f.request(f.proof(opts...)) }
}

func sendRaw(values ...string) func(*testing.T, *fixture) dpop.Request {
	return func(_ *testing.T, f *fixture) dpop.Request { return f.request(values...) }
}

// mangle sends a valid proof transformed by fn.
func mangle(fn func(string) string) func(*testing.T, *fixture) dpop.Request {
	return func(_ *testing.T, f *fixture) dpop.Request { return f.request(fn(f.proof())) }
}

func TestVerify(t *testing.T) {
	other := dpoptest.NewKey()
	rows := []row{
		// Baseline.
		{name: "valid proof", ref: "§4.3", req: send(), as: ok, rs: ok},

		// §4.3 step 1: not more than one DPoP header.
		{name: "no DPoP header", ref: "§4.3 step 1 / §7.1", req: sendRaw(), as: asInvalid, rs: rsInvalid},
		{name: "empty DPoP header", ref: "§4.3 step 1", req: sendRaw(""), as: asInvalid, rs: rsInvalid},
		{name: "two DPoP headers", ref: "§4.3 step 1", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(), f.proof())
		}, as: asInvalid, rs: rsInvalid},
		{name: "two proofs comma-joined in one header", ref: "§4.3 step 1", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof() + ", " + f.proof())
		}, as: asInvalid, rs: rsInvalid},

		// §4.3 step 2: a well-formed JWT.
		{name: "not a JWS", ref: "§4.3 step 2", req: sendRaw("not-a-jwt"), as: asInvalid, rs: rsInvalid},
		{name: "two parts", ref: "§4.3 step 2", req: mangle(func(p string) string { return p[:strings.LastIndexByte(p, '.')] }), as: asInvalid, rs: rsInvalid},
		{name: "five parts (JWE shape)", ref: "§4.3 step 2", req: mangle(func(p string) string { return p + ".AA.AA" }), as: asInvalid, rs: rsInvalid},
		{name: "empty signature part", ref: "§4.3 step 2", req: mangle(func(p string) string { return p[:strings.LastIndexByte(p, '.')+1] }), as: asInvalid, rs: rsInvalid},
		{name: "padded base64", ref: "§4.3 step 2 (RFC 7515 §2)", req: mangle(func(p string) string { return p + "==" }), as: asInvalid, rs: rsInvalid},
		{name: "header not base64url", ref: "§4.3 step 2", req: mangle(func(p string) string { return "*" + p[1:] }), as: asInvalid, rs: rsInvalid},
		{name: "header not JSON", ref: "§4.3 step 2", req: send(dpoptest.RawHeader([]byte("{not json"))), as: asInvalid, rs: rsInvalid},
		{name: "header JSON array", ref: "§4.3 step 2", req: send(dpoptest.RawHeader([]byte(`["dpop+jwt"]`))), as: asInvalid, rs: rsInvalid},
		{name: "duplicate header member", ref: "§4.3 step 2 (RFC 7515 §4)", req: func(_ *testing.T, f *fixture) dpop.Request {
			hdr := headerJSON(t, f.proof())
			dup := []byte(`{"alg":"none",` + string(hdr[1:]))
			return f.request(f.proof(dpoptest.RawHeader(dup)))
		}, as: asInvalid, rs: rsInvalid},
		{name: "header member in other case", ref: "§4.3 step 2 (names are case-sensitive)", req: send(dpoptest.WithoutHeader("typ"), dpoptest.Header("TYP", "dpop+jwt")), as: asInvalid, rs: rsInvalid},
		{name: "payload not JSON", ref: "§4.3 step 2", req: send(dpoptest.RawPayload([]byte("[]"))), as: asInvalid, rs: rsInvalid},
		{name: "oversized proof", ref: "§4.3 step 2 / §11.1", req: send(dpoptest.Claim("pad", strings.Repeat("x", dpop.MaxProofLen))), as: asInvalid, rs: rsInvalid},

		// §4.3 step 3: required claims of the right type.
		{name: "jti missing", ref: "§4.3 step 3", req: send(dpoptest.WithoutClaim("jti")), as: asInvalid, rs: rsInvalid},
		{name: "jti empty", ref: "§4.3 step 3", req: send(dpoptest.JTI("")), as: asInvalid, rs: rsInvalid},
		{name: "jti not a string", ref: "§4.3 step 3", req: send(dpoptest.Claim("jti", 12345)), as: asInvalid, rs: rsInvalid},
		{name: "jti too long", ref: "§11.1", req: send(dpoptest.JTI(strings.Repeat("j", dpop.MaxJTILen+1))), as: asInvalid, rs: rsInvalid},
		{name: "jti at max length", ref: "§11.1", req: send(dpoptest.JTI(strings.Repeat("j", dpop.MaxJTILen))), as: ok, rs: ok},
		{name: "htm missing", ref: "§4.3 step 3", req: send(dpoptest.WithoutClaim("htm")), as: asInvalid, rs: rsInvalid},
		{name: "htu missing", ref: "§4.3 step 3", req: send(dpoptest.WithoutClaim("htu")), as: asInvalid, rs: rsInvalid},
		{name: "iat missing", ref: "§4.3 step 3", req: send(dpoptest.WithoutClaim("iat")), as: asInvalid, rs: rsInvalid},
		{name: "iat a string", ref: "§4.3 step 3 (RFC 7519 §2 NumericDate)", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.Claim("iat", strconv.FormatInt(f.clock.Now().Unix(), 10))))
		}, as: asInvalid, rs: rsInvalid},
		{name: "iat negative", ref: "§4.3 step 3", req: send(dpoptest.Claim("iat", -1)), as: asInvalid, rs: rsInvalid},
		{name: "iat fractional", ref: "RFC 7519 §2 NumericDate", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.Claim("iat", float64(f.clock.Now().Unix())+0.5)))
		}, as: ok, rs: ok},
		{name: "ath missing at the resource", ref: "§4.3 step 3, §7.1", req: send(dpoptest.WithoutClaim("ath")), as: ok, rs: rsInvalid},
		{name: "nonce missing when required", ref: "§4.3 step 3, §8, §9", nonces: true, req: send(dpoptest.WithoutClaim("nonce")), as: asUseNonce, rs: rsUseNonce},

		// §4.3 step 4: typ.
		{name: "typ missing", ref: "§4.3 step 4", req: send(dpoptest.WithoutHeader("typ")), as: asInvalid, rs: rsInvalid},
		{name: "typ JWT", ref: "§4.3 step 4", req: send(dpoptest.Typ("JWT")), as: asInvalid, rs: rsInvalid},
		{name: "typ of another JWT kind", ref: "§4.3 step 4", req: send(dpoptest.Typ("openid4vci-proof+jwt")), as: asInvalid, rs: rsInvalid},
		{name: "typ with media type prefix", ref: "§4.3 step 4 (RFC 7515 §4.1.9)", req: send(dpoptest.Typ("application/dpop+jwt")), as: ok, rs: ok},
		{name: "typ upper case", ref: "§4.3 step 4 (RFC 7515 §4.1.9)", req: send(dpoptest.Typ("DPoP+JWT")), as: ok, rs: ok},

		// §4.3 step 5: alg.
		{name: "alg none", ref: "§4.3 step 5", req: send(dpoptest.Alg("none")), as: asInvalid, rs: rsInvalid},
		{name: "alg HS256", ref: "§4.3 step 5", req: send(dpoptest.Alg("HS256")), as: asInvalid, rs: rsInvalid},
		{name: "alg RS256", ref: "§4.3 step 5 (HAIP: ES256 only)", req: send(dpoptest.Alg("RS256")), as: asInvalid, rs: rsInvalid},
		{name: "alg ES384", ref: "§4.3 step 5 (HAIP: ES256 only)", req: send(dpoptest.Alg("ES384")), as: asInvalid, rs: rsInvalid},
		{name: "alg lower case", ref: "§4.3 step 5", req: send(dpoptest.Alg("es256")), as: asInvalid, rs: rsInvalid},
		{name: "alg missing", ref: "§4.3 step 5", req: send(dpoptest.WithoutHeader("alg")), as: asInvalid, rs: rsInvalid},

		// §4.3 step 6: signature.
		{name: "signature corrupt", ref: "§4.3 step 6", req: send(dpoptest.CorruptSignature()), as: asInvalid, rs: rsInvalid},
		{name: "jwk of another key", ref: "§4.3 step 6", req: send(dpoptest.JWKOf(other)), as: asInvalid, rs: rsInvalid},
		{name: "signed by another key", ref: "§4.3 step 6", req: send(dpoptest.SignedBy(other)), as: asInvalid, rs: rsInvalid},
		{name: "claims changed after signing", ref: "§4.3 step 6", req: func(_ *testing.T, f *fixture) dpop.Request {
			p := f.proof()
			q := f.proof(dpoptest.Claim("htm", "GET"))
			parts, qparts := strings.Split(p, "."), strings.Split(q, ".")
			return f.request(parts[0] + "." + qparts[1] + "." + parts[2])
		}, as: asInvalid, rs: rsInvalid},

		// §4.3 step 7 (and step 5's jwk): a public key.
		{name: "jwk missing", ref: "§4.3 step 5", req: send(dpoptest.WithoutHeader("jwk")), as: asInvalid, rs: rsInvalid},
		{name: "jwk with private key", ref: "§4.3 step 7", req: send(dpoptest.PrivateJWK()), as: asInvalid, rs: rsInvalid},
		{name: "jwk not an object", ref: "§4.3 step 5", req: send(dpoptest.Header("jwk", "key")), as: asInvalid, rs: rsInvalid},
		{name: "jwk RSA", ref: "§4.3 step 5", req: send(dpoptest.Header("jwk", map[string]any{"kty": "RSA", "n": rfc7638N, "e": "AQAB"})), as: asInvalid, rs: rsInvalid},
		{name: "jwk P-384", ref: "§4.3 step 5", req: func(_ *testing.T, f *fixture) dpop.Request {
			j := jwkOf(t, f.key)
			j["crv"] = "P-384"
			return f.request(f.proof(dpoptest.Header("jwk", j)))
		}, as: asInvalid, rs: rsInvalid},
		{name: "jwk point not on curve", ref: "§4.3 step 6 (RFC 7518 §6.2.1)", req: func(_ *testing.T, f *fixture) dpop.Request {
			j := jwkOf(t, f.key)
			j["y"] = j["x"]
			return f.request(f.proof(dpoptest.Header("jwk", j)))
		}, as: asInvalid, rs: rsInvalid},
		{name: "jwk short coordinate", ref: "RFC 7518 §6.2.1.2", req: func(_ *testing.T, f *fixture) dpop.Request {
			j := jwkOf(t, f.key)
			j["x"] = j["x"].(string)[:42]
			return f.request(f.proof(dpoptest.Header("jwk", j)))
		}, as: asInvalid, rs: rsInvalid},
		{name: "crit header", ref: "RFC 7515 §4.1.11", req: send(dpoptest.Header("crit", []string{"exp"})), as: asInvalid, rs: rsInvalid},
		{name: "extra header and claim members", ref: "§4.2 (conformance: must succeed)", req: send(dpoptest.Header("kid", "k1"), dpoptest.Claim("extra", true)), as: ok, rs: ok},
		{name: "nbf and exp present", ref: "conformance check-dpop-proof-nbf-exp", req: func(_ *testing.T, f *fixture) dpop.Request {
			now := f.clock.Now().Unix()
			return f.request(f.proof(dpoptest.Claim("nbf", now), dpoptest.Claim("exp", now+60)))
		}, as: ok, rs: ok},

		// §4.3 step 8: htm.
		{name: "htm GET on POST", ref: "§4.3 step 8", req: send(dpoptest.Claim("htm", "GET")), as: asInvalid, rs: rsInvalid},
		{name: "htm lower case", ref: "§4.3 step 8 (methods are case-sensitive)", req: send(dpoptest.Claim("htm", "post")), as: asInvalid, rs: rsInvalid},

		// §4.3 step 9: htu.
		{name: "htu of another endpoint", ref: "§4.3 step 9", req: send(dpoptest.Claim("htu", "https://issuer.example/par")), as: asInvalid, rs: rsInvalid},
		{name: "htu of another host", ref: "§4.3 step 9", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.Claim("htu", strings.Replace(f.url(), "issuer.example", "evil.example", 1))))
		}, as: asInvalid, rs: rsInvalid},
		{name: "htu http scheme", ref: "§4.3 step 9", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.Claim("htu", strings.Replace(f.url(), "https:", "http:", 1))))
		}, as: asInvalid, rs: rsInvalid},
		{name: "htu other port", ref: "§4.3 step 9", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.Claim("htu", strings.Replace(f.url(), "issuer.example", "issuer.example:8443", 1))))
		}, as: asInvalid, rs: rsInvalid},
		{name: "htu trailing slash", ref: "§4.3 step 9", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.Claim("htu", f.url()+"/")))
		}, as: asInvalid, rs: rsInvalid},
		{name: "htu relative", ref: "§4.3 step 9", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.Claim("htu", strings.TrimPrefix(f.url(), "https://issuer.example"))))
		}, as: asInvalid, rs: rsInvalid},
		{name: "htu not a string", ref: "§4.3 step 3", req: send(dpoptest.Claim("htu", 1)), as: asInvalid, rs: rsInvalid},
		{name: "htu with query and fragment", ref: "§4.3 step 9 (ignore query and fragment)", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.Claim("htu", f.url()+"?a=b#frag")))
		}, as: ok, rs: ok},
		{name: "htu upper-case scheme and host", ref: "§4.3 step 9 (RFC 3986 §6.2.2.1)", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.Claim("htu", strings.Replace(f.url(), "https://issuer.example", "HTTPS://ISSUER.Example", 1))))
		}, as: ok, rs: ok},
		{name: "htu explicit default port", ref: "§4.3 step 9 (RFC 3986 §6.2.3)", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.Claim("htu", strings.Replace(f.url(), "issuer.example", "issuer.example:443", 1))))
		}, as: ok, rs: ok},
		{name: "htu percent-encoded unreserved and dot segment", ref: "§4.3 step 9 (RFC 3986 §6.2.2.2-3)", req: func(_ *testing.T, f *fixture) dpop.Request {
			u := strings.Replace(f.url(), "example/", "example/x/../", 1)
			u = u[:len(u)-1] + "%" + strings.ToLower(hexByte(u[len(u)-1]))
			return f.request(f.proof(dpoptest.Claim("htu", u)))
		}, as: ok, rs: ok},

		// §4.3 step 10, §8, §9: server nonces.
		{name: "valid server nonce", ref: "§4.3 step 10", nonces: true, req: send(), as: ok, rs: ok},
		{name: "random nonce", ref: "§4.3 step 10", nonces: true, req: send(dpoptest.Nonce("not-a-server-nonce")), as: asUseNonce, rs: rsUseNonce},
		{name: "expired nonce", ref: "§4.3 step 10", nonces: true, req: func(_ *testing.T, f *fixture) dpop.Request {
			n, _ := f.nonces.Issue()
			f.clock.Advance(5*time.Minute + time.Second)
			return f.request(f.proof(dpoptest.Nonce(n)))
		}, as: asUseNonce, rs: rsUseNonce},
		{name: "c_nonce used as DPoP nonce", ref: "§4.3 step 10 (purpose separation)", nonces: true, req: func(_ *testing.T, f *fixture) dpop.Request {
			n, _ := f.cnonces.Issue()
			return f.request(f.proof(dpoptest.Nonce(n)))
		}, as: asUseNonce, rs: rsUseNonce},
		{name: "nonce not a string", ref: "§4.3 step 3", nonces: true, req: send(dpoptest.Nonce("x"), dpoptest.Claim("nonce", 5)), as: asInvalid, rs: rsInvalid},
		{name: "nonce present but not required", ref: "§8 (ignored without server nonces)", req: send(dpoptest.Nonce("anything")), as: ok, rs: ok},
		{name: "missing nonce but invalid signature", ref: "§4.3 step 6 before step 10", nonces: true, req: send(dpoptest.WithoutClaim("nonce"), dpoptest.CorruptSignature()), as: asInvalid, rs: rsInvalid},

		// §4.3 step 11, §11.1: iat window.
		{name: "iat 59 s old", ref: "§4.3 step 11", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.IssuedAt(f.clock.Now().Add(-59 * time.Second))))
		}, as: ok, rs: ok},
		{name: "iat 61 s old", ref: "§4.3 step 11", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.IssuedAt(f.clock.Now().Add(-61 * time.Second))))
		}, as: asInvalid, rs: rsInvalid},
		{name: "iat 10 s ahead", ref: "§4.3 step 11, §11.1 skew (conformance)", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.IssuedAt(f.clock.Now().Add(10 * time.Second))))
		}, as: ok, rs: ok},
		{name: "iat 10 s behind", ref: "§4.3 step 11 (conformance)", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.IssuedAt(f.clock.Now().Add(-10 * time.Second))))
		}, as: ok, rs: ok},
		{name: "iat 1 h ahead", ref: "§4.3 step 11", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.IssuedAt(f.clock.Now().Add(time.Hour))))
		}, as: asInvalid, rs: rsInvalid},
		{name: "iat 1 h old", ref: "§4.3 step 11", req: func(_ *testing.T, f *fixture) dpop.Request {
			return f.request(f.proof(dpoptest.IssuedAt(f.clock.Now().Add(-time.Hour))))
		}, as: asInvalid, rs: rsInvalid},

		// §4.3 step 12, §7.1: access token binding.
		{name: "ath of another token", ref: "§4.3 step 12", req: send(dpoptest.AccessToken("other-token")), as: ok, rs: rsInvalid},
		{name: "ath not base64url of SHA-256", ref: "§4.3 step 12", req: send(dpoptest.Claim("ath", token)), as: ok, rs: rsInvalid},
		{name: "key not bound to the token / code", ref: "§4.3 step 12, §7.1, §10", req: func(_ *testing.T, f *fixture) dpop.Request {
			r := f.request(f.proof())
			r.BoundJKT = other.JKT
			return r
		}, as: asInvalid, rs: rsBadToken},
		{name: "key bound to the code", ref: "§10", req: func(_ *testing.T, f *fixture) dpop.Request {
			r := f.request(f.proof())
			r.BoundJKT = f.key.JKT
			return r
		}, as: ok, rs: ok},

		// §11.1: replay.
		{name: "replayed proof", ref: "§11.1", req: func(t *testing.T, f *fixture) dpop.Request {
			r := f.request(f.proof())
			if _, err := f.v.Verify(context.Background(), r); err != nil {
				t.Fatalf("first use: %v", err)
			}
			return r
		}, as: asInvalid, rs: rsInvalid},
		{name: "same jti, other key", ref: "§11.1 (replay key includes the key)", req: func(t *testing.T, f *fixture) dpop.Request {
			r := f.request(f.proof(dpoptest.JTI("shared-jti")))
			if _, err := f.v.Verify(context.Background(), r); err != nil {
				t.Fatalf("first use: %v", err)
			}
			f.key = other
			return f.request(f.proof(dpoptest.JTI("shared-jti")))
		}, as: ok, rs: ok},
		{name: "replay cache unavailable", ref: "§11.1 (fail closed)", req: func(_ *testing.T, f *fixture) dpop.Request {
			f.replay.fail = errors.Join(storage.ErrUnavailable, errors.New("connection refused"))
			return f.request(f.proof())
		}, as: unavailable, rs: unavailable},
		{name: "replay cache failing otherwise", ref: "§11.1 (fail closed)", req: func(_ *testing.T, f *fixture) dpop.Request {
			f.replay.fail = context.DeadlineExceeded
			return f.request(f.proof())
		}, as: unavailable, rs: unavailable},
	}
	for _, tc := range rows {
		for _, resource := range []bool{false, true} {
			w, kind := tc.as, "AS"
			if resource {
				w, kind = tc.rs, "RS"
			}
			if w == notApplies {
				continue
			}
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t, tc.nonces, resource)
				r := tc.req(t, f)
				p, err := f.v.Verify(context.Background(), r)
				assertOutcome(t, f, p, err, w)
			})
		}
	}
}

// assertOutcome checks the result of Verify, and for errors the HTTP
// response oauth.WriteError produces: status, JSON error code, and the
// WWW-Authenticate and DPoP-Nonce headers.
func assertOutcome(t *testing.T, f *fixture, p *dpop.Proof, err error, w want) {
	t.Helper()
	if w.status == 0 {
		if err != nil {
			t.Fatalf("Verify rejected a valid proof: %v", err)
		}
		if p == nil || p.JKT != f.key.JKT || p.JTI == "" || p.Key == nil || !p.Key.Valid() || !p.Key.IsPublic() {
			t.Fatalf("Verify returned incomplete proof %+v", p)
		}
		if jkt, _ := dpop.Thumbprint(p.Key); jkt != p.JKT {
			t.Fatalf("Proof.JKT %s != Thumbprint(Proof.Key) %s", p.JKT, jkt)
		}
		return
	}
	if err == nil {
		t.Fatalf("Verify accepted; want %d %s", w.status, w.code)
	}
	e := oauth.As(err)
	if e == nil {
		t.Fatalf("error %T %v is not an *oauth.Error", err, err)
	}
	rec := httptest.NewRecorder()
	oauth.WriteError(rec, err)
	var body oauth.Body
	if jerr := json.Unmarshal(rec.Body.Bytes(), &body); jerr != nil {
		t.Fatalf("error body: %v", jerr)
	}
	if rec.Code != w.status || body.Error != w.code {
		t.Fatalf("got %d %s (%s), want %d %s", rec.Code, body.Error, body.ErrorDescription, w.status, w.code)
	}
	if body.ErrorDescription == "" {
		t.Error("error_description empty")
	}
	www := rec.Header().Values("WWW-Authenticate")
	switch {
	case w.status == http.StatusUnauthorized:
		if len(www) != 1 || !strings.HasPrefix(www[0], `DPoP error="`+w.code+`"`) || !strings.Contains(www[0], `algs="ES256"`) {
			t.Errorf("WWW-Authenticate = %q, want DPoP error=%q with algs", www, w.code)
		}
	case len(www) != 0:
		t.Errorf("WWW-Authenticate = %q on a %d response", www, w.status)
	}
	nonces := rec.Header().Values(dpop.HeaderDPoPNonce)
	if w.code == oauth.CodeUseDPoPNonce {
		if len(nonces) != 1 || f.nonces.Check(nonces[0]) != nil {
			t.Errorf("DPoP-Nonce = %q, want exactly one valid server nonce", nonces)
		}
	} else if len(nonces) != 0 {
		t.Errorf("DPoP-Nonce = %q on a %s error", nonces, w.code)
	}
	if w.status == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
}
