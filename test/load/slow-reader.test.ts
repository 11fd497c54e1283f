/**
 * A client that sends acked `echo` requests as fast as it can and never reads its socket, against a
 * real `hotcert serve` process: the server closes it once its unsent output stays above
 * `--max-write-backlog-bytes`, counts the disconnect with reason `write_backlog_exceeded`, keeps its
 * RSS within 64 MiB of the baseline, and a legitimate client's acks keep flowing. A message larger
 * than `--max-message-bytes` is refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { io as connect, type Socket } from 'socket.io-client';
import { eventually, sleep } from '../support/eventually.js';
import { rssMiB, scrapeMetric, startServeProcess, type ServeProcess } from '../support/serve-process.js';

describe('a client that never reads (a real hotcert serve process)', () => {
  let served: ServeProcess | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await served?.stop();
    served = undefined;
  });

  it('is closed once its unsent output stays above the limit; memory stays bounded and others keep their acks', async () => {
    served = await startServeProcess();
    const { cli, pid, port, metricsPort, ca } = served;
    const open = () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect(`https://localhost:${port}`, { ca, transports: ['websocket'], reconnection: false, forceNew: true });
        sockets.push(socket);
        socket.once('connect', () => resolve(socket)).once('connect_error', reject);
      });
    const [legit, attacker] = [await open(), await open()];
    await sleep(500);
    const baseline = rssMiB(pid);

    // A message above --max-message-bytes (64 KiB) closes the connection that sent it.
    const oversized = await open();
    const oversizedGone = new Promise<string>((resolve) => oversized.once('disconnect', resolve));
    oversized.emit('echo', 'x'.repeat(100 * 1024));
    expect(await oversizedGone).toBe('transport close');

    let legitAcks = 0;
    let legitFailed = 0;
    let running = true;
    const legitLoop = (async () => {
      while (running) {
        try {
          await legit.timeout(3_000).emitWithAck('echo', 'ping');
          legitAcks++;
        } catch {
          legitFailed++;
        }
        await sleep(100);
      }
    })();

    // The attacker stops reading its TCP socket, then floods acked echoes just under the limit.
    const raw = (attacker.io.engine.transport as unknown as { ws: { _socket: { pause(): void } } }).ws._socket;
    raw.pause();
    const attackerGone = new Promise<string>((resolve) => attacker.once('disconnect', resolve));
    const payload = 'y'.repeat(60 * 1024);
    let sent = 0;
    let peak = baseline;
    const flooding = (async () => {
      while (attacker.connected && sent < 20_000) {
        attacker.emit('echo', payload, () => undefined);
        sent++;
        if (sent % 50 === 0) {
          peak = Math.max(peak, rssMiB(pid));
          await sleep(1);
        }
      }
    })();
    await eventually(async () => expect(await scrapeMetric(metricsPort, 'hotcert_socketio_disconnections_total', 'reason="write_backlog_exceeded"')).toBe(1), { timeoutMs: 20_000, intervalMs: 200 });
    await flooding;
    peak = Math.max(peak, rssMiB(pid));
    await sleep(1_000);
    running = false;
    await legitLoop;
    attacker.close();
    await Promise.race([attackerGone, sleep(1_000)]);

    console.log(`slow reader: ${sent} echoes of 60 KiB sent before the cut; server RSS ${baseline.toFixed(1)} MiB before, ${peak.toFixed(1)} MiB at the peak; legitimate client ${legitAcks} acks, ${legitFailed} failed`);
    expect(peak - baseline).toBeLessThanOrEqual(64);
    expect(legitFailed).toBe(0);
    expect(legitAcks).toBeGreaterThan(5);
    expect(legit.connected).toBe(true);
    expect(cli.lines().some((line) => line['event'] === 'socket_write_backlog_exceeded')).toBe(true);
  }, 60_000);
});
