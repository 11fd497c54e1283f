/**
 * Connection recycling after a rotation (opt-in): connections whose TLS session was negotiated
 * under a replaced certificate are closed one by one at random moments spread over a window, so
 * clients reconnect onto the new chain (before the old one expires, or after a CA was withdrawn)
 * without a thundering herd. Socket.IO clients see `transport close` and reconnect by themselves.
 */
import type { TLSSocket } from 'node:tls';
import type { Reloader } from './reloader.js';
import type { TlsConnectionTracker } from './tls-connections.js';

export interface RecyclerOptions {
  readonly reloader: Reloader;
  readonly tracker: TlsConnectionTracker;
  /** Spread the closes over this many ms after each swap. */
  readonly windowMs: number;
  readonly onRecycled?: (certificate: string) => void;
  /** @default Math.random */
  readonly random?: () => number;
}

/** A closed connection that does not finish closing within this time is destroyed. */
const CLOSE_GRACE_MS = 5_000;

export class ConnectionRecycler {
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #options: RecyclerOptions;

  constructor(options: RecyclerOptions) {
    this.#options = options;
    options.reloader.on('reload', ({ certificate, material }) => this.#schedule(certificate, material.fingerprint));
  }

  #schedule(certificate: string, fingerprint: string): void {
    const { tracker, windowMs, random = Math.random } = this.#options;
    for (const socket of tracker.onPrevious(certificate, fingerprint)) {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        // A later swap may have made this connection's certificate current again, or it closed.
        const current = this.#options.reloader.status(certificate)?.material.fingerprint;
        if (current === undefined || !tracker.isOnPrevious(socket, current)) return;
        this.#close(socket, certificate);
      }, Math.floor(random() * windowMs));
      timer.unref();
      this.#timers.add(timer);
    }
  }

  #close(socket: TLSSocket, certificate: string): void {
    this.#options.onRecycled?.(certificate);
    socket.end();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  stop(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
