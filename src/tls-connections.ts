/**
 * Watches the TLS listener: which certificate each open connection was negotiated with, and why
 * handshakes fail. Feeds `hotcert_connections_on_previous_certificate` and
 * `hotcert_tls_handshake_errors_total`.
 */
import type { Server as TlsServer, TLSSocket } from 'node:tls';

export interface TlsConnectionTrackerOptions {
  /** The pair a connection belongs to (by SNI server name) and its current fingerprint. */
  readonly pairOf: (servername: string | false | null | undefined) => { certificate: string; fingerprint: string } | undefined;
  readonly onHandshakeError?: (reason: string, error: Error) => void;
}

interface Negotiated {
  readonly certificate: string;
  readonly fingerprint: string;
}

/**
 * A bounded label for a handshake failure: the OpenSSL/Node error code without its `ERR_SSL_`
 * prefix, in lower snake case (`http_request` for plain HTTP sent to the TLS port,
 * `tlsv1_alert_unknown_ca` for a client that does not trust the chain, `econnreset`, …).
 */
export function handshakeErrorReason(error: Error): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || code.length === 0) return 'unknown';
  const reason = code
    .replace(/^ERR_SSL_/, '')
    .replace(/^ERR_/, '')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');
  return reason.slice(0, 64) || 'unknown';
}

export class TlsConnectionTracker {
  readonly #open = new Map<TLSSocket, Negotiated>();
  readonly #options: TlsConnectionTrackerOptions;

  constructor(server: TlsServer, options: TlsConnectionTrackerOptions) {
    this.#options = options;
    server.on('secureConnection', (socket: TLSSocket) => this.#track(socket));
    server.on('tlsClientError', (error: Error) => this.#options.onHandshakeError?.(handshakeErrorReason(error), error));
  }

  #track(socket: TLSSocket): void {
    const pair = this.#options.pairOf(socket.servername);
    if (!pair) return;
    this.#open.set(socket, { certificate: pair.certificate, fingerprint: pair.fingerprint });
    socket.once('close', () => this.#open.delete(socket));
  }

  get size(): number {
    return this.#open.size;
  }

  /** Open connections of `certificate` negotiated with a certificate other than `fingerprint`. */
  countOnPrevious(certificate: string, fingerprint: string): number {
    return this.onPrevious(certificate, fingerprint).length;
  }

  /** Open connections of `certificate` negotiated with a certificate other than `fingerprint`. */
  onPrevious(certificate: string, fingerprint: string): TLSSocket[] {
    return [...this.#open].filter(([, n]) => n.certificate === certificate && n.fingerprint !== fingerprint).map(([socket]) => socket);
  }

  /** Whether `socket` is open and still on a certificate other than `fingerprint`. */
  isOnPrevious(socket: TLSSocket, fingerprint: string): boolean {
    const negotiated = this.#open.get(socket);
    return negotiated !== undefined && negotiated.fingerprint !== fingerprint;
  }

  /** Ends every tracked connection at once (end of a time-boxed shutdown). */
  destroyAll(): void {
    for (const socket of this.#open.keys()) socket.destroy();
  }
}
