package wia_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/nonce"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage/memory"
	"github.com/mdoc-issuer/issuer/wia"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

const (
	s400 = http.StatusBadRequest
	s401 = http.StatusUnauthorized
	s503 = http.StatusServiceUnavailable
)

const (
	invalidClient = oauth.CodeInvalidClient
	fresh         = oauth.CodeUseFreshAttestation
	useChallenge  = oauth.CodeUseAttestationChallenge
)

type authCase struct {
	name string
	// opts modifies the verifier options.
	opts func(o *wia.Options)
	// req builds the two header value lists and the client_id parameter.
	req        func(f *fixture) (att, pop []string, clientID string)
	wantStatus int // 0: accepted
	wantCode   string
	wantDesc   string
}

// std is a request with the given attestation and PoP options.
func std(attOpts []wiatest.Option, popOpts ...wiatest.Option) func(f *fixture) ([]string, []string, string) {
	return func(f *fixture) ([]string, []string, string) {
		return one(f.att(attOpts...)), one(f.pop(popOpts...)), ""
	}
}

// rel is a request whose options depend on the fixture's clock.
func rel(att, pop func(f *fixture) []wiatest.Option) func(f *fixture) ([]string, []string, string) {
	return func(f *fixture) ([]string, []string, string) {
		var ao, po []wiatest.Option
		if att != nil {
			ao = att(f)
		}
		if pop != nil {
			po = pop(f)
		}
		return one(f.att(ao...)), one(f.pop(po...)), ""
	}
}

func one2(o wiatest.Option) []wiatest.Option { return []wiatest.Option{o} }

func reqChallenge(o *wia.Options) {
	o.RequireChallenge = true
}

func p384JWK() map[string]any {
	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	return wiatest.JWK(&k.PublicKey)
}

func offCurveJWK(f *fixture) map[string]any {
	m := wiatest.JWK(&f.holder.PublicKey)
	y := []byte(m["y"].(string))
	if y[0] == 'A' {
		y[0] = 'B'
	} else {
		y[0] = 'A'
	}
	m["y"] = string(y)
	return m
}

var authCases = []authCase{
	// Accepted variants.
	{name: "valid ABCA-08+ (no iss in PoP)", req: std(nil)},
	{name: "valid ABCA-07 (PoP iss = sub)", req: std(nil, wiatest.WithIss("wallet-1"))},
	{name: "valid npm-style PoP (iss, exp, legacy nonce)", opts: func(o *wia.Options) {}, req: func(f *fixture) ([]string, []string, string) {
		n, _ := f.chal.Issue()
		return one(f.att()), one(f.pop(wiatest.WithIss("wallet-1"), wiatest.WithExp(f.now.Add(5*time.Minute)), wiatest.WithNonce(n))), ""
	}},
	{name: "valid conformance-style PoP (iss, nbf, exp)", req: std(nil, wiatest.WithIss("wallet-1"), wiatest.WithNbf(time.Now()), wiatest.WithExp(time.Now().Add(300*time.Second)))},
	{name: "valid client_id equal to sub", req: func(f *fixture) ([]string, []string, string) {
		return one(f.att()), one(f.pop()), "wallet-1"
	}},
	{name: "valid aud array containing issuer", req: std(nil, wiatest.WithAud([]string{"https://other.example", asIssuer}))},
	{name: "valid typ with application/ prefix", req: std([]wiatest.Option{wiatest.WithTyp("application/" + oauth.TypClientAttestation)})},
	{name: "valid attestation without iss (ABCA-08+)", req: std([]wiatest.Option{wiatest.WithoutClaim("iss")})},
	{name: "valid attestation iss naming no provider falls back to roots", req: std([]wiatest.Option{wiatest.WithIss("https://unknown.example")})},
	{name: "valid x5c that includes the root (tolerated)", req: func(f *fixture) ([]string, []string, string) {
		return one(f.att(wiatest.WithX5C(append(f.prov.Chain(), f.prov.Root())...))), one(f.pop()), ""
	}},
	{name: "valid pinned key with kid", req: std([]wiatest.Option{wiatest.Pinned()})},
	{name: "valid pinned key without kid", req: std([]wiatest.Option{wiatest.Pinned(), wiatest.WithoutHeader("kid")})},
	{name: "valid attestation exp within clock skew", req: rel(func(f *fixture) []wiatest.Option { return one2(wiatest.WithExp(f.now.Add(-5 * time.Second))) }, nil)},
	{name: "valid PoP iat slightly in the future", req: rel(nil, func(f *fixture) []wiatest.Option { return one2(wiatest.WithIat(f.now.Add(5 * time.Second))) })},
	{name: "valid PoP iat at the window edge", req: rel(nil, func(f *fixture) []wiatest.Option { return one2(wiatest.WithIat(f.now.Add(-60 * time.Second))) })},
	{name: "valid attestation within MaxAttestationAge", opts: func(o *wia.Options) { o.MaxAttestationAge = time.Hour },
		req: rel(func(f *fixture) []wiatest.Option { return one2(wiatest.WithIat(f.now.Add(-30 * time.Minute))) }, nil)},
	{name: "valid required challenge", opts: reqChallenge, req: func(f *fixture) ([]string, []string, string) {
		c, _ := f.chal.Issue()
		return one(f.att()), one(f.pop(wiatest.WithChallenge(c))), ""
	}},

	// ABCA-07 §6.2 steps 1-2: exactly one header, one JWT each.
	{name: "missing attestation header", req: func(f *fixture) ([]string, []string, string) { return nil, one(f.pop()), "" },
		wantStatus: s401, wantCode: invalidClient, wantDesc: "missing OAuth-Client-Attestation header"},
	{name: "missing both headers", req: func(f *fixture) ([]string, []string, string) { return nil, nil, "" },
		wantStatus: s401, wantCode: invalidClient, wantDesc: "missing OAuth-Client-Attestation header"},
	{name: "missing PoP header", req: func(f *fixture) ([]string, []string, string) { return one(f.att()), nil, "" },
		wantStatus: s401, wantCode: invalidClient, wantDesc: "missing OAuth-Client-Attestation-PoP header"},
	{name: "two attestation headers", req: func(f *fixture) ([]string, []string, string) {
		a := f.att()
		return []string{a, a}, one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "more than one OAuth-Client-Attestation header"},
	{name: "two PoP headers", req: func(f *fixture) ([]string, []string, string) {
		return one(f.att()), []string{f.pop(), f.pop()}, ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "more than one OAuth-Client-Attestation-PoP header"},
	{name: "comma-joined attestation header", req: func(f *fixture) ([]string, []string, string) {
		a := f.att()
		return one(a + ", " + a), one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "exactly one JWT"},
	{name: "legacy ~-concatenated attestation", req: func(f *fixture) ([]string, []string, string) {
		return one(f.att() + "~" + f.pop()), one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "exactly one JWT"},
	{name: "empty attestation header", req: func(f *fixture) ([]string, []string, string) { return one(" "), one(f.pop()), "" },
		wantStatus: s401, wantCode: invalidClient, wantDesc: "empty OAuth-Client-Attestation header"},
	{name: "attestation not a JWT", req: func(f *fixture) ([]string, []string, string) { return one("abc.def"), one(f.pop()), "" },
		wantStatus: s401, wantCode: invalidClient, wantDesc: "client attestation: JWT is not a compact JWS"},
	{name: "attestation header not JSON", req: func(f *fixture) ([]string, []string, string) {
		a := f.att()
		return one("bm90LWpzb24" + a[strings.IndexByte(a, '.'):]), one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "header is not a valid JOSE header"},

	// Attestation header (ABCA-07 §5.1, §9 steps 1-3).
	{name: "attestation typ missing", req: std([]wiatest.Option{wiatest.WithoutHeader("typ")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "client attestation: typ must be"},
	{name: "attestation typ JWT", req: std([]wiatest.Option{wiatest.WithTyp("JWT")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "client attestation: typ must be"},
	{name: "attestation typ of a PoP", req: std([]wiatest.Option{wiatest.WithTyp(oauth.TypClientAttestPoP)}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "client attestation: typ must be"},
	{name: "attestation alg none", req: std([]wiatest.Option{wiatest.WithAlg("none")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "client attestation: JWT is not a compact JWS"},
	{name: "attestation alg none with signature", req: std([]wiatest.Option{wiatest.WithAlg("none"), func(t *wiatest.Token) { t.NoSignature = false }}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: `alg "none" is not accepted`},
	{name: "attestation alg HS256", req: std([]wiatest.Option{wiatest.WithAlg("HS256")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: `alg "HS256" is not accepted`},
	{name: "attestation alg missing", req: std([]wiatest.Option{wiatest.WithoutHeader("alg")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "header has no alg"},
	{name: "attestation alg outside allow-list", opts: func(o *wia.Options) { o.AttestationAlgs = []string{wia.AlgES256} },
		req: std([]wiatest.Option{wiatest.WithAlg("ES384")}), wantStatus: s401, wantCode: invalidClient, wantDesc: `alg "ES384" is not accepted`},
	{name: "attestation alg ES384 with a P-256 signer", req: std([]wiatest.Option{wiatest.WithAlg("ES384")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "x5c leaf key does not fit alg ES384"},
	{name: "attestation crit header", req: std([]wiatest.Option{wiatest.WithHeader("crit", []string{"exp"})}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "crit"},
	{name: "attestation bad signature", req: std([]wiatest.Option{wiatest.WithBadSignature()}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "signature does not verify with the x5c leaf key"},
	{name: "attestation signed by another key than the x5c leaf", req: std([]wiatest.Option{wiatest.WithSigner(wiatest.NewKey())}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "signature does not verify with the x5c leaf key"},
	{name: "attestation claims tampered after signing", req: func(f *fixture) ([]string, []string, string) {
		a := f.att()
		parts := strings.Split(a, ".")
		other := strings.Split(f.prov.Attestation("wallet-2", f.holder, wiatest.At(f.now)), ".")
		return one(parts[0] + "." + other[1] + "." + parts[2]), one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "signature does not verify"},
	{name: "attestation from an untrusted CA", req: std([]wiatest.Option{wiatest.Untrusted()}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "does not lead to a trusted root"},
	{name: "attestation with a self-signed x5c leaf", req: std([]wiatest.Option{wiatest.SelfSigned()}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "self-signed"},
	{name: "attestation x5c leaf certificate expired", req: std([]wiatest.Option{wiatest.ExpiredCert()}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "expired or not yet valid"},
	{name: "attestation x5c without intermediate", req: func(f *fixture) ([]string, []string, string) {
		return one(f.att(wiatest.WithX5C(f.prov.Chain()[0]))), one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "does not lead to a trusted root"},
	{name: "attestation x5c not base64", req: std([]wiatest.Option{wiatest.WithHeader("x5c", []string{"%%%"})}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "x5c[0] is not base64"},
	{name: "attestation x5c not a certificate", req: std([]wiatest.Option{wiatest.WithHeader("x5c", []string{base64.StdEncoding.EncodeToString([]byte("junk"))})}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "x5c[0] is not an X.509 certificate"},
	{name: "attestation x5c too long", req: std([]wiatest.Option{wiatest.WithHeader("x5c", []string{"a", "a", "a", "a", "a", "a"})}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "x5c has more than"},
	{name: "attestation without x5c signed by the leaf key", req: std([]wiatest.Option{wiatest.WithoutHeader("x5c")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "signature does not verify with any trusted key"},
	{name: "attestation pinned mode with unknown kid", req: std([]wiatest.Option{wiatest.Pinned(), wiatest.WithHeader("kid", "nope")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "no trusted key with that kid"},
	{name: "attestation iss names another trusted provider", req: func(f *fixture) ([]string, []string, string) {
		return one(f.att(wiatest.WithIss(f.other.Name))), one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "does not lead to a root of the named issuer"},
	{name: "attestation pinned key of a provider other than iss", req: func(f *fixture) ([]string, []string, string) {
		return one(f.att(wiatest.Pinned(), wiatest.WithIss(f.other.Name))), one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "no trusted key with that kid"},

	// Attestation claims (ABCA-07 §5.1, §9 steps 4-6).
	{name: "attestation payload not JSON", req: func(f *fixture) ([]string, []string, string) {
		a := strings.Split(f.att(), ".")
		return one(a[0] + ".bm90LWpzb24." + a[2]), one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "payload is not a valid JWT claims set"},
	{name: "attestation sub missing", req: std([]wiatest.Option{wiatest.WithoutClaim("sub")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "sub is missing"},
	{name: "attestation sub empty", req: std([]wiatest.Option{wiatest.WithSub("")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "sub is missing"},
	{name: "attestation sub not a string", req: std([]wiatest.Option{wiatest.WithClaim("sub", 42)}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "payload is not a valid JWT claims set"},
	{name: "attestation exp missing", req: std([]wiatest.Option{wiatest.WithoutClaim("exp")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "exp is missing"},
	{name: "attestation exp not a number", req: std([]wiatest.Option{wiatest.WithClaim("exp", "tomorrow")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "payload is not a valid JWT claims set"},
	{name: "attestation exp in the past", req: std([]wiatest.Option{wiatest.WithExp(time.Now().Add(-10 * time.Minute))}),
		wantStatus: s401, wantCode: fresh, wantDesc: "expired"},
	{name: "attestation nbf in the future", req: std([]wiatest.Option{wiatest.WithNbf(time.Now().Add(10 * time.Minute))}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "nbf is in the future"},
	{name: "attestation iat in the future", req: std([]wiatest.Option{wiatest.WithIat(time.Now().Add(10 * time.Minute))}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "iat is in the future"},
	{name: "attestation older than MaxAttestationAge", opts: func(o *wia.Options) { o.MaxAttestationAge = time.Hour },
		req:        std([]wiatest.Option{wiatest.WithIat(time.Now().Add(-2 * time.Hour))}),
		wantStatus: s401, wantCode: fresh, wantDesc: "iat is older than"},
	{name: "attestation without iat under MaxAttestationAge", opts: func(o *wia.Options) { o.MaxAttestationAge = time.Hour },
		req:        std([]wiatest.Option{wiatest.WithoutClaim("iat")}),
		wantStatus: s401, wantCode: fresh, wantDesc: "has no iat"},
	{name: "attestation cnf missing", req: std([]wiatest.Option{wiatest.WithoutClaim("cnf")}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "cnf.jwk is missing"},
	{name: "attestation cnf without jwk", req: std([]wiatest.Option{wiatest.WithClaim("cnf", map[string]any{"jkt": "abc"})}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "cnf.jwk is missing"},
	{name: "attestation cnf.jwk with private key", req: func(f *fixture) ([]string, []string, string) {
		return one(f.att(wiatest.WithCNF(wiatest.PrivateJWK(f.holder)))), one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "cnf.jwk contains private key material"},
	{name: "attestation cnf.jwk symmetric", req: std([]wiatest.Option{wiatest.WithCNF(map[string]any{"kty": "oct", "k": "c2VjcmV0"})}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "cnf.jwk contains private key material"},
	{name: "attestation cnf.jwk RSA", req: std([]wiatest.Option{wiatest.WithCNF(map[string]any{"kty": "RSA", "n": "AQAB", "e": "AQAB"})}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "cnf.jwk is not an EC key"},
	{name: "attestation cnf.jwk on P-384", req: std([]wiatest.Option{wiatest.WithCNF(p384JWK())}),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "cnf.jwk uses a curve that is not accepted"},
	{name: "attestation cnf.jwk point not on curve", req: func(f *fixture) ([]string, []string, string) {
		return one(f.att(wiatest.WithCNF(offCurveJWK(f)))), one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "cnf.jwk is not a point on the curve"},
	{name: "attestation cnf.jwk short coordinate", req: func(f *fixture) ([]string, []string, string) {
		m := wiatest.JWK(&f.holder.PublicKey)
		m["x"] = m["x"].(string)[:40]
		return one(f.att(wiatest.WithCNF(m))), one(f.pop()), ""
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "cnf.jwk has coordinates of the wrong length"},
	{name: "client_id differs from sub", req: func(f *fixture) ([]string, []string, string) {
		return one(f.att()), one(f.pop()), "wallet-2"
	}, wantStatus: s401, wantCode: invalidClient, wantDesc: "client_id does not match the client attestation sub"},

	// PoP (ABCA-07 §5.2, §9).
	{name: "PoP not a JWT", req: func(f *fixture) ([]string, []string, string) { return one(f.att()), one("x.y"), "" },
		wantStatus: s401, wantCode: invalidClient, wantDesc: "client attestation PoP: JWT is not a compact JWS"},
	{name: "PoP typ missing", req: std(nil, wiatest.WithoutHeader("typ")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "client attestation PoP: typ must be"},
	{name: "PoP typ of an attestation", req: std(nil, wiatest.WithTyp(oauth.TypClientAttestation)),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "client attestation PoP: typ must be"},
	{name: "PoP typ dpop+jwt", req: std(nil, wiatest.WithTyp("dpop+jwt")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "client attestation PoP: typ must be"},
	{name: "PoP alg none", req: std(nil, wiatest.WithAlg("none"), func(t *wiatest.Token) { t.NoSignature = false }),
		wantStatus: s401, wantCode: invalidClient, wantDesc: `PoP: alg "none" is not accepted`},
	{name: "PoP alg HS256", req: std(nil, wiatest.WithAlg("HS256")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: `PoP: alg "HS256" is not accepted`},
	{name: "PoP alg ES384 not accepted", req: std(nil, wiatest.WithAlg("ES384")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: `PoP: alg "ES384" is not accepted`},
	{name: "PoP signed by a key other than cnf.jwk", req: std(nil, wiatest.WithSigner(wiatest.NewKey())),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "signature does not verify with the attestation cnf.jwk key"},
	{name: "PoP bad signature", req: std(nil, wiatest.WithBadSignature()),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "signature does not verify with the attestation cnf.jwk key"},
	{name: "PoP iss differs from sub", req: std(nil, wiatest.WithIss("wallet-2")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "iss does not match the attestation sub"},
	{name: "PoP iss empty", req: std(nil, wiatest.WithIss("")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "iss does not match the attestation sub"},
	{name: "PoP aud missing", req: std(nil, wiatest.WithoutClaim("aud")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "aud is missing"},
	{name: "PoP aud is the PAR endpoint", req: std(nil, wiatest.WithAud(asIssuer+"/par")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "aud does not contain the authorization server issuer identifier"},
	{name: "PoP aud with trailing slash", req: std(nil, wiatest.WithAud(asIssuer+"/")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "aud does not contain"},
	{name: "PoP aud array without issuer", req: std(nil, wiatest.WithAud([]string{"https://other.example"})),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "aud does not contain"},
	{name: "PoP aud empty array", req: std(nil, wiatest.WithAud([]string{})),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "aud is missing"},
	{name: "PoP aud a number", req: std(nil, wiatest.WithAud(7)),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "payload is not a valid JWT claims set"},
	{name: "PoP jti missing", req: std(nil, wiatest.WithoutClaim("jti")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "jti is missing"},
	{name: "PoP jti too long", req: std(nil, wiatest.WithJTI(strings.Repeat("j", 257))),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "jti is longer than"},
	{name: "PoP iat missing", req: std(nil, wiatest.WithoutClaim("iat")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "iat is missing"},
	{name: "PoP iat 10 minutes old", req: std(nil, wiatest.WithIat(time.Now().Add(-10*time.Minute))),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "iat is older than 1m0s"},
	{name: "PoP iat just outside the window", req: rel(nil, func(f *fixture) []wiatest.Option { return one2(wiatest.WithIat(f.now.Add(-61 * time.Second))) }),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "iat is older than"},
	{name: "PoP iat outside a custom window", opts: func(o *wia.Options) { o.PoPWindow = 10 * time.Second },
		req:        rel(nil, func(f *fixture) []wiatest.Option { return one2(wiatest.WithIat(f.now.Add(-20 * time.Second))) }),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "iat is older than 10s"},
	{name: "PoP iat in the future", req: std(nil, wiatest.WithIat(time.Now().Add(time.Minute))),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "PoP: iat is in the future"},
	{name: "PoP exp in the past", req: std(nil, wiatest.WithExp(time.Now().Add(-time.Minute))),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "PoP: expired"},
	{name: "PoP nbf in the future", req: std(nil, wiatest.WithNbf(time.Now().Add(time.Minute))),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "PoP: not yet valid"},

	// Challenges (ABCA-07 §5.2, §6.3, §8).
	{name: "required challenge missing", opts: reqChallenge, req: std(nil),
		wantStatus: s400, wantCode: useChallenge, wantDesc: "challenge is missing"},
	{name: "required challenge unknown", opts: reqChallenge, req: std(nil, wiatest.WithChallenge("forged-challenge")),
		wantStatus: s400, wantCode: useChallenge, wantDesc: "challenge is not a valid or current server-provided challenge"},
	{name: "optional challenge present and unknown", req: std(nil, wiatest.WithChallenge("forged-challenge")),
		wantStatus: s400, wantCode: useChallenge, wantDesc: "challenge is not a valid"},
	{name: "legacy nonce present and unknown", req: std(nil, wiatest.WithNonce("forged-nonce")),
		wantStatus: s400, wantCode: useChallenge, wantDesc: "nonce is not a valid"},
	{name: "challenge too long", opts: reqChallenge, req: std(nil, wiatest.WithChallenge(strings.Repeat("c", 1025))),
		wantStatus: s400, wantCode: useChallenge, wantDesc: "challenge is not a valid"},
	{name: "challenge present without a challenge source", opts: func(o *wia.Options) { o.Challenges = nil },
		req:        std(nil, wiatest.WithChallenge("anything")),
		wantStatus: s401, wantCode: invalidClient, wantDesc: "challenge was not issued by this server"},

	// Storage outage: fail closed.
	{name: "replay store unavailable", opts: func(o *wia.Options) { o.Replay = downReplay{} }, req: std(nil),
		wantStatus: s503, wantCode: oauth.CodeTemporarilyUnavailable, wantDesc: "temporarily unavailable"},
}

func TestAuthenticate(t *testing.T) {
	for _, tc := range authCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			att, pop, clientID := tc.req(f)
			c, err := f.v.Authenticate(context.Background(), att, pop, clientID)
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				checkClient(t, f, c)
				if f.store.len() != 1 {
					t.Fatalf("jti not remembered (store has %d ids)", f.store.len())
				}
				return
			}
			e := wantError(t, err, tc.wantStatus, tc.wantCode, tc.wantDesc)
			if c != nil {
				t.Fatal("client returned with an error")
			}
			if tc.wantCode == useChallenge {
				h := e.Header.Get(oauth.HeaderAttestationChallenge)
				if h == "" || f.chal.Check(h) != nil {
					t.Fatalf("use_attestation_challenge without a fresh valid challenge header (%q)", h)
				}
			}
			if tc.wantStatus == s503 && e.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			if tc.wantStatus != s503 && f.store.len() != 0 {
				t.Fatal("a rejected PoP was remembered in the replay cache")
			}
		})
	}
}

func checkClient(t *testing.T, f *fixture, c *wia.Client) {
	t.Helper()
	if c.ID != "wallet-1" || c.Provider != f.prov.Name {
		t.Fatalf("client %q provider %q", c.ID, c.Provider)
	}
	pub, ok := c.Key.Key.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&f.holder.PublicKey) || !c.Key.IsPublic() {
		t.Fatal("client key is not the holder's public key")
	}
	tp, err := c.Key.Thumbprint(crypto.SHA256)
	if err != nil || c.JKT != base64.RawURLEncoding.EncodeToString(tp) {
		t.Fatalf("JKT %q is not the RFC 7638 thumbprint", c.JKT)
	}
	if len(c.RedirectURIs) != 1 || c.RedirectURIs[0] != f.prov.RedirectURIs[0] {
		t.Fatalf("redirect URIs %v", c.RedirectURIs)
	}
	if c.Expiry.IsZero() || !c.Expiry.After(f.now.Add(-time.Minute)) {
		t.Fatalf("expiry %v", c.Expiry)
	}
}

func TestClientFields(t *testing.T) {
	f := newFixture(t, nil)
	c, err := f.v.Authenticate(context.Background(), one(f.att(wiatest.WithClaim("wallet_link", "https://wallet.example/info"))), one(f.pop()), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Attester != f.prov.Name || c.WalletName != f.prov.Name+" wallet" || c.WalletLink != "https://wallet.example/info" {
		t.Fatalf("attester %q wallet %q %q", c.Attester, c.WalletName, c.WalletLink)
	}
	if !c.Expiry.Equal(f.now.Add(time.Hour)) {
		t.Fatalf("expiry %v, want %v", c.Expiry, f.now.Add(time.Hour))
	}
	// The second provider's attestation resolves to that provider.
	h := wiatest.NewKey()
	a := f.other.Attestation("wallet-b", h, wiatest.At(f.now))
	c, err = f.v.Authenticate(context.Background(), one(a), one(wiatest.PoP(h, asIssuer, wiatest.At(f.now))), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Provider != f.other.Name || c.ID != "wallet-b" {
		t.Fatalf("provider %q id %q", c.Provider, c.ID)
	}
	// Without iss, the provider comes from the root that verified.
	a = f.other.Attestation("wallet-b", h, wiatest.At(f.now), wiatest.WithoutClaim("iss"))
	c, err = f.v.Authenticate(context.Background(), one(a), one(wiatest.PoP(h, asIssuer, wiatest.At(f.now))), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Provider != f.other.Name || c.Attester != "" {
		t.Fatalf("provider %q attester %q", c.Provider, c.Attester)
	}
}

func TestReplaySameVerifier(t *testing.T) {
	f := newFixture(t, nil)
	att, pop := f.att(), f.pop()
	if _, err := f.v.Authenticate(context.Background(), one(att), one(pop), ""); err != nil {
		t.Fatal(err)
	}
	_, err := f.v.Authenticate(context.Background(), one(att), one(pop), "")
	wantError(t, err, s401, invalidClient, "jti was already used")
	// The attestation itself is reusable with a fresh PoP (ABCA-07 §10.1).
	if _, err := f.v.Authenticate(context.Background(), one(att), one(f.pop()), ""); err != nil {
		t.Fatalf("fresh PoP with the same attestation: %v", err)
	}
}

func TestReplayAcrossVerifiersSharingAStore(t *testing.T) {
	f := newFixture(t, nil)
	v2, err := wia.NewVerifier(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	att, pop := f.att(), f.pop()
	if _, err := f.v.Authenticate(context.Background(), one(att), one(pop), ""); err != nil {
		t.Fatal(err)
	}
	_, err = v2.Authenticate(context.Background(), one(att), one(pop), "")
	wantError(t, err, s401, invalidClient, "jti was already used")
}

func TestSameJTIDifferentInstanceKeys(t *testing.T) {
	// jti uniqueness is per client instance key: another wallet using the
	// same jti is not a replay.
	f := newFixture(t, nil)
	if _, err := f.v.Authenticate(context.Background(), one(f.att()), one(f.pop(wiatest.WithJTI("fixed"))), ""); err != nil {
		t.Fatal(err)
	}
	h := wiatest.NewKey()
	a := f.prov.Attestation("wallet-1", h, wiatest.At(f.now))
	if _, err := f.v.Authenticate(context.Background(), one(a), one(wiatest.PoP(h, asIssuer, wiatest.At(f.now), wiatest.WithJTI("fixed"))), ""); err != nil {
		t.Fatalf("other instance, same jti: %v", err)
	}
}

func TestReplayRace(t *testing.T) {
	f := newFixture(t, nil)
	att, pop := one(f.att()), one(f.pop())
	const n = 64
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
		other    []error
	)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := f.v.Authenticate(context.Background(), att, pop, "")
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				accepted++
			} else if e := oauth.As(err); e == nil || e.Code != invalidClient || !strings.Contains(e.Description, "already used") {
				other = append(other, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if accepted != 1 || len(other) != 0 {
		t.Fatalf("accepted %d of %d; unexpected errors %v", accepted, n, other)
	}
}

func TestReplayEntryCoversWindow(t *testing.T) {
	// The jti must stay remembered for as long as the PoP is acceptable.
	f := newFixture(t, nil)
	att, pop := f.att(), f.pop()
	if _, err := f.v.Authenticate(context.Background(), one(att), one(pop), ""); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(59 * time.Second)
	_, err := f.v.Authenticate(context.Background(), one(att), one(pop), "")
	wantError(t, err, s401, invalidClient, "already used")
	f.now = f.now.Add(2 * time.Second)
	_, err = f.v.Authenticate(context.Background(), one(att), one(pop), "")
	wantError(t, err, s401, invalidClient, "iat is older than")
}

func TestAuthenticateRequest(t *testing.T) {
	f := newFixture(t, nil)
	r := httptest.NewRequest(http.MethodPost, "/token", nil)
	r.Header.Set("oauth-client-attestation", f.att())
	r.Header.Set("OAUTH-CLIENT-ATTESTATION-POP", f.pop())
	c, err := f.v.AuthenticateRequest(context.Background(), r, url.Values{"client_id": {"wallet-1"}})
	if err != nil {
		t.Fatal(err)
	}
	checkClient(t, f, c)

	r.Header.Set(oauth.HeaderClientAttestationPoP, f.pop())
	_, err = f.v.AuthenticateRequest(context.Background(), r, url.Values{"client_id": {"wallet-2"}})
	wantError(t, err, s401, invalidClient, "client_id does not match")

	r.Header.Set(oauth.HeaderClientAttestationPoP, f.pop())
	_, err = f.v.AuthenticateRequest(context.Background(), r, url.Values{"client_id": {"wallet-1", "wallet-1"}})
	wantError(t, err, s400, oauth.CodeInvalidRequest, "client_id is given more than once")

	r.Header.Add(oauth.HeaderClientAttestation, f.att())
	_, err = f.v.AuthenticateRequest(context.Background(), r, url.Values{})
	wantError(t, err, s401, invalidClient, "more than one OAuth-Client-Attestation header")

	_, err = f.v.AuthenticateRequest(context.Background(), httptest.NewRequest(http.MethodPost, "/par", nil), url.Values{})
	wantError(t, err, s401, invalidClient, "missing OAuth-Client-Attestation header")
}

func TestChallenge(t *testing.T) {
	f := newFixture(t, func(o *wia.Options) { o.Challenges = nil })
	if f.v.ChallengesEnabled() {
		t.Fatal("challenges enabled without a source")
	}
	if _, err := f.v.Challenge(); !errors.Is(err, wia.ErrNoChallenges) {
		t.Fatalf("Challenge without source: %v", err)
	}
	var src *challenges
	f = newFixture(t, func(o *wia.Options) { src = newChallenges(); o.Challenges = src; o.RequireChallenge = true })
	c, err := f.v.Challenge()
	if err != nil || src.Check(c) != nil {
		t.Fatalf("challenge %q: %v", c, err)
	}
	if _, err := f.v.Authenticate(context.Background(), one(f.att()), one(f.pop(wiatest.WithChallenge(c))), ""); err != nil {
		t.Fatalf("with issued challenge: %v", err)
	}
}

func TestNewVerifierRejectsBadOptions(t *testing.T) {
	a, _ := providers()
	good := func() wia.Options {
		return wia.Options{Issuer: asIssuer, Providers: []wia.Provider{a.Provider()}, Replay: newMemReplay(time.Now)}
	}
	var nilChallenges *challenges
	cases := []struct {
		name string
		mod  func(*wia.Options)
	}{
		{"no issuer", func(o *wia.Options) { o.Issuer = "" }},
		{"no replay cache", func(o *wia.Options) { o.Replay = nil }},
		{"nil pointer replay cache", func(o *wia.Options) { var r *memReplay; o.Replay = r }},
		{"no providers", func(o *wia.Options) { o.Providers = nil }},
		{"provider without name", func(o *wia.Options) { o.Providers[0].Name = "" }},
		{"duplicate provider", func(o *wia.Options) { o.Providers = append(o.Providers, o.Providers[0]) }},
		{"provider without anchors", func(o *wia.Options) { o.Providers[0].Roots, o.Providers[0].Keys = nil, nil }},
		{"wildcard redirect URI", func(o *wia.Options) { o.Providers[0].RedirectURIs = []string{"https://*.example/cb"} }},
		{"private pinned key", func(o *wia.Options) {
			k := wiatest.NewKey()
			o.Providers[0].Keys[0].Key = k
		}},
		{"HS256 attestation alg", func(o *wia.Options) { o.AttestationAlgs = []string{"HS256"} }},
		{"none PoP alg", func(o *wia.Options) { o.PoPAlgs = []string{"none"} }},
		{"EdDSA PoP alg", func(o *wia.Options) { o.PoPAlgs = []string{"EdDSA"} }},
		{"RequireChallenge without source", func(o *wia.Options) { o.RequireChallenge = true }},
		{"RequireChallenge with nil pointer source", func(o *wia.Options) { o.RequireChallenge = true; o.Challenges = nilChallenges }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := good()
			tc.mod(&o)
			if _, err := wia.NewVerifier(o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	o := good()
	if _, err := wia.NewVerifier(o); err != nil {
		t.Fatalf("good options: %v", err)
	}
	v, _ := wia.NewVerifier(o)
	att, pop := v.SigningAlgs()
	if len(att) == 0 || att[0] != "ES256" || len(pop) != 1 || pop[0] != "ES256" {
		t.Fatalf("SigningAlgs %v %v", att, pop)
	}
}

func TestReplayAcrossVerifiersSharingMemoryStore(t *testing.T) {
	f := newFixture(t, nil)
	st := memory.New(memory.Options{Now: f.clock, SweepInterval: -1})
	t.Cleanup(func() { st.Close() })
	o := f.opts
	o.Replay = st
	v1, err := wia.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := wia.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	att, pop := one(f.att()), one(f.pop())
	const n = 64
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := 0; i < n; i++ {
		v := v1
		if i%2 == 1 {
			v = v2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Authenticate(context.Background(), att, pop, "")
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	accepted := 0
	for err := range results {
		if err == nil {
			accepted++
			continue
		}
		if e := oauth.As(err); e == nil || e.Code != invalidClient || !strings.Contains(e.Description, "already used") {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if accepted != 1 {
		t.Fatalf("accepted %d times", accepted)
	}
}

func TestNonceSourceAsChallenges(t *testing.T) {
	var now time.Time
	src, err := nonce.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, "attestation-challenge", time.Minute, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(o *wia.Options) { o.Challenges = src; o.RequireChallenge = true })
	now = f.now
	c, err := f.v.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Authenticate(context.Background(), one(f.att()), one(f.pop(wiatest.WithChallenge(c))), ""); err != nil {
		t.Fatalf("nonce.Source challenge: %v", err)
	}
	now = now.Add(2 * time.Minute)
	f.now = now
	_, err = f.v.Authenticate(context.Background(), one(f.att()), one(f.pop(wiatest.WithChallenge(c))), "")
	e := wantError(t, err, s400, useChallenge, "challenge is not a valid or current")
	if e.Header.Get(oauth.HeaderAttestationChallenge) == "" {
		t.Fatal("no fresh challenge header")
	}
}

// Cached verifications must not skip time checks.
func TestCachedAttestationRechecksTime(t *testing.T) {
	f := newFixture(t, nil)
	start := f.now
	att := f.att(wiatest.WithExp(start.Add(3 * 365 * 24 * time.Hour)))
	if _, err := f.v.Authenticate(context.Background(), one(att), one(f.pop()), ""); err != nil {
		t.Fatal(err)
	}
	// The signing certificate is valid for two years.
	f.now = start.Add(30 * 30 * 24 * time.Hour)
	_, err := f.v.Authenticate(context.Background(), one(att), one(f.pop()), "")
	wantError(t, err, s401, invalidClient, "expired or not yet valid")

	f.now = start
	short := f.att()
	if _, err := f.v.Authenticate(context.Background(), one(short), one(f.pop()), ""); err != nil {
		t.Fatal(err)
	}
	f.now = start.Add(2 * time.Hour)
	_, err = f.v.Authenticate(context.Background(), one(short), one(f.pop()), "")
	wantError(t, err, s401, fresh, "expired")

	// A cached attestation is not accepted with another client_id or a PoP
	// of another key.
	f.now = start
	_, err = f.v.Authenticate(context.Background(), one(short), one(f.pop()), "someone-else")
	wantError(t, err, s401, invalidClient, "client_id does not match")
	_, err = f.v.Authenticate(context.Background(), one(short), one(f.pop(wiatest.WithSigner(wiatest.NewKey()))), "")
	wantError(t, err, s401, invalidClient, "signature does not verify")
}

func TestCachedChainRechecksTimeForKeyAttestations(t *testing.T) {
	f := newKAFixture(t, nil)
	start := f.now
	if _, err := f.v.Verify(context.Background(), f.mint(wiatest.WithoutClaim("exp"))); err != nil {
		t.Fatal(err)
	}
	f.now = start.Add(30 * 30 * 24 * time.Hour)
	_, err := f.v.Verify(context.Background(), f.mint(wiatest.WithoutClaim("exp"), wiatest.At(f.now)))
	wantError(t, err, s400, oauth.CodeInvalidProof, "expired or not yet valid")
}
