import { beforeAll, describe, expect, it } from 'vitest';
import { validateMaterial, type CertificateMaterial } from '../../src/material.js';
import type { Candidate } from '../../src/read-candidate.js';
import { Reloader, type LiveCertificate, type RejectEvent, type ReloadEvent } from '../../src/reloader.js';
import { TestPki, type Leaf } from '../support/certs.js';

const candidate = (leaf: Leaf, key = leaf.keyPem): Candidate => ({
  files: { cert: { path: 'tls.crt', data: Buffer.from(leaf.chainPem) }, key: { path: 'tls.key', data: Buffer.from(key) } },
});

function materialOf(leaf: Leaf): CertificateMaterial {
  const result = validateMaterial((candidate(leaf) as { files: never }).files, Date.now());
  if (!result.ok) throw new Error(result.rejection.message);
  return result.material;
}

describe('Reloader', () => {
  let pki: TestPki;
  let first: Leaf;
  let second: Leaf;

  beforeAll(async () => {
    pki = await TestPki.create();
    first = await pki.leaf();
    second = await pki.leaf();
  });

  function setUp() {
    const reloader = new Reloader();
    const applied: string[] = [];
    const reloads: ReloadEvent[] = [];
    const rejects: RejectEvent[] = [];
    reloader.on('reload', (e) => reloads.push(e));
    reloader.on('reject', (e) => rejects.push(e));
    reloader.addPair('default', materialOf(first), (m) => applied.push(m.info.serialNumber), (candidate(first) as { files: never }).files);
    return { reloader, applied, reloads, rejects };
  }

  it('applies a new certificate and reports the swap', () => {
    const { reloader, applied, reloads } = setUp();
    const outcome = reloader.offer('default', candidate(second), { trigger: 'watch' });
    expect(outcome).toMatchObject({ result: 'applied', live: { serialNumber: second.serialNumber, certificate: 'default' } });
    expect(applied).toEqual([second.serialNumber]);
    expect(reloads).toHaveLength(1);
    expect(reloads[0]).toMatchObject({ trigger: 'watch', previous: { serialNumber: first.serialNumber } });
    expect(reloader.current('default')?.serialNumber).toBe(second.serialNumber);
  });

  it('does not swap what is already served, even re-encoded', () => {
    const { reloader, applied } = setUp();
    expect(reloader.offer('default', candidate(first), { trigger: 'poll' }).result).toBe('unchanged');
    expect(reloader.offer('default', candidate(first, first.keyAs('sec1')), { trigger: 'poll' }).result).toBe('unchanged');
    expect(applied).toEqual([]);
  });

  it('never replaces a good certificate with a bad one, and says why', () => {
    const { reloader, applied, rejects } = setUp();
    const outcome = reloader.offer('default', candidate(first, second.keyPem), { trigger: 'watch' });
    expect(outcome).toMatchObject({ result: 'rejected', rejection: { reason: 'key_mismatch', file: 'tls.key' } });
    expect(applied).toEqual([]);
    expect(reloader.current('default')?.serialNumber).toBe(first.serialNumber);
    expect(reloader.status('default')?.lastReloadSuccessful).toBe(false);
    expect(rejects).toMatchObject([{ reason: 'key_mismatch', repeated: false }]);
    reloader.offer('default', candidate(first, second.keyPem), { trigger: 'poll' });
    expect(rejects[1]?.repeated).toBe(true);
  });

  it('defers a tentative rejection for transient reasons without reporting it', () => {
    const { reloader, rejects } = setUp();
    expect(reloader.offer('default', candidate(first, second.keyPem), { trigger: 'watch', tentative: true }).result).toBe('deferred');
    expect(rejects).toHaveLength(0);
    expect(reloader.status('default')?.lastReloadSuccessful).toBe(true);
  });

  it('rejects at once, even tentatively, what waiting cannot fix', async () => {
    const { reloader } = setUp();
    const expired = await pki.leaf({ notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    expect(reloader.offer('default', candidate(expired), { trigger: 'watch', tentative: true })).toMatchObject({ result: 'rejected', rejection: { reason: 'expired' } });
  });

  it('counts a read failure handed over by a source', () => {
    const { reloader, rejects } = setUp();
    reloader.offer('default', { rejection: { reason: 'read_error', file: 'tls.key', message: 'tls.key: cannot read' } }, { trigger: 'poll' });
    expect(rejects).toMatchObject([{ reason: 'read_error', file: 'tls.key', trigger: 'poll' }]);
  });

  it('keeps the last good certificate when the TLS stack refuses the new one', () => {
    const reloader = new Reloader();
    const rejects: RejectEvent[] = [];
    reloader.on('reject', (e) => rejects.push(e));
    reloader.addPair('default', materialOf(first), () => {
      throw Object.assign(new Error('refused'), { code: 'ERR_OSSL_X509_KEY_VALUES_MISMATCH' });
    });
    expect(reloader.offer('default', candidate(second), { trigger: 'watch' }).result).toBe('rejected');
    expect(rejects[0]?.reason).toBe('key_mismatch');
    expect(reloader.current('default')?.serialNumber).toBe(first.serialNumber);
  });

  it('replays the current certificate to a new subscriber, then reports each swap', () => {
    const { reloader } = setUp();
    const seen: LiveCertificate[] = [];
    const unsubscribe = reloader.subscribe((live) => seen.push(live));
    expect(seen.map((l) => l.serialNumber)).toEqual([first.serialNumber]);
    reloader.offer('default', candidate(second), { trigger: 'watch' });
    expect(seen.map((l) => l.serialNumber)).toEqual([first.serialNumber, second.serialNumber]);
    unsubscribe();
    reloader.offer('default', candidate(first), { trigger: 'watch' });
    expect(seen).toHaveLength(2);
  });

  it('survives a subscriber that throws', () => {
    const { reloader } = setUp();
    const errors: unknown[] = [];
    reloader.on('listenerError', (e) => errors.push(e));
    reloader.subscribe(() => {
      throw new Error('subscriber bug');
    });
    expect(reloader.offer('default', candidate(second), { trigger: 'watch' }).result).toBe('applied');
    expect(errors).toHaveLength(2);
  });

  it('keeps pairs apart by name', () => {
    const { reloader, applied } = setUp();
    const other: string[] = [];
    reloader.addPair('api.example', materialOf(second), (m) => other.push(m.info.serialNumber));
    reloader.offer('api.example', candidate(first), { trigger: 'watch' });
    expect(other).toEqual([first.serialNumber]);
    expect(applied).toEqual([]);
    expect(reloader.certificates).toEqual(['default', 'api.example']);
    expect(() => reloader.offer('nope', candidate(first), { trigger: 'watch' })).toThrow(expect.objectContaining({ code: 'HOTCERT_ERR_UNKNOWN_CERTIFICATE' }));
  });

  it('validates the first candidate strictly', () => {
    expect(() => Reloader.validateInitial('default', candidate(first, second.keyPem))).toThrow(
      expect.objectContaining({ code: 'HOTCERT_ERR_NO_CERTIFICATE', details: expect.objectContaining({ reason: 'key_mismatch', file: 'tls.key' }) }),
    );
    expect(Reloader.validateInitial('default', candidate(first)).info.serialNumber).toBe(first.serialNumber);
  });
});
