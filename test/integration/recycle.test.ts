/**
 * Connection recycling after a rotation (--recycle-after-rotation): connections negotiated under
 * the replaced certificate are closed at random moments within the window; Socket.IO clients
 * reconnect onto the new certificate by themselves and no acknowledged message is lost.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { io as connect, type Socket } from 'socket.io-client';
import type { HotcertServer } from '../../src/server.js';
import { TestPki } from '../support/certs.js';
import { eventually } from '../support/eventually.js';
import { metricValue, startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';
import { waitForSerial } from '../support/tls-probe.js';

describe('connection recycling after rotation', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: HotcertServer | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets) socket.close();
    await server?.close();
    await dir.remove();
  });

  it('moves every connection onto the new certificate within the window, losing no acked message', async () => {
    dir = await tempDir();
    const pki = await TestPki.create();
    await kubeletWrite(dir.path, (await pki.leaf()).secretFiles);
    server = await startHotcert({ certificate: { certDir: dir.path }, recycleAfterRotationMs: 1_000 });
    const reconnects: number[] = [];
    for (let i = 0; i < 20; i++) {
      // retries + ackTimeout: the client re-sends an emit whose ack a reconnect interrupted
      // (Socket.IO's at-least-once delivery), as apps that must not lose messages do.
      const socket = connect(`https://localhost:${server.port}`, {
        ca: pki.caPem,
        transports: ['websocket'],
        forceNew: true,
        reconnectionDelay: 50,
        reconnectionDelayMax: 200,
        retries: 5,
        ackTimeout: 2_000,
      });
      socket.io.on('reconnect', () => reconnects.push(i));
      sockets.push(socket);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    }
    // Keep acked traffic flowing through the recycling.
    let sent = 0;
    let acked = 0;
    let running = true;
    const traffic = Promise.all(
      sockets.map(async (socket) => {
        while (running) {
          const n = ++sent;
          if ((await socket.emitWithAck('echo', n)) === n) acked++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }),
    );

    const next = await pki.leaf();
    const started = performance.now();
    await kubeletWrite(dir.path, next.secretFiles);
    await waitForSerial({ port: server.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 1_000 });
    expect(await metricValue(server, 'hotcert_connections_on_previous_certificate', { certificate: 'default' })).toBeGreaterThan(0);
    await eventually(async () => expect(await metricValue(server!, 'hotcert_connections_on_previous_certificate', { certificate: 'default' })).toBe(0), { timeoutMs: 5_000 });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(1_000 + 2_000);
    expect(await metricValue(server, 'hotcert_connections_recycled_total', { certificate: 'default' })).toBe(20);
    // The clients' side of it: each one reconnected (the event follows the server's view by a moment).
    await eventually(() => {
      expect(new Set(reconnects).size).toBe(20);
      expect(sockets.every((s) => s.connected)).toBe(true);
    });
    running = false;
    await traffic;
    expect(acked).toBe(sent);
  });
});
