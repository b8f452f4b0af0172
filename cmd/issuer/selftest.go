package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/config"
	"github.com/mdoc-issuer/issuer/e2e/wallet"
	"github.com/mdoc-issuer/issuer/mdoc"
	"github.com/mdoc-issuer/issuer/pki"
)

const selftestUsage = `usage: issuer selftest [flags]

Runs a complete issuance against an issuer as a HAIP wallet would, printing
each step with PASS or FAIL and, on failure, the HTTP exchange (secrets
redacted) and what the specification expects.

Against the development issuer no flags are needed: the wallet provider and
test user of its data directory are used. Against a deployment, give the
wallet provider key and certificate chain the issuer trusts, the IACA to
verify credentials with, and a test account (or an offer to redeem).

`

// cmdSelftest implements `issuer selftest`.
func cmdSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, selftestUsage); fs.PrintDefaults() }
	issuer := fs.String("issuer", "http://localhost:8080", "credential issuer identifier")
	dataDir := fs.String("data-dir", "data", "data directory of a development issuer (wallet provider, PKI)")
	keyFile := fs.String("wallet-key", "", "wallet provider signing key (PEM); default: the development wallet provider")
	chainFile := fs.String("wallet-chain", "", "wallet provider certificate chain, signer first, without the root (PEM)")
	clientID := fs.String("client-id", devWalletClientID, "client_id (wallet attestation sub)")
	redirect := fs.String("redirect-uri", devRedirectURIs[0], "redirect URI the issuer allows for this wallet provider")
	username := fs.String("username", "testuser", "login name at the authorization endpoint")
	password := fs.String("password", "testpass", "password at the authorization endpoint")
	iacaFile := fs.String("iaca", "", "IACA certificate (PEM) to verify credentials with; default: the development PKI, else fetched from the issuer")
	configurationID := fs.String("configuration", "", "credential configuration id (default: the first one)")
	offerURI := fs.String("offer", "", "credential offer URI to redeem with the pre-authorized code flow")
	txCode := fs.String("tx-code", "", "transaction code of the offer")
	batch := fs.Int("batch", 1, "number of credentials (keys) to request")
	encrypt := fs.Bool("encrypt", false, "request an encrypted credential response")
	timeout := fs.Duration("timeout", 60*time.Second, "time limit of the whole run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	provider, err := selftestProvider(*dataDir, *keyFile, *chainFile)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL  setup: wallet provider: %v\n", err)
		return 1
	}
	roots, source, err := selftestIACA(ctx, *iacaFile, *dataDir, *issuer)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL  setup: IACA: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "issuer %s, IACA from %s\n", *issuer, source)
	opts := wallet.SelftestOptions{
		Wallet: wallet.Config{
			Issuer: *issuer, Attester: provider, KeyAttester: provider, ClientID: *clientID,
			RedirectURI: *redirect, Username: *username, Password: *password,
		},
		ConfigurationID: *configurationID,
		OfferURI:        *offerURI,
		TxCode:          *txCode,
		BatchSize:       *batch,
		Encrypt:         *encrypt,
		Verify: func(b []byte, docType string, holder *ecdsa.PublicKey) error {
			_, err := mdoc.Verify(b, mdoc.VerifyOptions{Roots: roots, DocType: docType, DeviceKey: &jose.JSONWebKey{Key: holder}})
			return err
		},
	}
	if _, ok := wallet.Selftest(ctx, opts, stdout); !ok {
		fmt.Fprintln(stdout, "selftest FAILED")
		return 1
	}
	fmt.Fprintln(stdout, "selftest passed")
	return 0
}

// selftestProvider is the wallet provider the selftest signs attestations
// with: given files, or the development provider of dataDir.
func selftestProvider(dataDir, keyFile, chainFile string) (*wallet.X509Provider, error) {
	if keyFile == "" {
		dw, err := loadDevWallet(dataDir + "/" + devWalletDir)
		if err != nil {
			return nil, fmt.Errorf("no --wallet-key given and no development wallet provider in %s: %w", dataDir, err)
		}
		return &wallet.X509Provider{Key: dw.Key, Chain: []*x509.Certificate{dw.Cert}, Issuer: devWalletName}, nil
	}
	s, err := pki.OpenSigner("file:" + keyFile)
	if err != nil {
		return nil, err
	}
	k, ok := s.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("--wallet-key: not an EC private key")
	}
	if chainFile == "" {
		return nil, errors.New("--wallet-chain is required with --wallet-key")
	}
	chain, err := config.ReadCertificates(chainFile)
	if err != nil {
		return nil, err
	}
	return &wallet.X509Provider{Key: k, Chain: chain}, nil
}

// selftestIACA returns the IACA to verify with and where it came from.
func selftestIACA(ctx context.Context, file, dataDir, issuer string) ([]*x509.Certificate, string, error) {
	if file != "" {
		c, err := config.ReadCertificates(file)
		return c, file, err
	}
	if b, err := pki.Load(dataDir + "/pki"); err == nil {
		return []*x509.Certificate{b.IACA}, "the development PKI in " + dataDir, nil
	}
	u := strings.TrimSuffix(issuer, "/") + "/pki/iaca.pem"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil || res.StatusCode != 200 {
		return nil, "", fmt.Errorf("GET %s: HTTP %d", u, res.StatusCode)
	}
	blk, _ := pem.Decode(body)
	if blk == nil {
		return nil, "", fmt.Errorf("GET %s: not PEM", u)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, "", err
	}
	return []*x509.Certificate{c}, u + " (unauthenticated: pass --iaca to verify against your trust anchor)", nil
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
