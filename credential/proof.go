package credential

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/mdoc"
	"github.com/mdoc-issuer/issuer/oauth"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/wia"
)

// provenKeys are the device keys a Credential Request proved possession of
// (jwt proofs) or had attested (key attestations), in request order, without
// duplicates.
type provenKeys struct {
	keys []*jose.JSONWebKey
	jkts []string
	// attestation summarises the key attestations used (for records).
	attestationIssuer string
	jtis              []jtiMark
}

type jtiMark struct {
	id  string
	exp time.Time
}

func invalidProof(format string, args ...any) *oauth.Error {
	return oauth.InvalidProof(format, args...)
}

// verifyProofs validates the proofs parameter (VCI §8.2, Appendix F) for
// configuration cfg and returns the device keys to bind credentials to.
// Nothing is consumed here: c_nonces are stateless, and jti values are
// remembered by rememberProofs once the request can be served. raw is a
// member value of a request object that parseObject accepted (valid JSON).
func (s *Service) verifyProofs(ctx context.Context, cfg Configuration, raw json.RawMessage, g *grantCtx) (*provenKeys, error) {
	if isAbsent(raw) {
		return nil, invalidProof("proofs missing: this configuration requires key binding")
	}
	// raw is a member of the request object parseObject validated.
	byType, dups, ok := splitObject(raw)
	if !ok || len(dups) > 0 {
		return nil, invalidProof("proofs must be an object with one proof type")
	}
	if len(byType) != 1 {
		return nil, invalidProof("proofs must contain exactly one proof type")
	}
	var typ string
	var list []string
	for t, v := range byType {
		typ = t
		var ok bool
		if list, ok = jsonStrings(v); !ok {
			return nil, invalidProof("proofs.%s must be an array of strings", safeName(t))
		}
	}
	if typ != ProofTypeJWT && typ != ProofTypeAttestation {
		return nil, invalidProof("proof type %s not supported", safeName(typ))
	}
	if !cfg.accepts(typ) {
		return nil, invalidProof("proof type %s not supported for this credential configuration", typ)
	}
	if len(list) == 0 {
		return nil, invalidProof("proofs.%s is empty", typ)
	}
	// VCI F.3: the attestation proof type carries exactly one key attestation.
	if typ == ProofTypeAttestation && len(list) != 1 {
		return nil, invalidProof("proofs.attestation must contain exactly one key attestation")
	}
	batch := s.batchSize(cfg)
	if len(list) > batch {
		return nil, oauth.InvalidCredentialRequest("%d proofs exceed the batch size of %d", len(list), batch)
	}
	pk := &provenKeys{}
	seen := map[string]bool{}
	add := func(k *jose.JSONWebKey, jkt string) {
		if !seen[jkt] {
			seen[jkt] = true
			pk.keys = append(pk.keys, k)
			pk.jkts = append(pk.jkts, jkt)
		}
	}
	signers := map[string]bool{}
	for i, p := range list {
		var res *proofResult
		var err error
		if typ == ProofTypeJWT {
			res, err = s.verifyJWTProof(ctx, cfg, p, g)
		} else {
			res, err = s.verifyAttestationProof(ctx, cfg, p)
		}
		if err != nil {
			if e := oauth.As(err); e != nil && len(list) > 1 {
				c := *e
				c.Description = "proof " + strconv.Itoa(i) + ": " + e.Description
				return nil, &c
			}
			return nil, err
		}
		if res.signerJKT != "" {
			// BAT-03: each proven key binds one credential; the same key
			// proven twice is refused.
			if signers[res.signerJKT] {
				return nil, invalidProof("proof %d: the same key signed more than one proof", i)
			}
			signers[res.signerJKT] = true
			add(res.signer, res.signerJKT)
		}
		if res.ka != nil {
			for j := range res.ka.AttestedKeys {
				k, jkt, err := publicDeviceKey(&res.ka.AttestedKeys[j])
				if err != nil {
					return nil, invalidProof("proof %d: attested key %d: %s", i, j, err.Error())
				}
				add(k, jkt)
			}
			pk.attestationIssuer = res.ka.Issuer
		}
		if res.jti != "" {
			pk.jtis = append(pk.jtis, jtiMark{id: res.jti, exp: res.jtiExp})
		}
	}
	if len(pk.keys) > batch {
		return nil, invalidProof("%d distinct keys exceed the batch size of %d", len(pk.keys), batch)
	}
	return pk, nil
}

// rememberProofs records the jti values of the request's key proofs, so that
// a proof carrying a jti is accepted once. It runs after everything that can
// fail for reasons the wallet does not control (the claims source), right
// before credentials are signed or a deferred transaction is stored.
func (s *Service) rememberProofs(ctx context.Context, pk *provenKeys) error {
	for _, m := range pk.jtis {
		sum := sha256.Sum256([]byte(s.o.Issuer + "\x00" + m.id))
		err := s.o.Store.Remember(ctx, KindKeyProofJTI, base64.RawURLEncoding.EncodeToString(sum[:16]), m.exp)
		switch {
		case errors.Is(err, storage.ErrAlreadyUsed):
			return invalidProof("key proof replayed (jti seen before)")
		case err != nil:
			return wireError(err)
		}
	}
	pk.jtis = nil
	return nil
}

type proofResult struct {
	signer    *jose.JSONWebKey // jwt proof: the proof key
	signerJKT string
	ka        *KeyAttestation
	jti       string
	jtiExp    time.Time
}

type proofClaims struct {
	Iss   *string         `json:"iss"`
	Aud   json.RawMessage `json:"aud"`
	Iat   *float64        `json:"iat"`
	Exp   *float64        `json:"exp"`
	Nonce *string         `json:"nonce"`
	Jti   *string         `json:"jti"`
}

// verifyJWTProof checks one jwt proof (VCI F.1, F.4; HAIP §7: ES256).
func (s *Service) verifyJWTProof(ctx context.Context, cfg Configuration, p string, g *grantCtx) (*proofResult, error) {
	hdr, err := decodeJOSEHeader(p)
	if err != nil {
		return nil, invalidProof("proof is not a compact JWS")
	}
	if typ, _ := headerString(hdr, "typ"); typ != oauth.TypKeyProof {
		return nil, invalidProof("proof typ must be %s", oauth.TypKeyProof)
	}
	if alg, _ := headerString(hdr, "alg"); alg != string(jose.ES256) {
		return nil, invalidProof("proof alg must be ES256")
	}
	// RFC 7515 §4.1.11: no JOSE extension is understood here, so crit (and
	// b64, which needs it, RFC 7797 §6) is refused.
	if _, crit := hdr["crit"]; crit {
		return nil, invalidProof("proof crit header is not supported")
	}
	if _, b64 := hdr["b64"]; b64 {
		return nil, invalidProof("proof b64 header is not supported")
	}
	_, hasJWK := hdr["jwk"]
	_, hasX5C := hdr["x5c"]
	_, hasKID := hdr["kid"]
	_, hasTC := hdr["trust_chain"]
	rawKA, hasKA := hdr["key_attestation"]
	var att *KeyAttestation
	if hasKA && s.o.KeyAttestations != nil {
		ka, ok := jsonString(rawKA)
		if !ok || ka == "" {
			return nil, invalidProof("proof key_attestation must be a JWT string")
		}
		if att, err = s.verifyKeyAttestation(ctx, ka, true); err != nil {
			return nil, err
		}
	}
	// VCI F.1: jwk, kid and x5c are mutually exclusive. A kid names a key
	// only together with a key attestation (the signing key is one of its
	// attested_keys); DID URLs are not resolved.
	var candidates []*jose.JSONWebKey
	switch {
	case hasTC:
		return nil, invalidProof("proof trust_chain is not supported")
	case boolCount(hasJWK, hasX5C, hasKID) > 1:
		return nil, invalidProof("proof jwk, kid and x5c are mutually exclusive")
	case hasJWK:
		k, err := parseProofJWK(hdr["jwk"])
		if err != nil {
			return nil, err
		}
		candidates = []*jose.JSONWebKey{k}
	case hasX5C:
		k, err := x5cLeafKey(hdr["x5c"])
		if err != nil {
			return nil, invalidProof("proof x5c: %s", err.Error())
		}
		candidates = []*jose.JSONWebKey{k}
	case att != nil:
		for i := range att.AttestedKeys {
			candidates = append(candidates, &att.AttestedKeys[i])
		}
	case hasKID:
		return nil, invalidProof("proof kid is not supported without a key attestation: send the key as jwk")
	default:
		return nil, invalidProof("proof has no key: send jwk, x5c or a key_attestation")
	}
	var dk *jose.JSONWebKey
	var jkt string
	var payload []byte
	for _, k := range candidates {
		pk, tp, err := publicDeviceKey(k)
		if err != nil {
			if len(candidates) == 1 {
				return nil, invalidProof("proof key: %s", err.Error())
			}
			continue
		}
		if body, err := verifyES256Compact(p, pk.Key.(*ecdsa.PublicKey)); err == nil {
			dk, jkt, payload = pk, tp, body
			break
		}
	}
	if dk == nil {
		if att != nil && !hasJWK && !hasX5C {
			return nil, invalidProof("proof is not signed by any of the key attestation's attested_keys")
		}
		return nil, invalidProof("proof signature does not verify")
	}
	var c proofClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, invalidProof("proof claims malformed")
	}
	if !audienceIs(c.Aud, s.o.Issuer) {
		return nil, invalidProof("proof aud must be the credential issuer identifier")
	}
	now := s.o.Now()
	if c.Iat == nil {
		return nil, invalidProof("proof iat missing")
	}
	iat, ok := unixTime(*c.Iat)
	if !ok || iat.After(now.Add(s.o.ClockSkew)) {
		return nil, invalidProof("proof iat is in the future")
	}
	if iat.Before(now.Add(-s.o.ProofMaxAge)) {
		return nil, invalidProof("proof iat is too old")
	}
	if c.Exp != nil {
		if exp, ok := unixTime(*c.Exp); !ok || exp.Before(now.Add(-s.o.ClockSkew)) {
			return nil, invalidProof("proof expired")
		}
	}
	if c.Iss != nil {
		switch {
		case g.ClientID == "":
			return nil, invalidProof("proof iss must be omitted for an anonymous client")
		case *c.Iss != g.ClientID:
			return nil, invalidProof("proof iss is not the client_id of the access token")
		}
	}
	// VCI §8.3.1.2: a proof without c_nonce is invalid_proof; a wrong or
	// expired c_nonce is invalid_nonce.
	if c.Nonce == nil || *c.Nonce == "" {
		return nil, invalidProof("proof nonce missing: fetch a c_nonce from the nonce endpoint")
	}
	if err := s.o.CNonces.Check(*c.Nonce); err != nil {
		return nil, oauth.InvalidNonce("proof nonce is not a valid c_nonce: fetch a new one from the nonce endpoint").WithCause(err)
	}
	res := &proofResult{signer: dk, signerJKT: jkt}
	if c.Jti != nil {
		if *c.Jti == "" || len(*c.Jti) > 256 {
			return nil, invalidProof("proof jti malformed")
		}
		res.jti = *c.Jti
		res.jtiExp = iat.Add(s.o.ProofMaxAge + s.o.ClockSkew)
	}
	if att != nil {
		// VCI F.1: the proof is signed by one of the attested keys.
		if !att.Attests(dk) {
			return nil, invalidProof("proof key is not one of the key attestation's attested_keys")
		}
		res.ka = att
	}
	if cfg.KeyAttestationsRequired != nil {
		if res.ka == nil {
			return nil, invalidProof("this credential configuration requires a key attestation in the proof")
		}
		if err := meetsRequirement(cfg.KeyAttestationsRequired, res.ka); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// verifyAttestationProof checks an attestation proof (VCI F.3): a key
// attestation whose nonce is a c_nonce; no proof of possession.
func (s *Service) verifyAttestationProof(ctx context.Context, cfg Configuration, p string) (*proofResult, error) {
	att, err := s.verifyKeyAttestation(ctx, p, false)
	if err != nil {
		return nil, err
	}
	if att.Nonce == "" {
		return nil, invalidProof("key attestation nonce missing: fetch a c_nonce from the nonce endpoint")
	}
	if cfg.KeyAttestationsRequired != nil {
		if err := meetsRequirement(cfg.KeyAttestationsRequired, att); err != nil {
			return nil, err
		}
	}
	return &proofResult{ka: att}, nil
}

// verifyKeyAttestation runs the KeyAttestationVerifier and the checks that
// depend on where the attestation is used (VCI Appendix D.1).
func (s *Service) verifyKeyAttestation(ctx context.Context, jwt string, inJWTProof bool) (*KeyAttestation, error) {
	if s.o.KeyAttestations == nil {
		return nil, invalidProof("key attestations are not accepted by this issuer")
	}
	att, err := s.o.KeyAttestations.Verify(ctx, jwt)
	if err != nil {
		if e := oauth.As(err); e != nil {
			return nil, e
		}
		if errors.Is(err, storage.ErrUnavailable) {
			return nil, wireError(err)
		}
		return nil, invalidProof("key attestation invalid").WithCause(err)
	}
	if att == nil || len(att.AttestedKeys) == 0 {
		return nil, invalidProof("key attestation has no attested_keys")
	}
	if inJWTProof {
		// VCI D.1: exp is required when used with the jwt proof type.
		if err := wia.CheckJWTProofUse(att); err != nil {
			return nil, err
		}
	}
	if att.Nonce != "" {
		if err := s.o.CNonces.Check(att.Nonce); err != nil {
			return nil, oauth.InvalidNonce("key attestation nonce is not a valid c_nonce: fetch a new one from the nonce endpoint").WithCause(err)
		}
	}
	return att, nil
}

// meetsRequirement applies key_attestations_required (VCI D.2, §12.2.4):
// each non-empty list must be met by at least one asserted value.
func meetsRequirement(req *KeyAttestationRequirement, att *KeyAttestation) error {
	return wia.CheckRequired(att, req.KeyStorage, req.UserAuthentication)
}

// publicDeviceKey checks that k is a public EC P-256 key (the only device key
// type HAIP §7 requires) and returns a copy carrying only the key, and its
// RFC 7638 thumbprint.
func publicDeviceKey(k *jose.JSONWebKey) (*jose.JSONWebKey, string, error) {
	if k == nil || k.Key == nil {
		return nil, "", errors.New("no key")
	}
	pub, ok := k.Key.(*ecdsa.PublicKey)
	if !ok {
		return nil, "", errors.New("not a public EC key")
	}
	if pub.Curve != elliptic.P256() {
		return nil, "", errors.New("not a P-256 key")
	}
	if _, err := pub.ECDH(); err != nil {
		return nil, "", errors.New("invalid EC point")
	}
	dk := &jose.JSONWebKey{Key: pub}
	jkt, err := Thumbprint(dk)
	if err != nil {
		return nil, "", err
	}
	return dk, jkt, nil
}

// parseProofJWK reads the jwk header of a jwt proof: a public P-256 key
// (HAIP §7; wia.ParsePublicJWK).
func parseProofJWK(raw json.RawMessage) (*jose.JSONWebKey, error) {
	k, err := wia.ParsePublicJWK(raw, "P-256")
	if err != nil {
		return nil, invalidProof("proof jwk %s", err.Error())
	}
	return k, nil
}

// Thumbprint is the RFC 7638 SHA-256 JWK thumbprint, base64url
// (mdoc.Thumbprint).
func Thumbprint(k *jose.JSONWebKey) (string, error) { return mdoc.Thumbprint(k) }

func x5cLeafKey(raw json.RawMessage) (*jose.JSONWebKey, error) {
	var chain []string
	if err := json.Unmarshal(raw, &chain); err != nil || len(chain) == 0 {
		return nil, errors.New("must be a non-empty array of certificates")
	}
	der, err := base64.StdEncoding.DecodeString(chain[0])
	if err != nil {
		return nil, errors.New("leaf is not base64")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errors.New("leaf certificate cannot be parsed")
	}
	return &jose.JSONWebKey{Key: cert.PublicKey}, nil
}

// boolCount counts the true values.
func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// verifyES256Compact checks the ES256 signature (RFC 7518 §3.4: R || S, 32
// octets each, over SHA-256 of the signing input) of a compact JWS whose
// header the caller has decoded and checked, and returns the payload. It
// replaces a second, full parse of the proof by go-jose.
func verifyES256Compact(compact string, pub *ecdsa.PublicKey) ([]byte, error) {
	hdr, rest, ok := strings.Cut(compact, ".")
	if !ok {
		return nil, errors.New("not a compact serialization")
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig, ".") || hdr == "" {
		return nil, errors.New("not a compact serialization")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(raw) != 64 {
		return nil, errors.New("ES256 signature must be 64 octets, base64url")
	}
	body, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return nil, errors.New("payload is not base64url")
	}
	digest := sha256.Sum256([]byte(compact[:len(hdr)+1+len(payload)]))
	r, s := new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return nil, errors.New("signature does not verify")
	}
	return body, nil
}

// decodeJOSEHeader decodes the protected header of a compact JWS.
func decodeJOSEHeader(compact string) (map[string]json.RawMessage, error) {
	h, _, ok := strings.Cut(compact, ".")
	if !ok {
		return nil, errors.New("not a compact serialization")
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return nil, err
	}
	// RFC 7515 §4: a header with duplicate member names is refused.
	m, dups, ok := objectMembers(b)
	if !ok || len(dups) > 0 {
		return nil, errors.New("header is not a JSON object with unique member names")
	}
	return m, nil
}

func headerString(h map[string]json.RawMessage, k string) (string, bool) {
	raw, ok := h[k]
	if !ok {
		return "", false
	}
	return jsonString(raw)
}

func audienceIs(raw json.RawMessage, want string) bool {
	if one, ok := jsonString(raw); ok {
		return one == want
	}
	if many, ok := jsonStrings(raw); ok {
		return slices.Contains(many, want)
	}
	return false
}

func unixTime(f float64) (time.Time, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// safeName returns a wallet-supplied name for an error description, or a
// placeholder when it is not a short plain identifier.
func safeName(s string) string {
	if len(s) > 32 {
		return "(unnamed)"
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "(unnamed)"
		}
	}
	return s
}
