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
/** Room names hotcert keeps for itself (like its event names); clients cannot join, leave or publish to them. */
const RESERVED_ROOM_PREFIX = 'hotcert:';

export function announcement(live: LiveCertificate): CertificateAnnouncement {
  const { serialNumber, fingerprint256, subject, issuer, validFrom, validTo, dnsNames, reloadedAt } = live;
  return { serialNumber, fingerprint256, subject, issuer, validFrom, validTo, dnsNames, reloadedAt };
}

/** Socket.IO names a room after each socket's id (20 characters of base64url): those are private. */
const SOCKET_ID = /^[A-Za-z0-9_-]{20}$/;

function validRoom(room: unknown): room is string {
  return typeof room === 'string' && room.length > 0 && room.length <= MAX_ROOM_LENGTH && !room.startsWith(RESERVED_ROOM_PREFIX) && !SOCKET_ID.test(room);
}

function reply(ack: unknown, response: unknown): void {
  if (typeof ack === 'function') (ack as Ack)(response);
}

const ROOM_ERROR = `room must be a non-empty string of at most ${MAX_ROOM_LENGTH} characters, not starting with "${RESERVED_ROOM_PREFIX}" and not a socket id (20 letters, digits, - or _)`;

export interface RelayOptions {
  /** Rooms one socket may be in at once (besides its own). @default 100 */
  readonly maxRoomsPerSocket?: number;
  /** Told when a socket is closed for sending refused requests again and again. */
  readonly onAbusive?: (socket: Socket, refusals: number) => void;
}

export const DEFAULT_MAX_ROOMS_PER_SOCKET = 100;

/** Payloads nested deeper than this are refused: echoing them would recurse that deep. */
export const MAX_PAYLOAD_DEPTH = 32;

/** This many refused requests within the window close the socket. */
const MAX_REFUSALS = 20;
const REFUSAL_WINDOW_MS = 10_000;

/** Whether `value` nests objects or arrays deeper than `max`, found without recursion. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (item === null || typeof item !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

const DEPTH_ERROR = `payload nested deeper than ${MAX_PAYLOAD_DEPTH} levels`;

/** `echo`, `join`, `leave`, `publish` for one socket. Publishing to a room needs membership of it. */
export function installRelayHandlers(io: Server, socket: Socket, options: RelayOptions = {}): void {
  const maxRooms = options.maxRoomsPerSocket ?? DEFAULT_MAX_ROOMS_PER_SOCKET;
  const refusals: number[] = [];
  /** Answers a refused request; a socket that keeps sending them is closed. */
  const refuse = (ack: unknown, error: string): void => {
    reply(ack, { ok: false, error } satisfies AckResult);
    const now = Date.now();
    refusals.push(now);
    while (refusals.length > 0 && (refusals[0] as number) < now - REFUSAL_WINDOW_MS) refusals.shift();
    if (refusals.length >= MAX_REFUSALS && socket.connected) {
      options.onAbusive?.(socket, refusals.length);
      socket.disconnect(true);
    }
  };
  socket.on('echo', (payload: unknown, ack: unknown) => {
    if (nestedDeeperThan(payload, MAX_PAYLOAD_DEPTH)) return refuse(ack, DEPTH_ERROR);
    reply(ack, payload);
  });
  socket.on('join', async (room: unknown, ack: unknown) => {
    if (!validRoom(room)) return refuse(ack, ROOM_ERROR);
    // socket.rooms holds the socket's own room too.
    if (!socket.rooms.has(room) && socket.rooms.size - 1 >= maxRooms) return refuse(ack, `a socket may be in at most ${maxRooms} rooms: leave one first`);
    await socket.join(room);
    reply(ack, { ok: true } satisfies AckResult);
  });
  socket.on('leave', async (room: unknown, ack: unknown) => {
    if (!validRoom(room)) return refuse(ack, ROOM_ERROR);
    await socket.leave(room);
    reply(ack, { ok: true } satisfies AckResult);
  });
  socket.on('publish', (message: unknown, ack: unknown) => {
    const room = (message as { room?: unknown } | null)?.room;
    if (!validRoom(room)) return refuse(ack, ROOM_ERROR);
    if (!socket.rooms.has(room)) return refuse(ack, 'join the room before publishing to it');
    const data = (message as { data?: unknown }).data;
    if (nestedDeeperThan(data, MAX_PAYLOAD_DEPTH)) return refuse(ack, DEPTH_ERROR);
    io.to(room).emit('message', { room, data });
    reply(ack, { ok: true } satisfies AckResult);
  });
}

export interface CertificateAnnouncerOptions {
  readonly io: Server;
  readonly reloader: Reloader;
  /** The pair a socket's TLS connection uses (by SNI server name). */
  readonly certificateOf: (socket: Socket) => string;
}

/** Sockets announced to per event-loop turn after a swap. */
const ANNOUNCE_BATCH = 100;

/**
 * Sends `hotcert:certificate` to each socket on connect and to every socket of a pair after
 * each swap. Returns a function that stops the announcements.
 *
 * After a swap the sockets are told in batches, one batch per event-loop turn, so that acks and
 * handshakes are served in between: a frame costs about 16 µs per TLS socket to write, and telling
 * 2,000 sockets in one turn raised the p99 ack latency from 31 to 198 ms in BENCHMARKS.md's sockets
 * benchmark. A newer swap of the same pair supersedes an announcement still under way. Local only:
 * with the Redis adapter each replica announces the certificate it serves itself.
 */
export function announceCertificates({ io, reloader, certificateOf }: CertificateAnnouncerOptions): () => void {
  const onConnection = (socket: Socket) => {
    const live = reloader.current(certificateOf(socket));
    if (live) socket.emit(CERTIFICATE_EVENT, announcement(live));
  };
  io.on('connection', onConnection);
  const generations = new Map<string, number>();
  let stopped = false;
  const announce = (live: LiveCertificate) => {
    const generation = (generations.get(live.certificate) ?? 0) + 1;
    generations.set(live.certificate, generation);
    const payload = announcement(live);
    const targets = [...io.of('/').sockets.values()].filter((socket) => certificateOf(socket) === live.certificate);
    const sendFrom = (index: number) => {
      if (stopped || generations.get(live.certificate) !== generation) return;
      // Each socket is in the room named by its id: one broadcast per batch encodes the packet once.
      io.local.to(targets.slice(index, index + ANNOUNCE_BATCH).map((socket) => socket.id)).emit(CERTIFICATE_EVENT, payload);
      if (index + ANNOUNCE_BATCH < targets.length) setImmediate(sendFrom, index + ANNOUNCE_BATCH);
    };
    sendFrom(0);
  };
  let replaying = true;
  const unsubscribe = reloader.subscribe((live) => {
    if (!replaying) announce(live); // sockets get the current certificate on connect
  });
  replaying = false;
  return () => {
    stopped = true;
    io.off('connection', onConnection);
    unsubscribe();
  };
}
