/**
 * Several replicas with a real Redis (Debian's redis-server, in the foreground on 127.0.0.1) and
 * three hotcert processes: room messages cross replicas, a lost Redis makes every replica unready
 * until it is back, a certificate swap on one replica disturbs no socket on any, a shutdown
 * without Redis still ends cleanly, and Redis over TLS with a password (and without).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import { TestPki } from '../support/certs.js';
import { eventually } from '../support/eventually.js';
import { tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';
import { RedisServer } from '../support/redis.js';
import { startReplica, type Replica } from '../support/replicas.js';

describe('several replicas on one Redis', () => {
  let redis: RedisServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  let replicas: Replica[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    dir = await tempDir('hotcert-replicas-');
    pki = await TestPki.create();
    const leaf = await pki.leaf();
    replicas = await Promise.all(['a', 'b', 'c'].map((name) => startReplica({ name, root: dir.path, secretFiles: leaf.secretFiles, redisUrl: redis.url })));
    await eventually(async () => {
      for (const replica of replicas) expect(await replica.readyz()).toMatchObject({ status: 200 });
    });
  }, 30_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await Promise.all(replicas.map((replica) => replica.stop()));
    await redis?.stop();
    await dir?.remove();
  });

  async function client(replica: Replica): Promise<Socket & { disconnects: string[]; messages: unknown[] }> {
    const socket = connect(`https://localhost:${replica.port}`, { ca: pki.caPem, transports: ['websocket'], reconnection: false, forceNew: true }) as Socket & {
      disconnects: string[];
      messages: unknown[];
    };
    socket.disconnects = [];
    socket.messages = [];
    socket.on('disconnect', (reason) => socket.disconnects.push(reason));
    socket.on('message', (message: unknown) => socket.messages.push(message));
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
    return socket;
  }

  async function roomOnEveryReplica(room: string) {
    const members = await Promise.all(replicas.map((replica) => client(replica)));
    for (const member of members) expect(await member.emitWithAck('join', room)).toEqual({ ok: true });
    return members;
  }

  it('delivers a room message published on one replica to the room on every replica', async () => {
    const members = await roomOnEveryReplica('news');
    const [publisher, bystander] = [await client(replicas[2] as Replica), await client(replicas[2] as Replica)];
    // Publishing needs membership of the room.
    expect(await publisher.emitWithAck('join', 'news')).toEqual({ ok: true });
    expect(await publisher.emitWithAck('publish', { room: 'news', data: { headline: 'hello' } })).toEqual({ ok: true });
    await eventually(() => {
      for (const member of [...members, publisher]) expect(member.messages).toEqual([{ room: 'news', data: { headline: 'hello' } }]);
    });
    expect(bystander.messages).toEqual([]);
    for (const replica of replicas) expect(await replica.metric('hotcert_redis_up')).toBe(1);
  });

  it('makes every replica unready while Redis is gone, and ready again on its own when it is back', async () => {
    const members = await roomOnEveryReplica('outage');
    await redis.kill();
    await eventually(
      async () => {
        for (const replica of replicas) {
          const { status, body } = await replica.readyz();
          expect(status).toBe(503);
          expect(body).toMatch(/Socket\.IO Redis adapter/);
          expect(await replica.metric('hotcert_redis_up')).toBe(0);
        }
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    // The sockets stay connected meanwhile: only new connections are steered away by readiness.
    for (const member of members) expect(member.connected).toBe(true);
    for (const replica of replicas) expect(await replica.metric('hotcert_redis_errors_total')).toBeGreaterThan(0);

    await redis.start();
    await eventually(
      async () => {
        for (const replica of replicas) {
          expect(await replica.readyz()).toMatchObject({ status: 200 });
          expect(await replica.metric('hotcert_redis_up')).toBe(1);
        }
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    const publisher = await client(replicas[0] as Replica);
    expect(await publisher.emitWithAck('join', 'outage')).toEqual({ ok: true });
    // The adapter's stream reader re-attaches after the reconnection: a message gets through.
    await eventually(
      async () => {
        await publisher.emitWithAck('publish', { room: 'outage', data: 'after' });
        for (const member of members) expect(member.messages).toContainEqual({ room: 'outage', data: 'after' });
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    );
    for (const member of members) expect(member.disconnects).toEqual([]);
  }, 60_000);

  it('swaps the certificate on one replica without disturbing a socket on any', async () => {
    const members = await roomOnEveryReplica('rotation');
    const heard: string[] = [];
    (members[0] as Socket).on('hotcert:certificate', (payload: { serialNumber: string }) => heard.push(payload.serialNumber));
    const next = await pki.leaf();
    await kubeletWrite((replicas[0] as Replica).certDir, next.secretFiles);
    await eventually(() => expect(heard).toEqual([next.serialNumber]), { timeoutMs: 5_000 });
    // Only the replica whose mount changed announced it; the others serve on, untouched.
    const publisher = await client(replicas[1] as Replica);
    expect(await publisher.emitWithAck('join', 'rotation')).toEqual({ ok: true });
    await publisher.emitWithAck('publish', { room: 'rotation', data: 'still here' });
    await eventually(() => {
      for (const member of members) expect(member.messages).toContainEqual({ room: 'rotation', data: 'still here' });
    });
    for (const member of members) {
      expect(member.connected).toBe(true);
      expect(member.disconnects).toEqual([]);
    }
  });
  it('shuts down cleanly on SIGTERM while Redis is gone, within its shutdown timeout', async () => {
    const leaf = await pki.leaf();
    const replica = await startReplica({ name: 'd', root: dir.path, secretFiles: leaf.secretFiles, redisUrl: redis.url, args: ['--shutdown-timeout', '6s'] });
    await eventually(async () => expect(await replica.readyz()).toMatchObject({ status: 200 }));
    const socket = await client(replica);
    expect(await socket.emitWithAck('join', 'leaving')).toEqual({ ok: true });
    await redis.kill();
    await eventually(async () => expect(await replica.readyz()).toMatchObject({ status: 503 }), { timeoutMs: 10_000, intervalMs: 100 });
    const started = performance.now();
    const finished = await replica.stop();
    expect(finished.code).toBe(0);
    expect(performance.now() - started).toBeLessThan(6_000);
    expect(finished.stdout).not.toMatch(/"level":60/); // no fatal line
    await redis.start();
  }, 30_000);
});

describe('Redis over TLS with a password', () => {
  it('connects with the password from HOTCERT_REDIS_PASSWORD and the CA from --redis-ca; a wrong password leaves it unready and never shows', async () => {
    const dir = await tempDir('hotcert-redis-tls-');
    const pki = await TestPki.create();
    // Redis's own certificate, from the same test PKI, for 127.0.0.1.
    const redisLeaf = await pki.leaf({ commonName: 'redis', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const certFile = join(dir.path, 'redis.crt');
    const keyFile = join(dir.path, 'redis.key');
    const caFile = join(dir.path, 'redis-ca.crt');
    await writeFile(certFile, redisLeaf.chainPem);
    await writeFile(keyFile, redisLeaf.keyPem, { mode: 0o600 });
    await writeFile(caFile, pki.caPem);
    const redis = await RedisServer.start({ tls: { certFile, keyFile }, password: 'correct horse' });
    const { secretFiles } = await pki.leaf();
    const replicas: Replica[] = [];
    try {
      const good = await startReplica({ name: 'tls-good', root: dir.path, secretFiles, redisUrl: redis.url, args: ['--redis-ca', caFile], env: { HOTCERT_REDIS_PASSWORD: 'correct horse' } });
      replicas.push(good);
      expect(redis.url).toMatch(/^rediss:/);
      await eventually(async () => {
        expect(await good.readyz()).toMatchObject({ status: 200 });
        expect(await good.metric('hotcert_redis_up')).toBe(1);
      }, { timeoutMs: 10_000, intervalMs: 100 });

      const bad = await startReplica({ name: 'tls-bad', root: dir.path, secretFiles, redisUrl: redis.url, args: ['--redis-ca', caFile, '--log-level', 'debug'], env: { HOTCERT_REDIS_PASSWORD: 'wrong horse' } });
      replicas.push(bad);
      await eventually(async () => {
        const { status, body } = await bad.readyz();
        expect(status).toBe(503);
        expect(body).toMatch(/Socket\.IO Redis adapter/);
        expect(await bad.metric('hotcert_redis_errors_total')).toBeGreaterThan(0);
      }, { timeoutMs: 10_000, intervalMs: 100 });
      expect(await bad.metric('hotcert_redis_up')).toBe(0);
      // Without the CA the TLS handshake to Redis fails: not ready either.
      const untrusting = await startReplica({ name: 'tls-no-ca', root: dir.path, secretFiles, redisUrl: redis.url, env: { HOTCERT_REDIS_PASSWORD: 'correct horse' } });
      replicas.push(untrusting);
      await eventually(async () => expect(await untrusting.metric('hotcert_redis_errors_total')).toBeGreaterThan(0), { timeoutMs: 10_000, intervalMs: 100 });
      expect((await untrusting.readyz()).status).toBe(503);
    } finally {
      const finished = await Promise.all(replicas.map((replica) => replica.stop()));
      for (const { stdout, stderr } of finished) expect(`${stdout}${stderr}`).not.toMatch(/horse/);
      await redis.stop();
      await dir.remove();
    }
  }, 60_000);
});
