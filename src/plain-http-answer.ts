/**
 * The TLS port answers a plain-HTTP request (`http://` or `ws://` to an HTTPS server, the classic
 * Socket.IO-over-TLS mistake) with a clear `400` that names the `https://` URL to use, instead of
 * an empty reply. It looks at the first byte of each connection: a TLS handshake record (0x16)
 * goes to the TLS server untouched (buffered bytes included), an ASCII letter is plain HTTP.
 */
import type { Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';

const TLS_HANDSHAKE = 0x16;
const MAX_HEAD_BYTES = 8 * 1024;
/** How long a new connection may stay silent before it is dropped. */
const FIRST_BYTE_TIMEOUT_MS = 10_000;

export interface PlainHttpAnswerOptions {
  /** Called for every plain-HTTP request answered (metrics, log). */
  readonly onPlainHttp?: (request: { method: string; host: string | undefined; path: string }) => void;
}

function isHttpMethodStart(byte: number): boolean {
  return byte >= 0x41 && byte <= 0x5a; // GET, POST, PUT, HEAD, OPTIONS, DELETE, PATCH, CONNECT, PRI
}

function answer(socket: Socket, options: PlainHttpAnswerOptions): void {
  let head = '';
  const respond = () => {
    socket.removeAllListeners('data');
    const [requestLine = '', ...headers] = head.split('\r\n');
    const [method = 'GET', rawPath = '/'] = requestLine.split(' ');
    const host = headers.find((h) => /^host:/i.test(h))?.slice(5).trim();
    const path = rawPath.startsWith('/') ? rawPath : '/';
    options.onPlainHttp?.({ method, host, path });
    const url = host ? `https://${host}${path.startsWith('/socket.io/') ? '/' : path}` : 'https://<this host>/';
    const body = [
      'This port speaks HTTPS (TLS) only: the request was plain HTTP.',
      `Use ${url}`,
      'Socket.IO clients: connect to https:// (they upgrade to wss:// themselves), never http:// or ws://.',
      '',
    ].join('\n');
    socket.end(
      `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    // Read on (and drop) whatever else the client sends, so closing does not reset the connection.
    socket.on('data', () => {});
    socket.setTimeout(2_000, () => socket.destroy());
  };
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    head += chunk;
    if (head.includes('\r\n\r\n') || head.length > MAX_HEAD_BYTES) respond();
  });
  socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, respond);
}

/** Installs the first-byte check in front of `server`'s own TLS connection handling. */
export function answerPlainHttp(server: TlsServer, options: PlainHttpAnswerOptions = {}): void {
  const tlsListeners = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    const onReadable = () => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) return;
      socket.off('readable', onReadable);
      socket.setTimeout(0);
      socket.unshift(first);
      if (first[0] !== TLS_HANDSHAKE && isHttpMethodStart(first[0] as number)) return answer(socket, options);
      // TLS (or something TLS will refuse with its own error): the TLS server takes the socket,
      // reading what is already buffered first.
      for (const listener of tlsListeners) listener.call(server, socket);
    };
    socket.on('readable', onReadable);
  });
}
