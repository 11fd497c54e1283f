/** WSS socket.io-client sockets for the benchmarks, connected in batches so the server is not flooded. */
import { io as connect, type Socket } from 'socket.io-client';

export interface ConnectOptions {
  readonly port: number;
  readonly ca: string;
  /** Connect until this many sockets are in `into`. */
  readonly count: number;
  readonly into?: Socket[];
  /** socket.io-client's reconnection (its default backoff) or none. @default false */
  readonly reconnection?: boolean;
  /** Counts disconnects; `closeSockets` removes it before closing. */
  readonly onDisconnect?: () => void;
  /** @default 100 */
  readonly batch?: number;
}

export async function connectSockets({ port, ca, count, into = [], reconnection = false, onDisconnect, batch = 100 }: ConnectOptions): Promise<Socket[]> {
  for (let i = into.length; i < count; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async () => {
        const socket = connect(`https://localhost:${port}`, { ca, transports: ['websocket'], reconnection, forceNew: true });
        if (onDisconnect) socket.on('disconnect', onDisconnect);
        into.push(socket);
        await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
      }),
    );
  }
  return into;
}

/** Closes the sockets without counting these deliberate disconnects. */
export function closeSockets(sockets: readonly Socket[]): void {
  for (const socket of sockets) {
    socket.off('disconnect');
    socket.close();
  }
}
