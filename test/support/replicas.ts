/**
 * hotcert replicas as real processes (the built CLI) sharing one Redis, each with its own
 * kubelet-style mount of the same Secret, as the Pods of a Deployment have.
 */
import { join } from 'node:path';
import { startCli, type Finished, type RunningCli } from './cli.js';
import { kubeletWrite } from './kubelet.js';
import { freePort } from './processes.js';

export interface Replica {
  readonly name: string;
  readonly cli: RunningCli;
  readonly port: number;
  readonly metricsPort: number;
  /** The replica's Secret mount. */
  readonly certDir: string;
  /** `GET /readyz` on the metrics port: status and body. */
  readyz(): Promise<{ status: number; body: string }>;
  /** The value of a metric without labels (the first series of that name), from `/metrics`. */
  metric(name: string): Promise<number | undefined>;
  /** SIGTERM (a rolling update) and wait for the exit. */
  stop(): Promise<Finished>;
}

export interface ReplicaOptions {
  readonly name: string;
  /** Directory under which the replica's mount is created. */
  readonly root: string;
  readonly secretFiles: Record<string, string>;
  readonly redisUrl: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
}

export async function startReplica({ name, root, secretFiles, redisUrl, args = [], env = {} }: ReplicaOptions): Promise<Replica> {
  const certDir = join(root, name);
  await kubeletWrite(certDir, secretFiles);
  // --metrics-port 0 turns the metrics port off: pick a free one.
  const metricsPortArg = String(await freePort());
  const cli = startCli([
    'serve',
    '--cert-dir',
    certDir,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--metrics-host',
    '127.0.0.1',
    '--metrics-port',
    metricsPortArg,
    '--redis-url',
    redisUrl,
    '--transports',
    'websocket',
    ...args,
  ], { env });
  const listening = await cli.waitForLine((line) => line['event'] === 'listening', 15_000);
  const port = listening['port'] as number;
  const metricsPort = listening['metricsPort'] as number;
  return {
    name,
    cli,
    port,
    metricsPort,
    certDir,
    async readyz() {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
      return { status: response.status, body: await response.text() };
    },
    async metric(metricName: string) {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${metricName} `) || l.startsWith(`${metricName}{`));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    },
    async stop() {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGTERM');
      return cli.exited;
    },
  };
}
