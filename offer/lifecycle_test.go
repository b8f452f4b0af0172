package offer

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdoc-issuer/issuer/credential"
	"github.com/mdoc-issuer/issuer/oauth"
)

func (e *env) state(t *testing.T, id string) string {
	t.Helper()
	r := do(e.admin, http.MethodGet, "/admin/v1/offers/"+id, tokenA, "", "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var st Status
	mustJSON(t, r.body, &st)
	return st.State
}

func (e *env) fetch(t *testing.T, id string) resp {
	t.Helper()
	return do(e.public, http.MethodGet, "/offers/"+id, "", "", "")
}

func TestOfferLifecycle(t *testing.T) { forEachBackend(t, testOfferLifecycle) }

func testOfferLifecycle(t *testing.T, newEnv envFactory) {
	e := newEnv(t)
	c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","subject":"u","claims":`+mdlClaims+`,"tx_code":{"description":"See SMS"}}`)
	if s := e.state(t, c.ID); s != StateCreated {
		t.Fatalf("state %q", s)
	}

	// First fetch: the by-reference offer (OpenID4VCI §4.1.3).
	r := e.fetch(t, c.ID)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("fetch: %d %v %s", r.status, r.header, r.body)
	}
	var raw map[string]any
	mustJSON(t, r.body, &raw)
	if raw["credential_issuer"] != testIssuer {
		t.Errorf("credential_issuer %v", raw["credential_issuer"])
	}
	ids, _ := raw["credential_configuration_ids"].([]any)
	if len(ids) != 1 || ids[0] != cfgMDL {
		t.Errorf("credential_configuration_ids %v", raw["credential_configuration_ids"])
	}
	grants, _ := raw["grants"].(map[string]any)
	pre, _ := grants["urn:ietf:params:oauth:grant-type:pre-authorized_code"].(map[string]any)
	if len(grants) != 1 || pre == nil || pre["pre-authorized_code"] != c.CredentialOffer.Grants.PreAuthorizedCode.PreAuthorizedCode {
		t.Fatalf("grants %v", grants)
	}
	tx, _ := pre["tx_code"].(map[string]any)
	if tx["input_mode"] != "numeric" || tx["length"] != float64(6) || tx["description"] != "See SMS" || len(tx) != 3 {
		t.Errorf("tx_code %v", tx)
	}
	if s := e.state(t, c.ID); s != StateFetched {
		t.Fatalf("state after fetch %q", s)
	}
	// A wallet may fetch again (retry) while the offer is live.
	if r := e.fetch(t, c.ID); r.status != 200 {
		t.Fatalf("second fetch %d", r.status)
	}

	// Redemption at the token endpoint.
	if err := e.svc.MarkRedeemed(t.Context(), c.ID); err != nil {
		t.Fatal(err)
	}
	if s := e.state(t, c.ID); s != StateRedeemed {
		t.Fatalf("state after redeem %q", s)
	}
	if err := e.svc.MarkRedeemed(t.Context(), c.ID); !errors.Is(err, ErrAlreadyRedeemed) {
		t.Errorf("second redeem: %v", err)
	}
	for _, p := range []string{"", "/qr.png", "/qr.svg", "/page"} {
		r := do(e.public, http.MethodGet, "/offers/"+c.ID+p, "", "", "")
		if r.status != 404 || errBody(t, r).Error != "not_found" {
			t.Errorf("GET %s after redemption: %d", p, r.status)
		}
	}
	// The credential endpoint still reads the claims after redemption, even
	// past the offer's expiry, within the retention period.
	e.clock.Advance(DefaultLifetime + time.Hour)
	cl, err := e.svc.OfferClaims(t.Context(), c.ID, cfgMDL)
	if err != nil {
		t.Fatalf("OfferClaims after redemption: %v", err)
	}
	if cl[nsMDL]["family_name"] != "Doe" || cl[nsMDL]["age_in_years"] != int64(35) {
		t.Errorf("claims %v", cl)
	}
	if s := e.state(t, c.ID); s != StateRedeemed {
		t.Errorf("state %q", s)
	}
	// After the retention period the record is gone.
	e.clock.Advance(DefaultRetention)
	if _, err := e.svc.OfferClaims(t.Context(), c.ID, cfgMDL); !errors.Is(err, oauth.ErrAccessDenied) && (oauth.As(err) == nil || oauth.As(err).Code != oauth.CodeCredentialRequestDenied) {
		t.Errorf("OfferClaims after retention: %v", err)
	}
	if r := do(e.admin, http.MethodGet, "/admin/v1/offers/"+c.ID, tokenA, "", ""); r.status != 404 {
		t.Errorf("admin status after retention: %d", r.status)
	}
}

func TestOfferExpiry(t *testing.T) { forEachBackend(t, testOfferExpiry) }

func testOfferExpiry(t *testing.T, newEnv envFactory) {
	e := newEnv(t)
	c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","claims":`+mdlClaims+`,"expires_in":120}`)
	e.clock.Advance(119 * time.Second)
	if r := e.fetch(t, c.ID); r.status != 200 {
		t.Fatalf("fetch before expiry %d", r.status)
	}
	e.clock.Advance(time.Second)
	if s := e.state(t, c.ID); s != StateExpired {
		t.Fatalf("state at expiry %q", s)
	}
	if r := e.fetch(t, c.ID); r.status != 404 {
		t.Errorf("fetch after expiry %d", r.status)
	}
	if r := do(e.public, http.MethodGet, "/offers/"+c.ID+"/qr.svg", "", "", ""); r.status != 404 {
		t.Errorf("qr after expiry %d", r.status)
	}
	if err := e.svc.MarkRedeemed(t.Context(), c.ID); !errors.Is(err, ErrExpired) {
		t.Errorf("redeem after expiry: %v", err)
	}
	_, err := e.svc.OfferClaims(t.Context(), c.ID, cfgMDL)
	if oe := oauth.As(err); oe == nil || oe.Code != oauth.CodeCredentialRequestDenied || !strings.Contains(oe.Description, "expired") {
		t.Errorf("OfferClaims after expiry: %v", err)
	}
}

func TestOfferCancel(t *testing.T) { forEachBackend(t, testOfferCancel) }

func testOfferCancel(t *testing.T, newEnv envFactory) {
	tests := []struct {
		name        string
		before      func(e *env, id string)
		revoker     bool
		wantRevoked int
	}{
		{"cancel created", func(*env, string) {}, true, 1},
		{"cancel fetched", func(e *env, id string) { e.fetch(t, id) }, true, 1},
		{"cancel redeemed stops issuance", func(e *env, id string) { _ = e.svc.MarkRedeemed(t.Context(), id) }, true, 1},
		{"issuer without revocation", func(*env, string) {}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if !tc.revoker {
				e = newEnv(t, func(o *Options) { o.PreAuth = issueOnly{e.preauth} })
			}
			c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","claims":`+mdlClaims+`}`)
			tc.before(e, c.ID)
			r := do(e.admin, http.MethodDelete, "/admin/v1/offers/"+c.ID, tokenA, "", "")
			if r.status != 200 {
				t.Fatalf("cancel %d %s", r.status, r.body)
			}
			var st Status
			mustJSON(t, r.body, &st)
			if st.State != StateCancelled || st.CancelledAt == nil {
				t.Errorf("status %+v", st)
			}
			if len(e.preauth.revoked) != tc.wantRevoked {
				t.Errorf("revoked %d codes, want %d", len(e.preauth.revoked), tc.wantRevoked)
			}
			if tc.wantRevoked == 1 && e.preauth.revoked[0] != c.CredentialOffer.Grants.PreAuthorizedCode.PreAuthorizedCode {
				t.Errorf("revoked the wrong code")
			}
			if r := e.fetch(t, c.ID); r.status != 404 {
				t.Errorf("fetch after cancel %d", r.status)
			}
			_, err := e.svc.OfferClaims(t.Context(), c.ID, cfgMDL)
			if oe := oauth.As(err); oe == nil || oe.Code != oauth.CodeCredentialRequestDenied || !strings.Contains(oe.Description, "cancelled") {
				t.Errorf("OfferClaims after cancel: %v", err)
			}
			if err := e.svc.MarkRedeemed(t.Context(), c.ID); err != nil && !errors.Is(err, ErrCancelled) {
				t.Errorf("redeem after cancel: %v", err)
			} else if err == nil {
				t.Error("a cancelled offer was redeemed")
			}
			// Idempotent.
			if r := do(e.admin, http.MethodDelete, "/admin/v1/offers/"+c.ID, tokenA, "", ""); r.status != 200 {
				t.Errorf("second cancel %d", r.status)
			}
			if s := e.state(t, c.ID); s != StateCancelled {
				t.Errorf("state %q", s)
			}
		})
	}
	t.Run("unknown offer", func(t *testing.T) {
		e := newEnv(t)
		for _, m := range []string{http.MethodGet, http.MethodDelete} {
			if r := do(e.admin, m, "/admin/v1/offers/doesnotexist", tokenA, "", ""); r.status != 404 {
				t.Errorf("%s unknown: %d", m, r.status)
			}
		}
	})
}

func TestConcurrentRedeemOnce(t *testing.T) { forEachBackend(t, testConcurrentRedeemOnce) }

func testConcurrentRedeemOnce(t *testing.T, newEnv envFactory) {
	e := newEnv(t)
	c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","subject":"u"}`)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.svc.MarkRedeemed(t.Context(), c.ID)
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, ErrAlreadyRedeemed) {
				t.Errorf("redeem: %v", err)
			}
		}()
		wg.Add(1)
		go func() { defer wg.Done(); e.fetch(t, c.ID) }()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d concurrent redemptions succeeded", ok)
	}
	if s := e.state(t, c.ID); s != StateRedeemed {
		t.Fatalf("state %q", s)
	}
}

func TestOfferClaims(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		config   string
		wantErr  string // "" ok, "noclaims", or an oauth code
		wantPath [2]string
		wantVal  any
	}{
		{"namespace form", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","claims":` + mdlClaims + `}`, cfgMDL, "", [2]string{nsMDL, "birth_date"}, "1990-04-01"},
		{"configuration form", `{"credential_configuration_ids":["` + cfgMDL + `","` + cfgPID + `"],"grant":"pre-authorized_code","claims":{"` + cfgMDL + `":` + mdlClaims + `,"` + cfgPID + `":` + pidClaims + `}}`, cfgPID, "", [2]string{nsPID, "family_name"}, "Muster"},
		{"configuration form integer", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","claims":{"` + cfgMDL + `":` + mdlClaims + `}}`, cfgMDL, "", [2]string{nsMDL, "age_in_years"}, int64(35)},
		{"subject only", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","subject":"u"}`, cfgMDL, "noclaims", [2]string{}, nil},
		{"configuration with subject fallback", `{"credential_configuration_ids":["` + cfgMDL + `","` + cfgPID + `"],"grant":"pre-authorized_code","subject":"u","claims":{"` + cfgPID + `":` + pidClaims + `}}`, cfgMDL, "noclaims", [2]string{}, nil},
		{"configuration not offered", `{"credential_configuration_ids":["` + cfgMDL + `"],"grant":"pre-authorized_code","claims":` + mdlClaims + `}`, cfgPID, oauth.CodeCredentialRequestDenied, [2]string{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.create(t, tc.body)
			if err := e.svc.MarkRedeemed(t.Context(), c.ID); err != nil {
				t.Fatal(err)
			}
			cl, err := e.svc.OfferClaims(t.Context(), c.ID, tc.config)
			switch tc.wantErr {
			case "":
				if err != nil {
					t.Fatal(err)
				}
				if got := cl[tc.wantPath[0]][tc.wantPath[1]]; got != tc.wantVal {
					t.Errorf("%v = %#v, want %#v", tc.wantPath, got, tc.wantVal)
				}
			case "noclaims":
				if !errors.Is(err, ErrNoClaims) || !errors.Is(err, credential.ErrNoClaims) {
					t.Errorf("err = %v, want ErrNoClaims wrapping credential.ErrNoClaims", err)
				}
			default:
				if oe := oauth.As(err); oe == nil || oe.Code != tc.wantErr {
					t.Errorf("err = %v, want %s", err, tc.wantErr)
				}
			}
		})
	}
	t.Run("unknown offer", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.svc.OfferClaims(t.Context(), "nope", cfgMDL)
		if oe := oauth.As(err); oe == nil || oe.Code != oauth.CodeCredentialRequestDenied {
			t.Errorf("err = %v", err)
		}
	})
}

func TestPublicEndpoints(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","subject":"u","tx_code":{}}`)
	base := "/offers/" + c.ID
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantType   string
		check      func(t *testing.T, r resp)
	}{
		{"png", http.MethodGet, base + "/qr.png", 200, "image/png", func(t *testing.T, r resp) {
			checkPNGMatches(t, []byte(r.body), c.OfferURI)
		}},
		{"svg", http.MethodGet, base + "/qr.svg", 200, "image/svg+xml", func(t *testing.T, r resp) {
			checkSVGMatches(t, r.body, c.OfferURI)
		}},
		{"page", http.MethodGet, base + "/page", 200, "text/html; charset=utf-8", func(t *testing.T, r resp) {
			if !strings.Contains(r.body, `href="openid-credential-offer://?credential_offer_uri=https%3a%2f%2fissuer.example.com%2foffers%2f`+c.ID+`"`) &&
				!strings.Contains(r.body, `href="`+strings.ReplaceAll(c.OfferURI, "&", "&amp;")+`"`) {
				t.Errorf("page has no same-device link to %s", c.OfferURI)
			}
			if !strings.Contains(r.body, "<svg") || strings.Contains(r.body, "ZgotmplZ") {
				t.Errorf("page has no QR code or a sanitized link")
			}
			if strings.Contains(r.body, c.TxCode) || strings.Contains(r.body, c.CredentialOffer.Grants.PreAuthorizedCode.PreAuthorizedCode) {
				t.Errorf("page shows a secret")
			}
			if !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("CSP %q", r.header.Get("Content-Security-Policy"))
			}
		}},
		{"post offer", http.MethodPost, base, 405, "application/json", nil},
		{"unknown subresource", http.MethodGet, base + "/qr.gif", 404, "application/json", nil},
		{"unknown offer", http.MethodGet, "/offers/AAAA", 404, "application/json", nil},
		{"bare prefix", http.MethodGet, "/offers/", 404, "application/json", nil},
		{"overlong id", http.MethodGet, "/offers/" + strings.Repeat("a", 500), 404, "application/json", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(e.public, tc.method, tc.path, "", "", "")
			if r.status != tc.wantStatus || r.header.Get("Content-Type") != tc.wantType {
				t.Fatalf("status %d type %q: %.200s", r.status, r.header.Get("Content-Type"), r.body)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
	if s := e.state(t, c.ID); s != StateCreated {
		t.Errorf("QR and page views changed the state to %q", s)
	}
}

func TestPublicBaseURLAndScheme(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.PublicBaseURL = "https://wallet-facing.example.com/tenant/"
		o.Scheme = "haip-vci://"
	})
	c := e.create(t, `{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","subject":"u"}`)
	want := "https://wallet-facing.example.com/tenant/offers/" + c.ID
	if c.CredentialOfferURI != want {
		t.Errorf("credential_offer_uri %q", c.CredentialOfferURI)
	}
	if c.OfferURI != "haip-vci://?credential_offer_uri=https%3A%2F%2Fwallet-facing.example.com%2Ftenant%2Foffers%2F"+c.ID {
		t.Errorf("offer uri %q", c.OfferURI)
	}
	if c.CredentialOffer.CredentialIssuer != testIssuer {
		t.Errorf("credential_issuer %q", c.CredentialOffer.CredentialIssuer)
	}
}

// checkPNGMatches decodes the PNG and checks every module against the QR
// bitmap of text: 8 px per module, 4-module quiet zone.
func checkPNGMatches(t *testing.T, data []byte, text string) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("PNG: %v", err)
	}
	bm, err := Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	n := bm.Size + 2*quietZone
	if img.Bounds() != image.Rect(0, 0, n*pngModulePx, n*pngModulePx) {
		t.Fatalf("PNG bounds %v, want %d modules of %d px", img.Bounds(), n, pngModulePx)
	}
	for my := 0; my < n; my++ {
		for mx := 0; mx < n; mx++ {
			r, _, _, _ := img.At(mx*pngModulePx+pngModulePx/2, my*pngModulePx+pngModulePx/2).RGBA()
			x, y := mx-quietZone, my-quietZone
			wantDark := x >= 0 && y >= 0 && x < bm.Size && y < bm.Size && bm.Dark[y][x]
			if (r < 0x8000) != wantDark {
				t.Fatalf("module (%d,%d) dark=%v, want %v", mx, my, r < 0x8000, wantDark)
			}
		}
	}
}

var svgModuleRE = regexp.MustCompile(`M(\d+) (\d+)h1v1h-1z`)

func checkSVGMatches(t *testing.T, svg, text string) {
	t.Helper()
	bm, err := Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(svg, `<svg xmlns="http://www.w3.org/2000/svg"`) || !strings.HasSuffix(svg, "</svg>") {
		t.Fatalf("not an SVG document: %.80s", svg)
	}
	dark := map[[2]int]bool{}
	for _, m := range svgModuleRE.FindAllStringSubmatch(svg, -1) {
		var x, y int
		for _, c := range m[1] {
			x = x*10 + int(c-'0')
		}
		for _, c := range m[2] {
			y = y*10 + int(c-'0')
		}
		dark[[2]int{x - quietZone, y - quietZone}] = true
	}
	count := 0
	for y := 0; y < bm.Size; y++ {
		for x := 0; x < bm.Size; x++ {
			if bm.Dark[y][x] {
				count++
				if !dark[[2]int{x, y}] {
					t.Fatalf("module (%d,%d) missing from SVG", x, y)
				}
			}
		}
	}
	if count != len(dark) {
		t.Fatalf("SVG has %d dark modules, bitmap %d", len(dark), count)
	}
}

func TestQRRenderings(t *testing.T) {
	text := "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fissuer.example.com%2Foffers%2FAbC"
	bm, err := Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	if bm.Size < 21 || (bm.Size-17)%4 != 0 {
		t.Fatalf("QR size %d is not a valid version size", bm.Size)
	}
	// Finder patterns (ISO/IEC 18004 §6.3.3): 7x7 dark border, light ring,
	// 3x3 dark centre, in three corners.
	for _, o := range [][2]int{{0, 0}, {bm.Size - 7, 0}, {0, bm.Size - 7}} {
		for dy := 0; dy < 7; dy++ {
			for dx := 0; dx < 7; dx++ {
				ring := max(abs(dx-3), abs(dy-3))
				want := ring != 2
				if bm.Dark[o[1]+dy][o[0]+dx] != want {
					t.Fatalf("finder pattern at %v wrong at (%d,%d)", o, dx, dy)
				}
			}
		}
	}
	png1, err := QRPNG(text)
	if err != nil {
		t.Fatal(err)
	}
	checkPNGMatches(t, png1, text)
	svg, err := QRSVG(text)
	if err != nil {
		t.Fatal(err)
	}
	checkSVGMatches(t, string(svg), text)

	for _, darkOnLight := range []bool{false, true} {
		term, err := Terminal(text, darkOnLight)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(term, "\n"), "\n")
		n := bm.Size + 4
		if len(lines) != (n+1)/2 {
			t.Fatalf("terminal: %d lines, want %d", len(lines), (n+1)/2)
		}
		// Decode the half blocks back into modules and compare.
		for ly, line := range lines {
			runes := []rune(line)
			if len(runes) != n {
				t.Fatalf("line %d has %d columns, want %d", ly, len(runes), n)
			}
			for x, r := range runes {
				top := r == '█' || r == '▀'
				bottom := r == '█' || r == '▄'
				for i, ink := range []bool{top, bottom} {
					y := 2*ly + i
					if y >= n {
						continue
					}
					mx, my := x-2, y-2
					dark := mx >= 0 && my >= 0 && mx < bm.Size && my < bm.Size && bm.Dark[my][mx]
					if ink != (dark == darkOnLight) {
						t.Fatalf("terminal (darkOnLight=%v) module (%d,%d) wrong", darkOnLight, x, y)
					}
				}
			}
		}
	}
	if _, err := QRSVG(strings.Repeat("x", 5000)); err == nil {
		t.Error("oversized text encoded")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestIssuerPathPrefix(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Issuer = "https://issuer.example.com/tenant/" })
	r := do(e.admin, http.MethodPost, "/tenant/admin/v1/offers", tokenA, "application/json",
		`{"credential_configuration_ids":["`+cfgMDL+`"],"grant":"pre-authorized_code","subject":"u"}`)
	if r.status != 201 {
		t.Fatalf("create under prefix: %d %s", r.status, r.body)
	}
	var c Created
	mustJSON(t, r.body, &c)
	if r.header.Get("Location") != "/tenant/admin/v1/offers/"+c.ID {
		t.Errorf("Location %q", r.header.Get("Location"))
	}
	if c.CredentialOfferURI != "https://issuer.example.com/tenant/offers/"+c.ID || c.CredentialOffer.CredentialIssuer != "https://issuer.example.com/tenant/" {
		t.Errorf("credential_offer_uri %q issuer %q", c.CredentialOfferURI, c.CredentialOffer.CredentialIssuer)
	}
	tests := []struct {
		name   string
		h      http.Handler
		path   string
		tok    string
		status int
	}{
		{"admin status under prefix", e.admin, "/tenant/admin/v1/offers/" + c.ID, tokenA, 200},
		{"admin without prefix", e.admin, "/admin/v1/offers/" + c.ID, tokenA, 404},
		{"qr under prefix", e.public, "/tenant/offers/" + c.ID + "/qr.svg", "", 200},
		{"offer under prefix", e.public, "/tenant/offers/" + c.ID, "", 200},
		{"offer without prefix", e.public, "/offers/" + c.ID, "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := do(tc.h, http.MethodGet, tc.path, tc.tok, "", ""); r.status != tc.status {
				t.Fatalf("status %d want %d: %s", r.status, tc.status, r.body)
			}
		})
	}
}
