package metadata

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/mdoc-issuer/issuer/oauth"
)

// IssuerHandler serves the credential issuer metadata: JSON by default, the
// signed JWT when a Signer is configured and the request prefers
// application/jwt (OpenID4VCI §12.2.2, "RECOMMENDED to match Accept").
// Accept-Language is ignored, which §12.2.2 allows: every locale is sent.
func (s *Service) IssuerHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept")
		if s.signer != nil && prefersJWT(r.Header.Values("Accept")) {
			jwt, err := s.Sign()
			if err != nil {
				oauth.WriteError(w, oauth.ServerError(err))
				return
			}
			w.Header().Set("Content-Type", oauth.MediaJWT)
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(jwt))
			return
		}
		writeJSONBytes(w, s.issuerJSON)
	})
}

// ASHandler serves the authorization server metadata; nil when no AS is
// configured.
func (s *Service) ASHandler() http.Handler {
	if s.as == nil {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSONBytes(w, s.asJSON)
	})
}

func writeJSONBytes(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", oauth.MediaJSON)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// prefersJWT reports whether the Accept header ranks application/jwt above
// zero and at least as high as application/json (RFC 9110 §12.5.1). Ranges
// without either, or wildcards only, get JSON, which is always available.
func prefersJWT(accept []string) bool {
	qJWT, qJSON := -1.0, -1.0
	for _, line := range accept {
		for _, part := range strings.Split(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				}
			}
			switch mt {
			case oauth.MediaJWT:
				qJWT = max(qJWT, q)
			case oauth.MediaJSON:
				qJSON = max(qJSON, q)
			}
		}
	}
	return qJWT > 0 && qJWT >= qJSON
}

// Sign returns the signed metadata JWT (OpenID4VCI §12.2.3): typ
// openidvci-issuer-metadata+jwt, ES256, x5c without the trust anchor; every
// metadata parameter as a top-level claim plus sub (the issuer), iat, and
// iss and exp when configured.
func (s *Service) Sign() (string, error) {
	if s.signer == nil {
		return "", errors.New("metadata: no signer")
	}
	claims := map[string]json.RawMessage{}
	if err := json.Unmarshal(s.issuerJSON, &claims); err != nil {
		return "", err
	}
	now := s.now()
	raw := func(v any) json.RawMessage {
		b, _ := json.Marshal(v)
		return b
	}
	claims["sub"] = raw(s.issuer.CredentialIssuer)
	claims["iat"] = raw(now.Unix())
	if s.signer.Issuer != "" {
		claims["iss"] = raw(s.signer.Issuer)
	}
	if s.signer.Lifetime > 0 {
		claims["exp"] = raw(now.Add(s.signer.Lifetime).Unix())
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	x5c := make([]string, len(s.signer.Chain))
	for i, c := range s.signer.Chain {
		x5c[i] = base64.StdEncoding.EncodeToString(c.Raw) // RFC 7515 §4.1.6: standard base64
	}
	header, err := json.Marshal(struct {
		Alg string   `json:"alg"`
		Typ string   `json:"typ"`
		X5c []string `json:"x5c"`
	}{"ES256", oauth.TypSignedIssuerMeta, x5c})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sig, err := signES256(s.signer.Key, []byte(input))
	if err != nil {
		return "", fmt.Errorf("metadata: signing: %w", err)
	}
	return input + "." + enc.EncodeToString(sig), nil
}

// signES256 signs with any crypto.Signer holding a P-256 key (a file key or
// an HSM) and converts the ASN.1 signature to the JWS R||S form (RFC 7518
// §3.4).
func signES256(key crypto.Signer, input []byte) ([]byte, error) {
	digest := sha256.Sum256(input)
	der, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) > 0 || sig.R == nil || sig.S == nil {
		return nil, errors.New("signer returned a malformed ECDSA signature")
	}
	out := make([]byte, 64)
	sig.R.FillBytes(out[:32])
	sig.S.FillBytes(out[32:])
	return out, nil
}

func checkSigner(sg *Signer) error {
	if sg.Key == nil || len(sg.Chain) == 0 {
		return errors.New("key and certificate chain are required")
	}
	pub, ok := sg.Key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return errors.New("key must be ECDSA P-256 (ES256)")
	}
	leaf := sg.Chain[0]
	if lp, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !lp.Equal(pub) {
		return errors.New("the first certificate does not hold the signing key")
	}
	for i, c := range sg.Chain {
		if isSelfSigned(c) {
			if i == 0 {
				return errors.New("the signing certificate must not be self-signed (HAIP 1.0 §4.1)")
			}
			return errors.New("the chain must not contain the trust anchor (HAIP 1.0 §4.1)")
		}
		if i > 0 {
			if err := sg.Chain[i-1].CheckSignatureFrom(c); err != nil {
				return fmt.Errorf("certificate %d is not issued by certificate %d: %v", i-1, i, err)
			}
		}
	}
	return nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
