package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// OpenSigner opens a private key by reference. Supported: "file:/path/key.pem"
// holding one PEM block, "PRIVATE KEY" (PKCS#8) or "EC PRIVATE KEY" (SEC1),
// with an ECDSA key. The returned signer is the key itself; its Sign expects a
// digest and opts.HashFunc() as crypto.Signer documents.
func OpenSigner(ref string) (crypto.Signer, error) {
	path, ok := strings.CutPrefix(ref, "file:")
	if !ok {
		return nil, fmt.Errorf("pki: unsupported key reference scheme (want file:/path)")
	}
	if path == "" {
		return nil, errors.New("pki: empty key path")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: reading key: %w", err)
	}
	return parsePrivateKey(data)
}

func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("pki: key file is not PEM")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("pki: key file must hold exactly one PEM block")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: PKCS#8 key: %w", err)
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("pki: key is %T, want ECDSA", k)
		}
		return ec, nil
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: SEC1 key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("pki: unsupported PEM block %q", block.Type)
}
