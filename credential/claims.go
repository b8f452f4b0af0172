package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// ClaimsSource returns the namespaced data element values for the grant's
// holder and one credential configuration.
//
// Errors: ErrNoClaims (or an error wrapping it) when there is no data for the
// holder: the request is denied (credential_request_denied). An *oauth.Error
// is passed to the wallet as is. Any other error is taken as an outage of
// the source (503): no credential is issued with partial data.
type ClaimsSource interface {
	Claims(ctx context.Context, g *oauth.Grant, configurationID string) (map[string]map[string]any, error)
}

// ErrNoClaims reports that a claims source holds no data for the holder and
// configuration.
var ErrNoClaims = errors.New("credential: no claims for holder")

// OfferClaimsSource supplies the claims attached to a credential offer of the
// pre-authorized code flow (implemented by the offer package).
type OfferClaimsSource interface {
	OfferClaims(ctx context.Context, offerID, configurationID string) (map[string]map[string]any, error)
}

// ClaimsRouter is a ClaimsSource that takes the claims of a grant redeemed
// from an offer (Grant.OfferID) from Offers, and all others from Subjects.
// When Offers has nothing for the offer (ErrNoClaims) and the grant names a
// subject, Subjects is asked.
type ClaimsRouter struct {
	Offers   OfferClaimsSource
	Subjects ClaimsSource
}

// Claims implements ClaimsSource.
func (c ClaimsRouter) Claims(ctx context.Context, g *oauth.Grant, configurationID string) (map[string]map[string]any, error) {
	if g.OfferID != "" && c.Offers != nil {
		cl, err := c.Offers.OfferClaims(ctx, g.OfferID, configurationID)
		if err == nil || !errors.Is(err, ErrNoClaims) || g.Subject == "" || c.Subjects == nil {
			return cl, err
		}
	}
	if c.Subjects == nil {
		return nil, ErrNoClaims
	}
	return c.Subjects.Claims(ctx, g, configurationID)
}

// DatasetClaims is a ClaimsSource over a fixed data set, for development and
// demos: subject -> configuration id or doctype -> namespace -> element ->
// value. Values are passed to the Signer as decoded (strings, numbers,
// booleans, lists, maps; YAML also yields time.Time for unquoted dates);
// the mdoc catalogue converts them to their CBOR types (full-date, bstr).
// In YAML, quote text values that look like numbers or dates.
type DatasetClaims struct {
	data    map[string]map[string]map[string]map[string]any
	docType map[string]string
}

// NewDatasetClaims returns a DatasetClaims over data; docTypes maps
// configuration ids to doctypes so that a dataset keyed by doctype serves
// every configuration of that doctype.
func NewDatasetClaims(data map[string]map[string]map[string]map[string]any, docTypes map[string]string) *DatasetClaims {
	return &DatasetClaims{data: data, docType: docTypes}
}

// LoadDatasetClaims reads a dataset from a JSON (.json) or YAML file.
func LoadDatasetClaims(path string, docTypes map[string]string) (*DatasetClaims, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credential: dataset: %w", err)
	}
	var data map[string]map[string]map[string]map[string]any
	if strings.EqualFold(filepath.Ext(path), ".json") {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		err = dec.Decode(&data)
		if err == nil {
			data = normalizeJSONNumbers(data)
		}
	} else {
		err = yaml.Unmarshal(b, &data)
	}
	if err != nil {
		return nil, fmt.Errorf("credential: dataset %s: %w", filepath.Base(path), err)
	}
	return NewDatasetClaims(data, docTypes), nil
}

// Claims implements ClaimsSource. The grant's Subject selects the record.
func (d *DatasetClaims) Claims(_ context.Context, g *oauth.Grant, configurationID string) (map[string]map[string]any, error) {
	if g == nil || g.Subject == "" {
		return nil, fmt.Errorf("%w: grant has no subject", ErrNoClaims)
	}
	rec, ok := d.data[g.Subject]
	if !ok {
		return nil, fmt.Errorf("%w: unknown subject", ErrNoClaims)
	}
	ns, ok := rec[configurationID]
	if !ok {
		ns, ok = rec[d.docType[configurationID]]
	}
	if !ok || len(ns) == 0 {
		return nil, fmt.Errorf("%w: no data for configuration %s", ErrNoClaims, configurationID)
	}
	out := make(map[string]map[string]any, len(ns))
	for n, els := range ns {
		m := make(map[string]any, len(els))
		for k, v := range els {
			m[k] = v
		}
		out[n] = m
	}
	return out, nil
}

// normalizeJSONNumbers turns json.Number into int64 where integral, float64
// otherwise.
func normalizeJSONNumbers(data map[string]map[string]map[string]map[string]any) map[string]map[string]map[string]map[string]any {
	for _, r := range data {
		for _, c := range r {
			for _, ns := range c {
				for k, v := range ns {
					ns[k] = normalizeValue(v)
				}
			}
		}
	}
	return data
}

func normalizeValue(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case []any:
		for i := range t {
			t[i] = normalizeValue(t[i])
		}
	case map[string]any:
		for k := range t {
			t[k] = normalizeValue(t[k])
		}
	}
	return v
}

// claimsError maps a ClaimsSource failure to the wire.
func claimsError(err error) error {
	if e := oauth.As(err); e != nil {
		return e
	}
	if errors.Is(err, ErrNoClaims) {
		return oauth.New(400, oauth.CodeCredentialRequestDenied, "no credential data available for this holder").WithCause(err)
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return oauth.Unavailable(5, err)
	}
	return oauth.Unavailable(30, err)
}
