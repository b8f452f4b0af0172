package wia

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxX5C bounds the certificates accepted in an x5c header (leaf plus
// intermediates); real chains have two or three.
const maxX5C = 5

// trustStore holds the trust anchors of several owners (wallet providers,
// or the single owner of key-attestation trust): X.509 roots for x5c-signed
// JWTs and pinned public keys for JWTs without x5c.
type trustStore struct {
	pool       *x509.CertPool
	rootOwners map[string][]int // root DER -> owners
	keys       []pinnedKey
	chains     *boundedCache[*trustedChain]
}

type pinnedKey struct {
	owner int
	kid   string
	key   crypto.PublicKey
}

func newTrustStore() *trustStore {
	return &trustStore{pool: x509.NewCertPool(), rootOwners: map[string][]int{},
		chains: newBoundedCache[*trustedChain](256)}
}

// add registers the roots and pinned keys of owner. Pinned keys must be
// public ECDSA or Ed25519 keys.
func (t *trustStore) add(owner int, roots []*x509.Certificate, keys []jose.JSONWebKey) error {
	for i, r := range roots {
		if r == nil {
			return fmt.Errorf("root %d is nil", i)
		}
		t.pool.AddCert(r)
		k := string(r.Raw)
		t.rootOwners[k] = append(t.rootOwners[k], owner)
	}
	for i := range keys {
		k := &keys[i]
		if !k.IsPublic() {
			return fmt.Errorf("pinned key %d is not a public key", i)
		}
		switch pk := k.Key.(type) {
		case *ecdsa.PublicKey:
			if keyFitsAlg(pk, AlgES256) || keyFitsAlg(pk, AlgES384) || keyFitsAlg(pk, AlgES512) {
				t.keys = append(t.keys, pinnedKey{owner: owner, kid: k.KeyID, key: pk})
				continue
			}
		case ed25519.PublicKey:
			t.keys = append(t.keys, pinnedKey{owner: owner, kid: k.KeyID, key: pk})
			continue
		}
		return fmt.Errorf("pinned key %d is not an EC (P-256/384/521) or Ed25519 public key", i)
	}
	return nil
}

// trustError is a failed trust check; its text names the check and is safe
// to send to the client.
type trustError struct{ msg string }

func (e *trustError) Error() string { return e.msg }

func untrusted(format string, args ...any) error {
	return &trustError{msg: fmt.Sprintf(format, args...)}
}

// verify checks the signature of j against the trust anchors and returns the
// owner whose anchor verified it. prefer >= 0 restricts the anchors to that
// owner. With an x5c header the chain must be path-validated to a root at
// time now (any EKU) and the leaf, which must not be self-signed (HAIP
// §4.4.1, §4.5.1), verifies the signature; without x5c a pinned key does
// (kid selects the candidates when present).
func (t *trustStore) verify(j *compactJWS, prefer int, now time.Time) (trustedPath, error) {
	if len(j.header.X5c) > 0 {
		return t.verifyX5C(j, prefer, now)
	}
	tried := false
	for i := range t.keys {
		pk := &t.keys[i]
		if prefer >= 0 && pk.owner != prefer {
			continue
		}
		if j.header.Kid != "" && pk.kid != j.header.Kid {
			continue
		}
		if !keyFitsAlg(pk.key, j.header.Alg) {
			continue
		}
		tried = true
		if verifySignature(j.header.Alg, pk.key, j.signingInput, j.sig) == nil {
			return trustedPath{owner: pk.owner}, nil
		}
	}
	if !tried {
		if j.header.Kid != "" {
			return trustedPath{}, untrusted("no x5c header and no trusted key with that kid for alg %s", j.header.Alg)
		}
		return trustedPath{}, untrusted("no x5c header and no trusted key for alg %s", j.header.Alg)
	}
	return trustedPath{}, untrusted("signature does not verify with any trusted key")
}

// trustedChain is a path-validated x5c: the leaf key and, for each path
// found to a root, the root's owner and the interval in which every
// certificate of that path is valid.
type trustedChain struct {
	leafKey any
	paths   []trustedPath
}

// trustedPath is the owner whose anchor verified a JWS and the interval in
// which that verification holds (zero times: unbounded, pinned keys).
type trustedPath struct {
	owner     int
	notBefore time.Time
	notAfter  time.Time
}

func (p trustedPath) validAt(now time.Time) bool {
	return (p.notBefore.IsZero() || !now.Before(p.notBefore)) && (p.notAfter.IsZero() || !now.After(p.notAfter))
}

func (t *trustStore) verifyX5C(j *compactJWS, prefer int, now time.Time) (trustedPath, error) {
	x5c := j.header.X5c
	if len(x5c) > maxX5C {
		return trustedPath{}, untrusted("x5c has more than %d certificates", maxX5C)
	}
	h := sha256.New()
	for _, s := range x5c {
		h.Write([]byte(s))
		h.Write([]byte{','})
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	tc, ok := t.chains.get(key)
	if !ok {
		var err error
		if tc, err = t.validateChain(x5c, now); err != nil {
			return trustedPath{}, err
		}
		t.chains.put(key, tc)
	}
	// Validity is re-checked on every use: a cached chain may have expired.
	found, expired := -1, false
	for i, p := range tc.paths {
		if prefer >= 0 && p.owner != prefer {
			continue
		}
		if !p.validAt(now) {
			expired = true
			continue
		}
		found = i
		break
	}
	if found < 0 {
		if expired {
			return trustedPath{}, untrusted("x5c certificate chain is expired or not yet valid")
		}
		return trustedPath{}, untrusted("x5c certificate chain does not lead to a root of the named issuer")
	}
	if !keyFitsAlg(tc.leafKey, j.header.Alg) {
		return trustedPath{}, untrusted("x5c leaf key does not fit alg %s", j.header.Alg)
	}
	if verifySignature(j.header.Alg, tc.leafKey, j.signingInput, j.sig) != nil {
		return trustedPath{}, untrusted("signature does not verify with the x5c leaf key")
	}
	return tc.paths[found], nil
}

// validateChain parses x5c and path-validates it to the roots at time now
// (RFC 7515 §4.1.6: base64 DER, leaf first).
func (t *trustStore) validateChain(x5c []string, now time.Time) (*trustedChain, error) {
	certs := make([]*x509.Certificate, len(x5c))
	for i, s := range x5c {
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, untrusted("x5c[%d] is not base64", i)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, untrusted("x5c[%d] is not an X.509 certificate", i)
		}
		certs[i] = c
	}
	leaf := certs[0]
	if bytes.Equal(leaf.RawIssuer, leaf.RawSubject) &&
		leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil {
		return nil, untrusted("x5c leaf certificate is self-signed")
	}
	opts := x509.VerifyOptions{
		Roots:       t.pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return nil, untrusted("x5c certificate chain is expired or not yet valid")
		}
		return nil, untrusted("x5c certificate chain does not lead to a trusted root")
	}
	tc := &trustedChain{leafKey: leaf.PublicKey}
	for _, ch := range chains {
		p := trustedPath{notBefore: ch[0].NotBefore, notAfter: ch[0].NotAfter}
		for _, c := range ch[1:] {
			if c.NotBefore.After(p.notBefore) {
				p.notBefore = c.NotBefore
			}
			if c.NotAfter.Before(p.notAfter) {
				p.notAfter = c.NotAfter
			}
		}
		for _, o := range t.rootOwners[string(ch[len(ch)-1].Raw)] {
			p.owner = o
			tc.paths = append(tc.paths, p)
		}
	}
	return tc, nil
}
