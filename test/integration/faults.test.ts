/**
 * Faults around the reloader: the file watcher failing or losing its directory (fall back to
 * polling, say so, recover), user Socket.IO handlers that throw, and the mount directory removed
 * and recreated. In each: the last good certificate keeps serving, nothing crashes, the metric and
 * the log line say what happened.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import type { DirectoryWatcher } from '../../src/file-source.js';
import type { HotcertServer } from '../../src/server.js';
import { TestPki } from '../support/certs.js';
import { eventually } from '../support/eventually.js';
import { memoryLogger, metricValue, startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';
import { probe, waitForSerial } from '../support/tls-probe.js';

/** A watcher that becomes ready and then fails the way inotify does when watches run out. */
class ExhaustedWatcher extends EventEmitter implements DirectoryWatcher {
  constructor() {
    super();
    setTimeout(() => this.emit('ready'), 5);
    setTimeout(() => this.emit('error', Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' })), 50);
  }
  async close(): Promise<void> {}
}

describe('faults', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: HotcertServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await dir?.remove();
  });

  it('falls back to polling when the watcher fails (inotify watches exhausted), says so, and keeps up', async () => {
    dir = await tempDir();
    const pki = await TestPki.create();
    await kubeletWrite(dir.path, (await pki.leaf()).secretFiles);
    const log = memoryLogger();
    server = await startHotcert({ certificate: { certDir: dir.path }, logger: log.logger, watcherFactory: () => new ExhaustedWatcher() });
    await eventually(async () => expect(await metricValue(server!, 'hotcert_file_watch_mode', { mode: 'polling' })).toBe(1));
    expect(await metricValue(server, 'hotcert_file_watch_mode', { mode: 'events' })).toBe(0);
    expect(await metricValue(server, 'hotcert_file_watch_errors_total')).toBe(1);
    expect(log.lines().find((l) => l['event'] === 'file_watch_mode' && l['mode'] === 'polling')).toMatchObject({ level: 40, reason: 'watcher error: ENOSPC' });
    const next = await pki.leaf();
    await kubeletWrite(dir.path, next.secretFiles);
    await waitForSerial({ port: server.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 2_500 });
  });

  it('survives the mount directory being removed and recreated, then watches it again', async () => {
    const parent = await tempDir();
    dir = parent;
    const mount = join(parent.path, 'mount');
    const pki = await TestPki.create();
    const first = await pki.leaf();
    await kubeletWrite(mount, first.secretFiles);
    const log = memoryLogger();
    server = await startHotcert({ certificate: { certDir: mount }, logger: log.logger });
    expect(await metricValue(server, 'hotcert_file_watch_mode', { mode: 'events' })).toBe(1);

    await rename(mount, join(parent.path, 'gone'));
    await eventually(async () => expect(await metricValue(server!, 'hotcert_file_watch_mode', { mode: 'polling' })).toBe(1));
    expect((await probe({ port: server.port, ca: pki.caPem })).serialNumber).toBe(first.serialNumber);
    expect(server.readiness().ready).toBe(true);

    await rm(join(parent.path, 'gone'), { recursive: true });
    const next = await pki.leaf();
    await kubeletWrite(mount, next.secretFiles);
    await waitForSerial({ port: server.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 3_000 });
    await eventually(async () => expect(await metricValue(server!, 'hotcert_file_watch_mode', { mode: 'events' })).toBe(1), { timeoutMs: 3_000 });
    // Back on file events: a rotation is seen at once again.
    const third = await pki.leaf();
    await kubeletWrite(mount, third.secretFiles);
    await waitForSerial({ port: server.port, ca: pki.caPem, serial: third.serialNumber, withinMs: 1_000 });
    expect(log.lines().filter((l) => l['event'] === 'file_watch_mode').map((l) => l['mode'])).toEqual(['events', 'polling', 'events']);
  });

  it('keeps serving when a user Socket.IO handler throws or rejects', async () => {
    dir = await tempDir();
    const pki = await TestPki.create();
    await kubeletWrite(dir.path, (await pki.leaf()).secretFiles);
    const log = memoryLogger();
    server = await startHotcert({ certificate: { certDir: dir.path }, logger: log.logger });
    server.io.on('connection', (socket) => {
      socket.on('boom', () => {
        throw new Error('handler bug');
      });
      socket.on('async-boom', async () => {
        throw new Error('async handler bug');
      });
    });
    server.io.on('connection', () => {
      throw new Error('connection handler bug');
    });
    const socket = connect(`https://localhost:${server.port}`, { ca: pki.caPem, transports: ['websocket'], reconnection: false });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
    socket.emit('boom');
    socket.emit('async-boom');
    await eventually(async () => {
      expect(await metricValue(server!, 'hotcert_socketio_handler_errors_total', { event: 'boom' })).toBe(1);
      expect(await metricValue(server!, 'hotcert_socketio_handler_errors_total', { event: 'async-boom' })).toBe(1);
      expect(await metricValue(server!, 'hotcert_socketio_handler_errors_total', { event: 'connection' })).toBe(1);
    });
    expect(log.lines().filter((l) => l['event'] === 'socketio_handler_error')).toHaveLength(3);
    expect(await socket.emitWithAck('echo', 'still here')).toBe('still here');
    const next = await pki.leaf();
    await kubeletWrite(dir.path, next.secretFiles);
    await waitForSerial({ port: server.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 1_000 });
    socket.close();
  });

  it('keeps serving when a handler throws on another namespace, in onAny, in socket.use or in a middleware', async () => {
    dir = await tempDir();
    const pki = await TestPki.create();
    await kubeletWrite(dir.path, (await pki.leaf()).secretFiles);
    server = await startHotcert({ certificate: { certDir: dir.path } });
    const admin = server.io.of('/admin');
    admin.on('connection', (socket) => {
      socket.on('boom', () => {
        throw new Error('namespace handler bug');
      });
    });
    server.io.on('connection', (socket) => {
      socket.onAny((event: string) => {
        if (event === 'any-boom') throw new Error('onAny bug');
      });
      socket.use(([event], next) => {
        if (event === 'use-boom') throw new Error('socket.use bug');
        next();
      });
    });
    server.io.use((socket, next) => {
      if (socket.handshake.auth['boom'] === 'sync') throw new Error('middleware bug');
      if (socket.handshake.auth['boom'] === 'async') return Promise.reject(new Error('async middleware bug'));
      next();
      return undefined;
    });
    const open = (path: string, auth: Record<string, string> = {}) =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect(`https://localhost:${server!.port}${path}`, { ca: pki.caPem, transports: ['websocket'], reconnection: false, forceNew: true, auth });
        socket.once('connect', () => resolve(socket)).once('connect_error', reject);
      });
    const [main, adminSocket] = [await open('/'), await open('/admin')];
    adminSocket.emit('boom');
    main.emit('any-boom');
    main.emit('use-boom');
    await expect(open('/', { boom: 'sync' })).rejects.toThrow('internal server error');
    await expect(open('/', { boom: 'async' })).rejects.toThrow('internal server error');
    await eventually(async () => {
      expect(await metricValue(server!, 'hotcert_socketio_handler_errors_total', { event: 'boom' })).toBe(1);
      expect(await metricValue(server!, 'hotcert_socketio_handler_errors_total', { event: 'onAny:any-boom' })).toBe(1);
      expect(await metricValue(server!, 'hotcert_socketio_handler_errors_total', { event: 'socket.use' })).toBe(1);
      expect(await metricValue(server!, 'hotcert_socketio_handler_errors_total', { event: 'middleware' })).toBe(2);
    });
    expect(await main.emitWithAck('echo', 'still here')).toBe('still here');
    main.close();
    adminSocket.close();
  });

  it('counts every error of a handler a client keeps triggering, but logs only a few a minute per socket', async () => {
    dir = await tempDir();
    const pki = await TestPki.create();
    await kubeletWrite(dir.path, (await pki.leaf()).secretFiles);
    const log = memoryLogger();
    server = await startHotcert({ certificate: { certDir: dir.path }, logger: log.logger });
    server.io.on('connection', (socket) => {
      socket.on('boom', () => {
        throw new Error('handler bug');
      });
    });
    const socket = connect(`https://localhost:${server.port}`, { ca: pki.caPem, transports: ['websocket'], reconnection: false });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
    for (let i = 0; i < 50; i++) socket.emit('boom');
    await eventually(async () => expect(await metricValue(server!, 'hotcert_socketio_handler_errors_total', { event: 'boom' })).toBe(50));
    expect(log.lines().filter((l) => l['event'] === 'socketio_handler_error')).toHaveLength(5);
    expect(log.lines().filter((l) => l['event'] === 'socketio_handler_error_suppressed')).toHaveLength(1);
    socket.close();
  });
});
