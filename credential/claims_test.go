package credential

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdoc-issuer/issuer/oauth"
)

func TestLoadDatasetClaims(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"d.json": `{"alice": {"org.iso.18013.5.1.mDL": {"org.iso.18013.5.1": {"family_name": "Doe", "age_in_years": 36, "height": 1.7, "driving_privileges": [{"vehicle_category_code": "B"}]}}}}`,
		"d.yaml": "alice:\n  org.iso.18013.5.1.mDL:\n    org.iso.18013.5.1:\n      family_name: Doe\n      age_in_years: 36\n      height: 1.7\n      driving_privileges:\n        - vehicle_category_code: B\n",
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			d, err := LoadDatasetClaims(p, map[string]string{"mdl": docMDL})
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.Claims(context.Background(), &oauth.Grant{Subject: "alice"}, "mdl")
			if err != nil {
				t.Fatal(err)
			}
			ns := c["org.iso.18013.5.1"]
			if ns["family_name"] != "Doe" || ns["height"] != 1.7 {
				t.Fatalf("claims %v", ns)
			}
			switch v := ns["age_in_years"].(type) {
			case int, int64:
			default:
				t.Fatalf("age_in_years decoded as %T", v)
			}
			ns["family_name"] = "changed"
			again, _ := d.Claims(context.Background(), &oauth.Grant{Subject: "alice"}, "mdl")
			if again["org.iso.18013.5.1"]["family_name"] != "Doe" {
				t.Fatal("Claims returned the dataset's own map")
			}
			for _, g := range []*oauth.Grant{{Subject: "bob"}, {}} {
				if _, err := d.Claims(context.Background(), g, "mdl"); !errors.Is(err, ErrNoClaims) {
					t.Fatalf("subject %q: %v", g.Subject, err)
				}
			}
			if _, err := d.Claims(context.Background(), &oauth.Grant{Subject: "alice"}, "pid"); !errors.Is(err, ErrNoClaims) {
				t.Fatalf("unknown configuration: %v", err)
			}
		})
	}
	if _, err := LoadDatasetClaims(filepath.Join(dir, "missing.yaml"), nil); err == nil {
		t.Fatal("missing file accepted")
	}
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"alice": 1}`), 0o600)
	if _, err := LoadDatasetClaims(bad, nil); err == nil {
		t.Fatal("malformed dataset accepted")
	}
}

type offerClaimsFunc func(ctx context.Context, offerID, configurationID string) (map[string]map[string]any, error)

func (f offerClaimsFunc) OfferClaims(ctx context.Context, offerID, configurationID string) (map[string]map[string]any, error) {
	return f(ctx, offerID, configurationID)
}

func TestClaimsRouter(t *testing.T) {
	subjects := NewDatasetClaims(map[string]map[string]map[string]map[string]any{
		"alice": {"mdl": {"ns": {"from": "dataset"}}}}, nil)
	offers := offerClaimsFunc(func(_ context.Context, offerID, cfg string) (map[string]map[string]any, error) {
		switch offerID {
		case "offer-1":
			return map[string]map[string]any{"ns": {"from": "offer"}}, nil
		case "offer-down":
			return nil, errOutage
		}
		return nil, ErrNoClaims
	})
	r := ClaimsRouter{Offers: offers, Subjects: subjects}
	for _, tc := range []struct {
		name    string
		g       oauth.Grant
		want    string
		wantErr error
	}{
		{"offer claims", oauth.Grant{OfferID: "offer-1", Subject: "alice"}, "offer", nil},
		{"offer without claims falls back to subject", oauth.Grant{OfferID: "offer-2", Subject: "alice"}, "dataset", nil},
		{"offer without claims and no subject", oauth.Grant{OfferID: "offer-2"}, "", ErrNoClaims},
		{"offer source down is not masked", oauth.Grant{OfferID: "offer-down", Subject: "alice"}, "", errOutage},
		{"authorization code grant", oauth.Grant{Subject: "alice"}, "dataset", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := r.Claims(context.Background(), &tc.g, "mdl")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && c["ns"]["from"] != tc.want {
				t.Fatalf("claims %v", c)
			}
		})
	}
}
