/**
 * The process's signals, trapped from the first line of a command, before start-up, so that no
 * signal meets Node's default action (which ends the process at once) while hotcert starts:
 * - SIGTERM, SIGINT, SIGUSR2 stop the server gracefully (a stop asked for during start-up is
 *   carried out as soon as the server is up); a second one during the shutdown skips the drain
 *   delay and the spread (the sockets are still told, exit 0);
 * - SIGHUP re-reads the certificate; it is ignored while starting or stopping;
 * - SIGUSR1 is ignored: by default it would open Node's inspector, which gives code execution and
 *   the key in memory to anyone in the pod's network namespace.
 */
import type { Logger } from './logger.js';

export interface ProcessSignals {
  on(signal: NodeJS.Signals, listener: () => void): unknown;
  off(signal: NodeJS.Signals, listener: () => void): unknown;
}

/** What the trap needs of a server. */
export interface Stoppable {
  reload(trigger: 'manual'): Promise<void>;
  close(options?: { readonly immediate?: boolean }): Promise<void>;
}

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGUSR2'];

export class SignalTrap {
  readonly #signals: ProcessSignals;
  readonly #logger: Logger;
  readonly #handlers = new Map<NodeJS.Signals, () => void>();
  #server: Stoppable | undefined;
  #onStop: (() => void) | undefined;
  #stopRequested: NodeJS.Signals | undefined;
  #stopping: Promise<void> | undefined;
  readonly #stopped: Promise<void>;
  #markStopped: () => void = () => undefined;

  constructor(signals: ProcessSignals, logger: Logger) {
    this.#signals = signals;
    this.#logger = logger;
    this.#stopped = new Promise<void>((resolve) => {
      this.#markStopped = resolve;
    });
    for (const signal of STOP_SIGNALS) this.#handlers.set(signal, () => this.#stop(signal));
    this.#handlers.set('SIGHUP', () => this.#reload());
    this.#handlers.set('SIGUSR1', () => logger.warn({ event: 'sigusr1' }, 'SIGUSR1 ignored: hotcert does not open the Node.js inspector'));
    for (const [signal, handler] of this.#handlers) signals.on(signal, handler);
  }

  /** Serves `server` until a stop signal (or one that came during start-up); resolves once it has closed. */
  async run(server: Stoppable, onStop?: () => void): Promise<void> {
    this.#server = server;
    this.#onStop = onStop;
    if (this.#stopRequested) this.#begin(this.#stopRequested);
    await this.#stopped;
    this.release();
    this.#logger.info({ event: 'stopped' }, 'shut down cleanly');
  }

  /** Removes the handlers (after the shutdown, or when start-up failed). */
  release(): void {
    for (const [signal, handler] of this.#handlers) this.#signals.off(signal, handler);
    this.#handlers.clear();
  }

  #stop(signal: NodeJS.Signals): void {
    if (this.#stopping) {
      this.#logger.warn({ event: 'shutdown', signal }, `${signal} again: closing the sockets now, without the drain delay`);
      void this.#server?.close({ immediate: true });
      return;
    }
    if (!this.#server) {
      if (!this.#stopRequested) this.#logger.info({ event: 'shutdown', signal }, `${signal} during start-up: stopping as soon as the server is up`);
      this.#stopRequested ??= signal;
      return;
    }
    this.#begin(signal);
  }

  #begin(signal: NodeJS.Signals): void {
    const server = this.#server as Stoppable;
    this.#logger.info({ event: 'shutdown', signal }, `${signal}: shutting down`);
    this.#onStop?.();
    this.#stopping = server.close();
    void this.#stopping.then(() => this.#markStopped());
  }

  #reload(): void {
    if (!this.#server || this.#stopping) {
      this.#logger.info({ event: 'sighup' }, `SIGHUP while ${this.#stopping ? 'shutting down' : 'starting'}: ignored`);
      return;
    }
    this.#logger.info({ event: 'sighup' }, 'SIGHUP: re-reading the certificate');
    void this.#server.reload('manual');
  }
}
