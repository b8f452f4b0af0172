package wallet

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// SelftestOptions configures a selftest run against a deployed issuer.
type SelftestOptions struct {
	Wallet Config
	// ConfigurationID is the credential configuration to request; the first
	// one in the metadata when empty.
	ConfigurationID string
	// OfferURI, if set, is redeemed with the pre-authorized code flow
	// (TxCode is its transaction code); otherwise the authorization code flow
	// with the login form runs.
	OfferURI string
	TxCode   string
	// BatchSize requests that many credentials (one key each); default 1.
	BatchSize int
	// Verify checks one issued credential (CBOR IssuerSigned) against the
	// holder key it must be bound to, e.g. with mdoc.Verify and the issuer's
	// IACA. Required: a selftest that does not verify proves nothing.
	Verify func(issuerSigned []byte, docType string, holder *ecdsa.PublicKey) error
	// Encrypt asks for an encrypted credential response when the issuer
	// supports it.
	Encrypt bool
}

// StepResult is the outcome of one selftest step.
type StepResult struct {
	Name     string
	Err      error
	Duration time.Duration
}

// Selftest walks an issuer through a complete issuance as a HAIP wallet and
// prints each step with PASS or FAIL. On failure it prints the HTTP exchange
// that failed (secrets redacted) and what the specification expected. It
// returns the results; ok is true when every step passed.
func Selftest(ctx context.Context, o SelftestOptions, out io.Writer) (results []StepResult, ok bool) {
	if o.Verify == nil {
		fmt.Fprintln(out, "FAIL  setup: no credential verifier configured")
		return nil, false
	}
	w, err := New(o.Wallet)
	if err != nil {
		fmt.Fprintf(out, "FAIL  setup: %v\n", err)
		return nil, false
	}
	ok = true
	run := func(name string, f func() error) bool {
		start := time.Now()
		err := f()
		r := StepResult{Name: name, Err: err, Duration: time.Since(start)}
		results = append(results, r)
		if err == nil {
			fmt.Fprintf(out, "PASS  %-28s %6s\n", name, r.Duration.Round(time.Millisecond))
			return true
		}
		ok = false
		fmt.Fprintf(out, "FAIL  %-28s %v\n", name, err)
		var we *Error
		if errors.As(err, &we) && we.Exchange != nil {
			printExchange(out, we.Exchange)
		} else if ex := w.Exchanges(); len(ex) > 0 {
			printExchange(out, &ex[len(ex)-1])
		}
		return false
	}

	var docType string
	explicit := o.ConfigurationID != ""
	if !run("discovery", func() error {
		if err := w.Discover(ctx); err != nil {
			return err
		}
		confs, _ := w.IssuerMetadata["credential_configurations_supported"].(map[string]any)
		if len(confs) == 0 {
			return errors.New("credential_configurations_supported is empty (OpenID4VCI §12.2.4)")
		}
		if o.ConfigurationID == "" {
			for id := range confs {
				if o.ConfigurationID == "" || id < o.ConfigurationID {
					o.ConfigurationID = id
				}
			}
		}
		conf, _ := confs[o.ConfigurationID].(map[string]any)
		if conf == nil {
			return fmt.Errorf("configuration %q is not in the metadata", o.ConfigurationID)
		}
		if f, _ := conf["format"].(string); f != "mso_mdoc" {
			return fmt.Errorf("configuration %q has format %q, want mso_mdoc", o.ConfigurationID, f)
		}
		docType, _ = conf["doctype"].(string)
		return nil
	}) {
		return results, false
	}

	var tok *Token
	if o.OfferURI != "" {
		var offer *Offer
		if !run("credential offer", func() error {
			offer, err = w.ResolveOffer(ctx, o.OfferURI)
			if err != nil {
				return err
			}
			if !explicit {
				o.ConfigurationID = offer.CredentialConfigurationIDs[0]
				conf, _ := w.IssuerMetadata["credential_configurations_supported"].(map[string]any)[o.ConfigurationID].(map[string]any)
				if conf == nil {
					return fmt.Errorf("offered configuration %q is not in the metadata", o.ConfigurationID)
				}
				docType, _ = conf["doctype"].(string)
			}
			return nil
		}) {
			return results, false
		}
		if !run("token (pre-authorized code)", func() error {
			tok, err = w.PreAuthorized(ctx, offer, o.TxCode)
			return err
		}) {
			return results, false
		}
	} else {
		conf, _ := w.IssuerMetadata["credential_configurations_supported"].(map[string]any)
		scope, _ := conf[o.ConfigurationID].(map[string]any)["scope"].(string)
		if !run("authorization code flow", func() error {
			if scope == "" {
				return fmt.Errorf("configuration %q has no scope (HAIP §4.3 needs one)", o.ConfigurationID)
			}
			tok, err = w.AuthorizationCode(ctx, AuthorizeOptions{Scope: scope})
			return err
		}) {
			return results, false
		}
	}

	n := o.BatchSize
	if n < 1 {
		n = 1
	}
	keys := make([]*ecdsa.PrivateKey, n)
	for i := range keys {
		keys[i] = NewKey()
	}
	var resp *CredentialResponse
	if !run("credential", func() error {
		req := CredentialRequest{ConfigurationID: o.ConfigurationID, Keys: keys, EncryptResponse: o.Encrypt}
		if id := identifierFor(tok, o.ConfigurationID); id != "" {
			req.ConfigurationID, req.Identifier = "", id
		}
		resp, err = w.Credential(ctx, tok, req)
		if err != nil {
			return err
		}
		if resp.Status == 202 {
			return fmt.Errorf("issuance deferred (transaction pending approval); selftest needs immediate issuance")
		}
		if len(resp.Credentials) != n {
			return fmt.Errorf("got %d credentials for %d keys", len(resp.Credentials), n)
		}
		return nil
	}) {
		return results, false
	}
	run("credential verification", func() error {
		for i, c := range resp.Credentials {
			if err := o.Verify(c, docType, &keys[i].PublicKey); err != nil {
				return fmt.Errorf("credential %d: %w", i, err)
			}
		}
		return nil
	})
	if resp.NotificationID != "" {
		run("notification", func() error {
			return w.Notify(ctx, tok, resp.NotificationID, "credential_accepted")
		})
	}
	return results, ok
}

// identifierFor returns the first credential_identifier the token response
// returned for the configuration (OpenID4VCI §6.2: then it must be used).
func identifierFor(tok *Token, configurationID string) string {
	for _, d := range tok.AuthorizationDetails {
		if d.CredentialConfigurationID == configurationID && len(d.CredentialIdentifiers) > 0 {
			return d.CredentialIdentifiers[0]
		}
	}
	return ""
}

func printExchange(out io.Writer, ex *Exchange) {
	fmt.Fprintf(out, "      > %s %s\n", ex.Method, ex.URL)
	if ex.Request != "" {
		fmt.Fprintf(out, "      > %s\n", truncate(strings.TrimSpace(ex.Request), 500))
	}
	if ex.Status != 0 {
		fmt.Fprintf(out, "      < HTTP %d %s\n", ex.Status, truncate(strings.TrimSpace(ex.Response), 800))
	}
}
