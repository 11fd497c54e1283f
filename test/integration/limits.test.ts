/**
 * Slow HTTP clients on the TLS port are cut by the HTTP timeouts, answered as Node answers them
 * (408), and counted; oversized headers get 431. Real TLS, a real hotcert server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect as tlsConnect } from 'node:tls';
import type { HotcertServer } from '../../src/server.js';
import { TestPki } from '../support/certs.js';
import { metricValue, startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';

/** Sends `request` over a fresh TLS connection and collects what comes back until the close. */
function exchange(port: number, ca: string, request: string): Promise<{ answer: string; heldMs: number }> {
  return new Promise((resolve, reject) => {
    let answer = '';
    let securedAt = 0;
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      securedAt = performance.now();
      socket.write(request);
    });
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.once('close', () => resolve({ answer, heldMs: performance.now() - securedAt }));
    socket.once('error', reject);
  });
}

describe('HTTP limits on the TLS port', () => {
  let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
  let server: HotcertServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await dir?.remove();
  });

  it('cuts a request whose headers do not arrive within the headers timeout with 408, and counts it', async () => {
    dir = await tempDir();
    const pki = await TestPki.create();
    await kubeletWrite(dir.path, (await pki.leaf()).secretFiles);
    server = await startHotcert({ certificate: { certDir: dir.path }, limits: { headersTimeoutMs: 1_000 } });
    const { answer, heldMs } = await exchange(server.port, pki.caPem, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(heldMs).toBeGreaterThanOrEqual(900);
    expect(heldMs).toBeLessThan(1_000 + 1_500);
    expect(await metricValue(server, 'hotcert_connections_refused_total', { reason: 'request_timeout' })).toBe(1);
  });

  it('answers oversized headers with 431 and garbage with 400, without counting them as timeouts', async () => {
    dir = await tempDir();
    const pki = await TestPki.create();
    await kubeletWrite(dir.path, (await pki.leaf()).secretFiles);
    server = await startHotcert({ certificate: { certDir: dir.path } });
    const big = await exchange(server.port, pki.caPem, `GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`);
    expect(big.answer).toMatch(/^HTTP\/1\.1 431 /);
    const garbage = await exchange(server.port, pki.caPem, 'NOT HTTP AT ALL\r\n\r\n');
    expect(garbage.answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(await metricValue(server, 'hotcert_connections_refused_total', { reason: 'request_timeout' })).toBe(0);
  });
});
