package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Development wallet provider files under data_dir: a root CA the
// development issuer trusts for wallet attestations and key attestations, and
// a signing certificate under it. `issuer selftest` uses them to act as a
// wallet against the development issuer. Never used outside development.
const (
	devWalletDir      = "dev-wallet-provider"
	devWalletRoot     = "root.pem"
	devWalletCert     = "signer.pem"
	devWalletKey      = "signer.key"
	devWalletName     = "dev-wallet-provider"
	devWalletClientID = "dev-wallet"
)

// devWallet is the development wallet provider.
type devWallet struct {
	Root *x509.Certificate
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	Dir  string
}

// ensureDevWallet loads the development wallet provider from dataDir,
// creating it on first use. Keys are written with mode 0600.
func ensureDevWallet(dataDir string) (*devWallet, error) {
	dir := filepath.Join(dataDir, devWalletDir)
	if w, err := loadDevWallet(dir); err == nil {
		return w, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	rootTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Development Wallet Provider Root", Organization: []string{"mdoc issuer development"}},
		NotBefore: now, NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Development Wallet Attestation Signer", Organization: []string{"mdoc issuer development"}},
		NotBefore: now, NotAfter: now.AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &key.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name, typ string
		der       []byte
	}{{devWalletRoot, "CERTIFICATE", rootDER}, {devWalletCert, "CERTIFICATE", leafDER}, {devWalletKey, "PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return nil, err
		}
	}
	return loadDevWallet(dir)
}

func loadDevWallet(dir string) (*devWallet, error) {
	read := func(name, typ string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != typ {
			return nil, fmt.Errorf("%s: not a PEM %s", filepath.Join(dir, name), typ)
		}
		return blk.Bytes, nil
	}
	w := &devWallet{Dir: dir}
	der, err := read(devWalletRoot, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	if w.Root, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	if der, err = read(devWalletCert, "CERTIFICATE"); err != nil {
		return nil, err
	}
	if w.Cert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	if der, err = read(devWalletKey, "PRIVATE KEY"); err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an EC key", devWalletKey)
	}
	w.Key = ek
	if err := w.Cert.CheckSignatureFrom(w.Root); err != nil {
		return nil, fmt.Errorf("development wallet provider: signer not issued by root: %w", err)
	}
	return w, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}
