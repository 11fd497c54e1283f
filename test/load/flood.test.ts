/**
 * The TLS port holds against connection floods, on loopback against a real `hotcert serve`
 * process: 5,000 TCP connections that never send a ClientHello, 200 TLS connections that trickle
 * HTTP headers a byte a second, and 200 clients looping through handshakes that fail on an unknown
 * CA, while 200 legitimate WSS sockets echo with acks. None of those is dropped or loses an ack,
 * the idle connections are cut within the handshake timeout (+1 s for 99 % of them, +2 s for all), and the server's file descriptors and memory come back once the attack stops. The ack
 * p99 under attack is printed beside the quiet one and gated at an absolute bound (see below).
 * `--max-connections` refuses what is above it at once, and counts it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { connect as netConnect, type Socket as NetSocket } from 'node:net';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { io as connect, type Socket } from 'socket.io-client';
import { TestPki } from '../support/certs.js';
import { eventually, sleep } from '../support/eventually.js';
import { rssMiB, scrapeMetric, startServeProcess, type ServeProcess } from '../support/serve-process.js';

const HANDSHAKE_TIMEOUT_S = 3;
const HEADERS_TIMEOUT_S = 4;
/** Each of the 200 failing-handshake clients pauses this long between attempts. */
const LOOP_PAUSE_MS = 250;
/** Acks of the legitimate sockets during the attack: p99 below this. */
const ATTACKED_ACK_P99_LIMIT_MS = 250;
const ATTACKER = fileURLToPath(new URL('../support/flood-attacker.mjs', import.meta.url));
interface AttackReport {
  readonly idleHeld: number[];
  readonly trickleHeld: number[];
  readonly failedHandshakes: number;
}

/** Runs the attacker in its own process, so its work does not slow the measured clients' event loop. */
function runAttacker(config: Record<string, unknown>): Promise<AttackReport> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [ATTACKER, JSON.stringify(config)], { maxBuffer: 16 * 1024 * 1024, timeout: 60_000 }, (error, stdout) => {
      if (error) reject(error);
      else resolve(JSON.parse(stdout) as AttackReport);
    });
  });
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

interface Echoers {
  readonly sockets: Socket[];
  readonly latencies: number[];
  readonly disconnects: string[];
  failed: number;
  stop(): Promise<void>;
}

/** Legitimate clients: each echoes with an ack every `intervalMs`, recording the round trip. */
async function startEchoers(port: number, ca: string, count: number, intervalMs: number): Promise<Echoers> {
  let running = true;
  const echoers: Echoers = { sockets: [], latencies: [], disconnects: [], failed: 0, stop: async () => undefined };
  const connected = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(`https://localhost:${port}`, { ca, transports: ['websocket'], reconnection: false, forceNew: true });
          socket.on('disconnect', (reason) => echoers.disconnects.push(reason));
          socket.once('connect', () => resolve(socket)).once('connect_error', reject);
        }),
    ),
  );
  echoers.sockets.push(...connected);
  const loops = connected.map(async (socket, index) => {
    await sleep((index * intervalMs) / count);
    while (running) {
      const started = performance.now();
      try {
        await socket.timeout(5_000).emitWithAck('echo', index);
        echoers.latencies.push(performance.now() - started);
      } catch {
        echoers.failed++;
      }
      await sleep(intervalMs);
    }
  });
  echoers.stop = async () => {
    running = false;
    await Promise.all(loops);
    for (const socket of connected) {
      socket.off('disconnect');
      socket.close();
    }
  };
  return echoers;
}

describe('connection floods (a real hotcert serve process)', () => {
  let served: ServeProcess | undefined;
  afterEach(async () => {
    await served?.stop();
    served = undefined;
  });

  async function serve(extra: string[]): Promise<ServeProcess> {
    served = await startServeProcess(['--log-level', 'info', ...extra]);
    return served;
  }

  it('holds against idle, trickling and failing-handshake floods while legitimate sockets keep echoing', async () => {
    const { port, metricsPort, ca, pid } = await serve(['--tls-handshake-timeout', `${HANDSHAKE_TIMEOUT_S}s`, '--http-headers-timeout', `${HEADERS_TIMEOUT_S}s`]);
    const echoers = await startEchoers(port, ca, 200, 500);
    await sleep(1_000);
    const baseline = { fds: openFds(pid), rss: rssMiB(pid), heap: (await scrapeMetric(metricsPort, 'nodejs_heap_size_used_bytes')) / 2 ** 20 };
    echoers.latencies.length = 0;
    await sleep(5_000);
    const quiet = [...echoers.latencies];
    const quietLoop = await scrapeMetric(metricsPort, 'nodejs_eventloop_lag_p99_seconds');
    echoers.latencies.length = 0;

    const stranger = await TestPki.create();
    // Three attacker processes: the work of one must not delay the timing another measures.
    const common = { port, serverCa: ca, strangerCa: stranger.caPem, loopPauseMs: LOOP_PAUSE_MS, durationMs: 8_000, idle: 0, trickle: 0, loopers: 0 };
    const [idle, trickle, loops] = await Promise.all([runAttacker({ ...common, idle: 5_000, idleDelayMs: 1_000 }), runAttacker({ ...common, trickle: 200 }), runAttacker({ ...common, loopers: 200 })]);
    const attack = { idleHeld: idle.idleHeld, trickleHeld: trickle.trickleHeld, failedHandshakes: loops.failedHandshakes };
    const attacked = [...echoers.latencies];
    const attackedLoop = await scrapeMetric(metricsPort, 'nodejs_eventloop_lag_p99_seconds');
    console.log(`server event-loop delay p99: quiet ${(quietLoop * 1000).toFixed(1)} ms, under attack ${(attackedLoop * 1000).toFixed(1)} ms`);
    const [quietP99, attackedP99] = [percentile(quiet, 99), percentile(attacked, 99)];
    console.log(
      `flood: ${quiet.length} quiet acks p50 ${percentile(quiet, 50).toFixed(1)} ms p99 ${quietP99.toFixed(1)} ms; ${attacked.length} acks under attack p50 ${percentile(attacked, 50).toFixed(1)} ms p99 ${attackedP99.toFixed(1)} ms; ${attack.failedHandshakes} failed handshakes; idle held p99 ${percentile(attack.idleHeld, 99).toFixed(2)} s, max ${Math.max(...attack.idleHeld).toFixed(2)} s; trickle held max ${Math.max(...attack.trickleHeld).toFixed(2)} s`,
    );

    expect(attack.idleHeld).toHaveLength(5_000);
    expect(attack.idleHeld.every((seconds) => seconds >= 0)).toBe(true);
    // Held from the attacker's TCP connect, which includes time in the kernel's accept queue while
    // the server is busy with the other attacks' handshakes.
    expect(percentile(attack.idleHeld, 99)).toBeLessThanOrEqual(HANDSHAKE_TIMEOUT_S + 1);
    expect(Math.max(...attack.idleHeld)).toBeLessThanOrEqual(HANDSHAKE_TIMEOUT_S + 2);
    expect(Math.min(...attack.idleHeld)).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_S - 0.5);
    expect(attack.trickleHeld).toHaveLength(200);
    expect(attack.trickleHeld.every((seconds) => seconds >= 0)).toBe(true);
    // The first byte comes a second after the handshake; Node checks the timeout once a second; the
    // rest is the attacker's and the server's delay under the attack (7.0-8.0 s measured).
    expect(Math.max(...attack.trickleHeld)).toBeLessThanOrEqual(1 + HEADERS_TIMEOUT_S + 1 + 3);
    expect(attack.failedHandshakes).toBeGreaterThan(200);
    expect(await scrapeMetric(metricsPort, 'hotcert_connections_refused_total', 'reason="handshake_timeout"')).toBe(5_000);
    expect(await scrapeMetric(metricsPort, 'hotcert_connections_refused_total', 'reason="request_timeout"')).toBe(200);
    // Node's clients check the chain after the handshake and reset: the server counts econnreset.
    expect(await scrapeMetric(metricsPort, 'hotcert_tls_handshake_errors_total', 'reason="econnreset"')).toBeGreaterThan(200);

    expect(echoers.disconnects).toEqual([]);
    expect(echoers.failed).toBe(0);
    // Measured, not gated at 2x: on two cores an attack that saturates one of them with handshakes
    // shows in every latency (see docs/security.md, "What the flood test shows"). What is gated is that the
    // legitimate sockets stay responsive, far inside Socket.IO's ping timeout.
    expect(attackedP99).toBeLessThan(ATTACKED_ACK_P99_LIMIT_MS);

    await eventually(() => expect(openFds(pid)).toBeLessThanOrEqual(baseline.fds + 5), { timeoutMs: 15_000, intervalMs: 250 });
    await sleep(15_000);
    const afterFirst = rssMiB(pid);
    // Memory the flood took is reused, not leaked: a second idle flood ends where the first did.
    await runAttacker({ ...common, idle: 5_000 });
    await eventually(() => expect(openFds(pid)).toBeLessThanOrEqual(baseline.fds + 5), { timeoutMs: 15_000, intervalMs: 250 });
    await sleep(5_000);
    const afterSecond = rssMiB(pid);
    const heapMiB = async () => (await scrapeMetric(metricsPort, 'nodejs_heap_size_used_bytes')) / 2 ** 20;
    console.log(
      `flood: baseline ${baseline.fds} fds ${baseline.rss.toFixed(1)} MiB RSS (${baseline.heap.toFixed(1)} MiB JS heap used); 15 s after the attack ${openFds(pid)} fds ${afterFirst.toFixed(1)} MiB; after a second idle flood ${afterSecond.toFixed(1)} MiB RSS (${(await heapMiB()).toFixed(1)} MiB JS heap used)`,
    );
    expect(afterSecond).toBeLessThanOrEqual(afterFirst * 1.1 + 8);
    expect(echoers.disconnects).toEqual([]);
    await echoers.stop();
  }, 120_000);

  it('refuses connections above --max-connections at once, and counts them', async () => {
    const { port, metricsPort } = await serve(['--max-connections', '50']);
    const sockets: NetSocket[] = [];
    const closedAt: number[] = [];
    const started = performance.now();
    for (let i = 0; i < 60; i++) {
      const socket = netConnect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      socket.once('close', () => closedAt.push(performance.now() - started));
      sockets.push(socket);
      await new Promise((resolve) => socket.once('connect', resolve));
    }
    await eventually(() => expect(closedAt.length).toBe(10), { timeoutMs: 3_000 });
    expect(Math.max(...closedAt)).toBeLessThan(2_000);
    expect(await scrapeMetric(metricsPort, 'hotcert_connections_refused_total', 'reason="max_connections"')).toBe(10);
    for (const socket of sockets) socket.destroy();
  });
});
