/** Starts `hotcert dev` as a child process and reads what it prints. */
import { startCli, type RunningCli } from './cli.js';
import { eventually } from './eventually.js';

export interface DevRun {
  readonly cli: RunningCli;
  readonly url: string;
  readonly port: number;
  readonly caPath: string;
  /** Serials the dev server reported serving, in order. */
  servedSerials(): string[];
  stop(): Promise<void>;
}

export async function startDev(dir: string, rotateEvery: string, extra: readonly string[] = []): Promise<DevRun> {
  const cli = startCli(['dev', '--dir', dir, '--port', '0', '--metrics-port', '0', '--rotate-every', rotateEvery, ...extra]);
  const { url, caPath } = await eventually(
    () => {
      const out = cli.stdout();
      const url = /Status page\s+(https:\/\/\S+)/.exec(out)?.[1];
      const caPath = /Trust the CA\s+(\S+)/.exec(out)?.[1];
      if (!url || !caPath) throw new Error(`no banner yet; stdout:\n${out}\nstderr:\n${cli.stderr()}`);
      return { url, caPath };
    },
    { timeoutMs: 15_000 },
  );
  return {
    cli,
    url,
    port: Number(new URL(url).port),
    caPath,
    servedSerials: () => [...cli.stdout().matchAll(/serving serial ([0-9A-F]+)/g)].map((m) => m[1] as string),
    async stop() {
      cli.child.kill('SIGTERM');
      const finished = await cli.exited;
      if (finished.code !== 0) throw new Error(`hotcert dev exited with code ${finished.code}, signal ${finished.signal}: ${finished.stderr}\n${finished.stdout.slice(-2000)}`);
    },
  };
}
