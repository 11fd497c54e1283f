/**
 * Benchmark 3, swap cost: CPU time per swap (read + validate + build the context + swap) and the
 * process's memory after 1,000 and 10,000 swaps with forced GC. Targets: ≤ 2 ms per swap and
 * ≤ 5 MB growth from the 1,000th to the 10,000th swap. Also: a candidate already served costs no
 * swap (the reloader swaps at most once per distinct certificate). Keys are SEC1, as cert-manager
 * writes them by default (`privateKey.encoding: PKCS1`); a second run measures PKCS#8 keys.
 *
 *   node --expose-gc --import tsx bench/swap-cost.ts [--quick]
 */
import { createServer } from 'node:https';
import type { CandidateFiles } from '../src/material.js';
import { readCandidate } from '../src/read-candidate.js';
import { Reloader } from '../src/reloader.js';
import { certificatePaths, DEFAULT_TLS_OPTIONS } from '../src/server.js';
import { TestPki } from '../test/support/certs.js';
import { tempDir } from '../test/support/hotcert.js';
import { kubeletWrite } from '../test/support/kubelet.js';
import { machine, QUICK, table, writeResult } from './lib/report.js';

const SWAPS = QUICK ? 2_000 : 10_000;
const DISTINCT = 200;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc --import tsx bench/swap-cost.ts');

function memory(): { rssMiB: number; heapMiB: number; externalMiB: number } {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { rssMiB: m.rss / 2 ** 20, heapMiB: m.heapUsed / 2 ** 20, externalMiB: m.external / 2 ** 20 };
}

const pki = await TestPki.create();
const leaves = await Promise.all(Array.from({ length: DISTINCT }, () => pki.leaf()));
const candidatesWith = (encoding: 'sec1' | 'pkcs8'): CandidateFiles[] =>
  leaves.map((leaf) => ({
    cert: { path: 'tls.crt', data: Buffer.from(leaf.chainPem) },
    key: { path: 'tls.key', data: Buffer.from(leaf.keyAs(encoding)) },
    ca: { path: 'ca.crt', data: Buffer.from(pki.caPem) },
  }));
const candidates = candidatesWith('sec1');

const server = createServer({ cert: leaves[0]?.chainPem, key: leaves[0]?.keyPem });
let swaps = 0;
const reloader = new Reloader();
const first = Reloader.validateInitial('default', { files: candidates[0] as CandidateFiles });
reloader.addPair('default', first, (material) => {
  swaps++;
  server.setSecureContext({ ...DEFAULT_TLS_OPTIONS, ...material.tlsOptions(), ticketKeys: server.getTicketKeys() });
});

// The read, on a real kubelet-style mount.
const dir = await tempDir('hotcert-bench-cost-');
await kubeletWrite(dir.path, leaves[0]?.secretFiles ?? {});
const paths = certificatePaths({ certDir: dir.path });
const readStart = process.cpuUsage();
for (let i = 0; i < 1_000; i++) await readCandidate(paths);
const readCpu = process.cpuUsage(readStart);
const readMs = (readCpu.user + readCpu.system) / 1000 / 1_000;
await dir.remove();

const marks: Array<{ swaps: number; cpuMsPerSwap: number; rssMiB: number; heapMiB: number; externalMiB: number }> = [];
const baseline = memory();
let cpu = process.cpuUsage();
for (let i = 1; i <= SWAPS; i++) {
  const outcome = reloader.offer('default', { files: candidates[i % DISTINCT] as CandidateFiles }, { trigger: 'watch' });
  if (outcome.result !== 'applied') throw new Error(`swap ${i}: ${outcome.result}`);
  if (i === 1_000 || i === SWAPS || i % 5_000 === 0) {
    const used = process.cpuUsage(cpu);
    const since = marks.at(-1)?.swaps ?? 0;
    marks.push({ swaps: i, cpuMsPerSwap: (used.user + used.system) / 1000 / (i - since), ...memory() });
    cpu = process.cpuUsage();
  }
}

// The same with PKCS#8 keys (cert-manager's `privateKey.encoding: PKCS8`), CPU only.
const pkcs8 = candidatesWith('pkcs8');
const PKCS8_SWAPS = QUICK ? 500 : 2_000;
const pkcs8Start = process.cpuUsage();
for (let i = 1; i <= PKCS8_SWAPS; i++) {
  const outcome = reloader.offer('default', { files: pkcs8[i % DISTINCT] as CandidateFiles }, { trigger: 'watch' });
  if (outcome.result !== 'applied') throw new Error(`PKCS#8 swap ${i}: ${outcome.result}`);
}
const pkcs8Used = process.cpuUsage(pkcs8Start);
const pkcs8PerSwap = (pkcs8Used.user + pkcs8Used.system) / 1000 / PKCS8_SWAPS + readMs;

// At most one swap per distinct certificate: 1,000 offers of 10 certificates, each repeated 100 times.
const before = swaps;
for (let i = 0; i < 1_000; i++) reloader.offer('default', { files: candidates[Math.floor(i / 100)] as CandidateFiles }, { trigger: 'watch' });
const repeatedSwaps = swaps - before;

const at1k = marks.find((m) => m.swaps === 1_000);
const atEnd = marks.at(-1);
const growth = (atEnd?.rssMiB ?? 0) - (at1k?.rssMiB ?? 0);
const perSwap = (atEnd?.cpuMsPerSwap ?? 0) + readMs;
console.log(`Swap cost (${machine()}), ${SWAPS} swaps over ${DISTINCT} distinct ECDSA P-256 certificates, SEC1 keys\n`);
console.log(`read of a pair (3 files, kubelet mount): ${readMs.toFixed(3)} ms CPU\n`);
console.log(
  table(
    ['after swaps', 'CPU per swap, validate + build + swap (ms)', 'RSS (MiB)', 'heap used (MiB)', 'external (MiB)'],
    [['0', '–', baseline.rssMiB, baseline.heapMiB, baseline.externalMiB], ...marks.map((m) => [String(m.swaps), m.cpuMsPerSwap, m.rssMiB, m.heapMiB, m.externalMiB])],
  ),
);
console.log(`\nswaps for 1,000 offers of 10 distinct certificates: ${repeatedSwaps} (at most one per distinct certificate: ${repeatedSwaps <= 10 ? 'yes' : 'NO'})`);
console.log(`PKCS#8 keys, ${PKCS8_SWAPS} swaps: ${pkcs8PerSwap.toFixed(3)} ms CPU per swap (read included)`);
console.log(`target ≤ 2 ms per swap (read + validate + build + swap): ${Math.max(perSwap, pkcs8PerSwap) <= 2 ? 'met' : 'MISSED'} (SEC1 ${perSwap.toFixed(3)} ms, PKCS#8 ${pkcs8PerSwap.toFixed(3)} ms)`);
console.log(`target ≤ 5 MB RSS growth from swap 1,000 to ${SWAPS}: ${growth <= 5 ? 'met' : 'MISSED'} (${growth.toFixed(1)} MiB)`);
writeResult('swap-cost', { swaps: SWAPS, readMs, baseline, marks, repeatedSwaps, perSwap, pkcs8PerSwap, growthMiB: growth });
