package wia

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
)

// ReplayKind is the storage.ReplayCache kind under which PoP jti values are
// remembered.
const ReplayKind = "wia-pop"

// Size limits on wallet input.
const (
	maxAttestationLen = 32 << 10 // attestation with an x5c chain
	maxPoPLen         = 8 << 10
	maxJTILen         = 256
	maxChallengeLen   = 1024
)

// Defaults for Options.
const (
	DefaultPoPWindow = 60 * time.Second
	DefaultClockSkew = 10 * time.Second
)

// ChallengeSource issues and checks attestation challenges (ABCA-07 §8).
// *nonce.Source satisfies it.
type ChallengeSource interface {
	Issue() (string, error)
	Check(challenge string) error
}

// Provider is a trusted wallet provider (Client Attester).
type Provider struct {
	// Name identifies the provider. It is matched against the attestation's
	// iss claim (ABCA ≤ -07); see Verifier for attestations without iss.
	Name string
	// Roots are the trust anchors for x5c-signed attestations.
	Roots []*x509.Certificate
	// Keys are pinned public keys for attestations without x5c (kid match,
	// or every key when the attestation has no kid).
	Keys []jose.JSONWebKey
	// RedirectURIs are the redirect URIs allowed for wallets of this
	// provider (exact match; "*" is not allowed).
	RedirectURIs []string
}

// Options configures a Verifier.
type Options struct {
	// Issuer is the AS issuer identifier (RFC 8414): the required PoP aud.
	Issuer    string
	Providers []Provider
	// Replay remembers PoP jti values; share one store between instances so
	// that a replay on any instance fails.
	Replay storage.ReplayCache
	Now    func() time.Time
	// MaxAttestationAge, if > 0, bounds now - iat of the attestation; an
	// older attestation (or one without iat) gets use_fresh_attestation.
	MaxAttestationAge time.Duration
	// PoPWindow is how far in the past a PoP iat may lie (default 60 s).
	PoPWindow time.Duration
	// ClockSkew is the tolerance for iat/nbf in the future and exp in the
	// past (default 10 s).
	ClockSkew time.Duration
	// Challenges issues and checks challenges (optional).
	Challenges ChallengeSource
	// RequireChallenge makes a valid challenge mandatory in every PoP
	// (set it when challenge_endpoint is advertised, ABCA-07 §8). Needs
	// Challenges.
	RequireChallenge bool
	// AttestationAlgs lists the accepted attestation algs (default ES256,
	// ES384, ES512, EdDSA). PoPAlgs lists the accepted PoP algs (default
	// ES256, HAIP §7). Only ES256/ES384/ES512/EdDSA are known; PoP keys are
	// EC keys, so EdDSA is not a PoP alg.
	AttestationAlgs []string
	PoPAlgs         []string
}

// Client is a wallet instance authenticated by a client attestation.
type Client struct {
	// ID is the attestation sub: the client_id.
	ID string
	// Provider is the Name of the trusted provider whose anchor verified
	// the attestation.
	Provider string
	// Attester is the attestation's iss claim ("" for ABCA -08+).
	Attester string
	// Key is the client instance key (cnf.jwk), a public EC key.
	Key *jose.JSONWebKey
	// JKT is the RFC 7638 SHA-256 thumbprint (base64url) of Key, to bind
	// refresh tokens to the client instance (ABCA-07 §10.3).
	JKT string
	// RedirectURIs are the provider's allowed redirect URIs. Shared with
	// the Verifier: do not modify.
	RedirectURIs []string
	WalletName   string
	WalletLink   string
	// Expiry is the attestation's exp.
	Expiry time.Time
}

// Verifier authenticates wallets by OAuth 2.0 Attestation-Based Client
// Authentication (draft-ietf-oauth-attestation-based-client-auth, -04 to
// -10 tolerated; -07 is the reference as pinned by OpenID4VCI 1.0).
//
// Provider selection: when the attestation has an iss equal to a
// Provider.Name, only that provider's anchors are tried. Otherwise (no iss,
// as in ABCA -08+, or an iss that names no provider) every provider's
// anchors are tried and the first that verifies the attestation is the
// provider; trust comes from the anchors, not from the self-declared iss.
//
// Error codes: every failed check is 401 invalid_client (RFC 6749 §5.2;
// ABCA-07 §6.3 allows invalid_client_attestation only "in addition to"
// invalid_client, and a response has one code), except an expired or too
// old attestation (401 use_fresh_attestation, ABCA-07 §6.3 "MUST") and a
// missing or invalid challenge (400 use_attestation_challenge with a fresh
// OAuth-Client-Attestation-Challenge header, ABCA-07 §6.3). A store outage
// is 503 temporarily_unavailable: nothing is accepted without the replay
// check.
type Verifier struct {
	issuer           string
	providers        []Provider
	byName           map[string]int
	trust            *trustStore
	replay           storage.ReplayCache
	now              func() time.Time
	maxAge           time.Duration
	window           time.Duration
	skew             time.Duration
	challenges       ChallengeSource
	requireChallenge bool
	attAlgs          map[string]bool
	popAlgs          map[string]bool
	popCurves        map[string]bool
	attAlgList       []string
	popAlgList       []string
	atts             *boundedCache[*verifiedAttestation]
}

// NewVerifier checks o and returns a Verifier.
func NewVerifier(o Options) (*Verifier, error) {
	if o.Issuer == "" {
		return nil, errors.New("wia: Options.Issuer is required")
	}
	if o.Replay == nil || isNilPointer(o.Replay) {
		return nil, errors.New("wia: Options.Replay is required")
	}
	if len(o.Providers) == 0 {
		return nil, errors.New("wia: at least one trusted Provider is required")
	}
	if isNilPointer(o.Challenges) {
		o.Challenges = nil
	}
	if o.RequireChallenge && o.Challenges == nil {
		return nil, errors.New("wia: RequireChallenge needs Options.Challenges")
	}
	v := &Verifier{
		issuer:           o.Issuer,
		providers:        append([]Provider(nil), o.Providers...),
		byName:           map[string]int{},
		trust:            newTrustStore(),
		replay:           o.Replay,
		now:              o.Now,
		maxAge:           o.MaxAttestationAge,
		window:           o.PoPWindow,
		skew:             o.ClockSkew,
		challenges:       o.Challenges,
		requireChallenge: o.RequireChallenge,
		atts:             newBoundedCache[*verifiedAttestation](4096),
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.window <= 0 {
		v.window = DefaultPoPWindow
	}
	if v.skew <= 0 {
		v.skew = DefaultClockSkew
	}
	var err error
	if v.attAlgs, v.attAlgList, err = algSet(o.AttestationAlgs, []string{AlgES256, AlgES384, AlgES512, AlgEdDSA}); err != nil {
		return nil, fmt.Errorf("wia: AttestationAlgs: %w", err)
	}
	if v.popAlgs, v.popAlgList, err = algSet(o.PoPAlgs, []string{AlgES256}); err != nil {
		return nil, fmt.Errorf("wia: PoPAlgs: %w", err)
	}
	v.popCurves = map[string]bool{}
	for alg := range v.popAlgs {
		switch alg {
		case AlgES256:
			v.popCurves["P-256"] = true
		case AlgES384:
			v.popCurves["P-384"] = true
		case AlgES512:
			v.popCurves["P-521"] = true
		default:
			return nil, fmt.Errorf("wia: PoPAlgs: %s is not an EC alg", alg)
		}
	}
	for i, p := range v.providers {
		if p.Name == "" {
			return nil, fmt.Errorf("wia: provider %d has no Name", i)
		}
		if _, dup := v.byName[p.Name]; dup {
			return nil, fmt.Errorf("wia: provider %q configured twice", p.Name)
		}
		if len(p.Roots) == 0 && len(p.Keys) == 0 {
			return nil, fmt.Errorf("wia: provider %q has neither Roots nor Keys", p.Name)
		}
		for _, u := range p.RedirectURIs {
			if u == "" || strings.Contains(u, "*") {
				return nil, fmt.Errorf("wia: provider %q: redirect URI %q is empty or has a wildcard", p.Name, u)
			}
		}
		v.byName[p.Name] = i
		if err := v.trust.add(i, p.Roots, p.Keys); err != nil {
			return nil, fmt.Errorf("wia: provider %q: %w", p.Name, err)
		}
	}
	return v, nil
}

func algSet(list, def []string) (map[string]bool, []string, error) {
	if len(list) == 0 {
		list = def
	}
	m := make(map[string]bool, len(list))
	for _, a := range list {
		if !knownAlg(a) {
			return nil, nil, fmt.Errorf("unsupported alg %q (known: ES256, ES384, ES512, EdDSA)", a)
		}
		m[a] = true
	}
	return m, append([]string(nil), list...), nil
}

// isNilPointer reports whether x is an interface holding a nil pointer (a
// nil *nonce.Source assigned to Options.Challenges).
func isNilPointer(x any) bool {
	if x == nil {
		return false
	}
	rv := reflect.ValueOf(x)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// SigningAlgs returns the accepted algs for AS metadata
// client_attestation_signing_alg_values_supported and
// client_attestation_pop_signing_alg_values_supported (ABCA-07 §13.4).
func (v *Verifier) SigningAlgs() (attestation, pop []string) {
	return append([]string(nil), v.attAlgList...), append([]string(nil), v.popAlgList...)
}

// ChallengesEnabled reports whether the Verifier can issue challenges (the
// AS may then offer challenge_endpoint).
func (v *Verifier) ChallengesEnabled() bool { return v.challenges != nil }

// ErrNoChallenges is returned by Challenge when no ChallengeSource is set.
var ErrNoChallenges = errors.New("wia: challenges are not enabled")

// Challenge issues a fresh attestation challenge (ABCA-07 §8: the
// challenge endpoint's attestation_challenge, or the
// OAuth-Client-Attestation-Challenge response header).
func (v *Verifier) Challenge() (string, error) {
	if v.challenges == nil {
		return "", ErrNoChallenges
	}
	return v.challenges.Issue()
}

// AuthenticateRequest reads the ABCA headers and the client_id form
// parameter of r (form is the parsed request body) and authenticates.
func (v *Verifier) AuthenticateRequest(ctx context.Context, r *http.Request, form url.Values) (*Client, error) {
	ids := form["client_id"]
	if len(ids) > 1 {
		return nil, oauth.InvalidRequest("client_id is given more than once")
	}
	clientID := ""
	if len(ids) == 1 {
		clientID = ids[0]
	}
	return v.Authenticate(ctx, r.Header.Values(oauth.HeaderClientAttestation),
		r.Header.Values(oauth.HeaderClientAttestationPoP), clientID)
}

// Authenticate checks the two headers of ABCA-07 §6.1/§6.2 and returns the
// client. attestation and pop are the values of the OAuth-Client-Attestation
// and OAuth-Client-Attestation-PoP headers (http.Header.Values); clientID is
// the client_id request parameter, "" if absent (else it must equal sub).
// The attestation is validated before the PoP (ABCA-07 §6.2
// RECOMMENDED); the PoP jti is remembered last, after every other check.
func (v *Verifier) Authenticate(ctx context.Context, attestation, pop []string, clientID string) (*Client, error) {
	att, err := singleHeader(attestation, oauth.HeaderClientAttestation)
	if err != nil {
		return nil, err
	}
	p, err := singleHeader(pop, oauth.HeaderClientAttestationPoP)
	if err != nil {
		return nil, err
	}
	now := v.now()
	c, err := v.verifyAttestation(att, now)
	if err != nil {
		return nil, err
	}
	// ABCA-07 §6.2 / §7: a client_id parameter must equal the attestation sub.
	if clientID != "" && clientID != c.ID {
		return nil, oauth.InvalidClient("client_id does not match the client attestation sub")
	}
	if err := v.verifyPoP(ctx, p, c, now); err != nil {
		return nil, err
	}
	return c, nil
}

// singleHeader enforces ABCA-07 §6.2 steps 1-2: exactly one header field
// holding exactly one JWT.
func singleHeader(values []string, name string) (string, error) {
	switch len(values) {
	case 0:
		return "", oauth.InvalidClient("missing %s header", name)
	case 1:
	default:
		return "", oauth.InvalidClient("more than one %s header", name)
	}
	s := strings.TrimSpace(values[0])
	if s == "" {
		return "", oauth.InvalidClient("empty %s header", name)
	}
	if strings.ContainsAny(s, ", ~") {
		return "", oauth.InvalidClient("%s header must hold exactly one JWT", name)
	}
	return s, nil
}

func attErr(format string, args ...any) *oauth.Error {
	return oauth.InvalidClient("client attestation: "+format, args...)
}

func popErr(format string, args ...any) *oauth.Error {
	return oauth.InvalidClient("client attestation PoP: "+format, args...)
}

func freshErr(format string, args ...any) *oauth.Error {
	return oauth.New(http.StatusUnauthorized, oauth.CodeUseFreshAttestation, "client attestation: "+format, args...)
}

type cnfClaim struct {
	JWK *ecJWK `json:"jwk"`
}

// attestationClaims are the Client Attestation JWT claims (ABCA-07 §5.1,
// OpenID4VCI E). Unknown claims are ignored.
type attestationClaims struct {
	Iss        string      `json:"iss"`
	Sub        string      `json:"sub"`
	Exp        numericDate `json:"exp"`
	Iat        numericDate `json:"iat"`
	Nbf        numericDate `json:"nbf"`
	Cnf        *cnfClaim   `json:"cnf"`
	WalletName string      `json:"wallet_name"`
	WalletLink string      `json:"wallet_link"`
}

// verifiedAttestation is what a successful verification of one exact
// attestation JWT yields, independent of time.
type verifiedAttestation struct {
	trust trustedPath
	cl    attestationClaims
	key   *jose.JSONWebKey
	jkt   string
}

// verifyAttestation runs the ABCA-07 §9 / ABCA-10 §7.1 checks on the Client
// Attestation JWT and returns the client. Wallets
// reuse an attestation across requests (ABCA-07 §10.1): its signature and
// trust chain are verified once and cached; the time checks run every time.
func (v *Verifier) verifyAttestation(s string, now time.Time) (*Client, error) {
	if len(s) > maxAttestationLen {
		return nil, attErr("JWT is too large")
	}
	key := sha256.Sum256([]byte(s))
	va, ok := v.atts.get(key)
	if !ok {
		var err error
		if va, err = v.checkAttestation(s, now); err != nil {
			return nil, err
		}
		v.atts.put(key, va)
	}
	cl := &va.cl
	// Step 3 (time part): the trust chain is valid now.
	if !va.trust.validAt(now) {
		return nil, attErr("x5c certificate chain is expired or not yet valid")
	}
	// Step 5: time validity and freshness.
	if now.After(cl.Exp.t.Add(v.skew)) {
		return nil, freshErr("expired (exp is in the past)")
	}
	if cl.Nbf.set && cl.Nbf.t.After(now.Add(v.skew)) {
		return nil, attErr("not yet valid (nbf is in the future)")
	}
	if cl.Iat.set && cl.Iat.t.After(now.Add(v.skew)) {
		return nil, attErr("iat is in the future")
	}
	if v.maxAge > 0 {
		if !cl.Iat.set {
			return nil, freshErr("has no iat; this server requires attestations issued within %s", v.maxAge)
		}
		if now.Sub(cl.Iat.t) > v.maxAge {
			return nil, freshErr("iat is older than %s", v.maxAge)
		}
	}
	p := &v.providers[va.trust.owner]
	ck := *va.key // the cached key stays unaliased
	return &Client{
		ID:           cl.Sub,
		Provider:     p.Name,
		Attester:     cl.Iss,
		Key:          &ck,
		JKT:          va.jkt,
		RedirectURIs: p.RedirectURIs,
		WalletName:   cl.WalletName,
		WalletLink:   cl.WalletLink,
		Expiry:       cl.Exp.t,
	}, nil
}

// checkAttestation runs the time-independent checks (ABCA-07 §9 steps 1-4).
func (v *Verifier) checkAttestation(s string, now time.Time) (*verifiedAttestation, error) {
	j, err := parseJWS(s, maxAttestationLen)
	if err != nil {
		return nil, attErr("JWT %v", err)
	}
	// Step 1: explicit typing (ABCA-07 §5.1).
	if !typMatches(j.header.Typ, oauth.TypClientAttestation) {
		return nil, attErr("typ must be %s", oauth.TypClientAttestation)
	}
	// Step 2: alg asymmetric, supported and allowed by policy.
	if !v.attAlgs[j.header.Alg] {
		return nil, attErr("alg %q is not accepted", trunc(j.header.Alg))
	}
	va := &verifiedAttestation{}
	cl := &va.cl
	if err := json.Unmarshal(j.payload, cl); err != nil {
		return nil, attErr("payload is not a valid JWT claims set")
	}
	// Step 3: signature by a trusted attester.
	prefer := -1
	if cl.Iss != "" {
		if i, ok := v.byName[cl.Iss]; ok {
			prefer = i
		}
	}
	if va.trust, err = v.trust.verify(j, prefer, now); err != nil {
		return nil, attErr("%v", err)
	}
	// Required claims (ABCA-07 §5.1).
	if cl.Sub == "" {
		return nil, attErr("sub is missing")
	}
	if !cl.Exp.set {
		return nil, attErr("exp is missing")
	}
	if cl.Cnf == nil || cl.Cnf.JWK == nil {
		return nil, attErr("cnf.jwk is missing")
	}
	// Step 4: cnf is a public key the PoP can be verified with.
	if va.key, err = cl.Cnf.JWK.publicKey(v.popCurves); err != nil {
		return nil, attErr("cnf.jwk %v", err)
	}
	var tp [128]byte
	sum := sha256.Sum256(cl.Cnf.JWK.thumbprintInput(tp[:0]))
	va.jkt = b64.EncodeToString(sum[:])
	return va, nil
}

// popClaims are the Client Attestation PoP JWT claims (ABCA-07 §5.2; iss
// from -04..-07, nonce from ≤ -05, exp from ≤ -05 tolerated).
type popClaims struct {
	Iss       *string     `json:"iss"`
	Aud       audience    `json:"aud"`
	Jti       string      `json:"jti"`
	Iat       numericDate `json:"iat"`
	Exp       numericDate `json:"exp"`
	Nbf       numericDate `json:"nbf"`
	Challenge string      `json:"challenge"`
	Nonce     string      `json:"nonce"`
}

// verifyPoP runs the ABCA-07 §9 PoP checks and finally remembers the jti.
func (v *Verifier) verifyPoP(ctx context.Context, s string, c *Client, now time.Time) error {
	j, err := parseJWS(s, maxPoPLen)
	if err != nil {
		return popErr("JWT %v", err)
	}
	if !typMatches(j.header.Typ, oauth.TypClientAttestPoP) {
		return popErr("typ must be %s", oauth.TypClientAttestPoP)
	}
	if !v.popAlgs[j.header.Alg] {
		return popErr("alg %q is not accepted", trunc(j.header.Alg))
	}
	// ABCA-07 §6.2 step 3: signed by the attestation's cnf key, no other.
	if !keyFitsAlg(c.Key.Key, j.header.Alg) {
		return popErr("alg %s does not fit the cnf.jwk key of the attestation", j.header.Alg)
	}
	if verifySignature(j.header.Alg, c.Key.Key, j.signingInput, j.sig) != nil {
		return popErr("signature does not verify with the attestation cnf.jwk key")
	}
	var cl popClaims
	if err := json.Unmarshal(j.payload, &cl); err != nil {
		return popErr("payload is not a valid JWT claims set")
	}
	// iss (ABCA -04..-07; removed in -08): if present, the client_id.
	if cl.Iss != nil && *cl.Iss != c.ID {
		return popErr("iss does not match the attestation sub")
	}
	if len(cl.Aud) == 0 {
		return popErr("aud is missing")
	}
	if !cl.Aud.contains(v.issuer) {
		return popErr("aud does not contain the authorization server issuer identifier")
	}
	if cl.Jti == "" {
		return popErr("jti is missing")
	}
	if len(cl.Jti) > maxJTILen {
		return popErr("jti is longer than %d characters", maxJTILen)
	}
	// iat window before the replay cache (ABCA-10 §9.7).
	if !cl.Iat.set {
		return popErr("iat is missing")
	}
	if cl.Iat.t.After(now.Add(v.skew)) {
		return popErr("iat is in the future")
	}
	if now.Sub(cl.Iat.t) > v.window {
		return popErr("iat is older than %s", v.window)
	}
	if cl.Exp.set && now.After(cl.Exp.t.Add(v.skew)) {
		return popErr("expired (exp is in the past)")
	}
	if cl.Nbf.set && cl.Nbf.t.After(now.Add(v.skew)) {
		return popErr("not yet valid (nbf is in the future)")
	}
	if err := v.checkChallenge(cl.Challenge, cl.Nonce); err != nil {
		return err
	}
	// Replay: one use of (instance key, jti) across all instances sharing
	// the store, for as long as the PoP could be accepted.
	h := sha256.New()
	h.Write([]byte(c.JKT))
	h.Write([]byte{0})
	h.Write([]byte(cl.Jti))
	var sum [sha256.Size]byte
	id := b64.EncodeToString(h.Sum(sum[:0])[:16]) // 128 bits: see dpop's replay ids
	// With a storage.Pending in ctx the write travels with the request's
	// next store read, which then answers with the replay error.
	replayed := popErr("jti was already used (replay)")
	err = storage.Remember(ctx, v.replay, ReplayKind, id, cl.Iat.t.Add(v.window+v.skew), replayed)
	switch {
	case err == nil:
		return nil
	case err == replayed:
		return replayed
	case errors.Is(err, storage.ErrUnavailable):
		return oauth.Unavailable(5, err)
	default:
		return oauth.ServerError(fmt.Errorf("wia: replay cache: %w", err))
	}
}

// checkChallenge validates the PoP challenge (ABCA-07 §5.2), or the legacy
// nonce claim (ABCA ≤ -05) when challenge is absent.
func (v *Verifier) checkChallenge(challenge, nonce string) error {
	ch, claim := challenge, "challenge"
	if ch == "" {
		ch, claim = nonce, "nonce"
	}
	if ch == "" {
		if v.requireChallenge {
			return v.challengeErr("challenge is missing; this server requires a server-provided challenge")
		}
		return nil
	}
	if v.challenges == nil {
		return popErr("%s was not issued by this server (it issues no challenges)", claim)
	}
	if len(ch) > maxChallengeLen || v.challenges.Check(ch) != nil {
		return v.challengeErr(claim + " is not a valid or current server-provided challenge")
	}
	return nil
}

// challengeErr is use_attestation_challenge with a fresh challenge in the
// OAuth-Client-Attestation-Challenge header (ABCA-07 §6.3, §8.1).
func (v *Verifier) challengeErr(desc string) error {
	fresh, err := v.challenges.Issue()
	if err != nil {
		return oauth.ServerError(fmt.Errorf("wia: issue challenge: %w", err))
	}
	return oauth.New(http.StatusBadRequest, oauth.CodeUseAttestationChallenge, "client attestation PoP: %s", desc).
		WithHeader(oauth.HeaderAttestationChallenge, fresh)
}

// trunc bounds wallet-supplied header values echoed in error descriptions.
func trunc(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}
