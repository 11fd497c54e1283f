/** A real `hotcert serve` process with a fresh certificate, for tests that measure it from outside. */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestPki } from './certs.js';
import { startCli, type RunningCli } from './cli.js';
import { tempDir } from './hotcert.js';
import { freePort } from './processes.js';

export interface ServeProcess {
  readonly cli: RunningCli;
  readonly pid: number;
  readonly port: number;
  readonly metricsPort: number;
  /** What clients trust. */
  readonly ca: string;
  /** Kills the process and removes its files. */
  stop(): Promise<void>;
}

/** Starts `hotcert serve` on 127.0.0.1 (TLS on a free port, metrics on another) with `extra` flags. */
export async function startServeProcess(extra: readonly string[] = []): Promise<ServeProcess> {
  const dir = await tempDir();
  const pki = await TestPki.create();
  const leaf = await pki.leaf();
  await writeFile(join(dir.path, 'tls.crt'), leaf.chainPem);
  await writeFile(join(dir.path, 'tls.key'), leaf.keyPem);
  const metricsPort = await freePort();
  const cli = startCli(['serve', '--cert-dir', dir.path, '--host', '127.0.0.1', '--port', '0', '--metrics-host', '127.0.0.1', '--metrics-port', String(metricsPort), ...extra]);
  const port = Number((await cli.waitForLine((line) => line['event'] === 'listening'))['port']);
  return {
    cli,
    pid: cli.child.pid as number,
    port,
    metricsPort,
    ca: pki.caPem,
    async stop() {
      cli.child.kill('SIGKILL');
      await cli.exited;
      await dir.remove();
    },
  };
}

/** Resident memory of a process, MiB. */
export function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

/** One sample from a `/metrics` page: `labels` as written inside the braces, or '' for none. */
export async function scrapeMetric(metricsPort: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `));
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}
