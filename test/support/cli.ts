/** Runs the built `hotcert` binary (dist/cli.js) as a real child process. */
import { spawn, type ChildProcessWithoutNullStreams, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunningCli {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** JSON log lines written so far. */
  lines(): Array<Record<string, unknown>>;
  /** Resolves with the first log line matching `predicate`. */
  waitForLine(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<Finished>;
}

export function startCli(args: readonly string[], options: { env?: Record<string, string>; uid?: number; gid?: number } = {}): RunningCli {
  const spawnOptions: SpawnOptions = {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...options.env },
    stdio: 'pipe',
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  };
  const child = spawn(process.execPath, [CLI, ...args], spawnOptions) as ChildProcessWithoutNullStreams;
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<Finished>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err })));
  const lines = () =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    lines,
    exited,
    async waitForLine(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const found = lines().find(predicate);
        if (found) return found;
        if (child.exitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`no matching log line; stdout:\n${out}\nstderr:\n${err}`);
    },
  };
}

/** Runs the CLI to completion. */
export function runCli(args: readonly string[], options: { env?: Record<string, string> } = {}): Promise<Finished> {
  return startCli(args, options).exited;
}
