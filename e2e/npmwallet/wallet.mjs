// An OpenID4VCI 1.0 wallet built on independent npm libraries
// (@openid4vc/openid4vci + @openid4vc/oauth2, JOSE with `jose`), used by
// e2e/interop_npm_test.go to drive the real issuer binary over HTTP.
//
// The protocol messages are built, sent and parsed by the libraries; this
// script supplies only what they leave to the caller: key material and the
// signing/hash/random callbacks, the End-User's browser (login and consent
// forms, read with redirect: 'manual'), the `state` check of the
// authorization response, and the workarounds listed in README.md.
//
// stdin: JSON {
//   issuer,                       credential issuer identifier
//   flow,                         "authorization_code" | "pre-authorized_code"
//   offerUri?,                    credential offer URI (required for pre-authorized_code)
//   txCode?,                      transaction code of a pre-authorized offer
//   credentialConfigurationId?,   default: the offer's first, else the metadata's first
//   username?, password?,         End-User login (authorization_code)
//   redirectUri, clientId,        wallet's redirect URI and client_id (= attestation sub)
//   walletAttestation,            OAuth-Client-Attestation JWT (cnf.jwk = attestation key)
//   attestationKeyJwk,            private JWK of the attestation's cnf key (signs the PoP)
//   holderPrivateJwk?,            device key to bind (default: a fresh P-256 key)
//   keyAttestation?,              key attestation JWT attesting the holder key (jwt proof header)
//   batchSize?,                   proofs to send (each with a fresh key; default 1)
//   authorizationDetails?,        true: request the configuration with authorization_details
//                                 (RFC 9396) instead of its scope
//   sendState?,                   false: send no `state` (the library's default); default true
//   metadataTrustPem?             PEM trust anchor(s) of signed issuer metadata: ask for it
//                                 (Accept: application/jwt) and verify its x5c chain

// }
// stdout: JSON {credentials: [base64url IssuerSigned...], holderPrivateJwks, holderPublicJwks,
//               holderPrivateJwk, holderPublicJwk, notified, requestedBy,
//               signedMetadata, steps: [...]}
// On failure: stdout JSON {error, step, steps}, exit code 1 (2 for bad input).
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { CompactSign, calculateJwkThumbprint, compactVerify, exportJWK, generateKeyPair, importJWK } from 'jose';
import { Oauth2Client, clientAuthenticationClientAttestationJwt } from '@openid4vc/oauth2';
import { Openid4vciClient, extractScopesForCredentialConfigurationIds } from '@openid4vc/openid4vci';
import { setGlobalConfig } from '@openid4vc/utils';

const steps = [];
let currentStep = 'input';

function step(name) {
  currentStep = name;
}

class WalletError extends Error {}

function fail(msg) {
  throw new WalletError(msg);
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

// ---------------------------------------------------------------- HTTP log

// Every request the libraries or the browser make goes through loggingFetch.
// The log keeps method, URL without query and status: no tokens, codes or
// nonces (they travel in query strings, bodies and headers).
let metadataAccept; // Accept header for the issuer metadata (signed metadata wanted)

async function loggingFetch(input, init) {
  const url = typeof input === 'string' ? input : input.url;
  const method = (init?.method ?? 'GET').toUpperCase();
  let opts = { ...init, redirect: 'manual' };
  if (metadataAccept && new URL(url).pathname.includes('/.well-known/openid-credential-issuer')) {
    // The library sends no Accept header, so a content-negotiating issuer
    // never returns signed metadata to it (README.md).
    opts = { ...opts, headers: { ...(init?.headers ?? {}), Accept: metadataAccept } };
  }
  const res = await fetch(input, opts);
  const u = new URL(url);
  // An offer id in the path is the capability to read the offer: hide it.
  const path = u.pathname.replace(/\/offers\/[^/]+/, '/offers/{id}');
  steps.push({ step: currentStep, method, url: `${u.origin}${path}`, status: res.status });
  return res;
}

// ----------------------------------------------------------- key material

const keys = new Map(); // RFC 7638 thumbprint -> {privateKey, publicJwk}

async function addKey(privateJwk) {
  const { d, ...pub } = privateJwk;
  if (!d) fail('a private JWK (with d) is required');
  const publicJwk = { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y };
  const privateKey = await importJWK({ ...publicJwk, d }, 'ES256');
  const tp = await calculateJwkThumbprint(publicJwk, 'sha256');
  keys.set(tp, { privateKey, publicJwk });
  return { publicJwk, privateJwk: { ...publicJwk, d } };
}

async function newKey() {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return addKey(await exportJWK(privateKey));
}

async function privateKeyFor(publicJwk) {
  const tp = await calculateJwkThumbprint({ kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x, y: publicJwk.y }, 'sha256');
  const k = keys.get(tp);
  if (!k) fail(`no private key for the JWK with thumbprint ${tp}`);
  return k.privateKey;
}

// The attestation challenge (ABCA -07 §8) to put into the next PoPs, when the
// authorization server publishes a challenge endpoint. See README.md: the
// library's PoP has no way to carry one.
let attestationChallenge;

const callbacks = {
  fetch: loggingFetch,
  hash: (data, alg) => {
    const name = { 'sha-256': 'sha256', 'sha-384': 'sha384', 'sha-512': 'sha512' }[alg];
    if (!name) fail(`unsupported hash ${alg}`);
    return new Uint8Array(createHash(name).update(data).digest());
  },
  generateRandom: (n) => new Uint8Array(randomBytes(n)),
  signJwt: async (signer, { header, payload }) => {
    if (signer.method !== 'jwk') fail(`signer method ${signer.method} is not supported by this wallet`);
    if (signer.alg !== 'ES256') fail(`signing alg ${signer.alg} is not supported by this wallet`);
    const claims = { ...payload };
    if (header.typ === 'oauth-client-attestation-pop+jwt' && attestationChallenge) {
      claims.challenge = attestationChallenge;
    }
    const key = await privateKeyFor(signer.publicJwk);
    const jwt = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader(header)
      .sign(key);
    return { jwt, signerJwk: signer.publicJwk };
  },
  verifyJwt: (signer, jwt) => verifyX5cJwt(signer, jwt),
  encryptJwe: () => fail('this wallet does not use JWE'),
  decryptJwe: () => fail('this wallet does not use JWE'),
};

// ------------------------------------------------------- signed metadata

let metadataAnchors = []; // X509Certificate trust anchors of signed metadata

function pemCertificates(pem) {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
}

// verifyX5cJwt is the library's verifyJwt callback. The client side calls it
// only for signed issuer metadata (OpenID4VCI §12.2.3): ES256 signature by the
// x5c leaf, each certificate signed by the next and valid now, the last one
// issued by a configured trust anchor (HAIP: x5c excludes the anchor).
async function verifyX5cJwt(signer, { header, compact }) {
  if (signer.method !== 'x5c' || !Array.isArray(signer.x5c) || signer.x5c.length === 0) fail('signed metadata without x5c');
  if (header.alg !== 'ES256') fail(`signed metadata alg ${header.alg}, want ES256`);
  if (metadataAnchors.length === 0) fail('no trust anchor for signed metadata');
  const chain = signer.x5c.map((c) => new X509Certificate(Buffer.from(c, 'base64')));
  const now = new Date();
  for (const [i, cert] of chain.entries()) {
    if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) fail(`x5c[${i}] is not valid now`);
    if (i > 0 && !cert.ca) fail(`x5c[${i}] is not a CA certificate`);
    if (i + 1 < chain.length && !(cert.checkIssued(chain[i + 1]) && cert.verify(chain[i + 1].publicKey))) {
      fail(`x5c[${i}] is not signed by x5c[${i + 1}]`);
    }
  }
  const last = chain[chain.length - 1];
  if (!metadataAnchors.some((a) => last.checkIssued(a) && last.verify(a.publicKey))) fail('x5c does not chain to a trusted anchor');
  const leafJwk = chain[0].publicKey.export({ format: 'jwk' });
  await compactVerify(compact, await importJWK(leafJwk, 'ES256'), { algorithms: ['ES256'] });
  return { verified: true, signerJwk: leafJwk };
}

// ------------------------------------------------------------- the browser

function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e];
  });
}

function attributes(tag) {
  const out = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  let m;
  while ((m = re.exec(tag)) !== null) out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  return out;
}

// parseForm reads the first <form> of a page: action, the values of its
// inputs and its submit buttons.
function parseForm(html) {
  const start = html.search(/<form\b/i);
  if (start < 0) return null;
  const end = html.slice(start).search(/<\/form\s*>/i);
  const body = end < 0 ? html.slice(start) : html.slice(start, start + end);
  const open = body.match(/^<form\b([^>]*)>/i);
  const form = { action: attributes(open ? open[1] : '').action ?? '', values: new URLSearchParams(), inputs: new Set(), buttons: [] };
  const re = /<(input|button)\b([^>]*)>/gi;
  let m;
  while ((m = re.exec(body)) !== null) {
    const a = attributes(m[2]);
    const type = (a.type ?? '').toLowerCase();
    if ((m[1].toLowerCase() === 'button' && (type === '' || type === 'submit')) || (m[1].toLowerCase() === 'input' && type === 'submit')) {
      form.buttons.push({ id: a.id ?? '', name: a.name ?? '', value: a.value ?? '' });
    } else if (m[1].toLowerCase() === 'input' && a.name) {
      form.inputs.add(a.name);
      if (type === 'hidden' || a.value) form.values.set(a.name, a.value ?? '');
    }
  }
  return form;
}

const buttonAliases = {
  login: ['login', 'submit', 'sign-in', 'signin'],
  approve: ['approve', 'consent', 'allow', 'accept'],
};

function findButton(form, action) {
  for (const alias of buttonAliases[action]) {
    const b = form.buttons.find((x) => x.id.toLowerCase() === alias || x.value.toLowerCase() === alias);
    if (b) return b;
  }
  return null;
}

// browse opens the authorization URL like a user agent: it keeps cookies,
// signs in, approves the consent page and returns the redirect to the wallet.
async function browse(authorizationUrl, { redirectUri, username, password }) {
  const jar = new Map();
  const request = async (url, form) => {
    const headers = {};
    if (jar.size > 0) headers.Cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let init = { method: 'GET', headers };
    if (form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      init = { method: 'POST', headers, body: form.toString() };
    }
    const res = await loggingFetch(url, init);
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      if (i > 0) jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    return res;
  };
  let url = authorizationUrl;
  let res = await request(url);
  for (let hop = 0; hop < 8; hop++) {
    if ([301, 302, 303, 307, 308].includes(res.status)) {
      const loc = res.headers.get('Location');
      if (!loc) fail(`HTTP ${res.status} without Location`);
      const target = new URL(loc, url).toString();
      if (target.startsWith(redirectUri)) return target;
      url = target;
      res = await request(url);
      continue;
    }
    const page = await res.text();
    if (res.status !== 200) fail(`expected the login or consent page, got HTTP ${res.status}: ${page.slice(0, 300)}`);
    const form = parseForm(page);
    if (!form) fail(`page without a form: ${page.slice(0, 300)}`);
    let button;
    if (form.inputs.has('username')) {
      if (!form.inputs.has('password')) fail('login form without a password field');
      form.values.set('username', username);
      form.values.set('password', password);
      step('authorization: login');
      button = findButton(form, 'login');
      if (!button) fail('the login form has no sign-in button');
    } else {
      step('authorization: consent');
      button = findButton(form, 'approve');
      if (!button) fail('the page has neither a login form nor an approve button');
    }
    if (button.name) form.values.set(button.name, button.value);
    url = new URL(form.action || url, url).toString();
    res = await request(url, form.values);
  }
  fail('no authorization response after 8 pages');
}

// ------------------------------------------------------------------- flows

function loopback(u) {
  const h = new URL(u).hostname;
  return h === 'localhost' || h === '[::1]' || /^127\./.test(h);
}

async function main() {
  let input;
  try {
    input = JSON.parse(await readStdin());
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: `stdin is not JSON: ${err.message}`, step: 'input' })}\n`);
    process.exitCode = 2;
    return;
  }
  for (const k of ['issuer', 'flow', 'redirectUri', 'clientId', 'walletAttestation', 'attestationKeyJwk']) {
    if (!input[k]) {
      process.stdout.write(`${JSON.stringify({ error: `input.${k} missing`, step: 'input' })}\n`);
      process.exitCode = 2;
      return;
    }
  }
  // The libraries refuse http:// URLs (DPoP htu, PoP aud, endpoints) unless
  // told otherwise; allow them for loopback test issuers only.
  if (input.issuer.startsWith('http://')) {
    if (!loopback(input.issuer)) fail('http:// issuers are accepted on loopback only');
    setGlobalConfig({ allowInsecureUrls: true });
  }

  await addKey(input.attestationKeyJwk);
  const dpopKey = await newKey();
  const holders = [];
  const batch = Math.max(1, input.batchSize ?? 1);
  for (let i = 0; i < batch; i++) {
    holders.push(i === 0 && input.holderPrivateJwk ? await addKey(input.holderPrivateJwk) : await newKey());
  }

  const client = new Openid4vciClient({
    callbacks: {
      ...callbacks,
      clientAuthentication: clientAuthenticationClientAttestationJwt({
        clientAttestationJwt: input.walletAttestation,
        callbacks,
      }),
    },
  });
  const oauth2 = new Oauth2Client({
    callbacks: {
      ...callbacks,
      clientAuthentication: clientAuthenticationClientAttestationJwt({
        clientAttestationJwt: input.walletAttestation,
        callbacks,
      }),
    },
  });

  if (input.metadataTrustPem) {
    metadataAnchors = pemCertificates(input.metadataTrustPem);
    if (metadataAnchors.length === 0) fail('metadataTrustPem holds no certificate');
    metadataAccept = 'application/jwt, application/json;q=0.5';
  }
  step('metadata');
  const issuerMetadata = await client.resolveIssuerMetadata(input.issuer);
  if (input.metadataTrustPem && !issuerMetadata.signedCredentialIssuer) {
    fail('asked for signed metadata (Accept: application/jwt) but got unsigned metadata');
  }
  if (issuerMetadata.credentialIssuer.credential_issuer !== input.issuer) {
    fail(`credential_issuer ${issuerMetadata.credentialIssuer.credential_issuer} is not ${input.issuer}`);
  }
  const as = issuerMetadata.authorizationServers[0];
  if (!as) fail('no authorization server metadata');
  if (!(as.token_endpoint_auth_methods_supported ?? []).includes('attest_jwt_client_auth')) {
    fail('the authorization server does not advertise attest_jwt_client_auth');
  }
  if (!(as.dpop_signing_alg_values_supported ?? []).includes('ES256')) fail('the authorization server does not advertise DPoP with ES256');

  let offer;
  if (input.offerUri) {
    step('credential offer');
    offer = await client.resolveCredentialOffer(input.offerUri);
    if (offer.credential_issuer !== input.issuer) fail(`offer is for ${offer.credential_issuer}`);
  }
  const configurationId =
    input.credentialConfigurationId ??
    offer?.credential_configuration_ids[0] ??
    Object.keys(issuerMetadata.credentialIssuer.credential_configurations_supported)[0];
  if (!issuerMetadata.credentialIssuer.credential_configurations_supported[configurationId]) {
    fail(`configuration ${configurationId} is not in the issuer metadata`);
  }

  // ABCA -07 §8: when a challenge endpoint is advertised, PoPs carry a fresh
  // server challenge (see README.md for how it gets into the library's PoP).
  const refreshChallenge = async () => {
    if (!as.challenge_endpoint) return;
    const prev = currentStep;
    step(`${prev}: attestation challenge`);
    const res = await loggingFetch(as.challenge_endpoint, { method: 'POST' });
    const body = await res.json().catch(() => ({}));
    if (res.status !== 200 || typeof body.attestation_challenge !== 'string') {
      fail(`challenge endpoint answered HTTP ${res.status}`);
    }
    attestationChallenge = body.attestation_challenge;
    step(prev);
  };

  const dpopSigner = { method: 'jwk', alg: 'ES256', publicJwk: dpopKey.publicJwk };
  let token;
  if (input.flow === 'pre-authorized_code') {
    if (!offer) fail('the pre-authorized_code flow needs offerUri');
    step('token (pre-authorized code)');
    await refreshChallenge();
    token = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
      credentialOffer: offer,
      issuerMetadata,
      txCode: input.txCode,
      dpop: { signer: dpopSigner },
    });
  } else if (input.flow === 'authorization_code') {
    // HAIP §4.2 / OpenID4VCI §5.1: by scope, or by authorization_details
    // (§5.1.1; `locations` only when the issuer names authorization servers).
    let scope;
    const extra = {};
    if (input.authorizationDetails) {
      const detail = { type: 'openid_credential', credential_configuration_id: configurationId };
      if (issuerMetadata.credentialIssuer.authorization_servers) detail.locations = [input.issuer];
      extra.authorization_details = [detail];
    } else {
      const scopes = extractScopesForCredentialConfigurationIds({
        credentialConfigurationIds: [configurationId],
        issuerMetadata,
      });
      if (!scopes || scopes.length === 0) fail(`configuration ${configurationId} has no scope`);
      scope = scopes.join(' ');
    }
    const state = input.sendState === false ? undefined : Buffer.from(randomBytes(16)).toString('base64url');
    step('pushed authorization request');
    await refreshChallenge();
    let auth;
    if (offer && !state) {
      // The library's own offer-based entry point. It cannot send `state`:
      // its additionalRequestPayload is overwritten by an undefined state.
      auth = await client.initiateAuthorization({
        clientId: input.clientId,
        credentialOffer: offer,
        issuerMetadata,
        redirectUri: input.redirectUri,
        scope,
        additionalRequestPayload: extra,
        dpop: { signer: dpopSigner },
      });
    } else {
      // Oauth2Client takes `state`; issuer_state (OpenID4VCI §5.1.3) is
      // copied from the offer as Openid4vciClient would.
      const issuerState = offer?.grants?.authorization_code?.issuer_state;
      auth = await oauth2.initiateAuthorization({
        authorizationServerMetadata: as,
        clientId: input.clientId,
        redirectUri: input.redirectUri,
        scope,
        state,
        additionalRequestPayload: issuerState ? { ...extra, issuer_state: issuerState } : extra,
        resource: input.issuer,
        dpop: { signer: dpopSigner },
      });
    }
    const reqUrl = new URL(auth.authorizationRequestUrl);
    if (!reqUrl.searchParams.get('request_uri')) fail('the library did not use PAR (no request_uri)');
    if (!auth.pkce || auth.pkce.codeChallengeMethod !== 'S256') fail('the library did not use PKCE S256');
    step('authorization');
    const location = await browse(auth.authorizationRequestUrl, input);
    step('authorization response');
    const response = oauth2.parseAuthorizationResponseRedirectUrl({ url: location });
    oauth2.verifyAuthorizationResponse({ authorizationResponse: response, authorizationServerMetadata: as });
    // The library leaves the state check to the caller (RFC 6749 §10.12).
    if (response.state !== state) fail('state not echoed in the authorization response');
    if (response.error) fail(`authorization error ${response.error}: ${response.error_description ?? ''}`);
    if (!response.iss) fail('no iss in the authorization response (RFC 9207)');
    step('token (authorization code)');
    await refreshChallenge();
    token = await oauth2.retrieveAuthorizationCodeAccessToken({
      authorizationServerMetadata: as,
      authorizationCode: response.code,
      pkceCodeVerifier: auth.pkce.codeVerifier,
      redirectUri: input.redirectUri,
      resource: input.issuer,
      dpop: auth.dpop ?? { signer: dpopSigner },
    });
  } else {
    fail(`unknown flow ${input.flow}`);
  }
  const tr = token.accessTokenResponse;
  if (tr.token_type !== 'DPoP') fail(`token_type is ${tr.token_type}, want DPoP`);

  step('nonce');
  const { c_nonce: cNonce } = await client.requestNonce({ issuerMetadata });

  step('credential');
  const proofs = [];
  for (const [i, h] of holders.entries()) {
    const { jwt } = await client.createCredentialRequestJwtProof({
      issuerMetadata,
      credentialConfigurationId: configurationId,
      signer: { method: 'jwk', alg: 'ES256', publicJwk: h.publicJwk },
      clientId: input.clientId,
      nonce: cNonce,
      keyAttestationJwt: i === 0 ? input.keyAttestation : undefined,
    });
    proofs.push(jwt);
  }
  // OpenID4VCI §8.2: credential_identifier when the token response listed
  // identifiers for the configuration, else credential_configuration_id.
  const detail = (tr.authorization_details ?? []).find(
    (d) => d.type === 'openid_credential' && d.credential_configuration_id === configurationId,
  );
  const identifier = detail?.credential_identifiers?.[0];
  let credentialResponse;
  let dpopNonce = token.dpop?.nonce;
  if (identifier) {
    // retrieveCredentials always sends credential_configuration_id, which
    // §8.2 forbids next to credential_identifier; use the resource request.
    const res = await oauth2.resourceRequest({
      url: issuerMetadata.credentialIssuer.credential_endpoint,
      accessToken: tr.access_token,
      callbacks,
      dpop: { signer: dpopSigner, nonce: dpopNonce },
      requestOptions: {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ credential_identifier: identifier, proofs: { jwt: proofs } }),
      },
    });
    if (!res.ok) fail(`credential endpoint HTTP ${res.response.status}: ${(await res.response.text()).slice(0, 300)}`);
    credentialResponse = await res.response.json();
    dpopNonce = res.dpop?.nonce ?? dpopNonce;
  } else {
    const res = await client.retrieveCredentials({
      issuerMetadata,
      credentialConfigurationId: configurationId,
      proofs: { jwt: proofs },
      accessToken: tr.access_token,
      dpop: { signer: dpopSigner, nonce: dpopNonce },
    });
    credentialResponse = res.credentialResponse;
    dpopNonce = res.dpop?.nonce ?? dpopNonce;
  }
  const creds = (credentialResponse.credentials ?? []).map((c) => c.credential);
  if (creds.length !== holders.length) fail(`expected ${holders.length} credentials, got ${creds.length}`);
  for (const c of creds) {
    if (typeof c !== 'string' || !/^[A-Za-z0-9_-]+$/.test(c)) fail('credential is not unpadded base64url (OpenID4VCI A.2.4)');
  }
  // OpenID4VCI §11: tell the issuer the credentials were stored.
  let notified = false;
  if (credentialResponse.notification_id && issuerMetadata.credentialIssuer.notification_endpoint) {
    step('notification');
    const res = await client.sendNotification({
      issuerMetadata,
      notification: { notificationId: credentialResponse.notification_id, event: 'credential_accepted' },
      accessToken: tr.access_token,
      dpop: { signer: dpopSigner, nonce: dpopNonce },
    });
    notified = res.response.status === 204;
    if (!notified) fail(`notification endpoint answered HTTP ${res.response.status}, want 204 (OpenID4VCI §11.2)`);
  }
  step('done');
  process.stdout.write(
    `${JSON.stringify({
      credentials: creds,
      configurationId,
      docType: issuerMetadata.credentialIssuer.credential_configurations_supported[configurationId].doctype,
      holderPrivateJwk: holders[0].privateJwk,
      holderPublicJwk: holders[0].publicJwk,
      holderPrivateJwks: holders.map((h) => h.privateJwk),
      holderPublicJwks: holders.map((h) => h.publicJwk),
      notified,
      requestedBy: identifier ? 'credential_identifier' : 'credential_configuration_id',
      signedMetadata: Boolean(issuerMetadata.signedCredentialIssuer),
      steps,
    })}\n`,
  );
}

function describe(err) {
  // Library errors already carry the server's error response in the message.
  let msg = err?.message ?? String(err);
  if (err?.cause?.message) msg += ` (cause: ${err.cause.message})`;
  return msg;
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ error: describe(err), step: currentStep, steps })}\n`);
  process.exitCode = 1;
});
