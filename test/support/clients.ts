/**
 * A fleet of real socket.io-client sockets over WSS that keep sending acked `echo`s and record
 * every disconnect, lost ack and `hotcert:certificate` they see.
 */
import { io as connect, type Socket } from 'socket.io-client';

export interface FleetClient {
  readonly socket: Socket;
  readonly certificateSerials: string[];
  readonly disconnects: string[];
  sent: number;
  acked: number;
  failed: number;
}

export interface Fleet {
  readonly clients: readonly FleetClient[];
  /** Stops sending, waits for outstanding acks, and closes every socket. */
  stop(): Promise<void>;
  totals(): { sent: number; acked: number; failed: number; disconnects: number };
}

export interface FleetOptions {
  readonly port: number;
  readonly ca: string;
  readonly count: number;
  /** Pause between one client's echoes. @default 50 */
  readonly intervalMs?: number;
  readonly transports?: Array<'websocket' | 'polling'>;
}

export async function startFleet({ port, ca, count, intervalMs = 50, transports = ['websocket'] }: FleetOptions): Promise<Fleet> {
  let running = true;
  const loops: Array<Promise<void>> = [];
  const clients: FleetClient[] = [];
  await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const socket = connect(`https://localhost:${port}`, { ca, transports, reconnection: false, forceNew: true });
      const client: FleetClient = { socket, certificateSerials: [], disconnects: [], sent: 0, acked: 0, failed: 0 };
      socket.on('hotcert:certificate', (payload: { serialNumber: string }) => client.certificateSerials.push(payload.serialNumber));
      socket.on('disconnect', (reason) => client.disconnects.push(reason));
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      clients[index] = client;
    }),
  );
  for (const client of clients) {
    loops.push(
      (async () => {
        let n = 0;
        while (running) {
          const payload = { n: n++, at: Date.now() };
          client.sent++;
          try {
            const answer = (await client.socket.timeout(5_000).emitWithAck('echo', payload)) as typeof payload;
            if (answer.n === payload.n && answer.at === payload.at) client.acked++;
            else client.failed++;
          } catch {
            client.failed++;
          }
          await new Promise((resolve) => setTimeout(resolve, intervalMs));
        }
      })(),
    );
  }
  return {
    clients,
    async stop() {
      running = false;
      await Promise.all(loops);
      for (const client of clients) {
        client.socket.off('disconnect');
        client.socket.disconnect();
      }
    },
    totals() {
      return clients.reduce(
        (sum, c) => ({ sent: sum.sent + c.sent, acked: sum.acked + c.acked, failed: sum.failed + c.failed, disconnects: sum.disconnects + c.disconnects.length }),
        { sent: 0, acked: 0, failed: 0, disconnects: 0 },
      );
    },
  };
}
