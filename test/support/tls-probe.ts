/** A fresh TLS client handshake: what a client really receives from the server. */
import { connect, type PeerCertificate, type TLSSocket } from 'node:tls';

export interface ProbeResult {
  readonly serialNumber: string;
  readonly peer: PeerCertificate;
  readonly authorized: boolean;
  readonly sessionReused: boolean;
  readonly session: Buffer | undefined;
}

export interface ProbeOptions {
  readonly port: number;
  readonly ca: string;
  readonly servername?: string;
  readonly session?: Buffer;
  readonly timeoutMs?: number;
}

/** Opens a new TLS connection to 127.0.0.1, reads the served leaf and closes. */
export function probe({ port, ca, servername = 'localhost', session, timeoutMs = 5_000 }: ProbeOptions): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined;
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, ca, servername, ...(session ? { session } : {}) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TLS probe of port ${port} timed out`));
    }, timeoutMs);
    socket.on('session', (data: Buffer) => {
      ticket = data;
    });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      const result = { peer, authorized: socket.authorized, sessionReused: socket.isSessionReused() };
      // TLS 1.3 tickets arrive after the handshake: give the server a moment to send one.
      socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      socket.once('end', () => {
        clearTimeout(timer);
        // A resumed session may carry no peer certificate: its serial is then ''.
        resolve({ ...result, serialNumber: (peer.serialNumber ?? '').toUpperCase(), session: ticket });
      });
      socket.resume();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Probes until the served serial is `serial`, returning how long that took. */
export async function waitForSerial(options: ProbeOptions & { serial: string; withinMs: number }): Promise<number> {
  const started = performance.now();
  let last = '';
  while (performance.now() - started < options.withinMs) {
    last = (await probe(options)).serialNumber;
    if (last === options.serial) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`served serial is still ${last} after ${options.withinMs} ms, expected ${options.serial}`);
}
