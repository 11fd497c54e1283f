/**
 * The default Socket.IO app (DESIGN §5) over real WSS, the Socket.IO metrics, and the library
 * API used the way the README shows: own handlers, own request handler.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:https';
import { io as connect, type Socket } from 'socket.io-client';
import type { HotcertServer } from '../../src/server.js';
import { TestPki } from '../support/certs.js';
import { eventually } from '../support/eventually.js';
import { metricValue, startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';

describe('default Socket.IO app', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  let server: HotcertServer;
  const sockets: Socket[] = [];

  async function client(transports: Array<'websocket' | 'polling'> = ['websocket']): Promise<Socket> {
    const socket = connect(`https://localhost:${server.port}`, { ca: pki.caPem, transports, forceNew: true, reconnection: false });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
    return socket;
  }

  beforeAll(async () => {
    dir = await tempDir();
    pki = await TestPki.create();
    await kubeletWrite(dir.path, (await pki.leaf()).secretFiles);
    server = await startHotcert({ certificate: { certDir: dir.path }, relay: { maxRoomsPerSocket: 5 } });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await server.close();
    await dir.remove();
  });

  it('echo acknowledges with the payload', async () => {
    const socket = await client();
    expect(await socket.emitWithAck('echo', { n: 1, text: 'héllo' })).toEqual({ n: 1, text: 'héllo' });
  });

  it('announces the live certificate on connect', async () => {
    const socket = connect(`https://localhost:${server.port}`, { ca: pki.caPem, transports: ['websocket'], forceNew: true, reconnection: false });
    sockets.push(socket);
    const payload = await new Promise<Record<string, unknown>>((resolve) => socket.once('hotcert:certificate', resolve));
    const live = server.reloader.current('default');
    expect(Object.keys(payload).sort()).toEqual(['dnsNames', 'fingerprint256', 'issuer', 'reloadedAt', 'serialNumber', 'subject', 'validFrom', 'validTo']);
    expect(payload).toMatchObject({ serialNumber: live?.serialNumber, fingerprint256: live?.fingerprint256, dnsNames: ['localhost'] });
  });

  it('tells every socket after a swap, in batches, and the newest certificate last when swaps overlap', async () => {
    const fleet = await Promise.all(Array.from({ length: 250 }, () => client()));
    const heard = new Map<Socket, string[]>(fleet.map((socket) => [socket, []]));
    for (const socket of fleet) socket.on('hotcert:certificate', (payload: { serialNumber: string }) => heard.get(socket)?.push(payload.serialNumber));
    const [first, second] = [await pki.leaf(), await pki.leaf()];
    // Two swaps in one go: the second supersedes the first's announcement still under way.
    const offer = (leaf: typeof first) => ({
      files: { cert: { path: 'tls.crt', data: Buffer.from(leaf.chainPem) }, key: { path: 'tls.key', data: Buffer.from(leaf.keyPem) }, ca: { path: 'ca.crt', data: Buffer.from(pki.caPem) } },
    });
    expect(server.reloader.offer('default', offer(first), { trigger: 'manual' }).result).toBe('applied');
    expect(server.reloader.offer('default', offer(second), { trigger: 'manual' }).result).toBe('applied');
    await eventually(() => {
      for (const serials of heard.values()) expect(serials.at(-1)).toBe(second.serialNumber);
    });
    const counts = [...heard.values()].map((serials) => serials.length);
    // The first batch heard both swaps; the rest only the newest.
    expect(Math.max(...counts)).toBe(2);
    expect(counts.filter((n) => n === 1).length).toBeGreaterThanOrEqual(150);
    for (const socket of fleet) socket.close();
  });

  it('publish reaches every socket in the room, and only them, until they leave', async () => {
    const [alice, bob, carol, dave] = [await client(), await client(['polling']), await client(), await client()];
    const received = new Map<Socket, unknown[]>([alice, bob, carol, dave].map((s) => [s, []]));
    for (const socket of [alice, bob, carol, dave]) socket.on('message', (m: unknown) => received.get(socket)?.push(m));
    for (const member of [alice, bob, carol]) expect(await member.emitWithAck('join', 'news')).toEqual({ ok: true });
    expect(await carol.emitWithAck('publish', { room: 'news', data: { headline: 'rotated' } })).toEqual({ ok: true });
    await eventually(() => {
      for (const member of [alice, bob, carol]) expect(received.get(member)).toEqual([{ room: 'news', data: { headline: 'rotated' } }]);
    });
    expect(received.get(dave)).toEqual([]);

    expect(await bob.emitWithAck('leave', 'news')).toEqual({ ok: true });
    await carol.emitWithAck('publish', { room: 'news', data: 2 });
    await eventually(() => expect(received.get(alice)).toHaveLength(2));
    expect(received.get(bob)).toHaveLength(1);
  });

  it('refuses to publish to a room the socket is not in', async () => {
    const [member, outsider] = [await client(), await client()];
    const heard: unknown[] = [];
    member.on('message', (m: unknown) => heard.push(m));
    await member.emitWithAck('join', 'members-only');
    expect(await outsider.emitWithAck('publish', { room: 'members-only', data: 'spam' })).toEqual({ ok: false, error: 'join the room before publishing to it' });
    expect(await member.emitWithAck('echo', 'sync')).toBe('sync');
    expect(heard).toEqual([]);
  });

  it("keeps each socket's own room private: another socket cannot join it or publish to it", async () => {
    const [victim, eavesdropper] = [await client(), await client()];
    const heard: unknown[] = [];
    eavesdropper.on('message', (m: unknown) => heard.push(m));
    expect(await eavesdropper.emitWithAck('join', victim.id)).toEqual({ ok: false, error: expect.stringMatching(/not a socket id/) });
    expect(await eavesdropper.emitWithAck('publish', { room: victim.id, data: 'hi' })).toEqual({ ok: false, error: expect.stringMatching(/not a socket id/) });
    server.io.to(victim.id as string).emit('message', { room: victim.id, data: 'private' });
    expect(await eavesdropper.emitWithAck('echo', 'sync')).toBe('sync');
    expect(heard).toEqual([]);
  });

  it('caps the rooms a socket may be in, and frees a place when it leaves one', async () => {
    const socket = await client();
    for (let i = 0; i < 5; i++) expect(await socket.emitWithAck('join', `room-${i}`)).toEqual({ ok: true });
    expect(await socket.emitWithAck('join', 'room-5')).toEqual({ ok: false, error: 'a socket may be in at most 5 rooms: leave one first' });
    expect(await socket.emitWithAck('join', 'room-0')).toEqual({ ok: true });
    expect(await socket.emitWithAck('leave', 'room-0')).toEqual({ ok: true });
    expect(await socket.emitWithAck('join', 'room-5')).toEqual({ ok: true });
  });

  it.each([
    ['join', ''],
    ['leave', 42],
    ['publish', { data: 'no room' }],
    ['join', 'hotcert:certificate:default'],
    ['leave', 'hotcert:certificate:default'],
    ['publish', { room: 'hotcert:certificate:default', data: 'to everyone' }],
  ])('%s with a bad or reserved room (%j) answers with an error', async (event, argument) => {
    const socket = await client();
    expect(await socket.emitWithAck(event, argument)).toEqual({ ok: false, error: expect.stringMatching(/room must be a non-empty string/) });
  });

  it('refuses payloads nested deeper than 32 levels without recursing, however deep', async () => {
    const socket = await client();
    const nest = (depth: number): unknown => {
      let value: unknown = 'core';
      for (let i = 0; i < depth; i++) value = [value];
      return value;
    };
    expect(await socket.emitWithAck('echo', nest(31))).toEqual(nest(31));
    expect(await socket.emitWithAck('echo', nest(40))).toEqual({ ok: false, error: 'payload nested deeper than 32 levels' });
    await socket.emitWithAck('join', 'deep');
    expect(await socket.emitWithAck('publish', { room: 'deep', data: nest(40) })).toEqual({ ok: false, error: 'payload nested deeper than 32 levels' });
    // About 60 KB of brackets, sent as a raw Socket.IO packet (the client's own encoder would overflow
    // its stack): Socket.IO's decoder refuses it and closes that connection; nothing else is disturbed.
    const other = await client();
    const gone = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    socket.io.engine.send(`42999["echo",${'['.repeat(30_000)}"core"${']'.repeat(30_000)}]`);
    expect(await gone).toBe('transport close');
    expect(await other.emitWithAck('echo', 'fine')).toBe('fine');
  });

  it('closes a socket that keeps sending refused requests, with its own disconnect reason', async () => {
    const socket = await client();
    const gone = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    for (let i = 0; i < 19; i++) expect(await socket.emitWithAck('join', '')).toMatchObject({ ok: false });
    expect(socket.connected).toBe(true);
    socket.emit('join', '', () => undefined);
    expect(await gone).toBe('io server disconnect');
    await eventually(async () => expect(await metricValue(server, 'hotcert_socketio_disconnections_total', { reason: 'refused_requests' })).toBe(1));
  });

  it('counts connections and disconnections by reason', async () => {
    const connectionsBefore = (await metricValue(server, 'hotcert_socketio_connections_total')) ?? 0;
    const connectedBefore = (await metricValue(server, 'hotcert_socketio_connected_sockets')) ?? 0;
    const socket = await client();
    expect(await metricValue(server, 'hotcert_socketio_connections_total')).toBe(connectionsBefore + 1);
    expect(await metricValue(server, 'hotcert_socketio_connected_sockets')).toBe(connectedBefore + 1);
    const disconnectsBefore = (await metricValue(server, 'hotcert_socketio_disconnections_total', { reason: 'client namespace disconnect' })) ?? 0;
    socket.disconnect();
    await eventually(async () => expect(await metricValue(server, 'hotcert_socketio_disconnections_total', { reason: 'client namespace disconnect' })).toBe(disconnectsBefore + 1));
    expect(await metricValue(server, 'hotcert_socketio_connected_sockets')).toBe(connectedBefore);
  });
});

describe('library API', () => {
  it('takes your own Socket.IO handlers and HTTP request handler, and turns the default app off', async () => {
    const dir = await tempDir();
    const pki = await TestPki.create();
    await kubeletWrite(dir.path, (await pki.leaf()).secretFiles);
    const hot = await startHotcert({
      certificate: { certDir: dir.path },
      defaultApp: false,
      metrics: false,
      requestHandler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('my app\n');
      },
    });
    try {
      hot.io.on('connection', (socket) => socket.on('ping', (ack: (answer: string) => void) => ack('pong')));
      const socket = connect(`https://localhost:${hot.port}`, { ca: pki.caPem, transports: ['websocket'], reconnection: false });
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
      expect(await socket.emitWithAck('ping')).toBe('pong');
      await expect(socket.timeout(300).emitWithAck('echo', 1)).rejects.toThrow();
      socket.close();
      const body = await new Promise<string>((resolve, reject) => {
        request({ host: '127.0.0.1', port: hot.port, path: '/', ca: pki.caPem, servername: 'localhost' }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
      expect(body).toBe('my app\n');
      expect(hot.metricsPort).toBeUndefined();
    } finally {
      await hot.close();
      await dir.remove();
    }
  });
});
