/**
 * Several certificates by host name (SNI), and mTLS with a client CA bundle that reloads with
 * them: each name gets its own certificate and reloads on its own; clients without SNI get the
 * default; the client CA rotates through a two-CA bundle without refusing anyone it should trust
 * and without dropping a connected socket.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect as tlsConnect } from 'node:tls';
import { writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { io as connect, type Socket } from 'socket.io-client';
import { clientCertificateOf } from '../../src/client-certificate.js';
import type { HotcertServer } from '../../src/server.js';
import { TestPki, type Leaf } from '../support/certs.js';
import { eventually, sleep } from '../support/eventually.js';
import { memoryLogger, metricValue, startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';

/** The serial a fresh handshake with `servername` (or no SNI at all) gets. */
function servedSerial(port: number, ca: string, servername: string | undefined, client?: { cert: string; key: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, ...(servername ? { servername } : {}), checkServerIdentity: () => undefined, ...client }, () => {
      resolve(socket.getPeerCertificate().serialNumber.toUpperCase());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('SNI: several certificates by host name', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: HotcertServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await dir.remove();
  });

  it('serves each name its own certificate, the default to the rest, and reloads each on its own', async () => {
    dir = await tempDir();
    const pki = await TestPki.create();
    const [main, api, wild] = [await pki.leaf(), await pki.leaf({ dnsNames: ['api.test'] }), await pki.leaf({ dnsNames: ['*.wild.test'] })];
    await kubeletWrite(join(dir.path, 'main'), main.secretFiles);
    await kubeletWrite(join(dir.path, 'api'), api.secretFiles);
    await kubeletWrite(join(dir.path, 'wild'), wild.secretFiles);
    server = await startHotcert({
      certificate: { certDir: join(dir.path, 'main') },
      sni: { 'api.test': { certDir: join(dir.path, 'api') }, '*.wild.test': { certDir: join(dir.path, 'wild') } },
    });
    const ca = pki.caPem;
    expect(await servedSerial(server.port, ca, 'api.test')).toBe(api.serialNumber);
    expect(await servedSerial(server.port, ca, 'API.test')).toBe(api.serialNumber);
    expect(await servedSerial(server.port, ca, 'x.wild.test')).toBe(wild.serialNumber);
    expect(await servedSerial(server.port, ca, 'a.b.wild.test')).toBe(main.serialNumber);
    expect(await servedSerial(server.port, ca, 'other.test')).toBe(main.serialNumber);
    expect(await servedSerial(server.port, ca, undefined)).toBe(main.serialNumber);

    const nextApi = await pki.leaf({ dnsNames: ['api.test'] });
    await kubeletWrite(join(dir.path, 'api'), nextApi.secretFiles);
    await eventually(async () => expect(await servedSerial(server!.port, ca, 'api.test')).toBe(nextApi.serialNumber), { timeoutMs: 2_000 });
    expect(await servedSerial(server.port, ca, undefined)).toBe(main.serialNumber);
    expect(await metricValue(server, 'hotcert_reloads_total', { certificate: 'api.test', result: 'applied' })).toBe(1);
    expect(await metricValue(server, 'hotcert_reloads_total', { certificate: 'default', result: 'applied' })).toBeUndefined();
    expect(await metricValue(server, 'hotcert_certificate_info', { certificate: 'api.test', serial_number: nextApi.serialNumber })).toBe(1);
    expect(await metricValue(server, 'hotcert_certificate_info', { certificate: '*.wild.test', serial_number: wild.serialNumber })).toBe(1);
  });
  it('announces a swap only to the sockets whose connection uses that certificate', async () => {
    dir = await tempDir();
    const pki = await TestPki.create();
    const [main, api] = [await pki.leaf(), await pki.leaf({ dnsNames: ['api.test'] })];
    await kubeletWrite(join(dir.path, 'main'), main.secretFiles);
    await kubeletWrite(join(dir.path, 'api'), api.secretFiles);
    server = await startHotcert({ certificate: { certDir: join(dir.path, 'main') }, sni: { 'api.test': { certDir: join(dir.path, 'api') } } });
    const heard = { main: [] as string[], api: [] as string[] };
    const open = (servername: string, into: string[]) =>
      new Promise<Socket>((resolve, reject) => {
        // socket.io-client passes no `servername` of its own to the TLS layer: an agent sets SNI.
        const agent = new HttpsAgent({ servername, ca: pki.caPem, checkServerIdentity: () => undefined });
        const socket = connect(`https://127.0.0.1:${server!.port}`, { transports: ['websocket'], agent, reconnection: false } as never);
        socket.on('hotcert:certificate', (payload: { serialNumber: string }) => into.push(payload.serialNumber));
        socket.once('connect', () => resolve(socket));
        socket.once('connect_error', reject);
      });
    const sockets = [await open('localhost', heard.main), await open('api.test', heard.api)];
    try {
      await eventually(() => expect(heard).toEqual({ main: [main.serialNumber], api: [api.serialNumber] }));
      const nextApi = await pki.leaf({ dnsNames: ['api.test'] });
      await kubeletWrite(join(dir.path, 'api'), nextApi.secretFiles);
      await eventually(() => expect(heard.api).toEqual([api.serialNumber, nextApi.serialNumber]), { timeoutMs: 3_000 });
      const nextMain = await pki.leaf();
      await kubeletWrite(join(dir.path, 'main'), nextMain.secretFiles);
      await eventually(() => expect(heard.main).toEqual([main.serialNumber, nextMain.serialNumber]), { timeoutMs: 3_000 });
      expect(heard.api).toEqual([api.serialNumber, nextApi.serialNumber]);
    } finally {
      for (const socket of sockets) socket.close();
    }
  });
});

describe('mTLS with a reloading client CA bundle', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: HotcertServer | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets) socket.close();
    await server?.close();
    server = undefined;
    await dir.remove();
  });

  function client(port: number, ca: string, identity?: Leaf): Promise<Socket> {
    const socket = connect(`https://localhost:${port}`, {
      ca,
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      ...(identity ? { cert: identity.chainPem, key: identity.keyPem } : {}),
    });
    sockets.push(socket);
    return new Promise((resolve, reject) => socket.once('connect', () => resolve(socket)).once('connect_error', reject));
  }

  it('accepts clients of the CAs in the bundle, refuses the rest, shows the subject, and rotates the CA dropping only the clients of the CA removed', async () => {
    dir = await tempDir();
    const serverPki = await TestPki.create();
    const [oldCa, newCa] = [await TestPki.create(), await TestPki.create()];
    const alice = await oldCa.leaf({ commonName: 'alice' });
    const bob = await newCa.leaf({ commonName: 'bob' });
    await kubeletWrite(join(dir.path, 'tls'), (await serverPki.leaf()).secretFiles);
    const bundle = join(dir.path, 'clients.pem');
    await writeFile(bundle, oldCa.caPem);
    const log = memoryLogger();
    server = await startHotcert({ certificate: { certDir: join(dir.path, 'tls') }, clientCa: bundle, requireClientCert: true, logger: log.logger, trustChangeWindowMs: 300 });
    server.io.on('connection', (socket) => socket.on('whoami', (ack: (subject: string | undefined) => void) => ack(clientCertificateOf(socket)?.subject)));
    const ca = serverPki.caPem;

    const aliceSocket = await client(server.port, ca, alice);
    expect(await aliceSocket.emitWithAck('whoami')).toBe('CN=alice');
    await expect(client(server.port, ca)).rejects.toThrow();
    await expect(client(server.port, ca, bob)).rejects.toThrow();
    await eventually(async () => expect(await metricValue(server!, 'hotcert_tls_handshake_errors_total')).toBeGreaterThanOrEqual(1));
    expect(await metricValue(server, 'hotcert_certificate_not_after_timestamp_seconds', { role: 'client_ca', subject_cn: 'hotcert test root CA' })).toBeGreaterThan(0);

    // Rotation, step 1: both CAs trusted; the connected socket of the old CA stays.
    await writeFile(bundle, oldCa.caPem + newCa.caPem);
    const bobSocket = await eventually(() => client(server!.port, ca, bob), { timeoutMs: 3_000, intervalMs: 100 });
    await client(server.port, ca, alice);
    await sleep(500);
    expect(aliceSocket.connected).toBe(true);
    expect(await aliceSocket.emitWithAck('whoami')).toBe('CN=alice');
    // Step 2: only the new CA. New handshakes from the old CA are refused, its connected sockets
    // are closed (within the window), the new CA's stay.
    await writeFile(bundle, newCa.caPem);
    await eventually(async () => expect(await client(server!.port, ca, alice).then(() => 'accepted', () => 'refused')).toBe('refused'), { timeoutMs: 3_000, intervalMs: 100 });
    await eventually(() => expect(aliceSocket.connected).toBe(false), { timeoutMs: 3_000 });
    expect(bobSocket.connected).toBe(true);
    expect(await bobSocket.emitWithAck('whoami')).toBe('CN=bob');
    await client(server.port, ca, bob);

    // A bundle that is not a CA is refused; the last good bundle keeps working.
    await writeFile(bundle, bob.issued.certPem);
    await eventually(async () => expect(await metricValue(server!, 'hotcert_reload_rejections_total', { reason: 'chain_invalid' })).toBe(1), { timeoutMs: 3_000 });
    expect(String(log.lines().findLast((l) => l['event'] === 'certificate_rejected')?.['msg'])).toMatch(/clients\.pem: certificate #1 CN=bob .* is not a CA certificate/);
    await client(server.port, ca, bob);
  });
});
