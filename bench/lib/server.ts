/** hotcert as its own process (the built CLI), as in production, for the benchmarks. */
import { readFileSync } from 'node:fs';
import { startCli, type RunningCli } from '../../test/support/cli.js';

export interface BenchServer {
  readonly cli: RunningCli;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startServer(args: readonly string[], env: Record<string, string> = {}): Promise<BenchServer> {
  const cli = startCli(['serve', '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', ...args], { env });
  const port = (await cli.waitForLine((line) => line['event'] === 'listening'))['port'] as number;
  return {
    cli,
    port,
    pid: cli.child.pid as number,
    async stop() {
      cli.child.kill('SIGTERM');
      await cli.exited;
    },
  };
}

/** Resident set size of a process, MiB. */
export function rssMiB(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kb / 1024;
}

const CLOCK_TICKS_PER_SECOND = 100; // getconf CLK_TCK

/** CPU time a process has used so far (user + system), seconds, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}
