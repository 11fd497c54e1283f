/**
 * The TLS policy audited by Debian's testssl.sh (with --add-ca for the private test CA) against a
 * running hotcert: no HIGH or CRITICAL finding other than the private test CA having no revocation
 * endpoints. The report and a summary are saved to test-artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { HotcertServer } from '../../src/server.js';
import { TestPki } from '../support/certs.js';
import { startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';

const run = promisify(execFile);
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

describe('TLS audit with testssl.sh', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: HotcertServer;

  beforeAll(async () => {
    dir = await tempDir('hotcert-testssl-');
    const pki = await TestPki.create();
    await kubeletWrite(dir.path, (await pki.leaf({ dnsNames: ['localhost'] })).secretFiles);
    server = await startHotcert({ certificate: { certDir: dir.path }, metrics: false });
  });
  afterAll(async () => {
    await server.close();
    await dir.remove();
  });

  it('testssl.sh: no HIGH or CRITICAL finding but the private test CA\'s missing revocation endpoints', async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const json = join(ARTIFACTS, 'testssl.json');
    await rm(json, { force: true }); // testssl.sh refuses to overwrite a report
    // testssl.sh exits non-zero when it has findings; the JSON report is what is judged.
    await run('testssl', ['--quiet', '--color', '0', '--warnings', 'off', '--add-ca', join(dir.path, 'ca.crt'), '--jsonfile-pretty', json, '--ip', '127.0.0.1', `https://localhost:${server.port}/`], {
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((error: { code?: unknown }) => {
      if (typeof error.code !== 'number') throw error;
    });
    const report = JSON.parse(await readFile(json, 'utf8')) as { scanResult: Array<Record<string, unknown>> };
    const findings = report.scanResult.flatMap((section) => Object.values(section).filter(Array.isArray).flat()) as Array<{ id: string; severity: string; finding: string }>;
    expect(findings.length).toBeGreaterThan(50);
    const severe = findings.filter((f) => f.severity === 'HIGH' || f.severity === 'CRITICAL').map((f) => `${f.severity} ${f.id}: ${f.finding}`);
    expect(severe).toEqual([expect.stringMatching(/^HIGH cert_revocation: Neither CRL nor OCSP URI provided/)]);
    expect(findings.find((f) => f.id === 'cert_chain_of_trust')?.severity).toBe('OK');
    const summary = Object.entries(findings.reduce<Record<string, number>>((n, f) => ({ ...n, [f.severity]: (n[f.severity] ?? 0) + 1 }), {}));
    await writeFile(join(ARTIFACTS, 'testssl-summary.txt'), `${summary.map(([s, n]) => `${s} ${n}`).join('\n')}\n${severe.join('\n')}\n`);
  }, 300_000);
});
