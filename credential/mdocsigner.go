package credential

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/mdoc"
)

// MdocSigner is the Signer over mdoc.Issuers: one IssueBatch per request,
// so a batch shares its (rounded) validity times while salts, digestID order
// and signatures differ per credential.
type MdocSigner struct {
	// Issuer signs every configuration not in ByConfiguration.
	Issuer *mdoc.Issuer
	// ByConfiguration holds issuers for configurations with their own
	// settings (Validity), by credential configuration id.
	ByConfiguration map[string]*mdoc.Issuer
}

// Sign implements Signer. Claims the doctype catalogue rejects are reported
// as ErrInvalidClaims.
func (m MdocSigner) Sign(_ context.Context, configurationID, docType string, claims map[string]map[string]any, keys []*jose.JSONWebKey) ([]Signed, error) {
	iss := m.Issuer
	if i, ok := m.ByConfiguration[configurationID]; ok {
		iss = i
	}
	if iss == nil {
		return nil, fmt.Errorf("credential: no mdoc issuer for configuration %q", configurationID)
	}
	creds, issued, err := iss.IssueBatch(docType, claims, keys)
	if err != nil {
		var ce mdoc.ClaimErrors
		var one mdoc.ClaimError
		if errors.As(err, &ce) || errors.As(err, &one) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidClaims, err)
		}
		return nil, err
	}
	out := make([]Signed, len(creds))
	for i := range creds {
		out[i] = Signed{Credential: creds[i], DSSerial: issued[i].DSSerial, ValidUntil: issued[i].ValidUntil}
	}
	return out, nil
}
