import { describe, expect, it, beforeAll } from 'vitest';
import { createPrivateKey } from 'node:crypto';
import { inspect } from 'node:util';
import { validateMaterial, type CandidateFiles, type RejectionReason } from '../../src/material.js';
import { TestPki, type Leaf } from '../support/certs.js';

const file = (path: string, text: string) => ({ path, data: Buffer.from(text) });
const files = (cert: string, key: string, ca?: string): CandidateFiles => ({
  cert: file('/mnt/tls/tls.crt', cert),
  key: file('/mnt/tls/tls.key', key),
  ...(ca === undefined ? {} : { ca: file('/mnt/tls/ca.crt', ca) }),
});
const DAY = 86_400_000;

function rejection(input: CandidateFiles, now = Date.now()) {
  const result = validateMaterial(input, now);
  if (result.ok) throw new Error('expected a rejection');
  return result.rejection;
}

describe('validateMaterial', () => {
  let pki: TestPki;
  let leaf: Leaf;
  let other: Leaf;
  let rsaLeaf: Leaf;

  beforeAll(async () => {
    pki = await TestPki.create('ecdsa');
    leaf = await pki.leaf({ dnsNames: ['example.test', 'www.example.test'] });
    other = await pki.leaf();
    rsaLeaf = await (await TestPki.create('rsa')).leaf();
  });

  it('accepts a cert-manager Secret: leaf + intermediate, PKCS#8 key, ca.crt', () => {
    const result = validateMaterial(files(leaf.chainPem, leaf.keyPem, pki.caPem), Date.now());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.material.chain).toHaveLength(2);
    expect(result.material.ca).toHaveLength(1);
    expect(result.material.info.serialNumber).toBe(leaf.serialNumber);
    expect(result.material.info.dnsNames).toEqual(['example.test', 'www.example.test']);
    expect(result.material.info.ipAddresses).toEqual(['127.0.0.1']);
    expect(result.material.info.subject).toBe('CN=localhost');
    expect(result.material.info.issuer).toBe('CN=hotcert test intermediate CA');
    expect(result.material.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['SEC1 EC', () => leaf.keyAs('sec1'), () => leaf],
    ['PKCS#1 RSA', () => rsaLeaf.keyAs('pkcs1'), () => rsaLeaf],
    ['PKCS#8 RSA', () => rsaLeaf.keyPem, () => rsaLeaf],
  ])('accepts a %s private key', (_name, key, which) => {
    expect(validateMaterial(files(which().chainPem, key()), Date.now()).ok).toBe(true);
  });

  it('gives the same fingerprint for the same material in another encoding', () => {
    const a = validateMaterial(files(leaf.chainPem, leaf.keyPem), Date.now());
    const b = validateMaterial(files(leaf.chainPem.replaceAll('\n', '\r\n') + 'trailing text\n', leaf.keyAs('sec1')), Date.now());
    expect(a.ok && b.ok).toBe(true);
    if (a.ok && b.ok) expect(a.material.fingerprint).toBe(b.material.fingerprint);
  });

  it('never shows the private key in JSON or inspect output', () => {
    const result = validateMaterial(files(leaf.chainPem, leaf.keyPem), Date.now());
    if (!result.ok) throw new Error('expected valid material');
    const keyBody = leaf.keyPem.split('\n')[1] as string;
    expect(JSON.stringify(result.material)).not.toContain(keyBody);
    expect(inspect(result.material, { depth: 5, showHidden: true })).not.toContain(keyBody);
    expect(JSON.stringify(result.material)).not.toContain('PRIVATE KEY');
    expect(result.material.tlsOptions().key).toContain('PRIVATE KEY');
  });

  const cases: Array<[string, () => CandidateFiles, RejectionReason, RegExp]> = [
    ['an empty certificate', () => files('', leaf.keyPem), 'empty', /tls\.crt: the certificate file is empty/],
    ['an empty key', () => files(leaf.chainPem, '\n\n'), 'empty', /tls\.key: the private key file is empty/],
    ['garbage instead of PEM', () => files('hello world', leaf.keyPem), 'parse_error', /tls\.crt: .*no PEM "BEGIN CERTIFICATE"/],
    ['a corrupted certificate', () => files(leaf.chainPem.replace(/MI[A-Za-z0-9+/]{20}/, 'MIxxxxxxxxxxxxxxxxxxxxxx'), leaf.keyPem), 'parse_error', /tls\.crt: certificate #1 is not a valid X\.509/],
    ['a truncated key', () => files(leaf.chainPem, leaf.keyPem.slice(0, 80) + '\n-----END PRIVATE KEY-----\n'), 'parse_error', /tls\.key: the private key cannot be parsed/],
    ['a key with its end cut off', () => files(leaf.chainPem, leaf.keyPem.slice(0, 100)), 'parse_error', /tls\.key: the private key cannot be parsed/],
    ['swapped certificate and key files', () => files(leaf.keyPem, leaf.chainPem), 'parse_error', /tls\.crt: it holds a private key, not a certificate/],
    ['a key from another issuance', () => files(leaf.chainPem, other.keyPem), 'key_mismatch', /tls\.key: the private key does not match the certificate .* in \/mnt\/tls\/tls\.crt/],
    ['an RSA key for an ECDSA certificate', () => files(leaf.chainPem, rsaLeaf.keyPem), 'key_mismatch', /does not match/],
    ['intermediate before leaf', () => files(pki.intermediate.certPem + leaf.issued.certPem, leaf.keyPem), 'chain_invalid', /the certificate matching the key is #2, not first/],
    ['a chain with a foreign intermediate', () => files(leaf.issued.certPem + pki.root.certPem, leaf.keyPem), 'chain_invalid', /did not issue #1/],
    ['a malformed ca.crt', () => files(leaf.chainPem, leaf.keyPem, 'not a ca'), 'parse_error', /ca\.crt: .*no PEM/],
    ['a chain missing its intermediate when ca.crt names the root', () => files(leaf.issued.certPem, leaf.keyPem, pki.caPem), 'chain_invalid', /the chain ends at CN=localhost .*, issued by CN=hotcert test intermediate CA, which no certificate in \/mnt\/tls\/ca\.crt signed/],
    ['a chain from another CA than ca.crt', () => files(leaf.chainPem, leaf.keyPem, rsaLeaf.pki.caPem), 'chain_invalid', /which no certificate in \/mnt\/tls\/ca\.crt signed/],
  ];
  it.each(cases)('rejects %s', (_name, input, reason, message) => {
    const found = rejection(input());
    expect(found.reason).toBe(reason);
    expect(found.message).toMatch(message);
    expect(found.message).not.toContain('PRIVATE KEY-----');
  });

  it('rejects an expired certificate with its expiry date', async () => {
    const expired = await pki.leaf({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    const found = rejection(files(expired.chainPem, expired.keyPem));
    expect(found.reason).toBe('expired');
    expect(found.message).toMatch(/tls\.crt: the certificate CN=localhost \(serial [0-9A-F]+\) expired at \d{4}-\d\d-\d\dT/);
  });

  it('rejects a certificate that is not valid yet, naming when it will be', async () => {
    const future = await pki.leaf({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) });
    const found = rejection(files(future.chainPem, future.keyPem));
    expect(found.reason).toBe('not_yet_valid');
    expect(found.message).toMatch(/is not valid until/);
  });

  it('judges validity by the clock it is given', () => {
    expect(rejection(files(leaf.chainPem, leaf.keyPem), Date.now() + 400 * DAY).reason).toBe('expired');
  });

  it('accepts a chain whose last certificate is the CA of ca.crt itself', () => {
    expect(validateMaterial(files(leaf.chainPem + pki.caPem, leaf.keyPem, pki.caPem), Date.now()).ok).toBe(true);
  });

  it('refuses a key whose private half is corrupted while its embedded public key still matches', () => {
    // SEC1 EC keys carry the public key beside the private scalar; checkPrivateKey compares only that.
    const der = createPrivateKey(leaf.keyPem).export({ type: 'sec1', format: 'der' });
    const corrupted = Buffer.from(der);
    corrupted[10] = (corrupted[10] ?? 0) ^ 0x01; // inside the 32-byte private scalar
    const label = 'EC PRIVATE KEY';
    const pem = `-----BEGIN ${label}-----\n${corrupted.toString('base64')}\n-----END ${label}-----\n`;
    expect(rejection(files(leaf.chainPem, pem)).reason).toBe('key_mismatch');
  });

  it('hands the key to the TLS stack exactly as the file holds it, in any encoding', () => {
    for (const key of [leaf.keyPem, leaf.keyAs('sec1')]) {
      const result = validateMaterial(files(leaf.chainPem, key), Date.now());
      if (!result.ok) throw new Error(result.rejection.message);
      expect(result.material.tlsOptions().key).toBe(key);
    }
  });

  it('refuses a SEC1 or PKCS#1 key whose DER is truncated, with the usual parse message', () => {
    for (const [key, label] of [[leaf.keyAs('sec1'), 'EC'], [rsaLeaf.keyAs('pkcs1'), 'RSA']] as const) {
      const body = key.split('\n').slice(1, -2).join('');
      const truncated = [`-----BEGIN ${label} PRIVATE KEY-----`, body.slice(0, 40), `-----END ${label} PRIVATE KEY-----`, ''].join('\n');
      const found = rejection(files(leaf.chainPem, truncated));
      expect(found).toMatchObject({ reason: 'parse_error', message: expect.stringMatching(/tls\.key: the private key cannot be parsed/) });
    }
  });

  it('checks a look-alike intermediate and ca.crt afresh after the genuine ones passed', async () => {
    // Another PKI built the same way: the same subject names, other keys.
    const lookAlike = await TestPki.create('ecdsa');
    expect(validateMaterial(files(leaf.chainPem, leaf.keyPem, pki.caPem), Date.now()).ok).toBe(true);
    const wrongIntermediate = leaf.issued.certPem + lookAlike.intermediate.certPem;
    expect(rejection(files(wrongIntermediate, leaf.keyPem, pki.caPem))).toMatchObject({ reason: 'chain_invalid', message: expect.stringMatching(/the chain is broken/) });
    expect(rejection(files(leaf.chainPem, leaf.keyPem, lookAlike.caPem))).toMatchObject({ reason: 'chain_invalid', message: expect.stringMatching(/which no certificate in \/mnt\/tls\/ca\.crt signed/) });
    expect(validateMaterial(files(leaf.chainPem, leaf.keyPem, pki.caPem), Date.now()).ok).toBe(true);
  });

  it('accepts an empty ca.crt (ACME issuers may leave it empty)', () => {
    expect(validateMaterial(files(leaf.chainPem, leaf.keyPem, ''), Date.now()).ok).toBe(true);
  });
});
