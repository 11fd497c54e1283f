/**
 * The core promise: rotate the certificate under live WSS clients, by every kind of writer, with
 * file events and with polling only. Every fresh handshake sees the new serial within a second,
 * no socket drops, no ack is lost, every client hears `hotcert:certificate`, nothing is rejected.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HotcertServer } from '../../src/server.js';
import { TestPki } from '../support/certs.js';
import { startFleet } from '../support/clients.js';
import { metricValue, startHotcert, tempDir, WATCH_MODES } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';
import { waitForSerial } from '../support/tls-probe.js';
import { kubeletWriter, WRITERS, writePlain } from '../support/writers.js';

const CLIENTS = 50;
const ROTATIONS = 20;

describe.each(WATCH_MODES)('rotation with $mode', ({ watch, pollIntervalMs }) => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: HotcertServer | undefined;

  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await dir.remove();
  });

  it.each(WRITERS.map((writer) => [writer.name, writer] as const))('%s: every rotation is served within 1 s, no socket drops, no ack is lost', async (_name, writer) => {
    const pki = await TestPki.create();
    const first = await pki.leaf();
    if (writer === kubeletWriter) await kubeletWrite(dir.path, first.secretFiles);
    else await writePlain(dir.path, first);
    server = await startHotcert({ certificate: { certDir: dir.path }, watch, pollIntervalMs });
    const rejectedBefore = await metricValue(server, 'hotcert_reloads_total', { result: 'rejected' });

    const fleet = await startFleet({ port: server.port, ca: pki.caPem, count: CLIENTS });
    const rotations = ROTATIONS;
    const serials: string[] = [];
    const latencies: number[] = [];
    for (let i = 0; i < rotations; i++) {
      const next = await pki.leaf();
      await writer.write(dir.path, next);
      latencies.push(await waitForSerial({ port: server.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 1_000 }));
      serials.push(next.serialNumber);
    }
    // Let the last announcement and the in-flight echoes arrive.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await fleet.stop();

    const totals = fleet.totals();
    expect(totals.disconnects).toBe(0);
    expect(totals.failed).toBe(0);
    expect(totals.acked).toBe(totals.sent);
    for (const client of fleet.clients) {
      // Every client kept talking through the rotations and heard about each new certificate.
      expect(client.acked).toBeGreaterThanOrEqual(5);
      expect(client.certificateSerials).toEqual([first.serialNumber, ...serials]);
    }
    expect(await metricValue(server, 'hotcert_reloads_total', { result: 'applied' })).toBeGreaterThanOrEqual(rotations);
    expect(await metricValue(server, 'hotcert_reloads_total', { result: 'rejected' })).toBe(rejectedBefore);
    expect(Math.max(...latencies)).toBeLessThan(1_000);
  });
});

describe.each(WATCH_MODES)('explicit files in separate directories with $mode', ({ watch, pollIntervalMs }) => {
  it('watches each directory and swaps when both files have changed', async () => {
    const certDir = await tempDir();
    const keyDir = await tempDir();
    const pki = await TestPki.create('rsa');
    const first = await pki.leaf();
    const { writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const cert = join(certDir.path, 'server.pem');
    const key = join(keyDir.path, 'server-key.pem');
    await writeFile(cert, first.chainPem);
    await writeFile(key, first.keyAs('pkcs1'));
    const server = await startHotcert({ certificate: { cert, key }, watch, pollIntervalMs });
    try {
      for (let i = 0; i < 3; i++) {
        const next = await pki.leaf();
        await writeFile(key, next.keyAs('pkcs1'));
        await writeFile(cert, next.chainPem);
        await waitForSerial({ port: server.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 1_000 });
      }
      expect((await metricValue(server, 'hotcert_reloads_total', { result: 'rejected' })) ?? 0).toBe(0);
      expect(await metricValue(server, 'hotcert_reloads_total', { result: 'applied' })).toBe(3);
    } finally {
      await server.close();
      await certDir.remove();
      await keyDir.remove();
    }
  });
});
