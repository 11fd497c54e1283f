/**
 * Several replicas: the official Socket.IO Redis Streams adapter (`@socket.io/redis-streams-adapter`)
 * on a `redis` client. A `publish` on one replica reaches the room's sockets on every replica, and
 * connection-state recovery works across replicas (the session and the missed packets are kept in
 * Redis), which the Pub/Sub-only `@socket.io/redis-adapter` cannot do.
 *
 * The link is watched: `up` is true while the client is connected and answers a `PING` in time.
 * A replica that lost Redis reports itself not ready (`/readyz`) and reconnects on its own, with a
 * capped backoff.
 */
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { createClient, type RedisClientOptions } from 'redis';
import type { Logger } from 'pino';
import { closeRecoveryGap, StreamReadPosition, type RecoveringAdapter } from './redis-recovery.js';

export interface RedisOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS. */
  readonly url: string;
  /** Overrides a password in the URL (from a Secret: `HOTCERT_REDIS_PASSWORD`). */
  readonly password?: string | undefined;
  /** PEM CA bundle that signed Redis's TLS certificate (`rediss://` only). */
  readonly ca?: string | undefined;
  /** Stream name, so that several hotcert deployments can share one Redis. @default 'hotcert' */
  readonly streamName?: string | undefined;
  /** How often the link is checked with a PING, ms. @default 2_000 */
  readonly healthIntervalMs?: number | undefined;
}

export interface RedisLinkEvents {
  /** The link came up (`true`) or went down (`false`), with why. */
  readonly onUpChange?: (up: boolean, reason: string) => void;
  /** Every client error (connection refused, reset, timeouts, protocol errors). */
  readonly onError?: (error: Error) => void;
}

export interface RedisLink {
  /** Socket.IO's `adapter` option. */
  readonly adapter: ReturnType<typeof createAdapter>;
  /** Connected and answering. */
  readonly up: boolean;
  /** Why it is down (for `/readyz`), or undefined when up. */
  readonly downReason: string | undefined;
  close(): Promise<void>;
}

/** The URL with its password replaced by `***`, for logs and messages. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** Reconnect after about 100 ms, 200 ms, … up to 5 s, each halved at random: a Redis restart is not met by a stampede. */
export function reconnectDelay(retries: number): number {
  const base = Math.min(5_000, 100 * 2 ** Math.min(retries, 6));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

type RedisClient = ReturnType<typeof createClient>;

/** `client` with some of its methods replaced, the rest bound to it (it keeps private fields). */
function withMethods(
  client: RedisClient,
  replaced: Record<string, (original: (...args: unknown[]) => unknown) => (...args: unknown[]) => unknown>,
): RedisClient {
  return new Proxy(client, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const original = (value as (...args: unknown[]) => unknown).bind(target);
      const replace = typeof property === 'string' ? replaced[property] : undefined;
      return replace ? replace(original) : original;
    },
  });
}

/**
 * The client as the adapter sees it.
 * - The adapter stores a disconnecting socket's session with a `SET` whose promise nobody awaits;
 *   if that command fails (the client closed while Redis was away), the rejection would be
 *   unhandled and end the process. Here every `SET` has a handler; the session is then simply not
 *   recoverable, which the client survives (it reconnects afresh).
 * - The adapter's stream reader is a duplicate of this client: its XREAD answers, and this
 *   client's XADDs, are watched for the recovery fix in redis-recovery.ts.
 */
function adapterClient(client: RedisClient, onError: (error: Error) => void, position: StreamReadPosition): RedisClient {
  /** A command whose answer is shown to `record` before the adapter sees it. */
  const recording =
    (record: (answer: unknown) => void) =>
    (command: (...args: unknown[]) => unknown) =>
    (...args: unknown[]) =>
      (command(...args) as Promise<unknown>).then((answer) => {
        record(answer);
        return answer;
      });
  return withMethods(client, {
    set:
      (set) =>
      (...args) => {
        const result = set(...args) as Promise<unknown>;
        result.catch(onError);
        return result;
      },
    xAdd: recording((id) => position.advance(id as string)),
    duplicate:
      (duplicate) =>
      (...args) =>
        withMethods(duplicate(...args) as RedisClient, { xRead: recording((response) => position.observeRead(response)) }),
  });
}

/** How long `close()` lets queued commands (sessions of the last sockets) reach Redis before dropping them. */
const CLOSE_TIMEOUT_MS = 2_000;

export function connectRedis(options: RedisOptions, events: RedisLinkEvents, logger: Logger): RedisLink {
  const tls = options.url.startsWith('rediss://');
  const clientOptions: RedisClientOptions = {
    url: options.url,
    ...(options.password ? { password: options.password } : {}),
    socket: {
      connectTimeout: 5_000,
      reconnectStrategy: reconnectDelay,
      ...(tls ? { tls: true as const, ...(options.ca ? { ca: options.ca } : {}) } : {}),
    },
  };
  const client = createClient(clientOptions);
  let connected = false;
  let answering = false;
  let downReason: string | undefined = 'connecting to Redis';
  let wasUp = false;
  const update = (reason?: string) => {
    const up = connected && answering;
    downReason = up ? undefined : (reason ?? downReason ?? 'Redis is not answering');
    if (up !== wasUp) {
      wasUp = up;
      events.onUpChange?.(up, up ? 'connected' : (downReason as string));
    }
  };
  client.on('ready', () => {
    connected = true;
    answering = true;
    update();
  });
  client.on('end', () => {
    connected = false;
    update('the connection to Redis was closed');
  });
  client.on('reconnecting', () => {
    connected = false;
    update('reconnecting to Redis');
  });
  client.on('error', (error: Error) => {
    events.onError?.(error);
    connected = client.isReady;
    update(`Redis: ${error.message}`);
  });
  // The first connection may take a while (Redis starting up): the client retries by itself.
  client.connect().catch((error: Error) => logger.debug({ err: error }, 'first connection to Redis failed; retrying'));

  const healthIntervalMs = options.healthIntervalMs ?? 2_000;
  let checking = false;
  const health = setInterval(() => {
    if (checking || !client.isReady) return;
    checking = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to PING within ${healthIntervalMs} ms`)), healthIntervalMs);
    });
    Promise.race([client.ping(), timeout])
      .then(() => {
        answering = true;
        connected = client.isReady;
        update();
      })
      .catch((error: Error) => {
        answering = false;
        update(`Redis: ${error.message}`);
      })
      .finally(() => {
        clearTimeout(timer);
        checking = false;
      });
  }, healthIntervalMs);
  health.unref();

  const prefix = options.streamName ?? 'hotcert';
  // Stream, sessions and Pub/Sub channels under hotcert's own names: other Socket.IO applications can share the Redis.
  const position = new StreamReadPosition();
  const createStreamsAdapter = createAdapter(adapterClient(client, (error) => events.onError?.(error), position), {
    streamName: prefix,
    channelPrefix: prefix,
    sessionKeyPrefix: `${prefix}:session:`,
  });
  // One adapter per namespace; each recovers sessions without the gap (redis-recovery.ts).
  // Socket.IO calls it with `new`: a function, not an arrow; returning an object makes that the instance.
  const adapter = function recoveringAdapter(nsp: unknown) {
    const created = createStreamsAdapter(nsp);
    const decode = (created.constructor as unknown as { decode: Parameters<typeof closeRecoveryGap>[3] }).decode;
    closeRecoveryGap(created as unknown as RecoveringAdapter, position, (start, end) => client.xRange(prefix, start, end) as Promise<Array<{ id: string; message: Record<string, string> }>>, decode);
    return created;
  } as ReturnType<typeof createAdapter>;
  return {
    adapter,
    get up() {
      return connected && answering;
    },
    get downReason() {
      return connected && answering ? undefined : downReason;
    },
    async close() {
      clearInterval(health);
      if (!client.isOpen) return;
      // QUIT waits for the queued commands; with Redis gone it would wait for ever.
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS);
      });
      const outcome = await Promise.race([client.quit().then(() => 'closed' as const, () => 'failed' as const), gaveUp]);
      clearTimeout(timer);
      if (outcome !== 'closed' && client.isOpen) client.destroy();
    },
  };
}
