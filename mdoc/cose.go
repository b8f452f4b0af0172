package mdoc

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/fxamacker/cbor/v2"
)

// COSE header labels and algorithm (RFC 9052 §3.1, RFC 9360 §2, RFC 9053 §2.1).
const (
	headerAlg     = 1
	headerKID     = 4
	headerX5Chain = 33
	algES256      = -7
)

// protectedES256 is bstr(CBOR({1: -7})) — the exact protected header bytes of
// ISO 18013-5 issuerAuth with ES256 (mdoc.md §1.7).
var protectedES256 = []byte{0xa1, 0x01, 0x26}

// sign1 is an untagged COSE_Sign1 (RFC 9052 §4.2).
type sign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     cbor.RawMessage // bstr; nil (detached) is rejected
	Signature   []byte
}

// sigStructure is Sig_structure for COSE_Sign1 with empty external_aad
// (RFC 9052 §4.4): ["Signature1", protected, empty bstr, payload].
func sigStructure(protected, payload []byte) ([]byte, error) {
	return detEnc.Marshal([]any{"Signature1", protected, []byte{}, payload})
}

// signES256 signs the Sig_structure with a crypto.Signer holding a P-256 key and
// returns the COSE signature r||s (RFC 9053 §2.1). The signer is called with an
// explicit crypto.SHA256 so HSM/KMS signers know the hash.
func signES256(signer crypto.Signer, protected, payload []byte) ([]byte, error) {
	digest := sha256.Sum256(encodeSigStructure(protected, payload))
	der, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("mdoc: document signer: %w", err)
	}
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) != 0 || sig.R == nil || sig.S == nil || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 ||
		sig.R.BitLen() > 256 || sig.S.BitLen() > 256 {
		return nil, errors.New("mdoc: document signer returned a malformed ECDSA signature")
	}
	out := make([]byte, 64)
	sig.R.FillBytes(out[:32])
	sig.S.FillBytes(out[32:])
	return out, nil
}

// verifyES256 checks a COSE ES256 signature (r||s) over the Sig_structure.
func verifyES256(pub *ecdsa.PublicKey, protected, payload, signature []byte) error {
	if pub.Curve != elliptic.P256() {
		return errors.New("signer key is not P-256")
	}
	if len(signature) != 64 {
		return fmt.Errorf("signature is %d bytes, want 64 (r||s)", len(signature))
	}
	tbs, err := sigStructure(protected, payload)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(tbs)
	r := new(big.Int).SetBytes(signature[:32])
	s := new(big.Int).SetBytes(signature[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return errors.New("signature does not verify")
	}
	return nil
}

// parsedSign1 is a decoded issuerAuth.
type parsedSign1 struct {
	Protected []byte
	Payload   []byte
	Signature []byte
	Alg       int64
	X5Chain   []*x509.Certificate
	x5Single  bool // x5chain was a single bstr
}

// parseSign1 decodes an untagged COSE_Sign1 with ES256 in the protected header,
// x5chain in the unprotected header and an embedded payload (ISO 18013-5
// §9.1.2.4; mdoc.md §1.7). A tag-18 wrapper is rejected: ISO IssuerAuth is the
// untagged array.
func parseSign1(b []byte) (*parsedSign1, error) {
	if len(b) == 0 || b[0] != 0x84 {
		return nil, errors.New("issuerAuth must be an untagged COSE_Sign1 array of 4 elements")
	}
	var m sign1
	if err := decMode.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("issuerAuth: %w", err)
	}
	var prot map[int64]cbor.RawMessage
	if err := decMode.Unmarshal(m.Protected, &prot); err != nil {
		return nil, fmt.Errorf("issuerAuth protected header: %w", err)
	}
	algRaw, ok := prot[headerAlg]
	if !ok {
		return nil, errors.New("issuerAuth protected header has no alg")
	}
	var alg int64
	if err := decMode.Unmarshal(algRaw, &alg); err != nil {
		return nil, errors.New("issuerAuth alg is not an integer")
	}
	if alg != algES256 {
		return nil, fmt.Errorf("issuerAuth alg %d not supported (want -7 ES256)", alg)
	}
	var unprot map[int64]cbor.RawMessage
	if err := decMode.Unmarshal(m.Unprotected, &unprot); err != nil {
		return nil, fmt.Errorf("issuerAuth unprotected header: %w", err)
	}
	if _, ok := unprot[headerAlg]; ok {
		return nil, errors.New("issuerAuth alg must be in the protected header only")
	}
	if kid, ok := unprot[headerKID]; ok && (len(kid) == 0 || kid[0]>>5 != 2) {
		return nil, errors.New("issuerAuth kid must be a byte string")
	}
	x5Raw, ok := unprot[headerX5Chain]
	if !ok {
		return nil, errors.New("issuerAuth has no x5chain (label 33) in the unprotected header")
	}
	var ders [][]byte
	single := len(x5Raw) > 0 && x5Raw[0]>>5 == 2
	if single {
		var d []byte
		if err := decMode.Unmarshal(x5Raw, &d); err != nil {
			return nil, fmt.Errorf("issuerAuth x5chain: %w", err)
		}
		ders = [][]byte{d}
	} else if err := decMode.Unmarshal(x5Raw, &ders); err != nil {
		return nil, errors.New("issuerAuth x5chain must be a bstr or an array of bstr")
	}
	if len(ders) == 0 || len(ders) > maxCertificateCount {
		return nil, errors.New("issuerAuth x5chain must hold 1 to 8 certificates")
	}
	certs := make([]*x509.Certificate, len(ders))
	for i, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, fmt.Errorf("issuerAuth x5chain[%d]: %w", i, err)
		}
		certs[i] = c
	}
	if len(m.Payload) == 0 || m.Payload[0]>>5 != 2 {
		return nil, errors.New("issuerAuth payload must be an embedded byte string")
	}
	var payload []byte
	if err := decMode.Unmarshal(m.Payload, &payload); err != nil {
		return nil, fmt.Errorf("issuerAuth payload: %w", err)
	}
	return &parsedSign1{Protected: m.Protected, Payload: payload, Signature: m.Signature, Alg: alg, X5Chain: certs, x5Single: single}, nil
}

func (p *parsedSign1) verify() error {
	pub, ok := p.X5Chain[0].PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return errors.New("document signer key is not ECDSA")
	}
	return verifyES256(pub, p.Protected, p.Payload, p.Signature)
}

func (p *parsedSign1) strictProtected() bool { return bytes.Equal(p.Protected, protectedES256) }
