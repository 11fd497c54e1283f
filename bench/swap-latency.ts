/**
 * Benchmark 1, swap latency: from the kubelet-style rename of `..data` (or the API server's
 * update of the Secret) to the first fresh TLS handshake that presents the new serial, over many
 * rotations; with file events, with polling only (1 s), and through the Kubernetes API stand-in.
 * Target: p99 ≤ 25 ms with file events.
 *
 *   npx tsx bench/swap-latency.ts [--quick]
 */
import { TestPki, type Leaf } from '../test/support/certs.js';
import { startCli } from '../test/support/cli.js';
import { tempDir } from '../test/support/hotcert.js';
import { KubeApiStandIn } from '../test/support/kube-apiserver.js';
import { kubeletWrite } from '../test/support/kubelet.js';
import { connect } from 'node:tls';
import { cdfSvg, machine, QUICK, summarise, table, writePlot, writeResult } from './lib/report.js';

const ROTATIONS = QUICK ? 30 : 200;
const POLL_ROTATIONS = QUICK ? 5 : 30;

/** One fresh TLS handshake (no session resumption); the serial the server presented. */
function handshakeSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate().serialNumber.toUpperCase());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

/** Fresh handshakes back to back until the new serial shows; ms from `since` to that handshake's end. */
async function firstHandshakeWith(port: number, ca: string, serial: string, since: () => number): Promise<number> {
  for (;;) {
    if ((await handshakeSerial(port, ca)) === serial) return performance.now() - since();
  }
}

async function leaves(pki: TestPki, n: number): Promise<Leaf[]> {
  return Promise.all(Array.from({ length: n }, () => pki.leaf()));
}

/** hotcert as its own process (the built CLI), as in production: the prober does not share its event loop. */
async function startServer(args: readonly string[], env: Record<string, string> = {}): Promise<{ port: number; stop: () => Promise<void> }> {
  const cli = startCli(['serve', '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', ...args], { env });
  const port = (await cli.waitForLine((line) => line['event'] === 'listening'))['port'] as number;
  return {
    port,
    async stop() {
      cli.child.kill('SIGTERM');
      await cli.exited;
    },
  };
}

async function fileMode(watch: boolean, rotations: number): Promise<number[]> {
  const dir = await tempDir('hotcert-bench-');
  const pki = await TestPki.create();
  const all = await leaves(pki, rotations + 1);
  await kubeletWrite(dir.path, (all[0] as Leaf).secretFiles);
  const server = await startServer(['--cert-dir', dir.path, ...(watch ? [] : ['--no-watch', '--poll-interval', '1s'])]);
  const latencies: number[] = [];
  try {
    for (const leaf of all.slice(1)) {
      let flipped = 0;
      await kubeletWrite(dir.path, leaf.secretFiles, {}, () => (flipped = performance.now()));
      latencies.push(await firstHandshakeWith(server.port, pki.caPem, leaf.serialNumber, () => flipped));
      await new Promise((resolve) => setTimeout(resolve, watch ? 20 : 50));
    }
  } finally {
    await server.stop();
    await dir.remove();
  }
  return latencies;
}

async function apiMode(rotations: number): Promise<number[]> {
  const dir = await tempDir('hotcert-bench-api-');
  const standIn = await KubeApiStandIn.start();
  const pki = await TestPki.create();
  const all = await leaves(pki, rotations + 1);
  standIn.putSecret('web', 'web-tls', (all[0] as Leaf).secretFiles);
  const server = await startServer(['--k8s-secret', 'web/web-tls'], { KUBECONFIG: await standIn.writeKubeconfig(dir.path) });
  const latencies: number[] = [];
  try {
    while (standIn.openWatches === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const leaf of all.slice(1)) {
      const updated = performance.now();
      standIn.putSecret('web', 'web-tls', leaf.secretFiles);
      latencies.push(await firstHandshakeWith(server.port, pki.caPem, leaf.serialNumber, () => updated));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await server.stop();
    await standIn.close();
    await dir.remove();
  }
  return latencies;
}

const events = await fileMode(true, ROTATIONS);
const polling = await fileMode(false, POLL_ROTATIONS);
const api = await apiMode(ROTATIONS);
const rows = [
  ['file events', events],
  ['polling only (1 s)', polling],
  ['Kubernetes API (stand-in)', api],
] as const;
const summaries = rows.map(([name, values]) => ({ name, ...summarise(values) }));
console.log(`Swap latency: rename (or Secret update) to the first handshake with the new serial, ms (${machine()})\n`);
console.log(table(['source', 'rotations', 'p50', 'p95', 'p99', 'max'], summaries.map((s) => [s.name, s.n, s.p50, s.p95, s.p99, s.max])));
const target = summaries[0]?.p99 ?? Infinity;
console.log(`\ntarget p99 ≤ 25 ms with file events: ${target <= 25 ? 'met' : 'MISSED'} (${target.toFixed(2)} ms)`);
writeResult('swap-latency', { summaries, raw: Object.fromEntries(rows.map(([name, values]) => [name, values])) });
writePlot('swap-latency', cdfSvg('Swap latency: rename to first handshake with the new serial', 'milliseconds', rows.map(([name, values]) => ({ name, values }))));
