/**
 * Bad candidates never replace a good certificate: the served serial stays, the process stays
 * up, sockets stay connected, the rejection is counted with the right reason and logged with the
 * file, and the next good certificate is applied.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { RejectionReason } from '../../src/material.js';
import type { HotcertServer } from '../../src/server.js';
import { TestPki, type Leaf } from '../support/certs.js';
import { startFleet, type Fleet } from '../support/clients.js';
import { eventually } from '../support/eventually.js';
import { memoryLogger, metricValue, startHotcert, tempDir, WATCH_MODES } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';
import { probe, waitForSerial } from '../support/tls-probe.js';

const DAY = 86_400_000;

type BadCase = [name: string, reason: RejectionReason, files: (good: Leaf, other: Leaf, pki: TestPki) => Promise<Record<string, string>> | Record<string, string>];

const BAD_CASES: BadCase[] = [
  ['a key that does not match', 'key_mismatch', (good, other) => ({ ...good.secretFiles, 'tls.key': other.keyPem })],
  ['an empty certificate', 'empty', (good) => ({ ...good.secretFiles, 'tls.crt': '' })],
  ['an empty key', 'empty', (good) => ({ ...good.secretFiles, 'tls.key': '' })],
  ['garbage PEM', 'parse_error', (good) => ({ ...good.secretFiles, 'tls.crt': '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n' })],
  ['a truncated key', 'parse_error', (good) => ({ ...good.secretFiles, 'tls.key': good.keyPem.slice(0, good.keyPem.length / 2) })],
  ['an expired certificate', 'expired', async (_good, _other, pki) => (await pki.leaf({ notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) })).secretFiles],
  ['a certificate not valid yet', 'not_yet_valid', async (_good, _other, pki) => (await pki.leaf({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 30 * DAY) })).secretFiles],
  ['the wrong chain order', 'chain_invalid', (good) => ({ ...good.secretFiles, 'tls.crt': good.pki.intermediate.certPem + good.issued.certPem })],
  ['a missing key file', 'read_error', (good) => ({ 'tls.crt': good.chainPem, 'ca.crt': good.pki.caPem })],
];

describe.each(WATCH_MODES)('bad input with $mode', ({ watch, pollIntervalMs }) => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: HotcertServer;
  let pki: TestPki;
  let fleet: Fleet;
  let served: Leaf;
  const log = memoryLogger();

  beforeAll(async () => {
    dir = await tempDir();
    pki = await TestPki.create();
    served = await pki.leaf();
    await kubeletWrite(dir.path, served.secretFiles);
    server = await startHotcert({ certificate: { certDir: dir.path }, watch, pollIntervalMs, logger: log.logger });
    fleet = await startFleet({ port: server.port, ca: pki.caPem, count: 5, intervalMs: 100 });
  });
  afterAll(async () => {
    await fleet.stop();
    await server.close();
    await dir.remove();
  });

  it.each(BAD_CASES)('%s is rejected as %s and the last good certificate keeps serving', async (_name, reason, makeFiles) => {
    const before = (await metricValue(server, 'hotcert_reload_rejections_total', { reason })) ?? 0;
    // A missing file needs the user-visible symlink gone too, as when a key is dropped from a Secret.
    if (reason === 'read_error') await rm(join(dir.path, 'tls.key'));
    await kubeletWrite(dir.path, await makeFiles(served, await pki.leaf(), pki));

    await eventually(async () => expect(await metricValue(server, 'hotcert_reload_rejections_total', { reason })).toBe(before + 1), { timeoutMs: 5_000 });
    expect((await probe({ port: server.port, ca: pki.caPem })).serialNumber).toBe(served.serialNumber);
    expect(await metricValue(server, 'hotcert_last_reload_successful', { certificate: 'default' })).toBe(0);
    expect(server.readiness().ready).toBe(true);
    const warning = log.lines().findLast((line) => line['event'] === 'certificate_rejected');
    expect(warning).toMatchObject({ reason, certificate: 'default' });
    expect(String(warning?.['file'])).toContain(dir.path);
    expect(fleet.totals().disconnects).toBe(0);

    const next = await pki.leaf();
    if (reason === 'read_error') await symlink(join('..data', 'tls.key'), join(dir.path, 'tls.key'));
    await kubeletWrite(dir.path, next.secretFiles);
    await waitForSerial({ port: server.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 2_000 });
    expect(await metricValue(server, 'hotcert_last_reload_successful', { certificate: 'default' })).toBe(1);
    served = next;
  });

  it('a directory where the key should be is a read_error naming the file', async () => {
    const before = (await metricValue(server, 'hotcert_reload_rejections_total', { reason: 'read_error' })) ?? 0;
    await rm(join(dir.path, 'tls.key'));
    await mkdir(join(dir.path, 'tls.key'));
    await server.reload();
    await eventually(async () => expect(await metricValue(server, 'hotcert_reload_rejections_total', { reason: 'read_error' })).toBe(before + 1));
    const warning = log.lines().findLast((line) => line['event'] === 'certificate_rejected');
    expect(String(warning?.['msg'])).toMatch(/tls\.key: cannot read: it is a directory, not a file/);
    expect((await probe({ port: server.port, ca: pki.caPem })).serialNumber).toBe(served.serialNumber);
    await rm(join(dir.path, 'tls.key'), { recursive: true });
    await symlink(join('..data', 'tls.key'), join(dir.path, 'tls.key'));
    await server.reload();
  });

  it('never writes key material to the log', () => {
    const text = log.text();
    expect(text).not.toMatch(/PRIVATE KEY/);
    const keyLine = served.keyPem.split('\n')[1] as string;
    expect(text).not.toContain(keyLine.slice(0, 40));
    expect(fleet.totals().failed).toBe(0);
  });
});
