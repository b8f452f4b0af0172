package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mdoc-issuer/issuer/authz"
	"github.com/mdoc-issuer/issuer/mdoc"
	"github.com/mdoc-issuer/issuer/offer"
)

// devAdminTokenFile holds the development admin token, created once (0600)
// when development runs without admin.tokens.
const devAdminTokenFile = "secrets/admin-token"

// devAdminToken returns the development admin token of dataDir, creating it
// on first use.
func devAdminToken(dataDir string) (string, error) {
	b, err := devKey(filepath.Join(dataDir, devAdminTokenFile))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

const offerUsage = `usage: issuer offer [flags]

Creates a credential offer through the admin API of a running issuer and
prints the offer URI, the transaction code (if any) and a QR code to scan
with a wallet. Against the development issuer no flags are needed.

`

// cmdOffer implements `issuer offer`.
func cmdOffer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("offer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, offerUsage); fs.PrintDefaults() }
	issuer := fs.String("issuer", "http://localhost:8080", "credential issuer identifier (the admin API is under it)")
	admin := fs.String("admin-url", "", "base URL of the admin listener, if separate (default: the issuer)")
	token := fs.String("token", os.Getenv("ISSUER_ADMIN_TOKEN"), "admin bearer token (env ISSUER_ADMIN_TOKEN); default: the development token in --data-dir")
	dataDir := fs.String("data-dir", "data", "data directory of a development issuer")
	conf := fs.String("configuration", "org.iso.18013.5.1.mDL", "credential configuration id(s), comma-separated")
	grant := fs.String("grant", "pre-authorized_code", "pre-authorized_code or authorization_code")
	subject := fs.String("subject", authz.DevSubject, "subject whose claims are issued (claims source)")
	claimsFile := fs.String("claims", "", "JSON file of claims to attach (pre-authorized_code only)")
	txLen := fs.Int("tx-code-length", 0, "require a transaction code of this many digits (0 = none)")
	expires := fs.Duration("expires-in", 0, "offer lifetime (default: the issuer's)")
	noQR := fs.Bool("no-qr", false, "do not print the QR code")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *token == "" {
		t, err := loadDevAdminToken(*dataDir)
		if err != nil {
			fmt.Fprintf(stderr, "no --token given and no development admin token in %s: %v\n", *dataDir, err)
			return 1
		}
		*token = t
	}
	req := offer.CreateRequest{CredentialConfigurationIDs: strings.Split(*conf, ","), Grant: *grant, Subject: *subject}
	if *txLen > 0 {
		req.TxCode = &offer.TxCode{Length: *txLen, InputMode: "numeric"}
	}
	if *claimsFile != "" {
		b, err := os.ReadFile(*claimsFile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		req.Claims = b
	}
	if *expires > 0 {
		s := int64(expires.Seconds())
		req.ExpiresIn = &s
	}
	base := *admin
	if base == "" {
		base = *issuer
	}
	body, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/admin/v1/offers", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	hr.Header.Set("Authorization", "Bearer "+*token)
	hr.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusCreated {
		fmt.Fprintf(stderr, "admin API answered %d: %s\n", res.StatusCode, rb)
		return 1
	}
	var created offer.Created
	if err := json.Unmarshal(rb, &created); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	printOffer(stdout, &created, !*noQR)
	return 0
}

// printOffer prints an offer for a person to scan or paste.
func printOffer(w io.Writer, c *offer.Created, qr bool) {
	fmt.Fprintf(w, "offer:      %s\n", c.OfferURI)
	fmt.Fprintf(w, "page:       %s\n", c.Page)
	if c.TxCode != "" {
		fmt.Fprintf(w, "tx_code:    %s   (deliver it to the holder over another channel)\n", c.TxCode)
	}
	fmt.Fprintf(w, "expires at: %s\n", c.ExpiresAt.Format(time.RFC3339))
	if qr {
		if s, err := offer.Terminal(c.OfferURI, false); err == nil {
			fmt.Fprint(w, s)
		}
	}
}

// loadDevAdminToken reads the development admin token without creating it.
func loadDevAdminToken(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, devAdminTokenFile))
	if err != nil {
		return "", err
	}
	if len(b) != 32 {
		return "", fmt.Errorf("%s: unexpected length", devAdminTokenFile)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// banner prints, for a first-time user of the development issuer, where it
// listens and a ready pre-authorized offer for the development subject with
// its QR code. Development only: the offer URI leads to a pre-authorized code.
func (a *app) banner(ctx context.Context, w io.Writer, addr net.Addr) {
	fmt.Fprintf(w, "\nmdoc issuer (development) listening on %s\nissuer identifier: %s\n", addr, a.cfg.Issuer)
	fmt.Fprintf(w, "login for the authorization code flow: %s / %s\n", authz.DevUsername, authz.DevPassword)
	if a.proto.offers == nil || len(a.confs) == 0 {
		return
	}
	id := a.confs[0].ID
	for _, c := range a.confs {
		if c.Config.Doctype == mdoc.DocTypeMDL {
			id = c.ID
		}
	}
	c, err := a.proto.offers.Create(ctx, offer.CreateRequest{
		CredentialConfigurationIDs: []string{id},
		Grant:                      "pre-authorized_code",
		Subject:                    authz.DevSubject,
	})
	if err != nil {
		a.log.Warn("no development offer", "error", err.Error())
		return
	}
	fmt.Fprintln(w, "a ready offer (scan it with a wallet that trusts the development wallet provider):")
	printOffer(w, c, true)
	fmt.Fprintf(w, "more offers: go run ./cmd/issuer offer   |   check the issuer: go run ./cmd/issuer selftest\n\n")
}
