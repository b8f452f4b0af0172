package metadata

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"flag"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// encKey is the P-256 public key of RFC 7515 Appendix A.3.
const encKey = `{"kty":"EC","crv":"P-256","kid":"req-enc-1","use":"enc","alg":"ECDH-ES",
 "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`

func jwk(t *testing.T, s string) jose.JSONWebKey {
	t.Helper()
	var k jose.JSONWebKey
	if err := json.Unmarshal([]byte(s), &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mdlClaims() []Claim {
	en := func(n string) []ClaimDisplay { return []ClaimDisplay{{Name: n, Locale: "en-US"}} }
	return []Claim{
		{Path: []any{"org.iso.18013.5.1", "family_name"}, Mandatory: true, Display: en("Family name")},
		{Path: []any{"org.iso.18013.5.1", "given_name"}, Mandatory: true, Display: en("Given name")},
		{Path: []any{"org.iso.18013.5.1", "birth_date"}, Mandatory: true},
		{Path: []any{"org.iso.18013.5.1", "driving_privileges"}},
	}
}

func fullOptions(t *testing.T) Options {
	const iss = "https://issuer.example/tenant"
	return Options{
		Issuer:               iss,
		CredentialEndpoint:   iss + "/credential",
		NonceEndpoint:        iss + "/nonce",
		DeferredEndpoint:     iss + "/deferred_credential",
		NotificationEndpoint: iss + "/notification",
		RequestEncryption: &RequestEncryption{
			JWKS:      jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk(t, encKey)}},
			EncValues: []string{"A128GCM", "A256GCM"},
		},
		ResponseEncryption: &ResponseEncryption{AlgValues: []string{"ECDH-ES"}, EncValues: []string{"A128GCM", "A256GCM"}},
		Display:            []Display{{Name: "Example MVA", Locale: "en-US", Logo: &Logo{URI: "https://issuer.example/logo.png", AltText: "logo"}}},
		Configurations: []Configuration{
			{
				ID: "org.iso.18013.5.1.mDL", Doctype: "org.iso.18013.5.1.mDL", Scope: "org.iso.18013.5.1.mDL",
				ProofTypes:              []string{ProofJWT, ProofAttestation},
				KeyAttestationsRequired: &KeyAttestationsRequired{KeyStorage: []string{"iso_18045_moderate"}},
				BatchSize:               10,
				Display:                 []CredentialDisplay{{Name: "Mobile Driving Licence", Locale: "en-US", BackgroundColor: "#12107c", TextColor: "#ffffff"}},
				Claims:                  mdlClaims(),
			},
			{
				ID: "eu.europa.ec.eudi.pid.1", Doctype: "eu.europa.ec.eudi.pid.1", Scope: "eu.europa.ec.eudi.pid.1",
				ProofTypes: []string{ProofJWT}, BatchSize: 3,
				Display: []CredentialDisplay{{Name: "PID", Locale: "en-US"}},
			},
		},
		AS: &AuthorizationServer{
			AuthorizationEndpoint: iss + "/authorize",
			TokenEndpoint:         iss + "/token",
			PAREndpoint:           iss + "/par",
			ChallengeEndpoint:     iss + "/challenge",
			PreAuthorizedGrant:    true,
			RefreshTokens:         true,
		},
	}
}

func minimalOptions() Options {
	const iss = "https://issuer.example"
	return Options{
		Issuer:             iss,
		CredentialEndpoint: iss + "/credential",
		NonceEndpoint:      iss + "/nonce",
		Configurations: []Configuration{{
			ID: "mdl", Doctype: "org.iso.18013.5.1.mDL", Scope: "mdl", ProofTypes: []string{ProofJWT}, BatchSize: 1,
		}},
		AS: &AuthorizationServer{TokenEndpoint: iss + "/token", PreAuthorizedGrant: true},
	}
}

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./metadata -update)", err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s differs from golden:\n%s", name, got)
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"full", fullOptions(t)},
		{"minimal", minimalOptions()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "issuer_"+tc.name+".json", s.Issuer())
			as, ok := s.AuthorizationServer()
			if !ok {
				t.Fatal("no AS metadata")
			}
			golden(t, "as_"+tc.name+".json", as)
			// The served bytes are the value.
			rec := httptest.NewRecorder()
			s.IssuerHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			var served IssuerMetadata
			if err := json.Unmarshal(rec.Body.Bytes(), &served); err != nil || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("served %q %v", rec.Header().Get("Content-Type"), err)
			}
			golden(t, "issuer_"+tc.name+".json", served)
		})
	}
}

func TestDocumentRules(t *testing.T) {
	s, err := New(fullOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	md := s.Issuer()
	if md.BatchCredentialIssuance == nil || md.BatchCredentialIssuance.BatchSize != 10 {
		t.Fatal("batch_size must be the largest configured")
	}
	mdl := md.CredentialConfigurations["org.iso.18013.5.1.mDL"]
	if !reflect.DeepEqual(mdl.CredentialSigningAlgs, []int{-7, -9}) || mdl.Format != "mso_mdoc" {
		t.Fatalf("mdoc algs %v", mdl.CredentialSigningAlgs)
	}
	if len(mdl.BindingMethods) == 0 || len(mdl.ProofTypes) == 0 {
		t.Fatal("binding methods and proof types go together")
	}
	min, err := New(minimalOptions())
	if err != nil {
		t.Fatal(err)
	}
	if min.Issuer().BatchCredentialIssuance != nil || min.Issuer().DeferredCredentialEndpoint != "" {
		t.Fatal("batch_size 1 or unmounted endpoints must not be advertised")
	}
	as, _ := min.AuthorizationServer()
	if !reflect.DeepEqual(as.GrantTypes, []string{"urn:ietf:params:oauth:grant-type:pre-authorized_code"}) {
		t.Fatalf("grant types %v", as.GrantTypes)
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"bad issuer", func(o *Options) { o.Issuer = "issuer.example" }, "issuer"},
		{"issuer with query", func(o *Options) { o.Issuer = "https://a.example?x" }, "query"},
		{"no configurations", func(o *Options) { o.Configurations = nil }, "at least one"},
		{"no doctype", func(o *Options) { o.Configurations[0].Doctype = "" }, "doctype is required"},
		{"unknown proof type", func(o *Options) { o.Configurations[0].ProofTypes = []string{"ldp_vp"} }, "unknown proof type"},
		{"short claim path", func(o *Options) { o.Configurations[0].Claims = []Claim{{Path: []any{"ns"}}} }, "namespace and element"},
		{"duplicate claim", func(o *Options) {
			o.Configurations[0].Claims = []Claim{{Path: []any{"ns", "a"}}, {Path: []any{"ns", "a"}}}
		}, "described twice"},
		{"duplicate id", func(o *Options) { o.Configurations[1].ID = o.Configurations[0].ID }, "duplicate configuration"},
		{"duplicate scope", func(o *Options) { o.Configurations[1].Scope = o.Configurations[0].Scope }, "used twice"},
		{"encryption one side", func(o *Options) { o.ResponseEncryption = nil }, "published together"},
		{"private enc key", func(o *Options) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			o.RequestEncryption.JWKS.Keys = []jose.JSONWebKey{{Key: k, KeyID: "x"}}
		}, "private key"},
		{"duplicate kid", func(o *Options) {
			k := o.RequestEncryption.JWKS.Keys[0]
			o.RequestEncryption.JWKS.Keys = append(o.RequestEncryption.JWKS.Keys, k)
		}, "unique kid"},
		{"nonce missing", func(o *Options) { o.NonceEndpoint = "" }, "nonce endpoint is required"},
		{"authorize without PAR", func(o *Options) { o.AS.PAREndpoint = "" }, "requires a PAR endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := fullOptions(t)
			tc.mutate(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

func TestWellKnownURL(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"https://h.example/tenant", "https://h.example/.well-known/openid-credential-issuer/tenant"},
		{"https://h.example", "https://h.example/.well-known/openid-credential-issuer"},
		{"https://h.example:8443/a/b", "https://h.example:8443/.well-known/openid-credential-issuer/a/b"},
		{"http://localhost:8080", "http://localhost:8080/.well-known/openid-credential-issuer"},
	} {
		got, err := WellKnownURL(tc.id, "/.well-known/openid-credential-issuer")
		if err != nil || got != tc.want {
			t.Errorf("%s: got %s %v", tc.id, got, err)
		}
	}
	if _, err := WellKnownURL("https://h.example?x=1", "/.well-known/x"); err == nil {
		t.Error("query accepted")
	}
}

func TestPrefersJWT(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"application/json"}, false},
		{[]string{"*/*"}, false},
		{[]string{"application/jwt"}, true},
		{[]string{"application/jwt, application/json"}, true},
		{[]string{"application/json", "application/jwt"}, true},
		{[]string{"application/json, application/jwt;q=0.5"}, false},
		{[]string{"application/jwt;q=0"}, false},
		{[]string{"application/jwt;q=0.9, application/json;q=0.8"}, true},
		{[]string{"garbage;;;, application/jwt"}, true},
	} {
		if got := prefersJWT(tc.accept); got != tc.want {
			t.Errorf("%q: got %v", tc.accept, got)
		}
	}
}

// testPKI builds a root CA and a metadata-signing certificate under it.
func testPKI(t *testing.T) (root, leaf *x509.Certificate, leafKey *ecdsa.PrivateKey, rootKey *ecdsa.PrivateKey) {
	t.Helper()
	rootKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rt := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root", Country: []string{"UT"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, rt, rt, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ = x509.ParseCertificate(der)
	lt := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Metadata Signer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err = x509.CreateCertificate(rand.Reader, lt, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(der)
	return root, leaf, leafKey, rootKey
}

func TestSignedMetadata(t *testing.T) {
	root, leaf, key, _ := testPKI(t)
	now := time.Unix(time.Now().Unix(), 0)
	o := fullOptions(t)
	o.Signer = &Signer{Key: key, Chain: []*x509.Certificate{leaf}, Lifetime: time.Hour}
	o.Now = func() time.Time { return now }
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept", "application/jwt")
	rec := httptest.NewRecorder()
	s.IssuerHandler().ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/jwt" {
		t.Fatalf("got %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	jws, err := jose.ParseSignedCompact(rec.Body.String(), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders["typ"] != "openidvci-issuer-metadata+jwt" || h.Algorithm != "ES256" {
		t.Fatalf("header %+v", h)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	chains, err := h.Certificates(x509.VerifyOptions{Roots: pool, CurrentTime: now})
	if err != nil {
		t.Fatalf("x5c does not chain to the test root: %v", err)
	}
	hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(rec.Body.String(), ".")[0])
	var rawHeader struct {
		X5c []string `json:"x5c"`
	}
	if err := json.Unmarshal(hb, &rawHeader); err != nil || len(rawHeader.X5c) != 1 || len(chains[0]) != 2 {
		t.Fatalf("x5c must hold the leaf only: %s", hb)
	}
	payload, err := jws.Verify(chains[0][0].PublicKey)
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["sub"] != o.Issuer || claims["iat"] != float64(now.Unix()) || claims["exp"] != float64(now.Add(time.Hour).Unix()) {
		t.Fatalf("sub/iat/exp: %v %v %v", claims["sub"], claims["iat"], claims["exp"])
	}
	for _, k := range []string{"credential_issuer", "credential_endpoint", "nonce_endpoint", "credential_configurations_supported", "batch_credential_issuance"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("metadata member %s not top level", k)
		}
	}
	// JSON is still the default with a signer.
	rec = httptest.NewRecorder()
	s.IssuerHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Header().Get("Content-Type") != "application/json" || !strings.Contains(rec.Header().Get("Vary"), "Accept") {
		t.Fatalf("default answer %q", rec.Header().Get("Content-Type"))
	}
}

func TestUnsignedWithoutSigner(t *testing.T) {
	s, err := New(minimalOptions())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept", "application/jwt")
	rec := httptest.NewRecorder()
	s.IssuerHandler().ServeHTTP(rec, req)
	if rec.Header().Get("Content-Type") != "application/json" {
		t.Fatal("without a signer the answer is JSON")
	}
	if _, err := s.Sign(); err == nil {
		t.Fatal("signed without signer")
	}
}

func TestSignerChecks(t *testing.T) {
	root, leaf, key, rootKey := testPKI(t)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name string
		sg   *Signer
		want string
	}{
		{"self-signed leaf", &Signer{Key: rootKey, Chain: []*x509.Certificate{root}}, "must not be self-signed"},
		{"anchor in chain", &Signer{Key: key, Chain: []*x509.Certificate{leaf, root}}, "must not contain the trust anchor"},
		{"key mismatch", &Signer{Key: other, Chain: []*x509.Certificate{leaf}}, "does not hold the signing key"},
		{"rsa", &Signer{Key: rsaKey, Chain: []*x509.Certificate{leaf}}, "P-256"},
		{"no chain", &Signer{Key: key}, "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := minimalOptions()
			o.Signer = tc.sg
			if _, err := New(o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

func TestASHandler(t *testing.T) {
	o := minimalOptions()
	o.AS = nil
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if s.ASHandler() != nil {
		t.Fatal("AS handler without AS")
	}
	s, _ = New(minimalOptions())
	rec := httptest.NewRecorder()
	s.ASHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	var as map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &as); err != nil || as["issuer"] != "https://issuer.example" {
		t.Fatalf("%v %s", err, rec.Body)
	}
}

func FuzzPrefersJWT(f *testing.F) {
	for _, s := range []string{"application/jwt", "application/json;q=0.1, application/jwt;q=0.2", "*/*", ";;;", "application/jwt;q=NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		_ = prefersJWT([]string{accept})
	})
}
