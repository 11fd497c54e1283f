/**
 * Rotates a kubelet-style mount on a fixed beat from its own process, so that a benchmark whose
 * event loop is busy with thousands of client sockets does not slow the rotations down. Prints one
 * JSON line per swap: `{"swapAt": <epoch ms when the write began>}`.
 *
 *   node --import tsx bench/lib/rotator.ts <dir> <secrets.json> <interval ms>
 *
 * Start it early (its start-up costs CPU): it prints `{"ready":true}`, then waits for one line on
 * stdin, `{"startAt": <epoch ms>, "durationMs": <ms>}`, and rotates from `startAt` for `durationMs`.
 * `secrets.json` is an array of Secret contents (file name → text), used round-robin.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { kubeletWrite } from '../../src/atomic-writer.js';

const [dir, secretsFile, intervalArg] = process.argv.slice(2);
if (!dir || !secretsFile || !intervalArg) throw new Error('usage: rotator.ts <dir> <secrets.json> <interval ms>');
const secrets = JSON.parse(readFileSync(secretsFile, 'utf8')) as Array<Record<string, string>>;
const interval = Number(intervalArg);
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
const lines = createInterface({ input: process.stdin });
const { startAt, durationMs } = JSON.parse((await lines[Symbol.asyncIterator]().next()).value as string) as { startAt: number; durationMs: number };
lines.close();
const first = performance.now() + (startAt - Date.now());
const deadline = first + durationMs;
for (let i = 0; performance.now() < deadline; i++) {
  // On a fixed beat from the start: a slow write shortens the next pause instead of shifting every swap.
  const due = first + i * interval;
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
  if (performance.now() >= deadline) break;
  const swapAt = Date.now();
  await kubeletWrite(dir, secrets[(i + 1) % secrets.length] as Record<string, string>);
  process.stdout.write(`${JSON.stringify({ swapAt })}\n`);
}
