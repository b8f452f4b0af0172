package wallet

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/go-jose/go-jose/v4"
)

// responseEncryption builds credential_response_encryption for a fresh
// ephemeral key (OpenID4VCI §8.2): jwk with alg, and an enc the issuer lists.
func (w *Wallet) responseEncryption(key *ecdsa.PrivateKey) (map[string]any, error) {
	meta, _ := w.IssuerMetadata["credential_response_encryption"].(map[string]any)
	if meta == nil {
		return nil, errors.New("issuer metadata has no credential_response_encryption")
	}
	enc, err := pickEnc(meta)
	if err != nil {
		return nil, err
	}
	jwk := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.ECDH_ES), Use: "enc", KeyID: randomString(8)}
	return map[string]any{"jwk": jwk, "enc": enc}, nil
}

// encryptRequest encrypts a credential request to the issuer's request
// encryption key (OpenID4VCI §10): compact JWE, alg of the key, kid set.
func (w *Wallet) encryptRequest(payload []byte) (string, error) {
	meta, _ := w.IssuerMetadata["credential_request_encryption"].(map[string]any)
	if meta == nil {
		return "", errors.New("issuer metadata has no credential_request_encryption")
	}
	raw, err := json.Marshal(meta["jwks"])
	if err != nil {
		return "", err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) == 0 {
		return "", errors.New("credential_request_encryption.jwks has no keys")
	}
	k := set.Keys[0]
	enc, err := pickEnc(meta)
	if err != nil {
		return "", err
	}
	alg := jose.KeyAlgorithm(k.Algorithm)
	if alg == "" {
		alg = jose.ECDH_ES
	}
	e, err := jose.NewEncrypter(jose.ContentEncryption(enc),
		jose.Recipient{Algorithm: alg, Key: k.Key, KeyID: k.KeyID},
		(&jose.EncrypterOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	obj, err := e.Encrypt(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

func pickEnc(meta map[string]any) (string, error) {
	list, _ := meta["enc_values_supported"].([]any)
	var encs []string
	for _, v := range list {
		if s, ok := v.(string); ok {
			encs = append(encs, s)
		}
	}
	for _, want := range []string{"A128GCM", "A256GCM"} {
		if slices.Contains(encs, want) {
			return want, nil
		}
	}
	return "", fmt.Errorf("no supported enc in %v", encs)
}

// decryptResponse decrypts an encrypted credential response.
func decryptResponse(compact string, key *ecdsa.PrivateKey) ([]byte, error) {
	obj, err := jose.ParseEncryptedCompact(compact, []jose.KeyAlgorithm{jose.ECDH_ES},
		[]jose.ContentEncryption{jose.A128GCM, jose.A256GCM})
	if err != nil {
		return nil, err
	}
	return obj.Decrypt(key)
}
