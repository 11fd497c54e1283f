/**
 * Benchmark 6, memory per socket: RSS per idle WSS Socket.IO socket at several counts, hotcert
 * versus a bare Socket.IO server on an https server with the same certificate (each its own
 * process; RSS from /proc after a pause). Target: ratio hotcert/bare ≤ 1.1.
 *
 *   npx tsx bench/memory.ts [--quick]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Socket } from 'socket.io-client';
import { TestPki } from '../test/support/certs.js';
import { tempDir } from '../test/support/hotcert.js';
import { kubeletWrite } from '../test/support/kubelet.js';
import { machine, QUICK, ROOT, table, writeResult } from './lib/report.js';
import { rssMiB, startServer } from './lib/server.js';
import { closeSockets, connectSockets } from './lib/sockets.js';

const COUNTS = QUICK ? [200, 500] : [1_000, 5_000, 15_000];

async function startBare(cert: string, key: string): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${ROOT}bench/bare-server.ts`, cert, key], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout?.on('data', (chunk: Buffer) => resolve(Number(/"port":(\d+)/.exec(chunk.toString())?.[1]))));
  return { port, pid: child.pid as number, stop: () => new Promise((resolve) => child.once('exit', () => resolve()).kill('SIGTERM')) };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 2_000));
const dir = await tempDir('hotcert-bench-memory-');
const pki = await TestPki.create();
await kubeletWrite(join(dir.path, 'tls'), (await pki.leaf()).secretFiles);
const rows: Array<{ sockets: number; bare: number; hotcert: number }> = [];
const bases: Record<string, number> = {};
for (const side of ['bare', 'hotcert'] as const) {
  const server =
    side === 'bare' ? await startBare(join(dir.path, 'tls', 'tls.crt'), join(dir.path, 'tls', 'tls.key')) : await startServer(['--cert-dir', join(dir.path, 'tls')]);
  await settle();
  bases[side] = rssMiB(server.pid);
  const sockets: Socket[] = [];
  for (const count of COUNTS) {
    await connectSockets({ port: server.port, ca: pki.caPem, count, into: sockets, batch: 200 });
    await settle();
    const perSocketKiB = ((rssMiB(server.pid) - (bases[side] as number)) * 1024) / count;
    const row = rows.find((r) => r.sockets === count) ?? rows[rows.push({ sockets: count, bare: 0, hotcert: 0 }) - 1];
    if (row) row[side] = perSocketKiB;
  }
  closeSockets(sockets);
  await server.stop();
}
await dir.remove();
console.log(`Memory per idle WSS socket, RSS above the idle process (${machine()}); idle RSS: bare ${bases['bare']?.toFixed(1)} MiB, hotcert ${bases['hotcert']?.toFixed(1)} MiB\n`);
console.log(table(['sockets', 'bare Socket.IO (KiB/socket)', 'hotcert (KiB/socket)', 'ratio'], rows.map((r) => [r.sockets, r.bare, r.hotcert, r.hotcert / r.bare])));
const worst = Math.max(...rows.map((r) => r.hotcert / r.bare));
console.log(`\ntarget ratio ≤ 1.1: ${worst <= 1.1 ? 'met' : 'MISSED'} (worst ${worst.toFixed(2)})`);
writeResult('memory', { bases, rows });
