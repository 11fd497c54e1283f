/**
 * The server as a whole: session resumption across a swap, the metrics port and its endpoints,
 * `promtool check metrics`, series of replaced certificates, handshake errors, the status
 * routes, log lines, and `close()` freeing both ports.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { connect } from 'node:net';
import { get as httpGet } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { io as ioClient } from 'socket.io-client';
import type { HotcertServer } from '../../src/server.js';
import { TestPki, type Leaf } from '../support/certs.js';
import { eventually } from '../support/eventually.js';
import { memoryLogger, metricValue, startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';
import { probe, waitForSerial } from '../support/tls-probe.js';

const run = promisify(execFile);

function httpText(port: number, path: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    }).on('error', reject);
  });
}

function httpsText(port: number, path: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpsRequest({ host: '127.0.0.1', servername: 'localhost', port, path, ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probeServer = createServer();
    probeServer.once('error', () => resolve(false));
    probeServer.listen(port, '127.0.0.1', () => probeServer.close(() => resolve(true)));
  });
}

describe('hotcert server', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  let first: Leaf;
  let server: HotcertServer | undefined;
  let log: ReturnType<typeof memoryLogger>;

  beforeEach(async () => {
    dir = await tempDir();
    pki = await TestPki.create();
    first = await pki.leaf({ dnsNames: ['localhost', 'hotcert.example'] });
    await kubeletWrite(dir.path, first.secretFiles);
    log = memoryLogger();
    server = await startHotcert({ certificate: { certDir: dir.path }, logger: log.logger });
  });
  afterEach(async () => {
    await server?.close();
    await dir.remove();
  });

  async function rotate(): Promise<Leaf> {
    const next = await pki.leaf();
    await kubeletWrite(dir.path, next.secretFiles);
    await waitForSerial({ port: server!.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 1_000 });
    return next;
  }

  it('resumes a TLS session with a ticket issued before the swap', async () => {
    const { port } = server!;
    const initial = await probe({ port, ca: pki.caPem });
    expect(initial.session).toBeDefined();
    const resumedBefore = await probe({ port, ca: pki.caPem, session: initial.session as Buffer });
    expect(resumedBefore.sessionReused).toBe(true);
    await rotate();
    const afterSwap = await probe({ port, ca: pki.caPem, session: initial.session as Buffer });
    expect(afterSwap.sessionReused).toBe(true);
  });

  it('serves /metrics that promtool accepts, with the live certificate and no series of the replaced one', async () => {
    const next = await rotate();
    const { body, status, type } = await httpText(server!.metricsPort as number, '/metrics');
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(body).toContain(`hotcert_certificate_info{certificate="default",serial_number="${next.serialNumber}"`);
    expect(body).not.toContain(first.serialNumber);
    expect(body).toMatch(new RegExp(`hotcert_certificate_not_after_timestamp_seconds\\{certificate="default",role="leaf",serial_number="${next.serialNumber}",subject_cn="localhost"\\} \\d+`));
    expect(body).toMatch(/hotcert_certificate_not_after_timestamp_seconds\{certificate="default",role="intermediate",serial_number="[0-9A-F]+",subject_cn="hotcert test intermediate CA"\}/);
    expect(body).toMatch(/hotcert_reloads_total\{certificate="default",result="applied",trigger="watch"\} 1/);
    expect(body).toMatch(/hotcert_reload_duration_seconds_count\{certificate="default"\} 1/);
    expect(body).toMatch(/hotcert_last_reload_successful\{certificate="default"\} 1/);
    expect(body).toMatch(/process_cpu_user_seconds_total/);

    const hotcertOnly = body
      .split('\n')
      .filter((line) => /^(# (HELP|TYPE) )?hotcert_/.test(line))
      .join('\n');
    const families = new Set(hotcertOnly.match(/^# TYPE (hotcert_\w+)/gm));
    expect(families.size).toBeGreaterThanOrEqual(13);
    // The whole page, process metrics included, not only hotcert's own families.
    const promtool = run('promtool', ['check', 'metrics']);
    promtool.child.stdin?.end(body);
    const { stdout, stderr } = await promtool;
    expect(`${stdout}${stderr}`.trim()).toBe('');
  });

  it('counts the connections negotiated with a certificate no longer served', async () => {
    const { port } = server!;
    const socket = await new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
      const tls = import('node:tls');
      void tls.then(({ connect: tlsConnect }) => {
        const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.caPem, servername: 'localhost' }, () => resolve(s));
        s.once('error', reject);
      });
    });
    expect(await metricValue(server!, 'hotcert_connections_on_previous_certificate', { certificate: 'default' })).toBe(0);
    await rotate();
    expect(await metricValue(server!, 'hotcert_connections_on_previous_certificate', { certificate: 'default' })).toBe(1);
    socket.destroy();
    await eventually(async () => expect(await metricValue(server!, 'hotcert_connections_on_previous_certificate', { certificate: 'default' })).toBe(0));
  });

  it('answers plain HTTP on the TLS port with a 400 that says to use https://, and counts it once', async () => {
    const before = (await metricValue(server!, 'hotcert_tls_handshake_errors_total', { reason: 'http_request' })) ?? 0;
    const response = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connect(server!.port, '127.0.0.1', () => socket.write('GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: ws.example.com:8443\r\n\r\n'));
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(response).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(response).toContain('This port speaks HTTPS (TLS) only');
    expect(response).toContain('Use https:// (wss:// for WebSocket) with the same host and port.');
    const [head = '', body = ''] = response.split('\r\n\r\n');
    expect(head).toContain(`Content-Length: ${Buffer.byteLength(body)}`);
    await eventually(async () => expect(await metricValue(server!, 'hotcert_tls_handshake_errors_total', { reason: 'http_request' })).toBe(before + 1));
    // TLS on the same port is unaffected.
    expect((await probe({ port: server!.port, ca: pki.caPem })).serialNumber).toBe(first.serialNumber);
  });

  it('lets a socket.io-client that dials http:// or ws:// see the 400 in its connect_error', async () => {
    for (const transports of [['websocket'], ['polling']]) {
      const client = ioClient(`http://127.0.0.1:${server!.port}`, { transports, reconnection: false, timeout: 5_000 });
      const error = await new Promise<Error & { description?: unknown }>((resolve) => client.once('connect_error', resolve));
      client.close();
      const description = String((error.description as { message?: string } | undefined)?.message ?? error.description);
      expect({ transports, description }).toMatchObject({ transports, description: expect.stringMatching(/400/) });
    }
  });

  it('answers /healthz and /readyz on the metrics port and /healthz and / on the TLS port', async () => {
    const metricsPort = server!.metricsPort as number;
    expect(await httpText(metricsPort, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await httpText(metricsPort, '/readyz')).toMatchObject({ status: 200, body: 'ready\n' });
    // The metrics port serves metrics and health only: no status page, no Socket.IO.
    for (const path of ['/nope', '/', '/socket.io/?EIO=4&transport=polling', '/hotcert/status.js']) expect((await httpText(metricsPort, path)).status).toBe(404);
    expect(await httpsText(server!.port, '/healthz', pki.caPem)).toMatchObject({ status: 200, body: 'ok\n' });
    const status = await httpsText(server!.port, '/', pki.caPem);
    expect(status.status).toBe(200);
    expect(status.body).toContain(first.serialNumber);
    expect(status.body).toContain('hotcert.example');
    const clientScript = await httpsText(server!.port, '/socket.io/socket.io.min.js', pki.caPem);
    expect(clientScript.status).toBe(200);
    expect(clientScript.body).toContain('Socket.IO');
  });

  it('logs one line per swap with serial, fingerprint, not-after, trigger and duration', async () => {
    const next = await rotate();
    const lines = log.lines().filter((line) => line['event'] === 'certificate_reloaded');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      certificate: 'default',
      trigger: 'watch',
      serialNumber: next.serialNumber,
      previousSerialNumber: first.serialNumber,
      fingerprint256: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
      notAfter: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      durationMs: expect.any(Number),
    });
    expect(log.text()).not.toMatch(/PRIVATE KEY/);
  });

  it('close() frees both ports, is idempotent and makes /readyz fail while closing', async () => {
    const { port, metricsPort } = server!;
    const closing = server!.close();
    expect(server!.close()).toBe(closing);
    expect(server!.readiness()).toMatchObject({ ready: false, reasons: expect.arrayContaining(['shutting down']) });
    await closing;
    expect(await portIsFree(port)).toBe(true);
    expect(await portIsFree(metricsPort as number)).toBe(true);
    server = undefined;
  });
});

describe('hotcert server start-up', () => {
  it('refuses to start without a valid certificate, naming the file (HOTCERT_ERR_NO_CERTIFICATE)', async () => {
    const dir = await tempDir();
    try {
      const pki = await TestPki.create();
      const leaf = await pki.leaf();
      const other = await pki.leaf();
      await kubeletWrite(dir.path, { ...leaf.secretFiles, 'tls.key': other.keyPem });
      await expect(startHotcert({ certificate: { certDir: dir.path } })).rejects.toMatchObject({
        code: 'HOTCERT_ERR_NO_CERTIFICATE',
        message: expect.stringMatching(/tls\.key: the private key does not match/),
        details: { reason: 'key_mismatch' },
      });
    } finally {
      await dir.remove();
    }
  });

  it('fails with HOTCERT_ERR_LISTEN naming the port when it is taken, and leaves nothing listening', async () => {
    const dir = await tempDir();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const pki = await TestPki.create();
      await kubeletWrite(dir.path, (await pki.leaf()).secretFiles);
      await expect(startHotcert({ certificate: { certDir: dir.path }, port: taken })).rejects.toMatchObject({
        code: 'HOTCERT_ERR_LISTEN',
        message: expect.stringMatching(new RegExp(`127\\.0\\.0\\.1:${taken} \\(TLS port, --port\\): the address is already in use`)),
      });
    } finally {
      blocker.close();
      await dir.remove();
    }
  });
});
