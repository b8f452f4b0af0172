package authz

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/dpop/dpoptest"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/wia/wiatest"
)

// TestPAR has one row per MUST of RFC 9126, RFC 7636 (S256 only), RFC 9449
// §10 and ABCA-07 at the PAR endpoint (checklist T14-T31).
func TestPAR(t *testing.T) {
	type row struct {
		name   string
		form   func(w *wallet, f url.Values)
		hdr    func(e *env, w *wallet, h http.Header)
		opts   []reqOpt
		status int
		code   string
	}
	foreign := wiatest.NewProvider("untrusted-provider")
	rows := []row{
		{name: "T14 valid", status: http.StatusCreated},
		{name: "T14 valid with dpop_jkt equal to DPoP key", form: func(w *wallet, f url.Values) { f.Set("dpop_jkt", w.dpop.JKT) }, status: http.StatusCreated},
		{name: "T14 valid with dpop_jkt only", form: func(w *wallet, f url.Values) { f.Set("dpop_jkt", w.dpop.JKT) }, opts: []reqOpt{noDPoP()}, status: http.StatusCreated},
		{name: "T14 valid without state", form: func(_ *wallet, f url.Values) { f.Del("state") }, status: http.StatusCreated},
		{name: "T14 valid with one-character state", form: func(_ *wallet, f url.Values) { f.Set("state", "s") }, status: http.StatusCreated},
		{name: "T14 valid without client_id", form: func(_ *wallet, f url.Values) { f.Del("client_id") }, status: http.StatusCreated},
		{name: "T15 no attestation headers", opts: []reqOpt{noAttestation()}, status: 401, code: oauth.CodeInvalidClient},
		{name: "T15 attestation without PoP", opts: []reqOpt{func(r *http.Request) { r.Header.Del(oauth.HeaderClientAttestationPoP) }}, status: 401, code: oauth.CodeInvalidClient},
		{name: "T16 PoP signed by another key", hdr: func(e *env, w *wallet, h http.Header) {
			h.Set(oauth.HeaderClientAttestationPoP, wiatest.PoP(wiatest.NewKey(), e.issuer, wiatest.At(e.clock.Now()), wiatest.WithIss(w.id)))
		}, status: 401, code: oauth.CodeInvalidClient},
		{name: "T17 PoP aud is the PAR endpoint", hdr: func(e *env, w *wallet, h http.Header) {
			h.Set(oauth.HeaderClientAttestationPoP, wiatest.PoP(w.instance, e.srv.Endpoints().PAR, wiatest.At(e.clock.Now()), wiatest.WithIss(w.id)))
		}, status: 401, code: oauth.CodeInvalidClient},
		{name: "T18 attestation expired", hdr: func(e *env, w *wallet, h http.Header) {
			h.Set(oauth.HeaderClientAttestation, e.provider.Attestation(w.id, w.instance, wiatest.WithExp(e.clock.Now().Add(-time.Hour))))
		}, status: 401, code: oauth.CodeUseFreshAttestation},
		{name: "T19 attestation without sub", hdr: func(e *env, w *wallet, h http.Header) {
			h.Set(oauth.HeaderClientAttestation, e.provider.Attestation(w.id, w.instance, wiatest.WithoutClaim("sub")))
		}, status: 401, code: oauth.CodeInvalidClient},
		{name: "T20 attestation from an untrusted attester", hdr: func(e *env, w *wallet, h http.Header) {
			h.Set(oauth.HeaderClientAttestation, foreign.Attestation(w.id, w.instance))
		}, status: 401, code: oauth.CodeInvalidClient},
		{name: "T20 attestation with self-signed x5c", hdr: func(e *env, w *wallet, h http.Header) {
			h.Set(oauth.HeaderClientAttestation, e.provider.Attestation(w.id, w.instance, wiatest.SelfSigned()))
		}, status: 401, code: oauth.CodeInvalidClient},
		{name: "T21 client_id differs from attestation sub", form: func(_ *wallet, f url.Values) { f.Set("client_id", "someone-else") }, status: 401, code: oauth.CodeInvalidClient},
		{name: "T23 PoP iat 10 minutes old", hdr: func(e *env, w *wallet, h http.Header) {
			h.Set(oauth.HeaderClientAttestationPoP, wiatest.PoP(w.instance, e.issuer, wiatest.At(e.clock.Now().Add(-10*time.Minute)), wiatest.WithIss(w.id)))
		}, status: 401, code: oauth.CodeInvalidClient},
		{name: "T24 code_challenge_method plain", form: func(_ *wallet, f url.Values) { f.Set("code_challenge_method", "plain") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "T24 code_challenge_method missing", form: func(_ *wallet, f url.Values) { f.Del("code_challenge_method") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "T24 code_challenge missing", form: func(_ *wallet, f url.Values) { f.Del("code_challenge") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "T24 code_challenge malformed", form: func(_ *wallet, f url.Values) { f.Set("code_challenge", "short") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "T25 request_uri inside PAR", form: func(_ *wallet, f url.Values) { f.Set("request_uri", "urn:ietf:params:oauth:request_uri:x") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "T26 redirect_uri missing", form: func(_ *wallet, f url.Values) { f.Del("redirect_uri") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "private-use scheme redirect_uri listed by the provider", form: func(_ *wallet, f url.Values) { f.Set("redirect_uri", nativeRedirectURI) }, status: http.StatusCreated},
		{name: "redirect_uri with fragment", form: func(_ *wallet, f url.Values) { f.Set("redirect_uri", redirectURI+"#x") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "redirect_uri not allowed for the provider", form: func(_ *wallet, f url.Values) { f.Set("redirect_uri", "https://evil.example/cb") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "redirect_uri prefix of an allowed one", form: func(_ *wallet, f url.Values) { f.Set("redirect_uri", "https://wallet.example/cb/x") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "T27 authorization_details of unknown type", form: func(_ *wallet, f url.Values) {
			f.Set("authorization_details", `[{"type":"payment_initiation","credential_configuration_id":"`+testConfigID+`"}]`)
		}, status: 400, code: oauth.CodeInvalidAuthzDetails},
		{name: "T27 authorization_details with unknown configuration", form: func(_ *wallet, f url.Values) {
			f.Set("authorization_details", `[{"type":"openid_credential","credential_configuration_id":"nope"}]`)
		}, status: 400, code: oauth.CodeInvalidAuthzDetails},
		{name: "T27 authorization_details not JSON", form: func(_ *wallet, f url.Values) { f.Set("authorization_details", `{`) }, status: 400, code: oauth.CodeInvalidAuthzDetails},
		{name: "T27 authorization_details valid", form: func(_ *wallet, f url.Values) {
			f.Del("scope")
			f.Set("authorization_details", `[{"type":"openid_credential","credential_configuration_id":"`+testConfigID+`","claims":[{"path":["org.iso.18013.5.1","given_name"]}]}]`)
		}, status: http.StatusCreated},
		{name: "T28 only an unknown scope", form: func(_ *wallet, f url.Values) { f.Set("scope", "openid unknown") }, status: 400, code: oauth.CodeInvalidScope},
		{name: "T29 dpop_jkt differs from the DPoP header key", form: func(_ *wallet, f url.Values) { f.Set("dpop_jkt", dpoptest.NewKey().JKT) }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "dpop_jkt malformed", form: func(_ *wallet, f url.Values) { f.Set("dpop_jkt", "abc") }, opts: []reqOpt{noDPoP()}, status: 400, code: oauth.CodeInvalidRequest},
		{name: "DPoP header with wrong htu", hdr: func(e *env, w *wallet, h http.Header) {
			h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().Token))
		}, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "DPoP header with private key", hdr: func(e *env, w *wallet, h http.Header) {
			h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR, dpoptest.PrivateJWK()))
		}, status: 400, code: oauth.CodeInvalidDPoPProof},
		{name: "T31 GET", opts: []reqOpt{withMethod(http.MethodGet)}, status: 405, code: oauth.CodeInvalidRequest},
		{name: "response_type token", form: func(_ *wallet, f url.Values) { f.Set("response_type", "token") }, status: 400, code: oauth.CodeUnsupportedResponseType},
		{name: "response_type code id_token", form: func(_ *wallet, f url.Values) { f.Set("response_type", "code id_token") }, status: 400, code: oauth.CodeUnsupportedResponseType},
		{name: "response_type missing", form: func(_ *wallet, f url.Values) { f.Del("response_type") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "response_mode fragment", form: func(_ *wallet, f url.Values) { f.Set("response_mode", "fragment") }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "duplicate parameter", form: func(_ *wallet, f url.Values) { f.Add("scope", testScope) }, status: 400, code: oauth.CodeInvalidRequest},
		{name: "body over 64 KiB", form: func(_ *wallet, f url.Values) { f.Set("x-pad", strings.Repeat("a", 70000)) }, status: 413, code: oauth.CodeInvalidRequest},
		{name: "JSON body", opts: []reqOpt{withContentType("application/json")}, status: 400, code: oauth.CodeInvalidRequest},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			e := newEnv(t)
			w := e.newWallet("wallet-1")
			f := w.parForm(testScope)
			if r.form != nil {
				r.form(w, f)
			}
			h := http.Header{}
			e.clientAuth(h, w, nil, nil)
			h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR))
			if r.hdr != nil {
				r.hdr(e, w, h)
			}
			resp := e.post(e.srv.Endpoints().PAR, f, h, r.opts...)
			if r.code == "" {
				m := mustStatus(t, resp, r.status)
				if m.str("request_uri") == "" || resp.Header.Get("Cache-Control") != "no-store" {
					t.Fatalf("PAR success %v", m)
				}
				return
			}
			expectError(t, resp, r.status, r.code)
		})
	}
}

// TestPARReplayedPoP: T22, the same PoP (jti) in a second PAR.
func TestPARReplayedPoP(t *testing.T) {
	e := newEnv(t)
	w := e.newWallet("wallet-1")
	h := http.Header{}
	e.clientAuth(h, w, nil, nil)
	h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR))
	mustStatus(t, e.post(e.srv.Endpoints().PAR, w.parForm(testScope), h), http.StatusCreated)
	h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR))
	expectError(t, e.post(e.srv.Endpoints().PAR, w.parForm(testScope), h), 401, oauth.CodeInvalidClient)
}

// TestPARDPoPNonce: with AS nonces, a PAR DPoP proof without nonce gets 400
// use_dpop_nonce with a DPoP-Nonce header; the retry succeeds and 201
// carries a fresh nonce (RFC 9449 §8).
func TestPARDPoPNonce(t *testing.T) {
	e := newEnv(t, withDPoPNonces())
	w := e.newWallet("wallet-1")
	resp := e.par(w, w.parForm(testScope))
	expectError(t, resp, 400, oauth.CodeUseDPoPNonce)
	n := resp.Header.Get(oauth.HeaderDPoPNonce)
	if n == "" {
		t.Fatal("no DPoP-Nonce")
	}
	// The retry may even reuse the attestation PoP: the nonce error came
	// before client authentication.
	h := http.Header{}
	e.clientAuth(h, w, nil, nil)
	h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR))
	expectError(t, e.post(e.srv.Endpoints().PAR, w.parForm(testScope), h), 400, oauth.CodeUseDPoPNonce)
	h.Set(oauth.HeaderDPoP, e.dpopProof(w.dpop, e.srv.Endpoints().PAR, dpoptest.Nonce(n)))
	resp = e.post(e.srv.Endpoints().PAR, w.parForm(testScope), h)
	mustStatus(t, resp, http.StatusCreated)
	if resp.Header.Get(oauth.HeaderDPoPNonce) == "" {
		t.Fatal("no DPoP-Nonce on 201")
	}
}
