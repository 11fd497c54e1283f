/**
 * The `hotcert` binary from the outside: flags, exit codes (DESIGN §3), the listening line,
 * rotation, SIGHUP, and a graceful SIGTERM that tells connected sockets and exits 0.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { io as connect } from 'socket.io-client';
import { TestPki } from '../support/certs.js';
import { runCli, startCli } from '../support/cli.js';
import { eventually } from '../support/eventually.js';
import { tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';
import { probe, waitForSerial } from '../support/tls-probe.js';

const LOCAL = ['--host', '127.0.0.1', '--port', '0', '--metrics-host', '127.0.0.1', '--metrics-port', '0'];

function occupy(): Promise<{ port: number; close: () => void }> {
  const server = createServer();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as { port: number }).port, close: () => server.close() })));
}

/** A port that was free a moment ago (the CLI's --metrics-port 0 means "off", not "any"). */
async function freePort(): Promise<number> {
  const { port, close } = await occupy();
  close();
  return port;
}

async function metricsText(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return response.text();
}

describe('hotcert CLI', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;

  beforeEach(async () => {
    dir = await tempDir();
    pki = await TestPki.create();
  });
  afterEach(async () => {
    await dir.remove();
  });

  it('--version prints the package version', async () => {
    const manifest = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `${manifest.version}\n` });
  });

  it('--help lists every flag with its environment variable', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    for (const text of ['--cert-dir DIR', 'HOTCERT_CERT_DIR', '--poll-interval', '--[no-]watch', 'Exit codes']) expect(stdout).toContain(text);
  });

  it('exits 2 on invalid configuration, listing every problem', async () => {
    const { code, stderr } = await runCli(['serve', '--port', 'https', '--frobnicate'], { env: { HOTCERT_LOG_LEVEL: 'chatty' } });
    expect(code).toBe(2);
    expect(stderr).toContain('hotcert: invalid configuration:');
    expect(stderr).toContain('--frobnicate: unknown option');
    expect(stderr).toContain('--port: "https" is not a port number');
    expect(stderr).toContain('HOTCERT_LOG_LEVEL: "chatty" is not a log level');
    expect(stderr).toContain('no certificate configured');
  });

  it('exits 3 when there is no valid certificate at start-up, naming the file', async () => {
    const leaf = await pki.leaf();
    await kubeletWrite(dir.path, { ...leaf.secretFiles, 'tls.crt': '' });
    const { code, stderr, stdout } = await runCli(['--cert-dir', dir.path, ...LOCAL]);
    expect(code).toBe(3);
    expect(stderr).toContain(`${join(dir.path, 'tls.crt')}: the certificate file is empty`);
    expect(stdout).toMatch(/"level":60.*"exitCode":3/);
  });

  it('exits 3 when the directory does not exist', async () => {
    const { code, stderr } = await runCli(['--cert-dir', join(dir.path, 'missing'), ...LOCAL]);
    expect(code).toBe(3);
    expect(stderr).toMatch(/missing\/tls\.crt: cannot read: the file does not exist/);
  });

  it('exits 3 at start-up, without hanging, when tls.crt is a named pipe', async () => {
    const leaf = await pki.leaf();
    const fifo = join(dir.path, 'pipe.crt');
    execFileSync('mkfifo', [fifo]);
    await writeFile(join(dir.path, 'only.key'), leaf.keyPem);
    const { code, stderr } = await runCli(['--cert', fifo, '--key', join(dir.path, 'only.key'), ...LOCAL]);
    expect(code).toBe(3);
    expect(stderr).toMatch(/pipe\.crt: cannot read: it is a named pipe \(FIFO\), not a regular file/);
  });

  it.each([
    ['TLS', '--port', '--port'],
    ['metrics', '--metrics-port', '--metrics-port'],
  ])('exits 4 when the %s port is in use, naming it', async (label, flag, setting) => {
    await kubeletWrite(dir.path, (await pki.leaf()).secretFiles);
    const blocker = await occupy();
    try {
      const args = ['--cert-dir', dir.path, ...LOCAL.filter((_, i, all) => all[i] !== flag && all[i - 1] !== flag), flag, String(blocker.port)];
      const { code, stderr } = await runCli(args);
      expect(code).toBe(4);
      expect(stderr).toContain(`cannot listen on 127.0.0.1:${blocker.port} (${label} port, ${setting}): the address is already in use`);
    } finally {
      blocker.close();
    }
  });

  it('serves, rotates, reloads on SIGHUP, and on SIGTERM tells sockets and exits 0', async () => {
    const first = await pki.leaf();
    await kubeletWrite(dir.path, first.secretFiles);
    const cli = startCli(['serve', '--cert-dir', dir.path, ...LOCAL, '--metrics-port', String(await freePort()), '--shutdown-timeout', '5s']);
    try {
      const listening = await cli.waitForLine((line) => line['event'] === 'listening');
      const port = listening['port'] as number;
      const metricsPort = listening['metricsPort'] as number;
      expect(listening).toMatchObject({ serialNumber: first.serialNumber, host: '127.0.0.1' });

      const socket = connect(`https://localhost:${port}`, { ca: pki.caPem, transports: ['websocket'], reconnection: false });
      const serials: string[] = [];
      socket.on('hotcert:certificate', (payload: { serialNumber: string }) => serials.push(payload.serialNumber));
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
      expect(await socket.emitWithAck('echo', { hello: 'world' })).toEqual({ hello: 'world' });

      const second = await pki.leaf();
      await kubeletWrite(dir.path, second.secretFiles);
      await waitForSerial({ port, ca: pki.caPem, serial: second.serialNumber, withinMs: 1_000 });
      await eventually(() => expect(serials).toEqual([first.serialNumber, second.serialNumber]));

      cli.child.kill('SIGHUP');
      await eventually(async () => expect(await metricsText(metricsPort)).toMatch(/hotcert_reloads_total\{certificate="default",result="unchanged",trigger="manual"\} 1/));

      const disconnected = new Promise<string>((resolve) => socket.once('disconnect', resolve));
      const started = Date.now();
      cli.child.kill('SIGTERM');
      const finished = await cli.exited;
      expect(finished.code).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await disconnected).toBe('transport close');
      expect(cli.lines().map((line) => line['event'])).toEqual(expect.arrayContaining(['shutdown', 'stopped']));
      expect(cli.stdout()).not.toMatch(/PRIVATE KEY/);
      socket.close();
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('counts an unreadable key as a read_error and keeps serving (run as an unprivileged user)', async () => {
    const first = await pki.leaf();
    await kubeletWrite(dir.path, first.secretFiles);
    await chmod(dir.path, 0o755);
    // Root reads anything: run the server as "nobody" so the permission check is real.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const cli = startCli(['--cert-dir', dir.path, ...LOCAL, '--poll-interval', '200ms'], asUser);
    try {
      const listening = await cli.waitForLine((line) => line['event'] === 'listening');
      const port = listening['port'] as number;
      const next = await pki.leaf();
      await kubeletWrite(dir.path, next.secretFiles);
      await waitForSerial({ port, ca: pki.caPem, serial: next.serialNumber, withinMs: 2_000 });
      const third = await pki.leaf();
      // A Secret volume whose defaultMode leaves the key unreadable to the server's user.
      await kubeletWrite(dir.path, third.secretFiles, { 'tls.key': 0o000 });
      const rejected = await cli.waitForLine((line) => line['event'] === 'certificate_rejected', 10_000);
      expect(rejected).toMatchObject({ reason: 'read_error', file: join(dir.path, 'tls.key') });
      expect(String(rejected['msg'])).toMatch(/permission denied .*\(EACCES\)/);
      expect((await probe({ port, ca: pki.caPem })).serialNumber).not.toBe(third.serialNumber);
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });
});
