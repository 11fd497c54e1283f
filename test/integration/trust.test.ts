/**
 * mTLS trust that holds across time, over real TLS 1.3 and 1.2 with raw `tls.connect` and
 * socket.io-client: a session ticket from before a trust change never resumes (not on the default
 * pair, not on an SNI pair), a resumed session is checked again in JavaScript, routine serving
 * swaps keep resumption, revoked and untrusted live connections are closed and trusted ones are
 * not, an expired client certificate's connection is closed at expiry, and bad CRLs are refused
 * with the previous trust kept.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect as tlsConnect, type SecureVersion } from 'node:tls';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import type { HotcertServer, HotcertServerOptions } from '../../src/server.js';
import { TestPki, type Leaf } from '../support/certs.js';
import { eventually, sleep } from '../support/eventually.js';
import { memoryLogger, metricValue, startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';

interface Attempt {
  /** HTTP status of `GET /healthz`, when a response came. */
  readonly status: number | undefined;
  readonly reused: boolean;
  readonly session: Buffer | undefined;
  readonly error: string | undefined;
}

interface AttemptOptions {
  readonly ca: string;
  readonly identity?: Leaf | undefined;
  readonly session?: Buffer | undefined;
  readonly maxVersion: SecureVersion;
  readonly servername?: string;
}

/** One raw TLS connection that asks for `/healthz`, keeping the session it is handed. */
function attempt(port: number, { ca, identity, session, maxVersion, servername = 'localhost' }: AttemptOptions): Promise<Attempt> {
  return new Promise((resolve) => {
    let ticket: Buffer | undefined;
    let reused = false;
    let body = '';
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca,
      servername,
      maxVersion,
      checkServerIdentity: () => undefined,
      ...(identity ? { cert: identity.chainPem, key: identity.keyPem } : {}),
      ...(session ? { session } : {}),
    });
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), 5_000);
    const done = (error?: Error) => {
      clearTimeout(timer);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(body)?.[1];
      resolve({ status: status ? Number(status) : undefined, reused, session: ticket, error: error ? String((error as { code?: string }).code ?? error.message) : undefined });
    };
    socket.on('session', (data: Buffer) => {
      ticket = data;
    });
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (chunk: Buffer) => {
      body += chunk.toString('latin1');
    });
    socket.once('close', () => done());
    socket.once('error', (error) => {
      socket.removeAllListeners('close');
      done(error);
    });
  });
}

describe('mTLS trust epochs', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: HotcertServer | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    await server?.close();
    server = undefined;
    await dir?.remove();
  });

  async function start(options: Partial<HotcertServerOptions> & { bundle: string; names?: string[] }): Promise<{ serverPki: TestPki; log: ReturnType<typeof memoryLogger> }> {
    const serverPki = await TestPki.create();
    await kubeletWrite(join(dir.path, 'tls'), (await serverPki.leaf()).secretFiles);
    const sni: Record<string, { certDir: string }> = {};
    for (const name of options.names ?? []) {
      await kubeletWrite(join(dir.path, name), (await serverPki.leaf({ dnsNames: [name] })).secretFiles);
      sni[name] = { certDir: join(dir.path, name) };
    }
    const log = memoryLogger();
    const { bundle, names: _names, ...rest } = options;
    server = await startHotcert({ certificate: { certDir: join(dir.path, 'tls') }, sni, clientCa: bundle, requireClientCert: true, logger: log.logger, ...rest });
    return { serverPki, log };
  }

  function client(port: number, ca: string, identity: Leaf, disconnects: string[] = []): Promise<Socket> {
    const socket = connect(`https://localhost:${port}`, { ca, transports: ['websocket'], reconnection: false, forceNew: true, cert: identity.chainPem, key: identity.keyPem });
    sockets.push(socket);
    socket.on('disconnect', (reason) => disconnects.push(reason));
    return new Promise((resolve, reject) => socket.once('connect', () => resolve(socket)).once('connect_error', reject));
  }

  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${maxVersion}: after the client CA is replaced, neither the old ticket alone nor the old ticket with the old certificate gets a response, on the default pair and on an SNI pair`, async () => {
      dir = await tempDir();
      const [ca1, ca2] = [await TestPki.create(), await TestPki.create()];
      const alice = await ca1.leaf({ commonName: 'alice' });
      const bundle = join(dir.path, 'clients.pem');
      await writeFile(bundle, ca1.caPem);
      const { serverPki } = await start({ bundle, names: ['api.test'] });
      const port = server!.port;
      const ca = serverPki.caPem;

      // 1-2: a CA1 client connects and keeps its session.
      const sessions: Record<string, Buffer> = {};
      for (const servername of ['localhost', 'api.test']) {
        const first = await attempt(port, { ca, identity: alice, maxVersion, servername });
        expect(first).toMatchObject({ status: 200, reused: false });
        expect(first.session).toBeDefined();
        const again = await attempt(port, { ca, session: first.session, maxVersion, servername });
        expect(again).toMatchObject({ status: 200, reused: true });
        sessions[servername] = first.session as Buffer;
      }
      // 3: the bundle becomes CA2 only; a fresh CA1 handshake is refused.
      await writeFile(bundle, ca2.caPem);
      await eventually(async () => expect((await attempt(port, { ca, identity: alice, maxVersion })).status).toBeUndefined(), { timeoutMs: 5_000, intervalMs: 50 });
      await eventually(async () => expect((await attempt(port, { ca, identity: alice, maxVersion, servername: 'api.test' })).status).toBeUndefined(), { timeoutMs: 5_000, intervalMs: 50 });
      // 4: the old ticket, with no certificate or with the CA1 one, gets no response.
      for (const servername of ['localhost', 'api.test']) {
        const withoutCertificate = await attempt(port, { ca, session: sessions[servername], maxVersion, servername });
        expect(withoutCertificate).toMatchObject({ status: undefined, reused: false });
        const withOldCertificate = await attempt(port, { ca, identity: alice, session: sessions[servername], maxVersion, servername });
        expect(withOldCertificate).toMatchObject({ status: undefined, reused: false });
      }
      expect(await metricValue(server!, 'hotcert_tls_ticket_key_rotations_total', { reason: 'trust_changed' })).toBeGreaterThanOrEqual(1);
    });

    it(`${maxVersion}: a session from before a trust change that still decrypts (ticket keys restored by mistake) is refused by the JavaScript re-check`, async () => {
      dir = await tempDir();
      const [ca1, ca2] = [await TestPki.create(), await TestPki.create()];
      const alice = await ca1.leaf({ commonName: 'alice' });
      const bundle = join(dir.path, 'clients.pem');
      await writeFile(bundle, ca1.caPem + ca2.caPem);
      const { serverPki, log } = await start({ bundle });
      const port = server!.port;
      const ca = serverPki.caPem;
      const first = await attempt(port, { ca, identity: alice, maxVersion });
      expect(first.status).toBe(200);
      const oldKeys = server!.httpsServer.getTicketKeys();

      await writeFile(bundle, ca2.caPem);
      await eventually(async () => expect(await metricValue(server!, 'hotcert_tls_ticket_key_rotations_total', { reason: 'trust_changed' })).toBe(1), { timeoutMs: 5_000 });
      server!.httpsServer.setTicketKeys(oldKeys);
      const resumed = await attempt(port, { ca, session: first.session, maxVersion });
      expect(resumed.reused).toBe(true);
      expect(resumed.status).toBeUndefined();
      expect(await metricValue(server!, 'hotcert_tls_resumptions_total', { result: 'refused' })).toBe(1);
      const line = log.lines().find((l) => l['event'] === 'tls_resumption_refused');
      expect(line).toMatchObject({ reason: 'ca_removed', subject: 'CN=alice', serialNumber: alice.serialNumber });
    });

    it(`${maxVersion}: a routine swap of the serving certificate keeps the ticket keys: sessions resume, with mTLS on`, async () => {
      dir = await tempDir();
      const clients = await TestPki.create();
      const alice = await clients.leaf({ commonName: 'alice' });
      const bundle = join(dir.path, 'clients.pem');
      await writeFile(bundle, clients.caPem);
      const { serverPki } = await start({ bundle });
      const port = server!.port;
      const first = await attempt(port, { ca: serverPki.caPem, identity: alice, maxVersion });
      const next = await serverPki.leaf();
      await kubeletWrite(join(dir.path, 'tls'), next.secretFiles);
      await eventually(async () => expect(await metricValue(server!, 'hotcert_reloads_total', { certificate: 'default', result: 'applied' })).toBe(1), { timeoutMs: 5_000 });
      const resumed = await attempt(port, { ca: serverPki.caPem, session: first.session, maxVersion });
      expect(resumed).toMatchObject({ status: 200, reused: true });
      expect(await metricValue(server!, 'hotcert_tls_resumptions_total', { result: 'resumed' })).toBe(1);
      expect(await metricValue(server!, 'hotcert_tls_ticket_key_rotations_total', { reason: 'trust_changed' })).toBe(0);
    });
  }

  it('a revoking CRL, written with the bundle in one kubelet swap, closes the revoked client within the window and leaves the others connected', async () => {
    dir = await tempDir();
    const clients = await TestPki.create();
    const [alice, bob] = [await clients.leaf({ commonName: 'alice' }), await clients.leaf({ commonName: 'bob' })];
    const trustDir = join(dir.path, 'trust');
    await kubeletWrite(trustDir, { 'ca.pem': clients.bundlePem, 'crl.pem': await clients.crls() });
    const { serverPki, log } = await start({ bundle: join(trustDir, 'ca.pem'), clientCrl: join(trustDir, 'crl.pem'), trustChangeWindowMs: 1_000 });
    const port = server!.port;
    const ca = serverPki.caPem;
    const [aliceGone, bobGone] = [[] as string[], [] as string[]];
    await client(port, ca, alice, aliceGone);
    const bobSocket = await client(port, ca, bob, bobGone);
    const aliceSession = (await attempt(port, { ca, identity: alice, maxVersion: 'TLSv1.3' })).session;
    expect(await metricValue(server!, 'hotcert_client_crl_next_update_timestamp_seconds', { issuer: 'CN=hotcert test intermediate CA' })).toBeGreaterThan(Date.now() / 1000);

    const revokedAt = performance.now();
    await kubeletWrite(trustDir, { 'ca.pem': clients.bundlePem, 'crl.pem': await clients.crls({ revoked: [alice.serialNumber] }) });
    await eventually(() => expect(aliceGone).toEqual(['transport close']), { timeoutMs: 5_000 });
    expect(performance.now() - revokedAt).toBeLessThan(1_000 + 2_000);
    expect(bobGone).toEqual([]);
    expect(await bobSocket.timeout(2_000).emitWithAck('echo', 'still here')).toBe('still here');
    expect(await metricValue(server!, 'hotcert_connections_closed_untrusted_total', { reason: 'revoked' })).toBe(1);
    expect(log.lines().find((l) => l['event'] === 'connection_closed_untrusted')).toMatchObject({ reason: 'revoked', subject: 'CN=alice', serialNumber: alice.serialNumber });
    // Refused on a full handshake (OpenSSL checks the CRL) and on resumption (the keys changed).
    expect((await attempt(port, { ca, identity: alice, maxVersion: 'TLSv1.3' })).status).toBeUndefined();
    expect((await attempt(port, { ca, session: aliceSession, maxVersion: 'TLSv1.3' })).status).toBeUndefined();
    expect((await attempt(port, { ca, identity: bob, maxVersion: 'TLSv1.2' })).status).toBe(200);
  });

  it('removing a CA closes its clients within the default 30 s window, and the clients of the remaining CA stay', async () => {
    dir = await tempDir();
    const [ca1, ca2] = [await TestPki.create(), await TestPki.create()];
    const [alice, bob] = [await ca1.leaf({ commonName: 'alice' }), await ca2.leaf({ commonName: 'bob' })];
    const bundle = join(dir.path, 'clients.pem');
    await writeFile(bundle, ca1.caPem + ca2.caPem);
    const { serverPki } = await start({ bundle });
    const [aliceGone, bobGone] = [[] as string[], [] as string[]];
    await client(server!.port, serverPki.caPem, alice, aliceGone);
    const bobSocket = await client(server!.port, serverPki.caPem, bob, bobGone);
    const removedAt = performance.now();
    await writeFile(bundle, ca2.caPem);
    await eventually(() => expect(aliceGone).toEqual(['transport close']), { timeoutMs: 35_000, intervalMs: 100 });
    expect(performance.now() - removedAt).toBeLessThan(30_000 + 2_000);
    expect(bobGone).toEqual([]);
    expect(await bobSocket.timeout(2_000).emitWithAck('echo', 1)).toBe(1);
    expect(await metricValue(server!, 'hotcert_connections_closed_untrusted_total', { reason: 'ca_removed' })).toBe(1);
  }, 45_000);

  it("closes a connection when its client certificate expires, and not before; the client reconnects with a renewed one", async () => {
    dir = await tempDir();
    const clients = await TestPki.create();
    const expiresAt = Date.now() + 3_000;
    const shortLived = await clients.leaf({ commonName: 'alice', notAfter: new Date(expiresAt) });
    const bob = await clients.leaf({ commonName: 'bob' });
    const bundle = join(dir.path, 'clients.pem');
    await writeFile(bundle, clients.caPem);
    const { serverPki } = await start({ bundle, trustChangeWindowMs: 500 });
    const [aliceGone, bobGone] = [[] as string[], [] as string[]];
    await client(server!.port, serverPki.caPem, shortLived, aliceGone);
    await client(server!.port, serverPki.caPem, bob, bobGone);
    await eventually(() => expect(aliceGone).toEqual(['transport close']), { timeoutMs: 8_000, intervalMs: 50 });
    // X.509 times have whole seconds: the certificate is valid through the second of its notAfter.
    expect(Date.now()).toBeGreaterThanOrEqual(Math.floor(expiresAt / 1000) * 1000);
    expect(bobGone).toEqual([]);
    expect(await metricValue(server!, 'hotcert_connections_closed_untrusted_total', { reason: 'expired' })).toBe(1);
    const renewed = await clients.leaf({ commonName: 'alice' });
    expect((await client(server!.port, serverPki.caPem, renewed)).connected).toBe(true);
  });

  it('replaces the ticket keys when their lifetime ends: older sessions no longer resume', async () => {
    dir = await tempDir();
    const clients = await TestPki.create();
    const alice = await clients.leaf({ commonName: 'alice' });
    const bundle = join(dir.path, 'clients.pem');
    await writeFile(bundle, clients.caPem);
    const { serverPki } = await start({ bundle, ticketKeyLifetimeMs: 400 });
    const first = await attempt(server!.port, { ca: serverPki.caPem, identity: alice, maxVersion: 'TLSv1.3' });
    await eventually(async () => expect(await metricValue(server!, 'hotcert_tls_ticket_key_rotations_total', { reason: 'lifetime' })).toBeGreaterThanOrEqual(1), { timeoutMs: 3_000 });
    const later = await attempt(server!.port, { ca: serverPki.caPem, session: first.session, identity: alice, maxVersion: 'TLSv1.3' });
    expect(later).toMatchObject({ status: 200, reused: false });
  });

  it('refuses a CRL that is not signed by a CA of the bundle, or is not a CRL, and keeps the trust in force', async () => {
    dir = await tempDir();
    const [clients, stranger] = [await TestPki.create(), await TestPki.create()];
    const alice = await clients.leaf({ commonName: 'alice' });
    const trustDir = join(dir.path, 'trust');
    await mkdir(trustDir);
    const crlFile = join(trustDir, 'crl.pem');
    await writeFile(crlFile, await clients.crls());
    const { serverPki, log } = await start({ bundle: await writeBundle(trustDir, clients.bundlePem), clientCrl: crlFile, trustChangeWindowMs: 200 });
    const aliceGone: string[] = [];
    await client(server!.port, serverPki.caPem, alice, aliceGone);

    // A stranger's CRL revoking alice must not be believed.
    await writeFile(crlFile, (await clients.crl('root')) + (await stranger.crl('intermediate', { revoked: [alice.serialNumber] })));
    await eventually(async () => expect(await metricValue(server!, 'hotcert_reload_rejections_total', { reason: 'chain_invalid' })).toBe(1), { timeoutMs: 5_000 });
    expect(String(log.lines().findLast((l) => l['event'] === 'certificate_rejected')?.['msg'])).toMatch(/crl\.pem: CRL #2 is not signed by any CA in .*ca\.pem/);
    await writeFile(crlFile, '-----BEGIN X509 CRL-----\nMIIBAAAA\n-----END X509 CRL-----\n');
    await eventually(async () => expect(await metricValue(server!, 'hotcert_reload_rejections_total', { reason: 'parse_error' })).toBe(1), { timeoutMs: 5_000 });
    await sleep(400);
    expect(aliceGone).toEqual([]);
    expect((await attempt(server!.port, { ca: serverPki.caPem, identity: alice, maxVersion: 'TLSv1.3' })).status).toBe(200);
    expect(await metricValue(server!, 'hotcert_tls_ticket_key_rotations_total', { reason: 'trust_changed' })).toBe(0);
  });
});

async function writeBundle(directory: string, pem: string): Promise<string> {
  const path = join(directory, 'ca.pem');
  await writeFile(path, pem);
  return path;
}
