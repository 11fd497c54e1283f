import type { Server } from 'node:net';
import { ErrorCodes, HotcertError, systemErrorCode } from './errors.js';

const CAUSES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use (another process listens there: choose another port or stop it)',
  EACCES: 'permission denied (ports below 1024 need privileges: choose a port above 1024)',
  EADDRNOTAVAIL: 'the address is not available on this machine (check the host setting)',
  ENOTFOUND: 'the host name does not resolve (check the host setting)',
  EAI_AGAIN: 'the host name could not be resolved right now (check the host setting and DNS)',
};

export interface ListenTarget {
  readonly host: string;
  readonly port: number;
  /** What listens there, for messages: `TLS`, `metrics`. */
  readonly label: string;
  /** The setting that controls the port, for messages: `--port`. */
  readonly setting: string;
  /** Pending connections the kernel queues before `accept` (capped by net.core.somaxconn). @default 511 */
  readonly backlog?: number;
}

/** Listens, or fails with `HOTCERT_ERR_LISTEN` naming the address, the cause and the setting. */
export function listen(server: Server, target: ListenTarget): Promise<void> {
  return new Promise((resolvePromise, rejectPromise) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      const code = systemErrorCode(error);
      const cause = (code && CAUSES[code]) ?? error.message;
      rejectPromise(
        new HotcertError(ErrorCodes.LISTEN, `cannot listen on ${target.host}:${target.port} (${target.label} port, ${target.setting}): ${cause}${code ? ` [${code}]` : ''}`, {
          cause: error,
          details: { host: target.host, port: target.port, listener: target.label, code },
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolvePromise();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port: target.port, host: target.host, backlog: target.backlog ?? 511 });
  });
}

/** The port a listening server is bound to (useful with port 0). */
export function boundPort(server: Server): number {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}
