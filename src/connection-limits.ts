/**
 * What a connection may cost before it has done anything useful. Node's defaults hold a TCP
 * connection that never sends a ClientHello for 120 s and HTTP headers trickling in for 60 s; a
 * TLS terminator in production cuts both far sooner. Each limit is settable; see
 * docs/security.md for the reasons behind each default.
 */
import type { Duplex } from 'node:stream';
import type { Server as HttpsServer, ServerOptions as HttpsServerOptions } from 'node:https';

export interface ConnectionLimits {
  /** The TLS handshake must finish within this many ms. @default 10_000 */
  readonly handshakeTimeoutMs: number;
  /** HTTP request headers must arrive within this many ms of the request's start. @default 10_000 */
  readonly headersTimeoutMs: number;
  /** A whole HTTP request (headers and body) must arrive within this many ms. @default 30_000 */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this many ms. @default 5_000 */
  readonly keepAliveTimeoutMs: number;
  /** Above this many open TCP connections, new ones are closed at once. @default undefined (no limit) */
  readonly maxConnections: number | undefined;
}

export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: undefined,
});

/** Node checks the HTTP timeouts on an interval (30 s by default); check often enough to cut on time. */
const CHECK_INTERVAL_MS = 1_000;

/** Options for `https.createServer` that apply the limits. */
export function limitOptions(limits: ConnectionLimits): HttpsServerOptions {
  return {
    handshakeTimeout: limits.handshakeTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    // Node requires requestTimeout >= headersTimeout unless it is 0 (off).
    requestTimeout: limits.requestTimeoutMs === 0 ? 0 : Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, Math.max(100, limits.headersTimeoutMs / 4)),
  };
}

/** Refuses TCP connections above `maxConnections` at once, telling `onRefused` about each. */
export function enforceMaxConnections(server: HttpsServer, maxConnections: number | undefined, onRefused: () => void): void {
  if (maxConnections === undefined) return;
  server.maxConnections = maxConnections;
  server.on('drop', onRefused);
}

/** Whether a `tlsClientError` is the handshake timeout cutting a connection. */
export function isHandshakeTimeout(error: Error): boolean {
  return (error as { code?: unknown }).code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
}

const ANSWERS: Readonly<Record<string, string>> = {
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
};

/**
 * Answers HTTP client errors as Node does by default (408 for a request that did not arrive in
 * time, 431 for oversized headers, 400 otherwise, then close), and tells `onRequestTimeout` about
 * the connections cut by `--http-headers-timeout` / `--http-request-timeout` (slow clients).
 */
export function answerClientErrors(server: HttpsServer, onRequestTimeout: () => void): void {
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex & { bytesWritten?: number }) => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') onRequestTimeout();
    if (socket.writable && (socket.bytesWritten ?? 0) === 0) {
      socket.end(`HTTP/1.1 ${ANSWERS[error.code ?? ''] ?? '400 Bad Request'}\r\nConnection: close\r\n\r\n`);
    }
    socket.destroy();
  });
}
