package dpop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/nonce"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// ReplayKind is the storage.ReplayCache kind under which proofs are remembered.
const ReplayKind = "dpop"

// DefaultIATWindow is how old a proof may be (RFC 9449 §11.1: "seconds to
// minutes").
const DefaultIATWindow = 60 * time.Second

// retryAfter is the Retry-After (seconds) of a 503 when the replay cache is down.
const retryAfter = 2

// Options configure a Verifier.
type Options struct {
	// Replay remembers accepted proofs across instances (required).
	Replay storage.ReplayCache
	// Nonces, if set, makes server nonces mandatory (RFC 9449 §8, §9): a proof
	// must carry a nonce this source accepts.
	Nonces *nonce.Source
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// IATWindow is how far in the past iat may lie (default 60 s). Accepted
	// proofs are remembered for twice this window after max(now, iat).
	IATWindow time.Duration
	// FutureSkew is how far in the future iat may lie, for wallet clock skew
	// (RFC 9449 §11.1). Default: IATWindow.
	FutureSkew time.Duration
}

// Verifier checks DPoP proofs. It is safe for concurrent use.
type Verifier struct {
	replay storage.ReplayCache
	nonces *nonce.Source
	now    func() time.Time
	window time.Duration
	skew   time.Duration

	// htus caches the canonical form of expected URLs, which come from
	// configuration and are therefore few.
	htus     sync.Map // string -> string
	htuCount int32
	htuMu    sync.Mutex
}

// maxCachedHTUs bounds the expected-URL cache.
const maxCachedHTUs = 256

// NewVerifier returns a Verifier. Replay is required: without it a replayed
// proof could not be detected.
func NewVerifier(o Options) (*Verifier, error) {
	if o.Replay == nil {
		return nil, errors.New("dpop: Options.Replay is required")
	}
	if o.IATWindow < 0 || o.FutureSkew < 0 {
		return nil, errors.New("dpop: negative IATWindow or FutureSkew")
	}
	v := &Verifier{replay: o.Replay, nonces: o.Nonces, now: o.Now, window: o.IATWindow, skew: o.FutureSkew}
	if v.now == nil {
		v.now = time.Now
	}
	if v.window == 0 {
		v.window = DefaultIATWindow
	}
	if v.skew == 0 {
		v.skew = v.window
	}
	return v, nil
}

// Request is what Verify needs from an HTTP request.
type Request struct {
	// Method is the request method, compared with htm.
	Method string
	// URL is the expected htu: the absolute endpoint URL built from
	// configuration (never from Host/X-Forwarded-* headers), without query or
	// fragment.
	URL string
	// DPoP holds every DPoP header field value: r.Header.Values("DPoP").
	DPoP []string
	// AccessToken, if set (at a resource), requires a matching ath claim.
	AccessToken string
	// BoundJKT, if set, is the thumbprint the proof key must have: cnf.jkt of
	// the access token, or dpop_jkt / the PAR-time key of an authorization code.
	BoundJKT string
	// Resource is true at the credential issuer (a resource server): errors
	// are 401 with a DPoP WWW-Authenticate challenge instead of 400.
	Resource bool
}

// Proof is a verified DPoP proof.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of Key, base64url.
	JKT string
	// Key is the proof's public key (EC P-256).
	Key *jose.JSONWebKey
	// JTI is the proof's unique identifier.
	JTI string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
}

// CheckBinding is step 12 of RFC 9449 §4.3 for a proof verified without
// Request.BoundJKT (its key binding checked once the bound key is known,
// e.g. after the access token was read): the proof key must have thumbprint
// boundJKT. The error is the one Verify gives for a mismatch.
func CheckBinding(p *Proof, boundJKT string, resource bool) error {
	if p != nil && boundJKT != "" && subtle.ConstantTimeCompare([]byte(p.JKT), []byte(boundJKT)) == 1 {
		return nil
	}
	if resource {
		return toError(&failure{code: oauth.CodeInvalidToken, desc: "access token is not bound to the DPoP proof key"}, true, "")
	}
	return toError(invalid("DPoP proof key does not match the bound key"), false, "")
}

// Nonce returns a fresh DPoP-Nonce value for a response (RFC 9449 §8.2).
func (v *Verifier) Nonce() (string, error) {
	if v.nonces == nil {
		return "", errors.New("dpop: server nonces not configured")
	}
	return v.nonces.Issue()
}

// NoncesRequired reports whether proofs must carry a server nonce.
func (v *Verifier) NoncesRequired() bool { return v.nonces != nil }

// Verify checks the DPoP proof of r (RFC 9449 §4.3, §7.1, §8, §9, §11.1) and
// returns it. The error is an *oauth.Error: invalid_dpop_proof (400 at the
// authorization server, 401 at a resource), use_dpop_nonce (same statuses,
// with a fresh DPoP-Nonce), invalid_token (401, key not bound to the access
// token at a resource), 503 temporarily_unavailable if the replay cache is
// unreachable, or 500 if a nonce cannot be generated.
func (v *Verifier) Verify(ctx context.Context, r Request) (*Proof, error) {
	want, ok := v.expectedHTU(r.URL)
	if !ok {
		return nil, oauth.ServerError(errors.New("dpop: Request.URL is not an absolute URL"))
	}
	p, f := v.check(r, want)
	if f != nil {
		if f.code == oauth.CodeUseDPoPNonce {
			n, err := v.nonces.Issue()
			if err != nil {
				return nil, oauth.ServerError(err)
			}
			return nil, toError(f, r.Resource, n)
		}
		return nil, toError(f, r.Resource, "")
	}

	// RFC 9449 §11.1: remember the proof until it can no longer pass the iat
	// check, so that it is accepted once across all instances.
	iat := time.Unix(p.iat, 0)
	from := v.now()
	if iat.After(from) {
		from = iat
	}
	// With a storage.Pending in ctx the write travels with the request's
	// next store read, which then answers with the replay error.
	replayed := toError(invalid("DPoP proof replayed (jti already used)"), r.Resource, "")
	err := storage.Remember(ctx, v.replay, ReplayKind, replayID(p.jkt, p.htu, p.JTI), from.Add(2*v.window), replayed)
	switch {
	case err == nil:
	case err == error(replayed):
		return nil, replayed
	default:
		// Fail closed: never accept a proof whose replay check did not run.
		return nil, oauth.Unavailable(retryAfter, fmt.Errorf("dpop: replay cache: %w", err))
	}
	return &Proof{
		JKT:      p.jkt,
		Key:      &jose.JSONWebKey{Key: p.pub, Algorithm: string(jose.ES256), Use: "sig"},
		JTI:      p.JTI,
		IssuedAt: iat,
	}, nil
}

// checked is a proof that passed every check except the replay cache.
type checked struct {
	*parsed
	jkt string
	htu string // canonical
}

// check runs every check but the replay cache, cheapest first: the signature
// is verified only for a proof whose claims fit the request.
func (v *Verifier) check(r Request, want string) (*checked, *failure) {
	// RFC 9449 §4.3 step 1: exactly one DPoP header field.
	switch len(r.DPoP) {
	case 0:
		return nil, invalid("missing DPoP proof")
	case 1:
	default:
		return nil, invalid("more than one DPoP header")
	}
	tok := r.DPoP[0]
	if tok == "" {
		return nil, invalid("missing DPoP proof")
	}
	if strings.IndexByte(tok, ',') >= 0 {
		return nil, invalid("more than one DPoP proof in the DPoP header")
	}
	// Steps 2-5, 7.
	p, f := parse(tok)
	if f != nil {
		return nil, f
	}
	// Step 8.
	if p.HTM != r.Method {
		return nil, invalid("DPoP proof htm does not match the request method")
	}
	// Step 9.
	got, ok := canonicalHTU(p.HTU)
	if !ok || got != want {
		return nil, invalid("DPoP proof htu does not match the request URL")
	}
	// Step 11 (iat; a nonce carries its own time, checked below).
	now := v.now()
	if p.iat < now.Add(-v.window).Unix() {
		return nil, invalid("DPoP proof iat too old")
	}
	if p.iat > now.Add(v.skew).Unix() {
		return nil, invalid("DPoP proof iat in the future")
	}
	// Step 12 (ath).
	if r.AccessToken != "" {
		if p.ATH == "" {
			return nil, invalid("DPoP proof ath missing")
		}
		if !athMatches(p.ATH, r.AccessToken) {
			return nil, invalid("DPoP proof ath does not match the access token")
		}
	}
	// Step 6.
	if !p.verify() {
		return nil, invalid("DPoP proof signature invalid")
	}
	jkt := oauth.ECThumbprint("P-256", p.x, p.y)
	// Step 12 (key binding): RFC 9449 §7.1 makes a mismatch with the access
	// token's cnf.jkt an invalid_token; at the authorization server it is a
	// proof that does not fit the grant.
	if r.BoundJKT != "" && subtle.ConstantTimeCompare([]byte(jkt), []byte(r.BoundJKT)) != 1 {
		if r.Resource {
			return nil, &failure{code: oauth.CodeInvalidToken, desc: "access token is not bound to the DPoP proof key"}
		}
		return nil, invalid("DPoP proof key does not match the bound key")
	}
	// Step 10: server nonce (RFC 9449 §8, §9).
	if v.nonces != nil {
		if p.Nonce == "" {
			return nil, &failure{code: oauth.CodeUseDPoPNonce, desc: "DPoP proof must carry the server-provided nonce"}
		}
		if err := v.nonces.Check(p.Nonce); err != nil {
			desc := "DPoP nonce invalid"
			if errors.Is(err, nonce.ErrExpired) {
				desc = "DPoP nonce expired"
			}
			return nil, &failure{code: oauth.CodeUseDPoPNonce, desc: desc}
		}
	}
	return &checked{parsed: p, jkt: jkt, htu: want}, nil
}

// athMatches compares ath with base64url(SHA-256(ASCII(token))) (RFC 9449
// §4.2) in constant time.
func athMatches(ath, token string) bool {
	sum := sha256.Sum256([]byte(token))
	var want [43]byte
	base64.RawURLEncoding.Encode(want[:], sum[:])
	return subtle.ConstantTimeCompare([]byte(ath), want[:]) == 1
}

// replayID identifies a proof in the replay cache: a hash of the key
// thumbprint (fixed length), the canonical htu and the jti, so the stored key
// is short whatever the jti.
func replayID(jkt, htu, jti string) string {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte(htu))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var sum [sha256.Size]byte
	// 128 bits of the hash name the entry: collisions are out of reach
	// (2^-64 at 2^32 live entries) and the key stays short in the store.
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:16])
}

// expectedHTU returns the canonical form of the configured endpoint URL.
func (v *Verifier) expectedHTU(raw string) (string, bool) {
	if c, ok := v.htus.Load(raw); ok {
		return c.(string), true
	}
	c, ok := canonicalHTU(raw)
	if !ok {
		return "", false
	}
	v.htuMu.Lock()
	if v.htuCount < maxCachedHTUs {
		if _, loaded := v.htus.LoadOrStore(raw, c); !loaded {
			v.htuCount++
		}
	}
	v.htuMu.Unlock()
	return c, true
}
