/**
 * Benchmark 4, sockets under rotation: N WSS socket.io-client sockets each send an acked `echo`
 * every 100 ms; ack latency for a period without swaps, then for a period with a kubelet-style
 * swap every 300 ms. Targets: 0 disconnects, 0 lost acks, ack p99 during swaps ≤ 1.2× without.
 * The run is repeated with an echo every 500 ms, a load that leaves the machine CPU to spare, and
 * the CPU seconds of server, load generator and rotator are reported per phase.
 *
 *   npx tsx bench/sockets.ts [--quick]
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TestPki } from '../test/support/certs.js';
import { tempDir } from '../test/support/hotcert.js';
import { kubeletWrite } from '../test/support/kubelet.js';
import { machine, QUICK, ROOT, summarise, table, writePlot, writeResult } from './lib/report.js';
import { cpuSeconds, startServer } from './lib/server.js';
import { closeSockets, connectSockets } from './lib/sockets.js';

const SOCKETS = QUICK ? 200 : 2_000;
const PHASE_MS = QUICK ? 5_000 : 30_000;
const ECHO_EVERY_MS = 100;
const SWAP_EVERY_MS = 300;

const dir = await tempDir('hotcert-bench-sockets-');
const pki = await TestPki.create();
const leaves = await Promise.all(Array.from({ length: Math.ceil(PHASE_MS / SWAP_EVERY_MS) + 2 }, () => pki.leaf()));
const mount = join(dir.path, 'tls');
await kubeletWrite(mount, leaves[0]?.secretFiles ?? {});
const secretsFile = join(dir.path, 'secrets.json');
writeFileSync(secretsFile, JSON.stringify(leaves.map((leaf) => leaf.secretFiles)));
const server = await startServer(['--cert-dir', mount]);
let disconnects = 0;
const sockets = await connectSockets({ port: server.port, ca: pki.caPem, count: SOCKETS, onDisconnect: () => disconnects++ });

interface CpuSeconds {
  readonly server: number;
  readonly client: number;
  readonly rotator: number;
}

/** One run: a quiet phase, then a phase with a swap every SWAP_EVERY_MS, every socket echoing every `echoEveryMs`. */
async function run(echoEveryMs: number) {
  // The swaps come from a process of their own: this one is busy with the client sockets, and its
  // timers would space them out (24 instead of 100 in 30 s when it wrote them itself). Started
  // before the phases, so its start-up falls into neither.
  const rotator = spawn(process.execPath, ['--import', 'tsx', `${ROOT}bench/lib/rotator.ts`, mount, secretsFile, String(SWAP_EVERY_MS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rotatorExit = new Promise<number | null>((resolve) => rotator.once('exit', resolve));
  const swapsAt: number[] = [];
  let started = 0;
  await new Promise<void>((resolve) =>
    createInterface({ input: rotator.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { ready?: true; swapAt?: number };
      if (message.ready) resolve();
      if (message.swapAt !== undefined) swapsAt.push(message.swapAt - (performance.timeOrigin + started));
    }),
  );
  const cpuNow = (): CpuSeconds => ({ server: cpuSeconds(server.pid), client: cpuSeconds(process.pid), rotator: cpuSeconds(rotator.pid as number) });
  const cpuUse = (from: CpuSeconds, to: CpuSeconds): CpuSeconds => ({ server: to.server - from.server, client: to.client - from.client, rotator: to.rotator - from.rotator });

  started = performance.now();
  const samples: Array<{ at: number; ms: number }> = [];
  let sent = 0;
  let lost = 0;
  let running = true;
  const loops = sockets.map(async (socket) => {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * echoEveryMs));
    while (running) {
      const at = performance.now();
      sent++;
      try {
        await socket.timeout(10_000).emitWithAck('echo', at);
        samples.push({ at: at - started, ms: performance.now() - at });
      } catch {
        lost++;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, echoEveryMs - (performance.now() - at))));
    }
  });
  rotator.stdin.end(`${JSON.stringify({ startAt: performance.timeOrigin + started + PHASE_MS, durationMs: PHASE_MS })}\n`);
  const cpuAtStart = cpuNow();
  await new Promise((resolve) => setTimeout(resolve, PHASE_MS - (performance.now() - started)));
  const cpuAtSwaps = cpuNow();
  await new Promise((resolve) => setTimeout(resolve, PHASE_MS - 200));
  const cpuAtEnd = cpuNow();
  const exitCode = await rotatorExit;
  if (exitCode !== 0) throw new Error(`the rotator exited with ${exitCode}`);
  running = false;
  await Promise.all(loops);
  const quiet = summarise(samples.filter((s) => s.at < PHASE_MS).map((s) => s.ms));
  const swapping = summarise(samples.filter((s) => s.at >= PHASE_MS).map((s) => s.ms));
  return { echoEveryMs, quiet, swapping, ratio: swapping.p99 / quiet.p99, sent, lost, swapsAt, samples, cpu: { quiet: cpuUse(cpuAtStart, cpuAtSwaps), swapping: cpuUse(cpuAtSwaps, cpuAtEnd) } };
}

// The load the target names (an echo every 100 ms), and a lighter one (every 500 ms) that leaves
// the machine CPU to spare: at the first, the load generator itself needs a whole core.
const runs = [await run(ECHO_EVERY_MS), await run(ECHO_EVERY_MS * 5)];
closeSockets(sockets);
await server.stop();
await dir.remove();

console.log(`Sockets under rotation (${machine()}): ${SOCKETS} WSS sockets, each sending an acked echo; ${PHASE_MS / 1000} s without swaps, then ${PHASE_MS / 1000} s with a swap every ${SWAP_EVERY_MS} ms\n`);
console.log(
  table(
    ['echo every', 'phase', 'acks', 'p50 (ms)', 'p95 (ms)', 'p99 (ms)', 'max (ms)', 'server CPU (s)', 'client CPU (s)', 'rotator CPU (s)'],
    runs.flatMap((r) => [
      [`${r.echoEveryMs} ms`, 'without swaps', r.quiet.n, r.quiet.p50, r.quiet.p95, r.quiet.p99, r.quiet.max, r.cpu.quiet.server, r.cpu.quiet.client, r.cpu.quiet.rotator],
      [`${r.echoEveryMs} ms`, `with swaps (${r.swapsAt.length})`, r.swapping.n, r.swapping.p50, r.swapping.p95, r.swapping.p99, r.swapping.max, r.cpu.swapping.server, r.cpu.swapping.client, r.cpu.swapping.rotator],
    ]),
  ),
);
const lost = runs.reduce((sum, r) => sum + r.lost, 0);
const sent = runs.reduce((sum, r) => sum + r.sent, 0);
console.log(`\ndisconnects ${disconnects}, lost acks ${lost} of ${sent}; p99 with swaps / without: ${runs.map((r) => `${r.ratio.toFixed(2)} (echo every ${r.echoEveryMs} ms)`).join(', ')}`);
const [main] = runs as [(typeof runs)[number], ...unknown[]];
console.log(`targets: 0 disconnects ${disconnects === 0 ? 'met' : 'MISSED'}, 0 lost ${lost === 0 ? 'met' : 'MISSED'}, ratio ≤ 1.2 at an echo every ${ECHO_EVERY_MS} ms ${main.ratio <= 1.2 ? 'met' : 'MISSED'}`);
writeResult('sockets', { sockets: SOCKETS, disconnects, lost, sent, runs: runs.map(({ samples: _samples, swapsAt, ...r }) => ({ ...r, swaps: swapsAt.length })) });
const { samples, swapsAt } = main;

// Ack latency over time (p99 per 500 ms bucket) with the swap moments marked.
const bucketMs = 500;
const buckets = new Map<number, number[]>();
for (const s of samples) {
  const b = Math.floor(s.at / bucketMs);
  buckets.set(b, [...(buckets.get(b) ?? []), s.ms]);
}
const points = [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([b, values]) => ({ t: (b * bucketMs) / 1000, p99: summarise(values).p99, p50: summarise(values).p50 }));
const width = 720;
const height = 320;
const maxT = (2 * PHASE_MS) / 1000;
const maxY = Math.max(...points.map((p) => p.p99)) * 1.1;
const x = (t: number) => 50 + (t / maxT) * (width - 70);
const y = (v: number) => height - 40 - (v / maxY) * (height - 80);
const line = (key: 'p50' | 'p99') => points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ');
writePlot(
  'ack-latency',
  [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" font-size="14" text-anchor="middle">Ack latency of ${SOCKETS} sockets (per 0.5 s: p50 blue, p99 red); swaps marked grey</text>`,
    ...swapsAt.map((t) => `<line x1="${x(t / 1000)}" x2="${x(t / 1000)}" y1="30" y2="${height - 40}" stroke="#ccc" stroke-width="0.5"/>`),
    `<path d="${line('p50')}" fill="none" stroke="#1f77b4" stroke-width="2"/><path d="${line('p99')}" fill="none" stroke="#d62728" stroke-width="2"/>`,
    `<text x="${width / 2}" y="${height - 10}" font-size="12" text-anchor="middle">seconds (swaps from ${PHASE_MS / 1000} s)</text>`,
    `<text x="14" y="${height / 2}" font-size="12" transform="rotate(-90 14 ${height / 2})" text-anchor="middle">ms (max ${maxY.toFixed(0)})</text>`,
    '</svg>',
    '',
  ].join('\n'),
);
