/**
 * A client that sends requests but never reads its socket makes the server buffer every answer in
 * memory, without bound: one such connection can get the pod OOM-killed. This guard looks at each
 * connection's outgoing backlog (what the WebSocket, or the long-polling queue, holds unsent) once
 * per interval (250 ms), and closes a connection whose backlog stays above the limit for two looks in a
 * row, or is found above 16 times the limit at once.
 */
import type { Server } from 'socket.io';

/** The engine.io connection, as far as this guard reads it (documented fields, typed loosely). */
interface EngineConnection {
  readonly remoteAddress?: string;
  readonly transport?: { readonly name?: string; readonly socket?: { readonly bufferedAmount?: number; terminate?(): void } };
  readonly writeBuffer?: ReadonlyArray<{ readonly data?: unknown }>;
  /** With `discard`, without waiting for the buffered packets to drain (they never would). */
  close(discard?: boolean): void;
}

export interface BacklogGuardOptions {
  readonly io: Server;
  /** Close a connection whose unsent output stays above this many bytes. */
  readonly maxBytes: number;
  /** How often to look. @default 250 */
  readonly intervalMs?: number;
  readonly onCut?: (details: { remoteAddress: string | undefined; bytes: number }) => void;
  /** The guard's own failure: reported, never thrown out of a timer. */
  readonly onError?: (error: unknown) => void;
}

/** A backlog this many times the limit is cut at the first look: a fast flood would not wait. */
const HARD_CEILING_FACTOR = 16;

function packetBytes(data: unknown): number {
  if (typeof data === 'string') return data.length;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

/** Bytes a connection holds that the client has not taken yet. */
export function outgoingBytes(connection: EngineConnection): number {
  const transport = connection.transport;
  const inSocket = transport?.name === 'websocket' ? (transport.socket?.bufferedAmount ?? 0) : 0;
  let queued = 0;
  for (const packet of connection.writeBuffer ?? []) queued += packetBytes(packet.data);
  return inSocket + queued;
}

export interface BacklogGuard {
  /** Whether the guard closed this connection (for the disconnect reason). */
  cut(connection: object): boolean;
  stop(): void;
}

export function guardWriteBacklog({ io, maxBytes, intervalMs = 250, onCut, onError }: BacklogGuardOptions): BacklogGuard {
  const over = new WeakSet<object>();
  const cut = new WeakSet<object>();
  const look = (): void => {
    // engine.io's connections by id (a plain object): every namespace's sockets ride on one of them.
    for (const connection of Object.values((io.engine as unknown as { clients: Record<string, EngineConnection> }).clients)) {
      const bytes = outgoingBytes(connection);
      if (bytes <= maxBytes) {
        over.delete(connection);
      } else if (!over.has(connection) && bytes <= maxBytes * HARD_CEILING_FACTOR) {
        over.add(connection);
      } else {
        cut.add(connection);
        onCut?.({ remoteAddress: connection.remoteAddress, bytes });
        connection.close(true);
        // A WebSocket's closing handshake would queue behind the backlog: cut the TCP connection.
        connection.transport?.socket?.terminate?.();
      }
    }
  };
  const timer = setInterval(() => {
    try {
      look();
    } catch (error) {
      onError?.(error);
    }
  }, intervalMs);
  timer.unref();
  return {
    cut: (connection) => cut.has(connection),
    stop: () => clearInterval(timer),
  };
}
