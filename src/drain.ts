/**
 * Graceful drain: close the Socket.IO connections in batches spread over a window, so that the
 * clients, which reconnect on their own, do not all land on the remaining replicas at once.
 * Each connection is closed at the transport level (reason `forced close` on the server,
 * `transport close` on the client): socket.io-client reconnects, and with connection-state
 * recovery the session is restored on whichever replica it reaches.
 */
import type { Server as SocketIoServer } from 'socket.io';

export interface DrainOptions {
  /** The window the closes are spread over, ms; 0 closes everything at once. */
  readonly spreadMs: number;
  /** Number of batches. @default 10 */
  readonly batches?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Closes every engine.io connection of `io`, in batches over `spreadMs`. Resolves after the last batch. */
export async function closeConnectionsGradually(io: SocketIoServer, { spreadMs, batches = 10, sleep = defaultSleep }: DrainOptions): Promise<number> {
  // engine.io documents `server.clients` (id → connection); its type declarations mark it protected.
  const connections = Object.values((io.engine as unknown as { clients: Record<string, { close(): void }> }).clients);
  if (connections.length === 0) return 0;
  const rounds = spreadMs > 0 ? Math.max(1, Math.min(batches, connections.length)) : 1;
  const size = Math.ceil(connections.length / rounds);
  for (let round = 0; round < rounds; round++) {
    if (round > 0) await sleep(spreadMs / rounds);
    for (const connection of connections.slice(round * size, (round + 1) * size)) connection.close();
  }
  return connections.length;
}
