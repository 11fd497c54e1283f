/**
 * The TLS port answers a plain-HTTP request (`http://` or `ws://` to an HTTPS server, the classic
 * Socket.IO-over-TLS mistake) with a clear `400` that says to use `https://`, instead of an empty
 * reply.
 *
 * It costs nothing on the TLS path: connections go straight to the TLS server, and only a
 * handshake that OpenSSL refuses *because* the first bytes were an HTTP request (`GET `, `HEAD `,
 * `PUT `, and `POST ` or `CONNECT` where the OpenSSL version recognises them) is answered, on the
 * TCP connection under the failed TLS socket, before Node closes it. (Looking at the first byte of
 * every connection in JavaScript instead cost 6–9 % of the server's full-handshake capacity; see
 * BENCHMARKS.md.) The request line and headers have been consumed by OpenSSL by then, so the answer
 * cannot quote the URL; it names the scheme to use.
 */
import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';

/** OpenSSL's verdicts for a first record that is an HTTP request or an HTTP proxy request. */
const PLAIN_HTTP_ERRORS: ReadonlySet<string> = new Set(['ERR_SSL_HTTP_REQUEST', 'ERR_SSL_HTTPS_PROXY_REQUEST']);

export const PLAIN_HTTP_BODY: string = [
  'This port speaks HTTPS (TLS) only: the request was plain HTTP.',
  'Use https:// (wss:// for WebSocket) with the same host and port.',
  'Socket.IO clients: connect to https://host:port (they upgrade to wss:// themselves), never http:// or ws://.',
  '',
].join('\n');

const RESPONSE =
  'HTTP/1.1 400 Bad Request\r\n' +
  'Content-Type: text/plain; charset=utf-8\r\n' +
  `Content-Length: ${Buffer.byteLength(PLAIN_HTTP_BODY)}\r\n` +
  'Connection: close\r\n\r\n' +
  PLAIN_HTTP_BODY;

export interface PlainHttpAnswerOptions {
  /** Called for every plain-HTTP request answered (for the log; the handshake error is counted elsewhere). */
  readonly onPlainHttp?: (request: { remoteAddress: string | undefined }) => void;
}

/**
 * The TCP socket a server-side TLS socket wraps. Node keeps it as `_parent` (unchanged from Node 0.11
 * through 24, and pinned by the plain-HTTP tests on both LTS lines); when absent, no answer is sent
 * and the connection just closes, as it would without hotcert.
 */
function tcpSocketOf(tlsSocket: TLSSocket): Socket | undefined {
  const parent: unknown = Reflect.get(tlsSocket, '_parent');
  return parent !== null && typeof parent === 'object' && typeof (parent as Socket).write === 'function' && !(parent as Socket).destroyed
    ? (parent as Socket)
    : undefined;
}

/** Answers plain-HTTP requests that reach `server`'s TLS port with a `400`. */
export function answerPlainHttp(server: TlsServer, options: PlainHttpAnswerOptions = {}): void {
  server.on('tlsClientError', (error: Error, tlsSocket: TLSSocket) => {
    if (!PLAIN_HTTP_ERRORS.has((error as { code?: string }).code ?? '')) return;
    const tcp = tcpSocketOf(tlsSocket);
    if (!tcp) return;
    // Node closes the handle of a socket whose handshake failed only after `tlsClientError` has
    // been emitted; a write of this size to a fresh connection completes at once.
    tcp.write(RESPONSE);
    options.onPlainHttp?.({ remoteAddress: tcp.remoteAddress });
  });
}
