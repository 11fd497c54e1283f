/**
 * Closes a gap in connection-state recovery with the Redis Streams adapter.
 *
 * To recover a session the adapter reads the stream (XRANGE) from the client's last offset to the
 * end; the socket rejoins its rooms when that read's answer is processed. Meanwhile the adapter's
 * stream reader (a blocking XREAD on another connection), or a broadcast published on this replica,
 * may already have handed newer entries to the rooms, without the socket: under load the answers
 * are processed out of order, and the rolling-restart test lost 0 to 6 room messages in about
 * 25,000 deliveries per run that way.
 *
 * The fix watches how far local delivery has got (the last entry id the reader's XREAD returned,
 * or this process's own XADD for a broadcast published here, which is delivered locally when the
 * XADD answers) and, after the adapter's replay, reads the entries between the replay's end and
 * that position too, until the position stops moving. Each look comes after a turn of the event
 * loop, so deliveries already under way have moved the position; after the last look the session
 * goes back to Socket.IO without another answer from Redis being processed, and the socket joins
 * its rooms and the namespace: every entry is either replayed or delivered live.
 *
 * Written against @socket.io/redis-streams-adapter 0.3.1 (pinned exactly in package.json): it
 * relies on its entry format (`nsp`, `type` 3 for a broadcast, the adapter's `decode`) and on the
 * replayed packets ending with their entry id. The rolling-restart test would show a change.
 */

/** A stream entry id `milliseconds-sequence` compared numerically. */
export function compareStreamIds(a: string, b: string): number {
  const [aMs = '0', aSeq = '0'] = a.split('-');
  const [bMs = '0', bSeq = '0'] = b.split('-');
  if (aMs.length !== bMs.length) return aMs.length - bMs.length;
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return Number(aSeq) - Number(bSeq);
}

/** The id right after `id` (exclusive ranges need Redis 6.2; this works everywhere). */
export function nextStreamId(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  return `${ms}-${Number(seq) + 1}`;
}

/**
 * The newest stream entry this process has handed to its local sockets, or is about to in the
 * same turn of the event loop: what its reader's XREAD returned, and what its own XADDs returned
 * (a broadcast published here is delivered locally when its XADD answers, not by the reader).
 */
export class StreamReadPosition {
  #last: string | undefined;

  get last(): string | undefined {
    return this.#last;
  }

  advance(id: string): void {
    if (this.#last === undefined || compareStreamIds(id, this.#last) > 0) this.#last = id;
  }

  /** Records an XREAD answer (`[{ name, messages: [{ id, message }] }]`, or null on a timeout). */
  observeRead(response: unknown): void {
    const id = (response as Array<{ messages?: Array<{ id: string }> }> | null)?.[0]?.messages?.at(-1)?.id;
    if (typeof id === 'string') this.advance(id);
  }
}

interface StreamEntry {
  readonly id: string;
  readonly message: Record<string, string>;
}

interface Session {
  readonly rooms: readonly string[];
  readonly missedPackets: unknown[][];
}

interface BroadcastOptions {
  readonly rooms: readonly string[];
  readonly except: readonly string[];
}

/** The adapter's own rule: a packet is for the session when it targets one of its rooms (or all) and excludes none. */
function shouldInclude(rooms: readonly string[], opts: BroadcastOptions): boolean {
  const included = opts.rooms.length === 0 || rooms.some((room) => opts.rooms.includes(room));
  return included && rooms.every((room) => !opts.except.includes(room));
}

const BROADCAST = '3';
/** Bounds the catch-up when entries arrive faster than they are read. */
const MAX_ROUNDS = 20;

export interface RecoveringAdapter {
  readonly nsp: { readonly name: string };
  restoreSession(pid: string, offset: string): Promise<Session | null | undefined>;
}

/**
 * Makes `adapter.restoreSession` also replay what the local reader delivered while the replay was
 * under way. `readRange` is XRANGE on the adapter's stream; `decode` is the adapter's decoder.
 */
export function closeRecoveryGap(
  adapter: RecoveringAdapter,
  position: StreamReadPosition,
  readRange: (start: string, end: string) => Promise<StreamEntry[]>,
  decode: (message: Record<string, string>) => { data: { packet: { data: unknown[] }; opts: BroadcastOptions } },
): void {
  const restore = adapter.restoreSession.bind(adapter);
  adapter.restoreSession = async (pid: string, offset: string) => {
    const session = await restore(pid, offset);
    if (!session) return session;
    // The adapter appends each replayed entry's id to the packet: the replay ended there.
    let from = (session.missedPackets.at(-1)?.at(-1) as string | undefined) ?? offset;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      // A turn of the event loop first: a delivery whose answer was parsed together with ours (the
      // XADD of a local publish shares this connection) finishes its promise chain, and moves the
      // position, before we look. After the last look no answer is parsed before the socket joins.
      await new Promise((resolve) => setImmediate(resolve));
      const upTo = position.last;
      if (upTo === undefined || compareStreamIds(upTo, from) <= 0) break;
      for (const entry of await readRange(nextStreamId(from), upTo)) {
        if (entry.message['nsp'] !== adapter.nsp.name || entry.message['type'] !== BROADCAST) continue;
        const { packet, opts } = decode(entry.message).data;
        if (!shouldInclude(session.rooms, opts)) continue;
        packet.data.push(entry.id);
        session.missedPackets.push(packet.data);
      }
      from = upTo;
    }
    return session;
  };
}
