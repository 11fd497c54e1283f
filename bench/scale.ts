/**
 * Scale-out: the same load on 1, 2 and 3 hotcert replicas sharing one Redis (real redis-server),
 * reported as ratios to one replica. Every socket joins one room; publishers send room messages
 * back to back (each waits for its ack), and every socket receives every message.
 * Measured per replica count: the time to connect the sockets, room messages delivered per second,
 * and the server side's CPU (replicas + Redis) per 1,000 deliveries. All processes share this
 * machine's 2 cores with the load generator, so more replicas add capacity only where one replica
 * was not already using a core: the figures show the cost of going through Redis.
 *
 *   npx tsx bench/scale.ts [--quick]
 */
import type { Socket } from 'socket.io-client';
import { TestPki } from '../test/support/certs.js';
import { tempDir } from '../test/support/hotcert.js';
import { RedisServer } from '../test/support/redis.js';
import { startReplica, type Replica } from '../test/support/replicas.js';
import { machine, QUICK, table, writeResult } from './lib/report.js';
import { cpuSeconds } from './lib/server.js';
import { closeSockets, connectSockets } from './lib/sockets.js';

const SOCKETS = QUICK ? 300 : 2_000;
const PUBLISHERS = 8;
const SECONDS = QUICK ? 3 : 10;

const dir = await tempDir('hotcert-bench-scale-');
const pki = await TestPki.create();
const { secretFiles } = await pki.leaf();
const redis = await RedisServer.start();

interface Row {
  readonly replicas: number;
  readonly connectSeconds: number;
  readonly deliveriesPerSecond: number;
  readonly serverCpuPer1kDeliveries: number;
  readonly perReplicaSockets: number[];
}

async function run(count: number): Promise<Row> {
  const replicas: Replica[] = await Promise.all(Array.from({ length: count }, (_, i) => startReplica({ name: `r${count}-${i}`, root: dir.path, secretFiles, redisUrl: redis.url })));
  const sockets: Socket[] = [];
  const connectStarted = performance.now();
  // Round-robin over the replicas, as a Service spreads new connections.
  for (const [index, replica] of replicas.entries()) {
    const share = Math.floor(SOCKETS / count) + (index < SOCKETS % count ? 1 : 0);
    const mine: Socket[] = [];
    await connectSockets({ port: replica.port, ca: pki.caPem, count: share, into: mine, batch: 100 });
    sockets.push(...mine);
  }
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  let delivered = 0;
  for (const socket of sockets) socket.on('message', () => delivered++);
  await Promise.all(sockets.map((socket) => socket.emitWithAck('join', 'bench')));
  const perReplicaSockets = await Promise.all(replicas.map(async (r) => (await r.metric('hotcert_socketio_connected_sockets')) ?? 0));

  const serverCpu = () => replicas.reduce((sum, r) => sum + cpuSeconds(r.cli.child.pid as number), 0) + cpuSeconds(redis.pid as number);
  const cpuBefore = serverCpu();
  const deliveredBefore = delivered;
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  // Publishers spread over the replicas; each message reaches every socket on every replica.
  await Promise.all(
    Array.from({ length: PUBLISHERS }, async (_, i) => {
      const publisher = sockets[(i * Math.floor(SOCKETS / PUBLISHERS)) % sockets.length] as Socket;
      while (performance.now() < deadline) await publisher.emitWithAck('publish', { room: 'bench', data: i });
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 500)); // deliveries still on the way
  const deliveries = delivered - deliveredBefore;
  const row = {
    replicas: count,
    connectSeconds,
    deliveriesPerSecond: deliveries / elapsed,
    serverCpuPer1kDeliveries: ((serverCpu() - cpuBefore) / deliveries) * 1000,
    perReplicaSockets,
  };
  closeSockets(sockets);
  await Promise.all(replicas.map((replica) => replica.stop()));
  return row;
}

const rows: Row[] = [];
for (const count of [1, 2, 3]) rows.push(await run(count));
await redis.stop();
await dir.remove();

const [one] = rows as [Row, ...Row[]];
console.log(`Scale-out (${machine()}): ${SOCKETS} WSS sockets in one room, ${PUBLISHERS} publishers back to back for ${SECONDS} s, one Redis\n`);
console.log(
  table(
    ['replicas', 'sockets per replica', 'connect all (s)', 'ratio to 1 replica', 'deliveries/s', 'ratio to 1 replica', 'server CPU ms per 1k deliveries', 'ratio to 1 replica'],
    rows.map((r) => [
      r.replicas,
      r.perReplicaSockets.join(' / '),
      r.connectSeconds,
      r.connectSeconds / one.connectSeconds,
      Math.round(r.deliveriesPerSecond),
      r.deliveriesPerSecond / one.deliveriesPerSecond,
      r.serverCpuPer1kDeliveries * 1000,
      r.serverCpuPer1kDeliveries / one.serverCpuPer1kDeliveries,
    ]),
  ),
);
for (const r of rows) {
  if (r.perReplicaSockets.reduce((a, b) => a + b, 0) !== SOCKETS) throw new Error(`${r.replicas} replicas: ${r.perReplicaSockets.join('+')} sockets, expected ${SOCKETS}`);
}
writeResult('scale', { sockets: SOCKETS, publishers: PUBLISHERS, seconds: SECONDS, rows });
