package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/e2e/wallet"
)

// The credential request is built here rather than by e2e/wallet: its jwt
// proof with a key_attestation header carries no jwk, and the issuer (as
// OpenID4VCI 1.0 Appendix F.1 reads) needs the proof's key in jwk, kid or
// x5c. Here the proof carries jwk and key_attestation, the attestation
// covers every key of the request and its nonce is the c_nonce.

// credentialRequest posts one credential request for keys with a fresh c_nonce
// and returns the credentials (base64url-decoded IssuerSigned).
func (e *flowEnv) credentialRequest(ctx context.Context, w *wallet.Wallet, tok *wallet.Token, req wallet.CredentialRequest) ([][]byte, error) {
	cNonce, err := w.Nonce(ctx)
	if err != nil {
		return nil, err
	}
	pubs := make([]*ecdsa.PublicKey, len(req.Keys))
	for i, k := range req.Keys {
		pubs[i] = &k.PublicKey
	}
	ka, err := e.provider.KeyAttestation(pubs, cNonce)
	if err != nil {
		return nil, err
	}
	proof, err := jwtProof(req.Keys[0], benchClientID, e.o.base, cNonce, ka)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"proofs": map[string][]string{"jwt": {proof}}}
	if req.Identifier != "" {
		body["credential_identifier"] = req.Identifier
	} else {
		body["credential_configuration_id"] = req.ConfigurationID
	}
	payload, _ := json.Marshal(body)
	ep, _ := e.issuerMD["credential_endpoint"].(string)
	for attempt := 0; ; attempt++ {
		dp, err := wallet.DPoPProof(w.DPoPKey(), http.MethodPost, ep, tok.AccessToken, e.rec.nonce(), time.Now())
		if err != nil {
			return nil, err
		}
		hr, err := http.NewRequestWithContext(ctx, http.MethodPost, ep, bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		hr.Header.Set("Authorization", "DPoP "+tok.AccessToken)
		hr.Header.Set("DPoP", dp)
		hr.Header.Set("Content-Type", "application/json")
		res, err := e.http.Do(hr)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		if res.StatusCode == http.StatusUnauthorized && attempt == 0 && strings.Contains(res.Header.Get("WWW-Authenticate"), "use_dpop_nonce") {
			continue
		}
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("credential: HTTP %d: %.300s", res.StatusCode, b)
		}
		var out struct {
			Credentials []struct {
				Credential string `json:"credential"`
			} `json:"credentials"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("credential: response is not JSON")
		}
		creds := make([][]byte, len(out.Credentials))
		for i, c := range out.Credentials {
			if creds[i], err = base64.RawURLEncoding.DecodeString(c.Credential); err != nil {
				return nil, fmt.Errorf("credential %d: not base64url", i)
			}
		}
		return creds, nil
	}
}

// jwtProof is an OpenID4VCI Appendix F.1 proof signed by key with its jwk and
// the key attestation in the header.
func jwtProof(key *ecdsa.PrivateKey, clientID, aud, nonce, keyAttestation string) (string, error) {
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("openid4vci-proof+jwt").WithHeader("key_attestation", keyAttestation)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		return "", err
	}
	claims, _ := json.Marshal(map[string]any{"iss": clientID, "aud": aud, "iat": time.Now().Unix(), "nonce": nonce})
	jws, err := s.Sign(claims)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
