package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mdoc-issuer/issuer/e2e/wallet"
	"github.com/mdoc-issuer/issuer/mdoc"
)

// recorder times every HTTP round trip by endpoint, from the request until
// the response body is closed (the wallet reads it whole first).
type recorder struct {
	base string
	next http.RoundTripper

	mu        sync.Mutex
	latencies map[string][]time.Duration
	status    map[string]map[int]int
	enabled   atomic.Bool
	lastNonce atomic.Pointer[string] // the latest DPoP-Nonce of any response
}

// nonce is the latest DPoP server nonce seen: nonces are stateless and valid
// for every client until they expire (RFC 9449 §8).
func (r *recorder) nonce() string {
	if p := r.lastNonce.Load(); p != nil {
		return *p
	}
	return ""
}

func newRecorder(base string, next http.RoundTripper) *recorder {
	return &recorder{base: base, next: next, latencies: map[string][]time.Duration{}, status: map[string]map[int]int{}}
}

// endpointName maps a request path to the endpoint it measures.
func endpointName(base, u string) string {
	p := strings.TrimPrefix(u, base)
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	switch {
	case strings.HasPrefix(p, "/offers/"):
		return "offer"
	case strings.HasPrefix(p, "/admin/"):
		return "admin"
	case strings.HasPrefix(p, "/.well-known/"):
		return "metadata"
	}
	return strings.TrimPrefix(p, "/")
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := r.next.RoundTrip(req)
	if err == nil {
		if n := res.Header.Get("DPoP-Nonce"); n != "" {
			r.lastNonce.Store(&n)
		}
	}
	if err != nil || !r.enabled.Load() {
		return res, err
	}
	name := endpointName(r.base, req.URL.String())
	res.Body = &timedBody{ReadCloser: res.Body, done: func() {
		d := time.Since(start)
		r.mu.Lock()
		r.latencies[name] = append(r.latencies[name], d)
		if r.status[name] == nil {
			r.status[name] = map[int]int{}
		}
		r.status[name][res.StatusCode]++
		r.mu.Unlock()
	}}
	return res, nil
}

type timedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *timedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// loadOptions is one timed run against a started issuer.
type loadOptions struct {
	base        string
	dataDir     string
	concurrency int
	batch       int // keys (credentials) per flow
	freshWallet bool
	timeout     time.Duration
}

// loadResult is what a run measured on the client side.
type loadResult struct {
	flows, credentials int
	errors             []string // first few
	errorCount         int
	wall               time.Duration
	latencies          map[string][]time.Duration
	status             map[string]map[int]int
}

// add merges another round's result into r.
func (r *loadResult) add(o loadResult) {
	r.flows += o.flows
	r.credentials += o.credentials
	r.errorCount += o.errorCount
	r.wall += o.wall
	for _, e := range o.errors {
		if len(r.errors) < 5 {
			r.errors = append(r.errors, e)
		}
	}
	if r.latencies == nil {
		r.latencies, r.status = map[string][]time.Duration{}, map[string]map[int]int{}
	}
	for k, v := range o.latencies {
		r.latencies[k] = append(r.latencies[k], v...)
	}
	for k, m := range o.status {
		if r.status[k] == nil {
			r.status[k] = map[int]int{}
		}
		for code, n := range m {
			r.status[k][code] += n
		}
	}
}

// flowEnv is the state shared by the workers of one run.
type flowEnv struct {
	o        loadOptions
	http     *http.Client
	rec      *recorder
	provider *wallet.X509Provider
	iaca     []*x509.Certificate
	issuerMD map[string]any
	asMD     map[string]any
	docType  string
	wallets  chan *pooledWallet // reused across runs (unless fresh): instance key, attestation, DPoP nonce
}

// pooledWallet is a wallet instance and the flows it has run. e2e/wallet
// records every exchange of an instance, so an instance is replaced after
// walletFlows flows to keep the bench's own memory bounded.
type pooledWallet struct {
	w     *wallet.Wallet
	flows int
}

const walletFlows = 200

func newFlowEnv(ctx context.Context, o loadOptions, prov *benchProvider, iaca *x509.Certificate) (*flowEnv, error) {
	tr := &http.Transport{
		MaxIdleConns:        4 * o.concurrency,
		MaxIdleConnsPerHost: 4 * o.concurrency,
		IdleConnTimeout:     90 * time.Second,
	}
	rec := newRecorder(o.base, tr)
	env := &flowEnv{
		o:        o,
		http:     &http.Client{Transport: rec, Timeout: 30 * time.Second},
		rec:      rec,
		provider: &wallet.X509Provider{Key: prov.key, Chain: []*x509.Certificate{prov.cert}, Issuer: benchProviderName},
		iaca:     []*x509.Certificate{iaca},
		docType:  "org.iso.18013.5.1.mDL",
		wallets:  make(chan *pooledWallet, o.concurrency),
	}
	// Discovery once: every wallet of the run reads the same metadata.
	w, err := env.newWallet()
	if err != nil {
		return nil, err
	}
	if err := w.Discover(ctx); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	env.issuerMD, env.asMD = w.IssuerMetadata, w.ASMetadata
	return env, nil
}

func (e *flowEnv) newWallet() (*wallet.Wallet, error) {
	w, err := wallet.New(wallet.Config{
		Issuer: e.o.base, HTTP: e.http, Attester: e.provider, KeyAttester: e.provider, ClientID: benchClientID,
	})
	if err != nil {
		return nil, err
	}
	w.IssuerMetadata, w.ASMetadata = e.issuerMD, e.asMD
	return w, nil
}

// createOffers creates n pre-authorized offers through the admin API (not
// timed as flows) and returns their offer URIs.
func createOffers(ctx context.Context, c *http.Client, base string, n, workers int) ([]string, error) {
	body, _ := json.Marshal(map[string]any{
		"credential_configuration_ids": []string{benchConfID},
		"grant":                        "pre-authorized_code",
		"subject":                      benchSubject,
	})
	uris := make([]string, n)
	next := atomic.Int64{}
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				uri, err := createOffer(ctx, c, base, body)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				uris[i] = uri
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return uris, firstErr
}

func createOffer(ctx context.Context, c *http.Client, base string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/admin/v1/offers", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+benchAdminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var created struct {
		OfferURI string `json:"offer_uri"`
	}
	if res.StatusCode != http.StatusCreated || json.Unmarshal(b, &created) != nil || created.OfferURI == "" {
		return "", fmt.Errorf("create offer: HTTP %d: %.300s", res.StatusCode, b)
	}
	return created.OfferURI, nil
}

// run drives the flows over the given offers with o.concurrency wallets.
// verifyFirst checks the first credential of the run against the IACA.
//
// rate 0 is a closed loop: each wallet starts its next flow as soon as the
// last one ends (saturation: latency is then concurrency / throughput).
// rate > 0 starts flows at that many per second (open loop), each taken by a
// free wallet, so latency shows service time and the queueing of a load the
// issuer can carry.
func (e *flowEnv) run(ctx context.Context, offers []string, rate float64) loadResult {
	ctx, cancel := context.WithTimeout(ctx, e.o.timeout)
	defer cancel()
	var starts chan struct{}
	if rate > 0 {
		starts = make(chan struct{})
		go func() {
			defer close(starts)
			interval := time.Duration(float64(time.Second) / rate)
			t0 := time.Now()
			for i := range offers {
				if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				select {
				case starts <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var (
		next    atomic.Int64
		flows   atomic.Int64
		creds   atomic.Int64
		mu      sync.Mutex
		errs    []string
		errN    int
		wg      sync.WaitGroup
		checked atomic.Bool
	)
	fail := func(err error) {
		mu.Lock()
		errN++
		if len(errs) < 5 {
			errs = append(errs, err.Error())
		}
		mu.Unlock()
	}
	e.rec.enabled.Store(true)
	start := time.Now()
	for range min(e.o.concurrency, len(offers)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pw *pooledWallet
			if !e.o.freshWallet {
				select {
				case pw = <-e.wallets:
				default:
				}
				defer func() {
					if pw != nil {
						select {
						case e.wallets <- pw:
						default:
						}
					}
				}()
			}
			for {
				if starts != nil {
					if _, ok := <-starts; !ok {
						return
					}
				}
				i := int(next.Add(1)) - 1
				if i >= len(offers) || ctx.Err() != nil {
					return
				}
				if pw == nil || pw.flows >= walletFlows || e.o.freshWallet {
					w, err := e.newWallet()
					if err != nil {
						fail(err)
						continue
					}
					pw = &pooledWallet{w: w}
				}
				pw.flows++
				n, err := e.flow(ctx, pw.w, offers[i], !checked.Swap(true))
				if err != nil {
					fail(err)
					continue
				}
				flows.Add(1)
				creds.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	e.rec.enabled.Store(false)
	if ctx.Err() != nil && int(flows.Load())+errN < len(offers) {
		errN += len(offers) - int(flows.Load()) - errN
		errs = append(errs, fmt.Sprintf("time limit %s reached", e.o.timeout))
	}
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	return loadResult{
		flows: int(flows.Load()), credentials: int(creds.Load()), errors: errs, errorCount: errN, wall: wall,
		latencies: maps2(e.rec.latencies), status: e.rec.status,
	}
}

func maps2(m map[string][]time.Duration) map[string][]time.Duration {
	out := make(map[string][]time.Duration, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// flow is one complete pre-authorized issuance: offer fetch, token (wallet
// attestation + PoP + DPoP), nonce, credential (jwt proof with a key
// attestation covering every key). It returns the number of credentials.
func (e *flowEnv) flow(ctx context.Context, w *wallet.Wallet, offerURI string, verify bool) (int, error) {
	offer, err := w.ResolveOffer(ctx, offerURI)
	if err != nil {
		return 0, err
	}
	tok, err := w.PreAuthorized(ctx, offer, "")
	if err != nil {
		return 0, err
	}
	keys := make([]*ecdsa.PrivateKey, e.o.batch)
	for i := range keys {
		keys[i] = wallet.NewKey()
	}
	req := wallet.CredentialRequest{ConfigurationID: benchConfID, Keys: keys, AttestKeys: true}
	for _, d := range tok.AuthorizationDetails {
		if d.CredentialConfigurationID == benchConfID && len(d.CredentialIdentifiers) > 0 {
			req.ConfigurationID, req.Identifier = "", d.CredentialIdentifiers[0]
		}
	}
	creds, err := e.credentialRequest(ctx, w, tok, req)
	if err != nil {
		return 0, err
	}
	if len(creds) != len(keys) {
		return 0, fmt.Errorf("credential: %d credentials for %d keys", len(creds), len(keys))
	}
	if verify {
		for i, c := range creds {
			if _, err := mdoc.Verify(c, mdoc.VerifyOptions{Roots: e.iaca, DocType: e.docType,
				DeviceKey: &jose.JSONWebKey{Key: &keys[i].PublicKey}}); err != nil {
				return 0, fmt.Errorf("credential %d does not verify: %w", i, err)
			}
		}
	}
	return len(creds), nil
}

// percentile returns the p-th percentile (nearest rank) of sorted ds.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}
