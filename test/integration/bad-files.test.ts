/**
 * The file fault matrix beyond the core rejection reasons: odd but intact encodings are accepted;
 * encrypted and unsupported keys, huge files, named pipes, symlink loops and partial writes are refused with a
 * clear reason while the last good certificate keeps serving; a storm of rotations ends on the
 * last one without a rejection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { open, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { HotcertServer } from '../../src/server.js';
import { TestPki, type Leaf } from '../support/certs.js';
import { startFleet, type Fleet } from '../support/clients.js';
import { eventually } from '../support/eventually.js';
import { memoryLogger, metricValue, startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';
import { probe, waitForSerial } from '../support/tls-probe.js';

describe('bad files', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  let server: HotcertServer;
  let served: Leaf;
  let fleet: Fleet;
  const log = memoryLogger();

  beforeAll(async () => {
    dir = await tempDir();
    pki = await TestPki.create();
    served = await pki.leaf();
    await kubeletWrite(dir.path, served.secretFiles);
    server = await startHotcert({ certificate: { certDir: dir.path }, logger: log.logger });
    fleet = await startFleet({ port: server.port, ca: pki.caPem, count: 5, intervalMs: 100 });
  });
  afterAll(async () => {
    await fleet.stop();
    await server.close();
    await dir.remove();
  });

  async function rejected(reason: string, write: () => Promise<void>): Promise<string> {
    const before = (await metricValue(server, 'hotcert_reload_rejections_total', { reason })) ?? 0;
    await write();
    await eventually(async () => expect(await metricValue(server, 'hotcert_reload_rejections_total', { reason })).toBe(before + 1), { timeoutMs: 5_000 });
    expect((await probe({ port: server.port, ca: pki.caPem })).serialNumber).toBe(served.serialNumber);
    return String(log.lines().findLast((l) => l['event'] === 'certificate_rejected')?.['msg']);
  }

  async function recover(): Promise<void> {
    const next = await pki.leaf();
    await kubeletWrite(dir.path, next.secretFiles);
    await waitForSerial({ port: server.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 2_000 });
    served = next;
  }

  it('accepts CRLF line endings and text around the PEM blocks when the certificate is intact', async () => {
    const next = await pki.leaf();
    const crlf = (text: string) => `Issued by cert-manager\r\n${text.replaceAll('\n', '\r\n')}trailing notes\r\n`;
    await kubeletWrite(dir.path, { 'tls.crt': crlf(next.chainPem), 'tls.key': crlf(next.keyPem), 'ca.crt': next.pki.caPem });
    await waitForSerial({ port: server.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 1_000 });
    served = next;
  });

  it('refuses an encrypted private key', async () => {
    const leaf = await pki.leaf();
    const encrypted = createPrivateKey(leaf.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();
    const message = await rejected('parse_error', () => kubeletWrite(dir.path, { ...leaf.secretFiles, 'tls.key': encrypted }));
    expect(message).toMatch(/tls\.key: the private key is encrypted; hotcert needs an unencrypted key/);
    await recover();
  });

  it('refuses a key of a type TLS cannot sign with', async () => {
    const leaf = await pki.leaf();
    const x25519 = generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const message = await rejected('parse_error', () => kubeletWrite(dir.path, { ...leaf.secretFiles, 'tls.key': x25519 }));
    expect(message).toMatch(/unsupported key type x25519: a TLS server needs an RSA, ECDSA or EdDSA signing key/);
    await recover();
  });

  it('refuses a 50 MB file without reading it all', async () => {
    const leaf = await pki.leaf();
    await kubeletWrite(dir.path, leaf.secretFiles);
    await waitForSerial({ port: server.port, ca: pki.caPem, serial: leaf.serialNumber, withinMs: 1_000 });
    served = leaf;
    const message = await rejected('read_error', async () => {
      // A sparse 50 MB file: reading it all would take real time and memory, the size check none.
      const huge = join(dir.path, 'huge.crt');
      const handle = await open(huge, 'w');
      await handle.truncate(50 * 1024 * 1024);
      await handle.close();
      await rm(join(dir.path, 'tls.crt'));
      await symlink(huge, join(dir.path, 'tls.crt'));
    });
    expect(message).toMatch(/tls\.crt: cannot read: 52428800 bytes is larger than the 1048576-byte limit for certificate files \(EFBIG\)/);
    await rm(join(dir.path, 'tls.crt'));
    await symlink(join('..data', 'tls.crt'), join(dir.path, 'tls.crt'));
    await recover();
  });

  it('refuses a symlink loop', async () => {
    const message = await rejected('read_error', async () => {
      await rm(join(dir.path, 'tls.key'));
      await symlink(join(dir.path, 'loop-a'), join(dir.path, 'loop-b'));
      await symlink(join(dir.path, 'loop-b'), join(dir.path, 'loop-a'));
      await symlink(join(dir.path, 'loop-a'), join(dir.path, 'tls.key'));
    });
    expect(message).toMatch(/tls\.key: cannot read: too many levels of symbolic links \(a symlink loop\) \(ELOOP\)/);
    await rm(join(dir.path, 'tls.key'));
    await symlink(join('..data', 'tls.key'), join(dir.path, 'tls.key'));
    await recover();
  });

  it('refuses a named pipe in place of tls.crt without blocking: the last good certificate keeps serving', async () => {
    const fifo = join(dir.path, 'pipe.crt');
    execFileSync('mkfifo', [fifo]);
    const message = await rejected('read_error', async () => {
      await rm(join(dir.path, 'tls.crt'));
      await symlink(fifo, join(dir.path, 'tls.crt'));
    });
    expect(message).toMatch(/tls\.crt: cannot read: it is a named pipe \(FIFO\), not a regular file/);
    await rm(join(dir.path, 'tls.crt'));
    await rm(fifo);
    await symlink(join('..data', 'tls.crt'), join(dir.path, 'tls.crt'));
    await recover();
  });

  it('refuses a partial write (a disk that filled up mid-file) after the settle window', async () => {
    const leaf = await pki.leaf();
    const message = await rejected('parse_error', () => kubeletWrite(dir.path, { ...leaf.secretFiles, 'tls.crt': leaf.chainPem.slice(0, 400) }));
    expect(message).toMatch(/tls\.crt: .*(no PEM "BEGIN CERTIFICATE" block|is not a valid X\.509 certificate)/);
    await recover();
  });

  it('ends a storm of 100 rotations in one second on the last one, with no rejection and no extra swap', async () => {
    const leaves = await Promise.all(Array.from({ length: 100 }, () => pki.leaf()));
    const rejectedBefore = (await metricValue(server, 'hotcert_reloads_total', { result: 'rejected' })) ?? 0;
    const appliedBefore = (await metricValue(server, 'hotcert_reloads_total', { result: 'applied' })) ?? 0;
    const started = performance.now();
    for (const leaf of leaves) await kubeletWrite(dir.path, leaf.secretFiles);
    const writing = performance.now() - started;
    const last = leaves.at(-1) as Leaf;
    await waitForSerial({ port: server.port, ca: pki.caPem, serial: last.serialNumber, withinMs: 2_000 });
    await new Promise((resolve) => setTimeout(resolve, 1_300)); // the confirmation re-reads
    const applied = ((await metricValue(server, 'hotcert_reloads_total', { result: 'applied' })) ?? 0) - appliedBefore;
    expect(writing).toBeLessThan(5_000);
    expect(applied).toBeGreaterThanOrEqual(1);
    expect(applied).toBeLessThanOrEqual(leaves.length);
    expect((await metricValue(server, 'hotcert_reloads_total', { result: 'rejected' })) ?? 0).toBe(rejectedBefore);
    expect(server.reloader.current('default')?.serialNumber).toBe(last.serialNumber);
    served = last;
  });

  it('dropped no connected socket and lost no acked message through all of it', () => {
    expect(fleet.totals()).toMatchObject({ disconnects: 0, failed: 0 });
    expect(fleet.totals().acked).toBeGreaterThan(20);
  });
});
