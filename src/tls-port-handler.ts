/**
 * Requests on the TLS port that are not Socket.IO's. engine.io captures the server's existing
 * `request` listeners when it attaches, so this handler must be installed first.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Reloader } from './reloader.js';
import type { StatusPage } from './status-page.js';

export interface TlsPortHandlerOptions {
  readonly reloader: Reloader;
  /** The certificate pair whose status `GET /` shows. */
  readonly certificate: string;
  /** The status page at `/`; none when the application brings its own handler. */
  readonly statusPage?: StatusPage | undefined;
  /** The application's own handler; it receives every request except `/healthz`. */
  readonly requestHandler?: RequestListener | undefined;
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

export function createTlsPortHandler({ reloader, certificate, statusPage, requestHandler }: TlsPortHandlerOptions): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'https://localhost').pathname;
    if (path === '/healthz') return send(res, 200, 'ok\n');
    if (requestHandler) return requestHandler(req, res);
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (statusPage?.serve(path, res, () => reloader.current(certificate))) return;
    }
    return send(res, 404, 'not found: the status page is at /, Socket.IO at /socket.io/\n');
  };
}
