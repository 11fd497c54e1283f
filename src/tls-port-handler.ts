/**
 * Requests on the TLS port that are not Socket.IO's. engine.io captures the server's existing
 * `request` listeners when it attaches, so this handler must be installed first.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Reloader } from './reloader.js';

export interface TlsPortHandlerOptions {
  readonly reloader: Reloader;
  /** The application's own handler; it receives every request except `/healthz`. */
  readonly requestHandler?: RequestListener | undefined;
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

export function createTlsPortHandler({ reloader, requestHandler }: TlsPortHandlerOptions): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'https://localhost').pathname;
    if (path === '/healthz') return send(res, 200, 'ok\n');
    if (requestHandler) return requestHandler(req, res);
    if (path !== '/') return send(res, 404, 'not found: Socket.IO is at /socket.io/\n');
    const lines = ['hotcert: Socket.IO over TLS is at /socket.io/', ''];
    for (const name of reloader.certificates) {
      const live = reloader.current(name);
      if (!live) continue;
      lines.push(
        `certificate ${name}: ${live.subject}`,
        `  serial ${live.serialNumber}, valid ${live.validFrom} to ${live.validTo}`,
        `  names ${[...live.dnsNames, ...live.ipAddresses].join(', ') || '(none)'}`,
        `  served since ${live.reloadedAt}`,
      );
    }
    return send(res, 200, `${lines.join('\n')}\n`);
  };
}
