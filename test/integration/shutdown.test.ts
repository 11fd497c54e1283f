/**
 * Shutdown under load, as Kubernetes does it: SIGTERM to the process with 1,000 WSS sockets
 * connected (every one told cleanly, exit 0 within --shutdown-timeout), and SIGTERM in the middle
 * of a reload.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import { TestPki } from '../support/certs.js';
import { startCli, type RunningCli } from '../support/cli.js';
import { tempDir } from '../support/hotcert.js';

const LOCAL = ['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'];

describe('shutdown', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let cli: RunningCli | undefined;
  afterEach(async () => {
    cli?.child.kill('SIGKILL');
    await dir?.remove();
  });

  it('tells 1,000 connected sockets and exits 0 within the shutdown timeout on SIGTERM', async () => {
    dir = await tempDir();
    const pki = await TestPki.create();
    const leaf = await pki.leaf();
    await writeFile(join(dir.path, 'tls.crt'), leaf.chainPem);
    await writeFile(join(dir.path, 'tls.key'), leaf.keyPem);
    cli = startCli(['--cert-dir', dir.path, ...LOCAL, '--shutdown-timeout', '10s']);
    const port = (await cli.waitForLine((line) => line['event'] === 'listening'))['port'] as number;
    const sockets: Socket[] = [];
    const reasons: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const socket = connect(`https://localhost:${port}`, { ca: pki.caPem, transports: ['websocket'], reconnection: false, forceNew: true });
          sockets.push(socket);
          socket.once('disconnect', (reason) => reasons.push(reason));
          await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
        }),
      );
    }
    expect(sockets.filter((s) => s.connected)).toHaveLength(1_000);
    const started = Date.now();
    cli.child.kill('SIGTERM');
    const finished = await cli.exited;
    const elapsed = Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(finished.code).toBe(0);
    expect(elapsed).toBeLessThan(10_000);
    expect(reasons).toHaveLength(1_000);
    expect(new Set(reasons)).toEqual(new Set(['transport close']));
    for (const socket of sockets) socket.close();
  }, 120_000);

  it('exits 0 on SIGTERM in the middle of a reload', async () => {
    dir = await tempDir();
    const pki = await TestPki.create();
    const first = await pki.leaf();
    await writeFile(join(dir.path, 'tls.crt'), first.chainPem);
    await writeFile(join(dir.path, 'tls.key'), first.keyPem);
    cli = startCli(['--cert-dir', dir.path, ...LOCAL, '--shutdown-timeout', '5s']);
    await cli.waitForLine((line) => line['event'] === 'listening');
    // Half a rotation: the certificate is new, the key not yet, so the reloader is settling.
    const next = await pki.leaf();
    await writeFile(join(dir.path, 'tls.crt'), next.chainPem);
    await new Promise((resolve) => setTimeout(resolve, 150));
    cli.child.kill('SIGTERM');
    const finished = await cli.exited;
    expect(finished.code).toBe(0);
    expect(finished.stderr).toBe('');
    expect(cli.lines().map((l) => l['event'])).toEqual(expect.arrayContaining(['shutdown', 'stopped']));
  });

  async function serving(extra: readonly string[] = []): Promise<{ port: number; ca: string }> {
    dir = await tempDir();
    const pki = await TestPki.create();
    const leaf = await pki.leaf();
    await writeFile(join(dir.path, 'tls.crt'), leaf.chainPem);
    await writeFile(join(dir.path, 'tls.key'), leaf.keyPem);
    cli = startCli(['--cert-dir', dir.path, ...LOCAL, ...extra]);
    const port = Number((await cli.waitForLine((line) => line['event'] === 'listening'))['port']);
    return { port, ca: pki.caPem };
  }

  it('ignores SIGUSR1: no inspector opens, and it keeps serving', async () => {
    const { port, ca } = await serving();
    cli!.child.kill('SIGUSR1');
    await cli!.waitForLine((line) => line['event'] === 'sigusr1');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const inspectorPort = (9229).toString(16).toUpperCase().padStart(4, '0');
    const listening = readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((line) => line.includes(`:${inspectorPort} `) && / 0A /.test(line));
    expect(listening).toEqual([]);
    const socket = connect(`https://localhost:${port}`, { ca, transports: ['websocket'], reconnection: false });
    await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
    expect(await socket.emitWithAck('echo', 'alive')).toBe('alive');
    socket.close();
    expect(cli!.child.exitCode).toBeNull();
  });

  it('shuts down cleanly on SIGUSR2', async () => {
    await serving();
    cli!.child.kill('SIGUSR2');
    const finished = await cli!.exited;
    expect(finished.code).toBe(0);
    expect(cli!.lines().map((l) => l['event'])).toEqual(expect.arrayContaining(['shutdown', 'stopped']));
  });

  it('on a second SIGTERM during the drain delay closes the sockets at once and exits 0, ignoring SIGHUP', async () => {
    const { port, ca } = await serving(['--drain-delay', '8s', '--shutdown-timeout', '20s']);
    const socket = connect(`https://localhost:${port}`, { ca, transports: ['websocket'], reconnection: false });
    const told = new Promise<string>((resolve) => socket.once('disconnect', resolve));
    await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
    const started = performance.now();
    cli!.child.kill('SIGTERM');
    await cli!.waitForLine((line) => line['event'] === 'shutdown');
    cli!.child.kill('SIGHUP');
    cli!.child.kill('SIGTERM');
    const finished = await cli!.exited;
    expect(finished.code).toBe(0);
    expect(performance.now() - started).toBeLessThan(4_000);
    expect(await told).toBe('transport close');
    expect(cli!.lines().filter((l) => l['event'] === 'shutdown')).toHaveLength(2);
    expect(cli!.lines().some((l) => l['event'] === 'sighup' && /ignored/.test(String(l['msg'])))).toBe(true);
  });
});
