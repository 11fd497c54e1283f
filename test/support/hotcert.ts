/** Starts a real hotcert server on 127.0.0.1 with ephemeral ports, for integration tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createHotcertServer, type HotcertServer, type HotcertServerOptions } from '../../src/server.js';
import type { Logger } from '../../src/logger.js';

/** The two ways the watcher suites run: with file events, and with the poll alone. */
export const WATCH_MODES = [
  { mode: 'file events', watch: true, pollIntervalMs: 10_000 },
  { mode: 'polling only', watch: false, pollIntervalMs: 100 },
] as const;

export type WatchMode = (typeof WATCH_MODES)[number];

/** A logger that keeps its JSON lines in memory so tests can read them. */
export function memoryLogger(level: 'debug' | 'info' = 'debug'): { logger: Logger; lines: () => Array<Record<string, unknown>>; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level }, stream);
  const text = () => chunks.join('');
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

export async function tempDir(prefix = 'hotcert-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export async function startHotcert(options: Partial<HotcertServerOptions> & Pick<HotcertServerOptions, 'certificate'>): Promise<HotcertServer> {
  return createHotcertServer({
    host: '127.0.0.1',
    port: 0,
    metrics: { host: '127.0.0.1', port: 0 },
    debounceMs: 20,
    ...options,
  });
}

/** The value of one sample in Prometheus text output, or undefined. */
export async function metricValue(server: HotcertServer, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = await server.registry.getSingleMetric(name)?.get();
  const sample = metric?.values.find((v) => Object.entries(labels).every(([k, value]) => String((v.labels as Record<string, unknown>)[k]) === value));
  return sample?.value;
}
