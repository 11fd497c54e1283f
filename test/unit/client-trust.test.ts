/**
 * Client trust without I/O: CRLs parsed from PEM and proven to come from a CA of the bundle, the
 * candidate validation that refuses bad ones, and the JavaScript verdict on a client certificate
 * (chain to a current CA, revocation, validity) that resumed sessions and live connections get.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { ClientTrust } from '../../src/client-trust.js';
import { crlBlocks, RevocationList } from '../../src/crl.js';
import { DerError, normaliseSerial } from '../../src/der.js';
import { longTimeout } from '../../src/long-timer.js';
import { validateMaterial, type CandidateFiles, type CertificateMaterial } from '../../src/material.js';
import { TestPki } from '../support/certs.js';

const pem = (path: string, text: string) => ({ path, data: Buffer.from(text) });

async function material(clients: TestPki, crl: string | undefined, bundle = clients.bundlePem): Promise<ReturnType<typeof validateMaterial>> {
  const server = await (await TestPki.create()).leaf();
  const files: CandidateFiles = {
    cert: pem('/tls/tls.crt', server.chainPem),
    key: pem('/tls/tls.key', server.keyPem),
    clientCa: pem('/trust/ca.pem', bundle),
    ...(crl === undefined ? {} : { clientCrl: pem('/trust/crl.pem', crl) }),
  };
  return validateMaterial(files, Date.now());
}

function ok(result: ReturnType<typeof validateMaterial>): CertificateMaterial {
  if (!result.ok) throw new Error(result.rejection.message);
  return result.material;
}

describe('RevocationList', () => {
  it('reads the issuer, the update times and the revoked serials, and knows which CA signed it', async () => {
    const pki = await TestPki.create();
    const leaf = await pki.leaf();
    const text = await pki.crl('intermediate', { revoked: [leaf.serialNumber, '0A'], nextUpdate: new Date(Date.UTC(2031, 0, 2, 3, 4, 5)) });
    const [der] = crlBlocks(text);
    const list = new RevocationList(der as Buffer);
    expect(list.size).toBe(2);
    expect(list.revokes(leaf.serialNumber)).toBe(true);
    expect(list.revokes('a')).toBe(true);
    expect(list.revokes('0B')).toBe(false);
    expect(list.nextUpdateMs).toBe(Date.UTC(2031, 0, 2, 3, 4, 5));
    expect(list.issuedBy(new X509Certificate(pki.intermediate.certPem))).toBe(true);
    expect(list.issuedBy(new X509Certificate(pki.root.certPem))).toBe(false);
    expect(list.pem).toBe(text.trimEnd() + '\n');
  });

  it('verifies RSA-signed lists, and reads the label some libraries write', async () => {
    const pki = await TestPki.create('rsa');
    const text = (await pki.crl('root')).replace(/X509 CRL/g, 'CRL');
    const [der] = crlBlocks(text);
    expect(new RevocationList(der as Buffer).issuedBy(new X509Certificate(pki.root.certPem))).toBe(true);
  });

  it('throws DerError on truncated or padded DER', async () => {
    const [der] = crlBlocks(await (await TestPki.create()).crl('root'));
    expect(() => new RevocationList((der as Buffer).subarray(0, 40))).toThrow(DerError);
    expect(() => new RevocationList(Buffer.concat([der as Buffer, Buffer.from([0])]))).toThrow(/trailing bytes/);
  });

  it('compares serial numbers by value', () => {
    expect(normaliseSerial('000A')).toBe('A');
    expect(normaliseSerial('0')).toBe('0');
  });
});

describe('validateMaterial with --client-crl', () => {
  it('hands the TLS stack one PEM per CRL and keeps each with the CA that signed it', async () => {
    const clients = await TestPki.create();
    const result = ok(await material(clients, await clients.crls()));
    expect(result.clientCrls.map((crl) => crl.issuer.subject)).toEqual(['CN=hotcert test root CA', 'CN=hotcert test intermediate CA']);
    const options = result.tlsOptions();
    expect(options.crl).toHaveLength(2);
    expect(options.crl?.every((block) => block.startsWith('-----BEGIN X509 CRL-----'))).toBe(true);
  });

  it('changes the trust digest, and so the fingerprint, when only the CRL changes', async () => {
    const clients = await TestPki.create();
    const [a, b] = [ok(await material(clients, await clients.crls())), ok(await material(clients, await clients.crls({ revoked: ['0A'] })))];
    expect(a.trustDigest).not.toBe(b.trustDigest);
    expect(a.trustDigest).not.toBe('');
  });

  it.each([
    ['a CRL from a CA outside the bundle', async () => (await TestPki.create()).crl('root'), 'chain_invalid', /crl\.pem: CRL #1 is not signed by any CA in \/trust\/ca\.pem/],
    ['a CRL not valid yet', async (clients: TestPki) => clients.crl('root', { thisUpdate: new Date(Date.now() + 3_600_000) }), 'not_yet_valid', /CRL #1 from CN=hotcert test root CA .* is not valid until/],
    ['an empty file', async () => '\n', 'empty', /the CRL file is empty/],
    ['a file without a CRL', async (clients: TestPki) => clients.caPem, 'parse_error', /holds no PEM "BEGIN X509 CRL" block/],
    ['a corrupted CRL', async () => '-----BEGIN X509 CRL-----\nMIIBAAAA\n-----END X509 CRL-----\n', 'parse_error', /CRL #1 is not a valid X\.509 CRL/],
  ])('refuses %s', async (_name, crl, reason, message) => {
    const clients = await TestPki.create();
    const result = await material(clients, await crl(clients));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.rejection).toMatchObject({ reason, file: '/trust/crl.pem' });
      expect(result.rejection.message).toMatch(message);
    }
  });
});

describe('ClientTrust', () => {
  it('accepts a leaf that chains through an intermediate a client sent before to a CA of the bundle', async () => {
    const clients = await TestPki.create();
    const trust = ClientTrust.of(ok(await material(clients, undefined, clients.caPem)));
    const leaf = new X509Certificate((await clients.leaf()).issued.certPem);
    const intermediate = new X509Certificate(clients.intermediate.certPem);
    expect(trust.verify(leaf, [intermediate], Date.now())).toEqual({ ok: true });
    expect(trust.verify(leaf, [], Date.now())).toMatchObject({ ok: false, reason: 'ca_removed' });
  });

  it('says why a certificate no longer verifies: CA removed, revoked, revocation unknown, expired', async () => {
    const [clients, other] = [await TestPki.create(), await TestPki.create()];
    const alice = await clients.leaf({ commonName: 'alice' });
    const leaf = new X509Certificate(alice.issued.certPem);
    const now = Date.now();
    const revoking = ClientTrust.of(ok(await material(clients, await clients.crls({ revoked: [alice.serialNumber] }))));
    expect(revoking.verify(leaf, [], now)).toMatchObject({ ok: false, reason: 'revoked', message: expect.stringMatching(/CN=alice .* is revoked by the CRL of CN=hotcert test intermediate CA/) });
    const rootCrlOnly = ClientTrust.of(ok(await material(clients, await clients.crl('root'))));
    expect(rootCrlOnly.verify(leaf, [], now)).toMatchObject({ ok: false, reason: 'revoked', message: expect.stringMatching(/revocation status unknown: no CRL from its issuer/) });
    const clean = ClientTrust.of(ok(await material(clients, await clients.crls())));
    expect(clean.verify(leaf, [], now)).toEqual({ ok: true });
    expect(clean.verify(leaf, [], now + 8 * 86_400_000)).toMatchObject({ ok: false, reason: 'revoked', message: expect.stringMatching(/the CRL of .* expired at/) });
    expect(clean.verify(leaf, [], now + 91 * 86_400_000)).toMatchObject({ ok: false, reason: 'expired' });
    const elsewhere = ClientTrust.of(ok(await material(other, undefined)));
    expect(elsewhere.verify(leaf, [], now)).toMatchObject({ ok: false, reason: 'ca_removed' });
  });
});

describe('longTimeout', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires after delays longer than setTimeout can hold (24.8 days), not at once', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    longTimeout(fired, 40 * 86_400_000);
    vi.advanceTimersByTime(1_000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(30 * 86_400_000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(10 * 86_400_000);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('can be cancelled', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    longTimeout(fired, 1_000).cancel();
    vi.advanceTimersByTime(2_000);
    expect(fired).not.toHaveBeenCalled();
  });
});
