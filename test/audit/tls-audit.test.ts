/**
 * The TLS policy, audited from the outside by Debian's sslscan against a running hotcert: TLS 1.2
 * at least (1.3 only when configured), forward-secret AEAD suites only, no renegotiation.
 * (testssl.sh, slower and more thorough, is in testssl.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { HotcertServer } from '../../src/server.js';
import { TestPki } from '../support/certs.js';
import { startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';

const run = promisify(execFile);

async function sslscan(port: number): Promise<string> {
  const { stdout } = await run('sslscan', ['--no-colour', '--sni-name=localhost', `127.0.0.1:${port}`], { timeout: 60_000 });
  return stdout;
}

describe('TLS audit', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: HotcertServer;
  let strict: HotcertServer;

  beforeAll(async () => {
    dir = await tempDir('hotcert-audit-');
    const pki = await TestPki.create();
    await kubeletWrite(dir.path, (await pki.leaf({ dnsNames: ['localhost'] })).secretFiles);
    server = await startHotcert({ certificate: { certDir: dir.path }, metrics: false });
    strict = await startHotcert({ certificate: { certDir: dir.path }, metrics: false, tls: { minVersion: 'TLSv1.3' } });
  });
  afterAll(async () => {
    await server.close();
    await strict.close();
    await dir.remove();
  });

  it('sslscan: TLS 1.2 and 1.3 only, AEAD suites with forward secrecy, no renegotiation', async () => {
    const report = await sslscan(server.port);
    for (const old of ['SSLv2', 'SSLv3', 'TLSv1.0', 'TLSv1.1']) expect(report).toMatch(new RegExp(`^${old.replace('.', '\\.')}\\s+disabled$`, 'm'));
    expect(report).toMatch(/^TLSv1\.2\s+enabled$/m);
    expect(report).toMatch(/^TLSv1\.3\s+enabled$/m);
    expect(report).toMatch(/Session renegotiation not supported/);
    const ciphers = [...report.matchAll(/^(?:Preferred|Accepted)\s+(TLSv1\.[23])\s+\d+ bits\s+(\S+)/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(ciphers.length).toBeGreaterThanOrEqual(4);
    for (const cipher of ciphers) expect(cipher).toMatch(/^TLSv1\.3 TLS_(AES_128_GCM|AES_256_GCM|CHACHA20_POLY1305)_SHA\d+$|^TLSv1\.2 ECDHE-(ECDSA|RSA)-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)$/);
    expect(report).not.toMatch(/insecure/i);
    expect(report).not.toMatch(/^(?!.*not vulnerable).*vulnerable/im);
  });

  it('sslscan: only TLS 1.3 when the minimum is 1.3', async () => {
    const report = await sslscan(strict.port);
    expect(report).toMatch(/^TLSv1\.2\s+disabled$/m);
    expect(report).toMatch(/^TLSv1\.3\s+enabled$/m);
  });

});
