/**
 * Benchmark 4, sockets under rotation: N WSS socket.io-client sockets each send an acked `echo`
 * every 100 ms; ack latency for a period without swaps, then for a period with a kubelet-style
 * swap every 300 ms. Targets: 0 disconnects, 0 lost acks, ack p99 during swaps ≤ 1.2× without.
 *
 *   npx tsx bench/sockets.ts [--quick]
 */
import { TestPki } from '../test/support/certs.js';
import { tempDir } from '../test/support/hotcert.js';
import { kubeletWrite } from '../test/support/kubelet.js';
import { machine, QUICK, summarise, table, writePlot, writeResult } from './lib/report.js';
import { startServer } from './lib/server.js';
import { closeSockets, connectSockets } from './lib/sockets.js';

const SOCKETS = QUICK ? 200 : 2_000;
const PHASE_MS = QUICK ? 5_000 : 30_000;
const ECHO_EVERY_MS = 100;
const SWAP_EVERY_MS = 300;

const dir = await tempDir('hotcert-bench-sockets-');
const pki = await TestPki.create();
const leaves = await Promise.all(Array.from({ length: Math.ceil(PHASE_MS / SWAP_EVERY_MS) + 2 }, () => pki.leaf()));
await kubeletWrite(dir.path, leaves[0]?.secretFiles ?? {});
const server = await startServer(['--cert-dir', dir.path]);

let disconnects = 0;
const sockets = await connectSockets({ port: server.port, ca: pki.caPem, count: SOCKETS, onDisconnect: () => disconnects++ });

const started = performance.now();
const samples: Array<{ at: number; ms: number }> = [];
let sent = 0;
let lost = 0;
let running = true;
const loops = sockets.map(async (socket) => {
  await new Promise((resolve) => setTimeout(resolve, Math.random() * ECHO_EVERY_MS));
  while (running) {
    const at = performance.now();
    sent++;
    try {
      await socket.timeout(10_000).emitWithAck('echo', at);
      samples.push({ at: at - started, ms: performance.now() - at });
    } catch {
      lost++;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, ECHO_EVERY_MS - (performance.now() - at))));
  }
});

await new Promise((resolve) => setTimeout(resolve, PHASE_MS));
const swapsAt: number[] = [];
for (let i = 1; performance.now() - started < 2 * PHASE_MS; i++) {
  const tick = performance.now();
  await kubeletWrite(dir.path, leaves[i % leaves.length]?.secretFiles ?? {});
  swapsAt.push(tick - started);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, SWAP_EVERY_MS - (performance.now() - tick))));
}
running = false;
await Promise.all(loops);
closeSockets(sockets);
await server.stop();
await dir.remove();

const quiet = summarise(samples.filter((s) => s.at < PHASE_MS).map((s) => s.ms));
const swapping = summarise(samples.filter((s) => s.at >= PHASE_MS).map((s) => s.ms));
console.log(`Sockets under rotation (${machine()}): ${SOCKETS} WSS sockets, an acked echo every ${ECHO_EVERY_MS} ms each\n`);
console.log(
  table(
    ['phase', 'acks', 'p50 (ms)', 'p95 (ms)', 'p99 (ms)', 'max (ms)'],
    [
      [`${PHASE_MS / 1000} s without swaps`, quiet.n, quiet.p50, quiet.p95, quiet.p99, quiet.max],
      [`${PHASE_MS / 1000} s with a swap every ${SWAP_EVERY_MS} ms (${swapsAt.length} swaps)`, swapping.n, swapping.p50, swapping.p95, swapping.p99, swapping.max],
    ],
  ),
);
const ratio = swapping.p99 / quiet.p99;
console.log(`\ndisconnects ${disconnects}, lost acks ${lost} of ${sent}; p99 with swaps / without: ${ratio.toFixed(2)}`);
console.log(`targets: 0 disconnects ${disconnects === 0 ? 'met' : 'MISSED'}, 0 lost ${lost === 0 ? 'met' : 'MISSED'}, ratio ≤ 1.2 ${ratio <= 1.2 ? 'met' : 'MISSED'}`);
writeResult('sockets', { sockets: SOCKETS, quiet, swapping, ratio, disconnects, lost, sent, swaps: swapsAt.length });

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
