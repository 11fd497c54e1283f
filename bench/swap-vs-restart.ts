/**
 * Benchmark 5, hot swap versus restart: the same N WSS sockets (socket.io-client defaults:
 * reconnection with its standard backoff) see one certificate change delivered (a) by hotcert's
 * hot swap and (b) the way a restart-based reloader delivers it: the server process is stopped
 * (SIGTERM, graceful) and started again on the same port with the new certificate. Both use the
 * same hotcert binary, the same port and the same clients, so the only difference is the restart.
 * Reported: disconnects, time until every socket is connected again, acked echoes lost or late.
 *
 *   npx tsx bench/swap-vs-restart.ts [--quick]
 */
import { TestPki, type Leaf } from '../test/support/certs.js';
import { tempDir } from '../test/support/hotcert.js';
import { kubeletWrite } from '../test/support/kubelet.js';
import { freePort } from '../test/support/processes.js';
import { machine, QUICK, table, writePlot, writeResult } from './lib/report.js';
import { startServer, type BenchServer } from './lib/server.js';
import { closeSockets, connectSockets } from './lib/sockets.js';

const SOCKETS = QUICK ? 200 : 2_000;
const OBSERVE_MS = QUICK ? 8_000 : 20_000;

interface Outcome {
  readonly mode: string;
  readonly disconnects: number;
  readonly allBackMs: number;
  readonly sent: number;
  readonly failed: number;
  readonly curve: Array<{ t: number; connected: number }>;
}

async function run(mode: 'hot swap' | 'restart'): Promise<Outcome> {
  const dir = await tempDir('hotcert-bench-restart-');
  const pki = await TestPki.create();
  const [first, second] = [await pki.leaf(), await pki.leaf()] as [Leaf, Leaf];
  await kubeletWrite(dir.path, first.secretFiles);
  const port = await freePort();
  const args = ['--cert-dir', dir.path, '--port', String(port), '--shutdown-timeout', '5s'];
  let server: BenchServer = await startServer(args);
  let disconnects = 0;
  // socket.io-client's default reconnection: what clients of a restarting server rely on.
  const sockets = await connectSockets({ port, ca: pki.caPem, count: SOCKETS, reconnection: true, onDisconnect: () => disconnects++ });
  let sent = 0;
  let failed = 0;
  let running = true;
  const loops = sockets.map(async (socket) => {
    while (running) {
      sent++;
      await socket.timeout(5_000).emitWithAck('echo', sent).catch(() => failed++);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000));

  const changed = performance.now();
  if (mode === 'hot swap') {
    await kubeletWrite(dir.path, second.secretFiles);
  } else {
    await server.stop();
    await kubeletWrite(dir.path, second.secretFiles);
    server = await startServer(args);
  }
  const curve: Array<{ t: number; connected: number }> = [];
  let allBackMs = Number.NaN;
  while (performance.now() - changed < OBSERVE_MS) {
    const connected = sockets.filter((s) => s.connected).length;
    curve.push({ t: (performance.now() - changed) / 1000, connected });
    if (Number.isNaN(allBackMs) && connected === SOCKETS && (mode === 'hot swap' || disconnects > 0)) allBackMs = performance.now() - changed;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  running = false;
  await Promise.all(loops);
  closeSockets(sockets);
  await server.stop();
  await dir.remove();
  return { mode, disconnects, allBackMs, sent, failed, curve };
}

const hot = await run('hot swap');
const restart = await run('restart');
console.log(`Hot swap versus restart (${machine()}): ${SOCKETS} WSS sockets, socket.io-client default reconnection, an acked echo every 500 ms each\n`);
console.log(
  table(
    ['delivery of the new certificate', 'disconnects', 'time until all sockets are connected', 'acked echoes failed (5 s timeout) / sent'],
    [hot, restart].map((o) => [o.mode, o.disconnects, Number.isNaN(o.allBackMs) ? `not within ${OBSERVE_MS / 1000} s` : `${(o.allBackMs / 1000).toFixed(2)} s`, `${o.failed} / ${o.sent}`]),
  ),
);
writeResult('swap-vs-restart', { sockets: SOCKETS, hot, restart });
const width = 720;
const height = 320;
const x = (t: number) => 50 + (t / (OBSERVE_MS / 1000)) * (width - 70);
const y = (n: number) => height - 40 - (n / SOCKETS) * (height - 80);
const path = (o: Outcome) => o.curve.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.connected).toFixed(1)}`).join(' ');
writePlot(
  'swap-vs-restart',
  [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" font-size="14" text-anchor="middle">Connected sockets after a certificate change: hot swap (blue) vs restart (red)</text>`,
    `<path d="${path(hot)}" fill="none" stroke="#1f77b4" stroke-width="2"/><path d="${path(restart)}" fill="none" stroke="#d62728" stroke-width="2"/>`,
    `<text x="${width / 2}" y="${height - 10}" font-size="12" text-anchor="middle">seconds after the change</text>`,
    `<text x="14" y="${height / 2}" font-size="12" transform="rotate(-90 14 ${height / 2})" text-anchor="middle">connected (of ${SOCKETS})</text>`,
    '</svg>',
    '',
  ].join('\n'),
);
