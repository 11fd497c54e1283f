/**
 * A rolling update of three replicas behind a Service, with 500 clients: real redis-server, three
 * hotcert processes, and a TCP-level stand-in for the Service (kube-proxy: new connections go to
 * replicas whose /readyz answers 200). Each replica in turn gets SIGTERM, drains (not ready, then
 * its sockets closed in batches), exits, and is replaced by a new one. The clients reconnect with
 * socket.io-client's own backoff and resend unacknowledged emits (`retries`: at-least-once); the
 * room messages they missed while away are replayed by connection-state recovery.
 * Counted: lost acks (must be 0), sessions recovered (all), missed room messages (must be 0: see
 * src/redis-recovery.ts for the race this needed closing), duplicated room messages (reported), and
 * the time from each disconnect to the reconnection.
 */
import { afterAll, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { io as connect, type Socket } from 'socket.io-client';
import { TestPki } from '../support/certs.js';
import { eventually, sleep } from '../support/eventually.js';
import { tempDir } from '../support/hotcert.js';
import { RedisServer } from '../support/redis.js';
import { startReplica, type Replica } from '../support/replicas.js';
import { ServiceProxy } from '../support/service-proxy.js';

const CLIENTS = 500;
const ECHO_EVERY_MS = 400;
const PUBLISH_EVERY_MS = 200;
const REPLICA_ARGS = ['--drain-delay', '500ms', '--shutdown-timeout', '8s', '--log-level', 'info'];

interface Client {
  readonly socket: Socket;
  readonly received: Set<number>;
  duplicates: number;
  readonly reconnectMs: number[];
  recoveredReconnects: number;
  freshReconnects: number;
  sent: number;
  acked: number;
  disconnectedAt: number | undefined;
}

let redis: RedisServer | undefined;
let proxy: ServiceProxy | undefined;
let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
const replicas: Replica[] = [];
const clients: Client[] = [];

afterAll(async () => {
  for (const client of clients) client.socket.close();
  await proxy?.close();
  await Promise.all(replicas.map((replica) => replica.stop()));
  await redis?.stop();
  await dir?.remove();
});

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

it(`keeps every acked message and every room message through a rolling restart of 3 replicas with ${CLIENTS} clients`, async () => {
  redis = await RedisServer.start();
  dir = await tempDir('hotcert-rolling-');
  const pki = await TestPki.create();
  const { secretFiles } = await pki.leaf();
  replicas.push(...(await Promise.all(['a', 'b', 'c'].map((name) => startReplica({ name, root: dir!.path, secretFiles, redisUrl: redis!.url, args: REPLICA_ARGS })))));
  proxy = await ServiceProxy.start(replicas);
  await eventually(() => expect(proxy!.ready).toHaveLength(3), { timeoutMs: 10_000 });

  // Clients through the Service, joining one room; a recovered session keeps its rooms.
  for (let i = 0; i < CLIENTS; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, CLIENTS - i) }, async () => {
        const socket = connect(`https://localhost:${proxy!.port}`, {
          ca: pki.caPem,
          transports: ['websocket'],
          forceNew: true,
          reconnectionDelay: 250,
          reconnectionDelayMax: 2_000,
          retries: 20,
          ackTimeout: 3_000,
        });
        const client: Client = { socket, received: new Set(), duplicates: 0, reconnectMs: [], recoveredReconnects: 0, freshReconnects: 0, sent: 0, acked: 0, disconnectedAt: undefined };
        socket.on('message', ({ data }: { data: number }) => {
          if (client.received.has(data)) client.duplicates++;
          client.received.add(data);
        });
        socket.on('disconnect', () => (client.disconnectedAt = performance.now()));
        socket.on('connect', () => {
          if (client.disconnectedAt === undefined) return;
          client.reconnectMs.push(performance.now() - client.disconnectedAt);
          client.disconnectedAt = undefined;
          if (socket.recovered) client.recoveredReconnects++;
          else {
            client.freshReconnects++;
            void socket.emitWithAck('join', 'all');
          }
        });
        await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
        expect(await socket.emitWithAck('join', 'all')).toEqual({ ok: true });
        clients.push(client);
      }),
    );
  }
  const perReplica = await Promise.all(replicas.map((replica) => replica.metric('hotcert_socketio_connected_sockets')));
  expect(perReplica.reduce((a, b) => (a ?? 0) + (b ?? 0), 0)).toBe(CLIENTS);

  // Load: every client echoes (acked, retried until acked); one publisher numbers room messages.
  let running = true;
  const echoes = clients.map(async (client, index) => {
    await sleep((index * ECHO_EVERY_MS) / CLIENTS);
    for (let n = 0; running; n++) {
      client.sent++;
      const answer = (await client.socket.emitWithAck('echo', { index, n })) as { index: number; n: number };
      if (answer.index === index && answer.n === n) client.acked++;
      await sleep(ECHO_EVERY_MS);
    }
  });
  const publisher = clients[0] as Client;
  const published: number[] = [];
  const publishing = (async () => {
    for (let seq = 0; running; seq++) {
      expect(await publisher.socket.emitWithAck('publish', { room: 'all', data: seq })).toEqual({ ok: true });
      published.push(seq);
      await sleep(PUBLISH_EVERY_MS);
    }
  })();

  await sleep(1_000);
  const rollout: Array<{ replica: string; exitCode: number | null; drainMs: number }> = [];
  for (const [index, old] of [...replicas].entries()) {
    const started = performance.now();
    const finished = await old.stop();
    rollout.push({ replica: old.name, exitCode: finished.code, drainMs: Math.round(performance.now() - started) });
    proxy.remove(old);
    const replacement = await startReplica({ name: `${old.name}2`, root: dir.path, secretFiles, redisUrl: redis.url, args: REPLICA_ARGS });
    replicas[index] = replacement;
    proxy.add(replacement);
    await eventually(() => expect(proxy!.ready).toContain(replacement), { timeoutMs: 10_000 });
  }
  // Let everyone settle, then stop and wait for the last acks.
  await eventually(() => expect(clients.every((c) => c.socket.connected)).toBe(true), { timeoutMs: 15_000 });
  await sleep(1_000);
  running = false;
  await Promise.all([...echoes, publishing]);
  const last = published.at(-1) as number;
  await eventually(() => expect(clients.filter((c) => !c.received.has(last))).toEqual([]), { timeoutMs: 10_000 });

  const sent = clients.reduce((sum, c) => sum + c.sent, 0);
  const acked = clients.reduce((sum, c) => sum + c.acked, 0);
  const missed = clients.reduce((sum, c) => sum + published.filter((seq) => !c.received.has(seq)).length, 0);
  const reconnectMs = clients.flatMap((c) => c.reconnectMs);
  const summary = {
    clients: CLIENTS,
    rollout,
    echoes: { sent, acked, lost: sent - acked },
    roomMessages: { published: published.length, expectedDeliveries: published.length * CLIENTS, missed, duplicated: clients.reduce((sum, c) => sum + c.duplicates, 0) },
    reconnects: {
      count: reconnectMs.length,
      recovered: clients.reduce((sum, c) => sum + c.recoveredReconnects, 0),
      fresh: clients.reduce((sum, c) => sum + c.freshReconnects, 0),
      p50Ms: Math.round(percentile(reconnectMs, 50)),
      p99Ms: Math.round(percentile(reconnectMs, 99)),
      maxMs: Math.round(Math.max(0, ...reconnectMs)),
    },
  };
  mkdirSync('test-artifacts', { recursive: true });
  writeFileSync('test-artifacts/rolling-restart.json', `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`rolling restart: ${JSON.stringify(summary)}`);

  for (const step of rollout) expect(step).toMatchObject({ exitCode: 0 });
  // Every client was moved at least once (each replica held a share of them) …
  expect(reconnectMs.length).toBeGreaterThanOrEqual(CLIENTS);
  // … and nothing was lost: every echo acked (emits are retried until acked), every session
  // recovered, every room message delivered (replayed to the sockets that were moving).
  expect(summary.echoes.lost).toBe(0);
  expect(summary.reconnects.fresh).toBe(0);
  expect(missed).toBe(0);
}, 120_000);
