package upstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keySet caches the provider's signature verification keys.
//
// Keys are refetched when older than maxAge, and when a token names a kid
// that is not in the cache (key rotation), but at most once per minRefresh
// (counted from the last attempt, successful or not), so tokens with random
// kids cannot make this server hammer the provider.
type keySet struct {
	fetch      func(context.Context) ([]jose.JSONWebKey, error)
	now        func() time.Time
	minRefresh time.Duration
	maxAge     time.Duration

	mu          sync.Mutex
	keys        []jose.JSONWebKey
	fetchedAt   time.Time // last successful fetch
	lastAttempt time.Time
}

// refresh fetches the keys; k.mu is held.
func (k *keySet) refresh(ctx context.Context) error {
	k.lastAttempt = k.now()
	keys, err := k.fetch(ctx)
	if err != nil {
		return err
	}
	k.keys, k.fetchedAt = keys, k.now()
	return nil
}

// get returns the current keys, refetching them if none were fetched yet or
// they are older than maxAge (and the last attempt is older than minRefresh).
func (k *keySet) get(ctx context.Context) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.current(ctx)
}

func (k *keySet) current(ctx context.Context) ([]jose.JSONWebKey, error) {
	now := k.now()
	fresh := k.keys != nil && now.Sub(k.fetchedAt) < k.maxAge
	if fresh {
		return k.keys, nil
	}
	if !k.lastAttempt.IsZero() && now.Sub(k.lastAttempt) < k.minRefresh {
		return nil, unavailable("jwks", errors.New("keys expired and the last fetch failed recently"))
	}
	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	return k.keys, nil
}

// candidates returns the keys that may have signed a token with the given
// kid and alg. An unknown kid triggers one rate-limited refetch.
func (k *keySet) candidates(ctx context.Context, kid string, alg jose.SignatureAlgorithm) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	c := matchKeys(keys, kid, alg)
	if len(c) == 0 && kid != "" && k.now().Sub(k.lastAttempt) >= k.minRefresh {
		if err := k.refresh(ctx); err != nil {
			return nil, err
		}
		c = matchKeys(k.keys, kid, alg)
	}
	return c, nil
}

// matchKeys: same kid (if the token has one), usable with alg.
func matchKeys(keys []jose.JSONWebKey, kid string, alg jose.SignatureAlgorithm) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != string(alg) {
			continue
		}
		if keyFits(key.Key, alg) {
			out = append(out, key)
		}
	}
	return out
}

// keyFits: the key type matches the algorithm (RFC 7518 §3.3-3.5); RSA keys
// have at least 2048 bits.
func keyFits(key any, alg jose.SignatureAlgorithm) bool {
	switch pub := key.(type) {
	case *ecdsa.PublicKey:
		return alg == jose.ES256 && pub.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return (alg == jose.RS256 || alg == jose.PS256) && pub.N.BitLen() >= 2048
	}
	return false
}

// fetchJWKS fetches jwks_uri. Keys that do not parse, are not public
// signature keys, or are of an unsupported type are skipped (RFC 7517 §5:
// implementations SHOULD ignore keys they do not understand).
func (p *Provider) fetchJWKS(ctx context.Context) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := p.getJSON(ctx, p.md.JWKSURI, StageJWKS, &set); err != nil {
		return nil, err
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil || !key.Valid() {
			continue
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		pub := key.Public() // never keep private material a provider might publish by mistake
		if !pub.Valid() {
			continue
		}
		switch pub.Key.(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey:
			keys = append(keys, pub)
		}
	}
	if len(keys) == 0 {
		return nil, checkErr(StageJWKS, "keys", "the provider's JWKS has no usable signature key")
	}
	return keys, nil
}
