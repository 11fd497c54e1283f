/**
 * A real Redis: Debian's `redis-server` in the foreground on 127.0.0.1, no persistence, on a free
 * port. It can be stopped and started again on the same port (to test a Redis outage).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './processes.js';

export interface RedisServerOptions {
  /** Serve TLS only (rediss://), with this certificate chain and key. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** `requirepass`. */
  readonly password?: string;
}

export class RedisServer {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    readonly options: RedisServerOptions,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options);
    await server.start();
    return server;
  }

  /** The running redis-server's process id. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** `redis://127.0.0.1:PORT`, or `rediss://` when TLS is on. */
  get url(): string {
    return `${this.options.tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port; resolves once Redis accepts connections. */
  async start(): Promise<void> {
    const { tls, password } = this.options;
    const listen = tls
      ? ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-auth-clients', 'no']
      : ['--port', String(this.port)];
    const args = ['--bind', '127.0.0.1', ...listen, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'yes', ...(password ? ['--requirepass', password] : [])];
    const child = spawn('redis-server', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('error', (error) => reject(new Error(`redis-server could not start (is the Debian package redis-server installed?): ${error.message}`)));
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
    });
  }

  /** Kills Redis at once (SIGKILL), as a crashed or lost Redis. */
  async kill(): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  async stop(): Promise<void> {
    if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    await this.#exited;
  }
}
