/**
 * Benchmark 2, handshake throughput: full TLS handshakes (a new connection each, no session
 * resumption) against a plain `https.createServer` with the same key and against hotcert, for
 * ECDSA P-256 and RSA-2048, in alternating A/B rounds. On 2 cores the load generator needs more CPU
 * per handshake than the server, so the figure is handshakes per second of *server* CPU
 * (/proc/PID/stat), and the result is the ratio hotcert / plain. Target ≥ 0.97. Also: the share of
 * resumed sessions with tickets issued before and after a certificate swap (target: equal).
 *
 *   npx tsx bench/handshakes.ts [--quick]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { TestPki, type KeyAlgorithm } from '../test/support/certs.js';
import { tempDir } from '../test/support/hotcert.js';
import { kubeletWrite } from '../test/support/kubelet.js';
import { machine, QUICK, ROOT, summarise, table, writeResult } from './lib/report.js';
import { cpuSeconds } from './lib/server.js';

const ROUNDS = QUICK ? 2 : 6;
const SECONDS = QUICK ? 2 : 6;
const CONCURRENCY = 8;

async function startProcess(args: readonly string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /"event":"listening"[^\n]*"port":(\d+)|"port":(\d+)[^\n]*"event":"listening"/.exec(out);
      if (match) resolve(Number(match[1] ?? match[2]));
    });
    child.once('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  return { child, port };
}

function handshake(port: number, ca: string, session?: Buffer): Promise<{ reused: boolean; ticket: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined;
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...(session ? { session } : {}) }, () => {
      const reused = socket.isSessionReused();
      // TLS 1.3 tickets follow the handshake: read a moment for one, then close.
      setTimeout(() => {
        resolve({ reused, ticket });
        socket.destroy();
      }, session ? 0 : 20);
    });
    socket.on('session', (data: Buffer) => (ticket = data));
    socket.once('error', reject);
  });
}

/** Full handshakes for `seconds` with `CONCURRENCY` in flight; handshakes per server CPU-second. */
async function measure(pid: number, port: number, ca: string, seconds: number): Promise<{ handshakes: number; perCpuSecond: number; wallRate: number }> {
  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let handshakes = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        await new Promise<void>((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
            handshakes++;
            socket.destroy();
            resolve();
          });
          socket.once('error', reject);
        });
      }
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the server finish its share
  const cpu = cpuSeconds(pid) - cpuBefore;
  return { handshakes, perCpuSecond: handshakes / cpu, wallRate: handshakes / ((performance.now() - started) / 1000) };
}

const results: Record<string, { plain: number[]; hotcert: number[] }> = {};
const resumption: Record<string, { before: number; after: number; ticketFromBeforeResumed: boolean }> = {};
for (const algorithm of ['ecdsa', 'rsa'] as KeyAlgorithm[]) {
  const dir = await tempDir('hotcert-bench-hs-');
  const pki = await TestPki.create(algorithm);
  const leaf = await pki.leaf();
  await kubeletWrite(join(dir.path, 'tls'), leaf.secretFiles);
  const plain = await startProcess(['--import', 'tsx', `${ROOT}bench/plain-server.ts`, join(dir.path, 'tls', 'tls.crt'), join(dir.path, 'tls', 'tls.key')]);
  const hot = await startProcess([`${ROOT}dist/cli.js`, 'serve', '--cert-dir', join(dir.path, 'tls'), '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--log-level', 'info']);
  const rows: { plain: number[]; hotcert: number[] } = { plain: [], hotcert: [] };
  results[algorithm] = rows;
  // Warm both up first (JIT, TLS caches): the first seconds of a process are slower.
  await measure(plain.child.pid as number, plain.port, pki.caPem, 2);
  await measure(hot.child.pid as number, hot.port, pki.caPem, 2);
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so drift in the machine's load does not favour one side.
    const order = round % 2 === 0 ? (['plain', 'hotcert'] as const) : (['hotcert', 'plain'] as const);
    for (const side of order) {
      const target = side === 'plain' ? plain : hot;
      rows[side].push((await measure(target.child.pid as number, target.port, pki.caPem, SECONDS)).perCpuSecond);
    }
  }
  // Session resumption with tickets from before a swap, and after it.
  const tries = QUICK ? 10 : 50;
  const resumed = async () => {
    let count = 0;
    for (let i = 0; i < tries; i++) {
      const { ticket } = await handshake(hot.port, pki.caPem);
      if (ticket && (await handshake(hot.port, pki.caPem, ticket)).reused) count++;
    }
    return count / tries;
  };
  const before = await resumed();
  const { ticket: oldTicket } = await handshake(hot.port, pki.caPem);
  await kubeletWrite(join(dir.path, 'tls'), (await pki.leaf()).secretFiles);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const afterOld = oldTicket ? (await handshake(hot.port, pki.caPem, oldTicket)).reused : false;
  const after = await resumed();
  resumption[algorithm] = { before, after, ticketFromBeforeResumed: afterOld };
  plain.child.kill('SIGTERM');
  hot.child.kill('SIGTERM');
  await dir.remove();
}

console.log(`Full TLS handshakes per second of server CPU (${machine()}; ${ROUNDS} alternating rounds of ${SECONDS} s, ${CONCURRENCY} connections in flight)\n`);
const summary = Object.entries(results).map(([algorithm, r]) => {
  // The ratio of each round's pair (run back to back), then the median: drift cancels out.
  const ratios = r.hotcert.map((hot, i) => hot / (r.plain[i] as number));
  const ratio = summarise(ratios);
  return { algorithm, plain: summarise(r.plain).p50, hotcert: summarise(r.hotcert).p50, ratio: ratio.p50, ratioMin: Math.min(...ratios), ratioMax: ratio.max, plainRuns: r.plain, hotcertRuns: r.hotcert };
});
console.log(
  table(
    ['key', 'plain https (median)', 'hotcert (median)', 'ratio hotcert/plain (median of rounds)', 'ratio range', 'runs plain', 'runs hotcert'],
    summary.map((s) => [s.algorithm, s.plain, s.hotcert, s.ratio, `${s.ratioMin.toFixed(2)}–${s.ratioMax.toFixed(2)}`, s.plainRuns.map((v) => v.toFixed(0)).join(' '), s.hotcertRuns.map((v) => v.toFixed(0)).join(' ')]),
  ),
);
console.log(`\n${table(['key', 'sessions resumed before a swap', 'after a swap', 'a ticket from before the swap resumed after it'], Object.entries(resumption).map(([k, v]) => [k, v.before, v.after, v.ticketFromBeforeResumed ? 'yes' : 'no']))}`);
const worst = Math.min(...summary.map((s) => s.ratio));
console.log(`\ntarget ratio ≥ 0.97: ${worst >= 0.97 ? 'met' : 'MISSED'} (worst ${worst.toFixed(3)})`);
writeResult('handshakes', { summary, resumption });
