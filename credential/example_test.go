package credential_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/credential"
	"github.com/mdoc-issuer/issuer/dpop"
	"github.com/mdoc-issuer/issuer/mdoc"
	"github.com/mdoc-issuer/issuer/nonce"
	"github.com/mdoc-issuer/issuer/storage"
	"github.com/mdoc-issuer/issuer/wia"
)

// issuingParts are what cmd/issuer has at hand when it builds the service.
type issuingParts struct {
	issuer     string                    // config.Issuer
	tokens     credential.TokenValidator // the *authz.Server
	store      storage.Store             // memory or Redis
	nonceKeys  [][]byte                  // secrets.nonce_keys (first signs)
	dsKey      crypto.Signer             // pki Bundle DSKey
	chain      []*x509.Certificate       // DS certificate (+ intermediates), IACA last
	kaRoots    []*x509.Certificate       // key_attestation_issuers[].roots
	encKey     *ecdsa.PrivateKey         // encryption.key_file
	claims     credential.ClaimsSource   // claims.dataset or an authentic source
	offers     credential.OfferClaimsSource
	events     func(context.Context, credential.Event)
	nowFunc    func() time.Time
	configs    map[string]credential.Configuration
	dpopNonces bool // oauth.dpop.nonce_required
}

// newIssuingService shows how the Options are filled.
func newIssuingService(p issuingParts) (*credential.Service, error) {
	cnonces, err := nonce.New(p.nonceKeys, "c_nonce", 5*time.Minute, p.nowFunc)
	if err != nil {
		return nil, err
	}
	dopts := dpop.Options{Replay: p.store, Now: p.nowFunc}
	if p.dpopNonces {
		// The resource server's DPoP nonces; the Nonce Endpoint hands them out.
		if dopts.Nonces, err = nonce.New(p.nonceKeys, "dpop", 5*time.Minute, p.nowFunc); err != nil {
			return nil, err
		}
	}
	dv, err := dpop.NewVerifier(dopts)
	if err != nil {
		return nil, err
	}
	kav, err := wia.NewKeyAttestationVerifier(wia.KeyAttestationOptions{Roots: p.kaRoots, Now: p.nowFunc})
	if err != nil {
		return nil, err
	}
	encJWK := jose.JSONWebKey{Key: p.encKey, Algorithm: "ECDH-ES", Use: "enc"}
	kid, err := credential.Thumbprint(&jose.JSONWebKey{Key: &p.encKey.PublicKey})
	if err != nil {
		return nil, err
	}
	encJWK.KeyID = kid
	return credential.New(credential.Options{
		Issuer:          p.issuer,
		Configurations:  p.configs,
		Tokens:          p.tokens,
		DPoP:            dv,
		CNonces:         cnonces,
		KeyAttestations: kav,
		Signer:          credential.MdocSigner{Issuer: &mdoc.Issuer{Signer: p.dsKey, Chain: p.chain, Now: p.nowFunc}},
		Claims:          credential.ClaimsRouter{Offers: p.offers, Subjects: p.claims},
		Store:           p.store,
		BatchSize:       10,
		Encryption: &credential.EncryptionOptions{
			Keys: []jose.JSONWebKey{encJWK}, Encs: []jose.ContentEncryption{jose.A128GCM, jose.A256GCM}, Deflate: true,
		},
		Events: p.events,
		Now:    p.nowFunc,
	})
}

// Example_wiring builds the service the way cmd/issuer does; web mounts
// Handler() at the Path* constants and metadata publishes Metadata() and
// ConfigurationMetadata(id).
func Example_wiring() {
	var p issuingParts // filled from the configuration, see issuingParts
	p.configs = map[string]credential.Configuration{
		"org.iso.18013.5.1.mDL": {
			DocType:                 "org.iso.18013.5.1.mDL",
			ProofTypes:              []string{credential.ProofTypeJWT, credential.ProofTypeAttestation},
			KeyAttestationsRequired: &credential.KeyAttestationRequirement{KeyStorage: []string{"iso_18045_moderate", "iso_18045_high"}},
		},
	}
	svc, err := newIssuingService(p)
	if err != nil {
		return
	}
	_ = svc.Handler()
	_ = svc.Metadata()
}
