/**
 * Soak: nothing lost. `npm run soak` runs the full size (1,000 sockets, 200 rotations); the test
 * suite runs a short form (test/integration/soak.test.ts) with the same code.
 *
 * A hotcert process (the built CLI) serves a Secret mount; N socket.io-client sockets over WSS,
 * in rooms, publish sequenced messages with acks while the certificate rotates R times (new keys,
 * alternating RSA and ECDSA, and once from one CA to another that clients trust through a
 * two-CA bundle) with B bad candidates in between. At the end: every acked message was delivered
 * exactly once to every member of its room, no socket disconnected, every fresh handshake of a
 * client trusting the bundle succeeded, and the server's RSS and heap growth are reported.
 */
import { io as connect, type Socket } from 'socket.io-client';
import { TestPki, type Leaf } from '../test/support/certs.js';
import { startCli } from '../test/support/cli.js';
import { tempDir } from '../test/support/hotcert.js';
import { kubeletWrite } from '../test/support/kubelet.js';
import { probe } from '../test/support/tls-probe.js';
import { freePort } from '../test/support/processes.js';

export interface SoakConfig {
  readonly sockets: number;
  readonly roomSize: number;
  readonly rotations: number;
  readonly badCandidates: number;
  /** Each socket publishes once per this many ms. */
  readonly publishEveryMs: number;
}

export const SHORT_SOAK: SoakConfig = { sockets: 200, roomSize: 10, rotations: 30, badCandidates: 5, publishEveryMs: 500 };
export const FULL_SOAK: SoakConfig = { sockets: 1_000, roomSize: 20, rotations: 200, badCandidates: 20, publishEveryMs: 2_000 };

export interface SoakResult {
  readonly config: SoakConfig;
  readonly durationSeconds: number;
  readonly published: number;
  readonly acked: number;
  readonly expectedDeliveries: number;
  readonly deliveries: number;
  readonly duplicates: number;
  readonly missing: number;
  readonly disconnects: number;
  readonly handshakes: number;
  readonly failedHandshakes: number;
  readonly applied: number;
  readonly rejected: number;
  readonly rssStartMiB: number;
  readonly rssEndMiB: number;
  readonly heapStartMiB: number;
  readonly heapEndMiB: number;
}

interface Message {
  readonly from: number;
  readonly seq: number;
}

async function serverMemory(metricsPort: number): Promise<{ rss: number; heap: number; applied: number; rejected: number }> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    rss: value(/^process_resident_memory_bytes (\S+)$/m) / 2 ** 20,
    heap: value(/^nodejs_heap_size_used_bytes (\S+)$/m) / 2 ** 20,
    applied: value(/^hotcert_reloads_total\{certificate="default",result="applied",trigger="watch"\} (\S+)$/m),
    rejected: value(/^hotcert_reload_rejections_total\{certificate="default",reason="expired"\} (\S+)$/m),
  };
}

export async function runSoak(config: SoakConfig): Promise<SoakResult> {
  const dir = await tempDir('hotcert-soak-');
  // Two CAs, each with an ECDSA and an RSA intermediate; clients trust both roots (a two-CA bundle).
  const [rootA, rootB] = [await TestPki.create('ecdsa'), await TestPki.create('ecdsa')];
  const issuers = { A: { ecdsa: rootA, rsa: await rootA.withIntermediate('rsa') }, B: { ecdsa: rootB, rsa: await rootB.withIntermediate('rsa') } };
  const trusted = rootA.caPem + rootB.caPem;
  const first = await rootA.leaf();
  await kubeletWrite(dir.path, first.secretFiles);
  const metricsPort = await freePort();
  const cli = startCli(['serve', '--cert-dir', dir.path, '--host', '127.0.0.1', '--port', '0', '--metrics-host', '127.0.0.1', '--metrics-port', String(metricsPort)]);
  const started = performance.now();
  try {
    const port = (await cli.waitForLine((line) => line['event'] === 'listening'))['port'] as number;
    return await soakAgainst(port, metricsPort, dir.path, issuers, trusted, config, started);
  } finally {
    cli.child.kill('SIGTERM');
    await cli.exited;
    await dir.remove();
  }
}

type Issuers = Record<'A' | 'B', Record<'ecdsa' | 'rsa', TestPki>>;

async function soakAgainst(port: number, metricsPort: number, mount: string, issuers: Issuers, trusted: string, config: SoakConfig, started: number): Promise<SoakResult> {
  const rooms = Math.ceil(config.sockets / config.roomSize);
  const sockets: Socket[] = [];
  const received: Array<Map<number, number[]>> = [];
  let disconnects = 0;
  for (let i = 0; i < config.sockets; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, config.sockets - i) }, async (_, j) => {
        const index = i + j;
        const socket = connect(`https://localhost:${port}`, { ca: trusted, transports: ['websocket'], reconnection: false, forceNew: true });
        sockets[index] = socket;
        received[index] = new Map();
        socket.on('disconnect', () => disconnects++);
        socket.on('message', ({ data }: { data: Message }) => {
          const seen = received[index]?.get(data.from) ?? [];
          seen.push(data.seq);
          received[index]?.set(data.from, seen);
        });
        await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
        await socket.emitWithAck('join', `room-${index % rooms}`);
      }),
    );
  }
  const memoryStart = await serverMemory(metricsPort);

  const acked: Message[] = [];
  let published = 0;
  let running = true;
  const publishers = sockets.map(async (socket, index) => {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * config.publishEveryMs));
    for (let seq = 0; running; seq++) {
      published++;
      const answer = (await socket.timeout(10_000).emitWithAck('publish', { room: `room-${index % rooms}`, data: { from: index, seq } })) as { ok: boolean };
      if (answer.ok) acked.push({ from: index, seq });
      await new Promise((resolve) => setTimeout(resolve, config.publishEveryMs));
    }
  });

  // Rotations: alternate RSA and ECDSA, switch CA halfway, and slip bad candidates in between.
  let handshakes = 0;
  let failedHandshakes = 0;
  const badEvery = Math.max(1, Math.floor(config.rotations / Math.max(1, config.badCandidates)));
  let bad = 0;
  for (let r = 1; r <= config.rotations; r++) {
    // Alternate RSA and ECDSA keys; halfway through, move from CA A to CA B.
    const pki = issuers[r > config.rotations / 2 ? 'B' : 'A'][r % 2 === 0 ? 'rsa' : 'ecdsa'];
    const leaf: Leaf = await pki.leaf();
    if (bad < config.badCandidates && r % badEvery === 0) {
      // An expired certificate: refused at once (a half-written pair would be given the settle window).
      const expired = await pki.leaf({ notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
      await kubeletWrite(mount, expired.secretFiles);
      bad++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await kubeletWrite(mount, leaf.secretFiles);
    for (let attempt = 0; ; attempt++) {
      handshakes++;
      const serial = await probe({ port, ca: trusted }).then((p) => p.serialNumber, () => 'failed');
      if (serial === 'failed') failedHandshakes++;
      if (serial === leaf.serialNumber) break;
      if (attempt > 200) throw new Error(`rotation ${r} not served after ${attempt} probes`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  running = false;
  await Promise.all(publishers);
  await new Promise((resolve) => setTimeout(resolve, 500)); // the last fan-out
  if (typeof globalThis.gc === 'function') globalThis.gc();
  const memoryEnd = await serverMemory(metricsPort);

  // Every acked message: exactly once at every member of its room (the sender is a member too).
  let deliveries = 0;
  let duplicates = 0;
  let missing = 0;
  const members = (room: number) => sockets.map((_, i) => i).filter((i) => i % rooms === room);
  const ackedBySender = new Map<number, Set<number>>();
  for (const { from, seq } of acked) ackedBySender.set(from, (ackedBySender.get(from) ?? new Set()).add(seq));
  let expectedDeliveries = 0;
  for (const [from, seqs] of ackedBySender) {
    for (const member of members(from % rooms)) {
      const seen = received[member]?.get(from) ?? [];
      deliveries += seen.length;
      expectedDeliveries += seqs.size;
      const counts = new Map<number, number>();
      for (const seq of seen) counts.set(seq, (counts.get(seq) ?? 0) + 1);
      for (const seq of seqs) {
        const count = counts.get(seq) ?? 0;
        if (count === 0) missing++;
        if (count > 1) duplicates += count - 1;
      }
    }
  }
  for (const socket of sockets) {
    socket.off('disconnect');
    socket.close();
  }
  return {
    config,
    durationSeconds: (performance.now() - started) / 1000,
    published,
    acked: acked.length,
    expectedDeliveries,
    deliveries,
    duplicates,
    missing,
    disconnects,
    handshakes,
    failedHandshakes,
    applied: memoryEnd.applied,
    rejected: memoryEnd.rejected,
    rssStartMiB: memoryStart.rss,
    rssEndMiB: memoryEnd.rss,
    heapStartMiB: memoryStart.heap,
    heapEndMiB: memoryEnd.heap,
  };
}

export function formatSoak(result: SoakResult): string {
  const rows: Array<[string, string]> = [
    ['sockets / room size', `${result.config.sockets} / ${result.config.roomSize}`],
    ['rotations (applied)', `${result.config.rotations} (${result.applied})`],
    ['bad candidates (rejected)', `${result.config.badCandidates} (${result.rejected})`],
    ['duration', `${result.durationSeconds.toFixed(1)} s`],
    ['messages published / acked', `${result.published} / ${result.acked}`],
    ['deliveries expected / seen', `${result.expectedDeliveries} / ${result.deliveries}`],
    ['missing / duplicated', `${result.missing} / ${result.duplicates}`],
    ['disconnects', String(result.disconnects)],
    ['fresh handshakes (failed)', `${result.handshakes} (${result.failedHandshakes})`],
    ['server RSS start → end', `${result.rssStartMiB.toFixed(1)} → ${result.rssEndMiB.toFixed(1)} MiB`],
    ['server heap used start → end', `${result.heapStartMiB.toFixed(1)} → ${result.heapEndMiB.toFixed(1)} MiB`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v} |`).join('\n');
}
