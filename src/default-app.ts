/**
 * The default Socket.IO app (DESIGN §5): a small relay that makes the server useful before
 * anyone writes code, and the `hotcert:certificate` announcements.
 */
import type { Server, Socket } from 'socket.io';
import type { LiveCertificate, Reloader } from './reloader.js';

export const CERTIFICATE_EVENT = 'hotcert:certificate';

/** What a socket receives in `hotcert:certificate` (DESIGN §5). */
export type CertificateAnnouncement = Pick<
  LiveCertificate,
  'serialNumber' | 'fingerprint256' | 'subject' | 'issuer' | 'validFrom' | 'validTo' | 'dnsNames' | 'reloadedAt'
>;

export type Ack = (response: unknown) => void;

export interface AckResult {
  readonly ok: boolean;
  readonly error?: string;
}

const MAX_ROOM_LENGTH = 256;
/** Rooms hotcert keeps for itself; clients cannot join, leave or publish to them. */
const RESERVED_ROOM_PREFIX = 'hotcert:';

export function announcement(live: LiveCertificate): CertificateAnnouncement {
  const { serialNumber, fingerprint256, subject, issuer, validFrom, validTo, dnsNames, reloadedAt } = live;
  return { serialNumber, fingerprint256, subject, issuer, validFrom, validTo, dnsNames, reloadedAt };
}

function validRoom(room: unknown): room is string {
  return typeof room === 'string' && room.length > 0 && room.length <= MAX_ROOM_LENGTH && !room.startsWith(RESERVED_ROOM_PREFIX);
}

function reply(ack: unknown, response: unknown): void {
  if (typeof ack === 'function') (ack as Ack)(response);
}

const ROOM_ERROR = `room must be a non-empty string of at most ${MAX_ROOM_LENGTH} characters, not starting with "${RESERVED_ROOM_PREFIX}"`;

/** The room of the sockets served by certificate pair `certificate`. */
export function certificateRoom(certificate: string): string {
  return `${RESERVED_ROOM_PREFIX}certificate:${certificate}`;
}

/** `echo`, `join`, `leave`, `publish` for one socket. */
export function installRelayHandlers(io: Server, socket: Socket): void {
  socket.on('echo', (payload: unknown, ack: unknown) => reply(ack, payload));
  socket.on('join', async (room: unknown, ack: unknown) => {
    if (!validRoom(room)) return reply(ack, { ok: false, error: ROOM_ERROR } satisfies AckResult);
    await socket.join(room);
    reply(ack, { ok: true } satisfies AckResult);
  });
  socket.on('leave', async (room: unknown, ack: unknown) => {
    if (!validRoom(room)) return reply(ack, { ok: false, error: ROOM_ERROR } satisfies AckResult);
    await socket.leave(room);
    reply(ack, { ok: true } satisfies AckResult);
  });
  socket.on('publish', (message: unknown, ack: unknown) => {
    const room = (message as { room?: unknown } | null)?.room;
    if (!validRoom(room)) return reply(ack, { ok: false, error: ROOM_ERROR } satisfies AckResult);
    io.to(room).emit('message', { room, data: (message as { data?: unknown }).data });
    reply(ack, { ok: true } satisfies AckResult);
  });
}

export interface CertificateAnnouncerOptions {
  readonly io: Server;
  readonly reloader: Reloader;
  /** The pair a socket's TLS connection uses (by SNI server name). */
  readonly certificateOf: (socket: Socket) => string;
}

/**
 * Sends `hotcert:certificate` to each socket on connect and to every socket of a pair after
 * each swap. Returns a function that stops the announcements.
 *
 * Each socket joins its pair's room, so a swap is one broadcast: the packet is encoded once, not
 * once per socket (with 2,000 sockets that was most of a swap's cost). The broadcast is local:
 * with the Redis adapter each replica announces the certificate it serves itself.
 */
export function announceCertificates({ io, reloader, certificateOf }: CertificateAnnouncerOptions): () => void {
  const onConnection = (socket: Socket) => {
    const certificate = certificateOf(socket);
    void socket.join(certificateRoom(certificate));
    const live = reloader.current(certificate);
    if (live) socket.emit(CERTIFICATE_EVENT, announcement(live));
  };
  io.on('connection', onConnection);
  let replaying = true;
  const unsubscribe = reloader.subscribe((live) => {
    if (replaying) return; // sockets get the current certificate on connect
    io.local.to(certificateRoom(live.certificate)).emit(CERTIFICATE_EVENT, announcement(live));
  });
  replaying = false;
  return () => {
    io.off('connection', onConnection);
    unsubscribe();
  };
}
