/**
 * `hotcert dev` end to end, as a newcomer runs it: a CA kept across runs, a leaf rotated the
 * kubelet's way, and a Node socket.io-client trusting the printed CA staying connected.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmod, lstat, mkdir, readFile, readlink, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { hasNameConstraints, issueCertificate, loadIssuer } from '../../src/x509-issuer.js';
import { join } from 'node:path';
import { io as connect } from 'socket.io-client';
import { eventually } from '../support/eventually.js';
import { runCli } from '../support/cli.js';
import { startDev } from '../support/dev-cli.js';
import { tempDir } from '../support/hotcert.js';
import { probe } from '../support/tls-probe.js';

describe('hotcert dev', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeEach(async () => {
    dir = await tempDir('hotcert-dev-');
  });
  afterEach(async () => {
    await dir.remove();
  });

  it('keeps a Node client trusting the printed CA connected across three rotations', async () => {
    const run = await startDev(dir.path, '1s');
    try {
      const ca = await readFile(run.caPath, 'utf8');
      const socket = connect(run.url, { ca, transports: ['websocket'], reconnection: false });
      const announced: string[] = [];
      const disconnects: string[] = [];
      socket.on('hotcert:certificate', (payload: { serialNumber: string }) => announced.push(payload.serialNumber));
      socket.on('disconnect', (reason) => disconnects.push(reason));
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
      const socketId = socket.id;

      await eventually(() => expect(announced.length).toBeGreaterThanOrEqual(4), { timeoutMs: 10_000 });
      expect(new Set(announced).size).toBe(announced.length);
      expect(announced).toEqual(run.servedSerials().slice(-announced.length));
      expect(socket.id).toBe(socketId);
      expect(disconnects).toEqual([]);
      expect(await socket.emitWithAck('echo', 'still here')).toBe('still here');
      expect((await probe({ port: run.port, ca })).serialNumber).toBe(announced.at(-1));
      socket.close();
    } finally {
      await run.stop();
    }
  });

  it('lays the mount out like a kubelet Secret volume and keeps the CA between runs', async () => {
    const first = await startDev(dir.path, '0');
    const mount = join(dir.path, 'mount');
    const caPem = await readFile(join(dir.path, 'ca.crt'), 'utf8');
    await first.stop();
    expect((await stat(join(dir.path, 'ca.key'))).mode & 0o777).toBe(0o600);
    expect((await lstat(join(mount, '..data'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(mount, 'tls.crt'))).toBe(join('..data', 'tls.crt'));
    const firstLeaf = new X509Certificate(await readFile(join(mount, 'tls.crt')));

    const second = await startDev(dir.path, '0');
    try {
      expect(await readFile(join(dir.path, 'ca.crt'), 'utf8')).toBe(caPem);
      const leaf = new X509Certificate(await readFile(join(mount, 'tls.crt')));
      expect(leaf.serialNumber).not.toBe(firstLeaf.serialNumber);
      expect(leaf.checkIssued(new X509Certificate(caPem))).toBe(true);
      expect(leaf.subjectAltName).toMatch(/^DNS:localhost, IP Address:127\.0\.0\.1, IP Address:/);
      expect(leaf.checkIP('::1')).toBe('::1');
    } finally {
      await second.stop();
    }
  });

  it('refuses a mount whose ..data points out of it, and deletes nothing there (a committed link in a checkout)', async () => {
    const victim = join(dir.path, 'victim');
    await mkdir(join(victim, 'precious'), { recursive: true });
    await writeFile(join(victim, 'precious', 'notes.txt'), 'keep me');
    const mount = join(dir.path, 'mount');
    await mkdir(mount, { recursive: true });
    await symlink(join('..', 'victim'), join(mount, '..data'));
    const { code, stderr } = await runCli(['dev', '--dir', dir.path, '--port', '0', '--metrics-port', '0', '--rotate-every', '0']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/mount\/\.\.data points to "\.\.\/victim", which is not one of the mount's own \.\.-directories; refusing to write there/);
    expect(await readFile(join(victim, 'precious', 'notes.txt'), 'utf8')).toBe('keep me');
  });

  it('refuses a CA key that is a link, and narrows a CA key readable by others to 0600', async () => {
    const first = await startDev(dir.path, '0');
    await first.stop();
    const key = join(dir.path, 'ca.key');
    await chmod(key, 0o644);
    const second = await startDev(dir.path, '0');
    await second.stop();
    expect(second.cli.stdout()).toMatch(/ca\.key was readable by others \(mode 0644\): set it to 0600/);
    expect((await stat(key)).mode & 0o777).toBe(0o600);

    await rename(key, join(dir.path, 'elsewhere.key'));
    await symlink(join(dir.path, 'elsewhere.key'), key);
    const { code, stderr } = await runCli(['dev', '--dir', dir.path, '--port', '0', '--metrics-port', '0', '--rotate-every', '0']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/ca\.key: the development CA key is a symbolic link/);
  });

  it('restricts its CA to localhost: a certificate it signs for another name is refused by a TLS client', async () => {
    const run = await startDev(dir.path, '0');
    await run.stop();
    const [caPem, caKeyPem] = [await readFile(join(dir.path, 'ca.crt'), 'utf8'), await readFile(join(dir.path, 'ca.key'), 'utf8')];
    expect(hasNameConstraints(caPem)).toBe(true);
    const issuer = await loadIssuer(caPem, caKeyPem);
    const now = Date.now();
    const handshake = async (name: string) => {
      const leaf = await issueCertificate({ commonName: name, dnsNames: [name], notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000), issuer });
      await writeFile(join(dir.path, `${name}.pem`), leaf.certPem);
      const server = createTlsServer({ cert: leaf.certPem, key: leaf.keyPem }, (socket) => socket.end());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        return await new Promise<string>((resolve) => {
          const socket = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: caPem, servername: name }, () => {
            socket.destroy();
            resolve('trusted');
          });
          socket.once('error', (error: Error & { code?: string }) => resolve(error.code ?? error.message));
        });
      } finally {
        server.close();
      }
    };
    expect(await handshake('localhost')).toBe('trusted');
    expect(await handshake('bank.example')).not.toBe('trusted');
    // OpenSSL names the reason (Node reports it as UNSPECIFIED).
    const verify = spawnSync('openssl', ['verify', '-CAfile', join(dir.path, 'ca.crt'), join(dir.path, 'bank.example.pem')], { encoding: 'utf8' });
    expect(`${verify.stdout}${verify.stderr}`).toMatch(/permitted subtree violation/);
  });

  it('replaces an older development CA that may sign for any name, and says so', async () => {
    const now = Date.now();
    const unrestricted = await issueCertificate({ commonName: 'hotcert development CA', isCa: true, notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 3650 * 86_400_000) });
    await writeFile(join(dir.path, 'ca.crt'), unrestricted.certPem);
    await writeFile(join(dir.path, 'ca.key'), unrestricted.keyPem, { mode: 0o600 });
    const run = await startDev(dir.path, '0');
    await run.stop();
    expect(run.cli.stdout()).toMatch(/may sign for any name .*: creating a new one \(trust it again\)/);
    expect(hasNameConstraints(await readFile(join(dir.path, 'ca.crt'), 'utf8'))).toBe(true);
  });
});
