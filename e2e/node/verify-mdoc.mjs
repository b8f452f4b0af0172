// Verifies an mdoc IssuerSigned with two independent npm libraries:
//   @owf/mdoc   (Holder.verifyIssuerSigned; crypto and X.509 supplied here)
//   @auth0/mdl  (Verifier.verify on a DeviceResponse that wraps the IssuerSigned
//                and is device-signed with the holder key, proving the binding)
//
// stdin: JSON {issuerSigned: base64url, iacaPem, deviceKeyJwk, devicePrivateJwk, docType, now}
//   now (RFC 3339) is used by @owf/mdoc and by our chain check; @auth0/mdl always uses the
//   real clock, so callers must issue credentials valid at the real time.
// stdout: JSON {owf: {ok, failed: [...], passed: n}, auth0: {...}}; exit 1 if any library fails.
import 'reflect-metadata';
import { createHash, createPublicKey, randomBytes, verify as nodeVerify, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CoseKey, Holder, IssuerSigned } from '@owf/mdoc';
import { DeviceResponse, Verifier, parse } from '@auth0/mdl';
import { DataItem, cborEncode } from '@auth0/mdl/lib/cbor/index.js';

x509.cryptoProvider.set(webcrypto);

const DS_EKU = '1.0.18013.5.1.2';
const MDL_NS = 'org.iso.18013.5.1';

function b64urlDecode(s) {
  return new Uint8Array(Buffer.from(s, 'base64url'));
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function pemToDer(pem) {
  const b64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

function sameBytes(a, b) {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

// Chain check used by the @owf/mdoc context: x5chain[0] is the DS; each link must
// be signed by the next certificate (or by a trust anchor), valid at `now`, with CA
// certificates above the leaf; the path must end in one of the trusted certificates.
// The DS must carry the mdoc DS EKU (ISO 18013-5 Table B.3).
async function verifyChain({ trustedCertificates, x5chain, now }) {
  const at = now ?? new Date();
  const certs = x5chain.map((c) => new x509.X509Certificate(c));
  const anchors = trustedCertificates.map((c) => new x509.X509Certificate(c));
  if (certs.length === 0) throw new Error('empty x5chain');
  const eku = certs[0].getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku || !eku.usages.map(String).includes(DS_EKU)) throw new Error('DS certificate lacks EKU 1.0.18013.5.1.2');
  const path = [...certs];
  for (;;) {
    const last = path[path.length - 1];
    if (anchors.some((a) => sameBytes(a.rawData, last.rawData))) break;
    const issuer = anchors.find((a) => a.subject === last.issuer);
    if (!issuer) throw new Error(`no trusted issuer for ${last.subject}`);
    path.push(issuer);
  }
  for (let i = 0; i < path.length; i++) {
    const cert = path[i];
    const issuer = i + 1 < path.length ? path[i + 1] : cert; // anchors verify themselves
    if (at < cert.notBefore || at > cert.notAfter) throw new Error(`${cert.subject} not valid at ${at.toISOString()}`);
    const ok = await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true });
    if (!ok) throw new Error(`signature of ${cert.subject} does not verify`);
    if (i > 0) {
      const bc = cert.getExtension(x509.BasicConstraintsExtension);
      if (!bc || !bc.ca) throw new Error(`${cert.subject} is not a CA`);
    }
  }
}

function coseKeyToNodeKey(key) {
  const jwk = key.jwk;
  return createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
}

const owfContext = {
  crypto: {
    random: (length) => new Uint8Array(randomBytes(length)),
    digest: ({ digestAlgorithm, bytes }) => {
      const alg = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' }[digestAlgorithm];
      if (!alg) throw new Error(`unsupported digest ${digestAlgorithm}`);
      return new Uint8Array(createHash(alg).update(bytes).digest());
    },
    calculateEphemeralMacKey: () => {
      throw new Error('not used by issuer-signed verification');
    },
  },
  cose: {
    sign1: {
      sign: () => {
        throw new Error('not used by verification');
      },
      verify: ({ key, sign1 }) => {
        const alg = sign1.signatureAlgorithmName;
        const hash = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' }[alg];
        if (!hash) throw new Error(`unsupported COSE alg ${alg}`);
        return nodeVerify(hash, sign1.toBeSigned, { key: coseKeyToNodeKey(key), dsaEncoding: 'ieee-p1363' }, sign1.signature);
      },
    },
    mac0: {
      sign: () => {
        throw new Error('not used');
      },
      verify: () => {
        throw new Error('not used');
      },
    },
  },
  x509: {
    getIssuerNameField: ({ certificate, field }) => new x509.X509Certificate(certificate).issuerName.getField(field),
    getPublicKey: ({ certificate }) => {
      const jwk = new NodeX509(Buffer.from(certificate)).publicKey.export({ format: 'jwk' });
      return CoseKey.fromJwk(jwk);
    },
    verifyCertificateChain: verifyChain,
    getCertificateData: ({ certificate }) => {
      const c = new x509.X509Certificate(certificate);
      return {
        issuerName: c.issuer,
        subjectName: c.subject,
        serialNumber: c.serialNumber,
        thumbprint: createHash('sha1').update(Buffer.from(c.rawData)).digest('hex'),
        notBefore: c.notBefore,
        notAfter: c.notAfter,
        pem: c.toString('pem'),
      };
    },
  },
};

function collector() {
  const failed = [];
  let passed = 0;
  return {
    onCheck: (item) => {
      if (item.status === 'FAILED') failed.push(`${item.category ?? ''}: ${item.check}${item.reason ? ` (${item.reason})` : ''}`);
      else passed++;
    },
    result: () => ({ ok: failed.length === 0 && passed > 0, failed, passed }),
    fail: (msg) => failed.push(msg),
  };
}

async function verifyWithOwf(input, issuerSignedBytes, iacaDer) {
  const c = collector();
  try {
    await Holder.verifyIssuerSigned(
      {
        issuerSigned: issuerSignedBytes,
        verificationCallback: c.onCheck,
        now: new Date(input.now),
        trustedCertificates: [iacaDer],
        skewSeconds: 0,
      },
      owfContext,
    );
    const mso = IssuerSigned.decode(issuerSignedBytes).issuerAuth.mobileSecurityObject;
    if (mso.docType !== input.docType) c.fail(`MSO docType ${mso.docType} != ${input.docType}`);
    const dk = mso.deviceKeyInfo.deviceKey.jwk;
    if (dk.x !== input.deviceKeyJwk.x || dk.y !== input.deviceKeyJwk.y) c.fail('MSO deviceKey is not the holder key');
  } catch (err) {
    c.fail(`exception: ${err?.message ?? err}`);
  }
  return c.result();
}

// Minimal CBOR heads for the DeviceResponse wrapper; the IssuerSigned bytes are
// embedded verbatim so nothing the issuer signed is re-encoded.
function cborText(s) {
  const b = Buffer.from(s, 'utf8');
  const n = b.length;
  let head;
  if (n < 24) head = Buffer.from([0x60 | n]);
  else if (n < 256) head = Buffer.from([0x78, n]);
  else head = Buffer.from([0x79, n >> 8, n & 0xff]);
  return Buffer.concat([head, b]);
}

function wrapDeviceResponse(docType, issuerSignedBytes) {
  return Buffer.concat([
    Buffer.from([0xa3]),
    cborText('version'), cborText('1.0'),
    cborText('documents'), Buffer.from([0x81, 0xa2]),
    cborText('docType'), cborText(docType),
    cborText('issuerSigned'), Buffer.from(issuerSignedBytes),
    cborText('status'), Buffer.from([0x00]),
  ]);
}

async function verifyWithAuth0(input, issuerSignedBytes, iacaPem) {
  const c = collector();
  try {
    const mdoc = parse(wrapDeviceResponse(input.docType, issuerSignedBytes));
    const doc = mdoc.documents[0];
    const fields = [];
    for (const [ns, items] of Object.entries(doc.issuerSigned.nameSpaces)) {
      for (const item of items) fields.push({ path: [`$['${ns}']['${item.elementIdentifier}']`], intent_to_retain: false });
    }
    const pd = {
      id: 'interop',
      input_descriptors: [{ id: input.docType, format: { mso_mdoc: { alg: ['ES256'] } }, constraints: { limit_disclosure: 'required', fields } }],
    };
    const sessionTranscript = cborEncode(DataItem.fromData([null, null, ['mdoc-issuer-interop', randomBytes(16).toString('hex')]]));
    const presented = await DeviceResponse.from(mdoc)
      .usingPresentationDefinition(pd)
      .usingSessionTranscriptBytes(sessionTranscript)
      .authenticateWithSignature(input.devicePrivateJwk, 'ES256')
      .sign();
    const verified = await new Verifier([iacaPem]).verify(presented.encode(), {
      encodedSessionTranscript: sessionTranscript,
      onCheck: c.onCheck,
    });
    const vdoc = verified.documents[0];
    const disclosed = Object.values(vdoc.issuerSigned.nameSpaces).reduce((n, items) => n + items.length, 0);
    if (disclosed !== fields.length) c.fail(`disclosed ${disclosed} of ${fields.length} elements`);
    if (vdoc.issuerSigned.issuerAuth.decodedPayload.docType !== input.docType) c.fail('MSO docType mismatch');
    const country = (vdoc.issuerSigned.nameSpaces[MDL_NS] ?? []).find((i) => i.elementIdentifier === 'issuing_country');
    if (input.docType === 'org.iso.18013.5.1.mDL' && !country) c.fail('issuing_country missing from the mDL');
  } catch (err) {
    c.fail(`exception: ${err?.message ?? err}`);
  }
  return c.result();
}

async function main() {
  const input = JSON.parse(await readStdin());
  for (const k of ['issuerSigned', 'iacaPem', 'deviceKeyJwk', 'devicePrivateJwk', 'docType', 'now']) {
    if (!input[k]) throw new Error(`input.${k} missing`);
  }
  const issuerSignedBytes = b64urlDecode(input.issuerSigned);
  const iacaDer = pemToDer(input.iacaPem);
  const result = {
    owf: await verifyWithOwf(input, issuerSignedBytes, iacaDer),
    auth0: await verifyWithAuth0(input, issuerSignedBytes, input.iacaPem),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = result.owf.ok && result.auth0.ok ? 0 : 1;
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ error: String(err?.message ?? err) })}\n`);
  process.exitCode = 2;
});
