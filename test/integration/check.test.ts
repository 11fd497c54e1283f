/**
 * `hotcert check` against a table of broken directories: exit code, the file named, the fix,
 * and the --json report's shape. Runs the built binary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkCertificate, parseMountPoints, type CheckReport } from '../../src/check.js';
import { TestPki, type Leaf } from '../support/certs.js';
import { runCli, startCli } from '../support/cli.js';
import { tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';

const DAY = 86_400_000;

type Layout = (dir: string, good: Leaf, pki: TestPki) => Promise<void>;

const secret = (files: (good: Leaf, pki: TestPki) => Record<string, string> | Promise<Record<string, string>>): Layout => async (dir, good, pki) =>
  kubeletWrite(dir, await files(good, pki));

interface Case {
  readonly name: string;
  readonly layout: Layout;
  readonly args?: readonly string[];
  readonly exit: 0 | 1;
  readonly says: readonly RegExp[];
}

const CASES: readonly Case[] = [
  {
    name: 'a healthy Secret volume',
    layout: secret((good) => good.secretFiles),
    exit: 0,
    says: [/ok {4}.*kubelet Secret volume/, /Result: hotcert would serve this certificate\./, /chain {7}CN=localhost <- CN=hotcert test intermediate CA/],
  },
  {
    name: 'a missing key',
    layout: secret((good) => ({ 'tls.crt': good.chainPem })),
    exit: 1,
    says: [/ERROR .*\/tls\.key: the private key file does not exist/, /fix: check the path, that the Secret has the key tls\.key/, /would NOT serve/],
  },
  {
    name: 'a directory that does not exist',
    layout: async (dir) => {
      const { rm } = await import('node:fs/promises');
      await rm(dir, { recursive: true });
    },
    exit: 1,
    says: [/ERROR .*: the certificate directory does not exist/, /fix: check --cert-dir against the volumeMounts mountPath/],
  },
  {
    name: 'a named pipe instead of the certificate (reported, not read)',
    layout: async (dir, good) => {
      const { writeFile } = await import('node:fs/promises');
      const { execFileSync } = await import('node:child_process');
      execFileSync('mkfifo', [`${dir}/tls.crt`]);
      await writeFile(`${dir}/tls.key`, good.keyPem);
    },
    exit: 1,
    says: [/ERROR .*\/tls\.crt: the certificate path is a named pipe \(FIFO\), not a regular file/, /would NOT serve/],
  },
  {
    name: 'a named pipe given as the directory',
    layout: async (dir) => {
      const { rm } = await import('node:fs/promises');
      const { execFileSync } = await import('node:child_process');
      await rm(dir, { recursive: true });
      execFileSync('mkfifo', [dir]);
    },
    exit: 1,
    says: [/ERROR .*: the certificate directory is a named pipe \(FIFO\), not a directory/],
  },
  {
    name: 'garbage instead of a certificate',
    layout: secret((good) => ({ ...good.secretFiles, 'tls.crt': 'not a certificate\n' })),
    exit: 1,
    says: [/ERROR .*\/tls\.crt: .*no PEM "BEGIN CERTIFICATE" block/, /fix: put a PEM certificate chain in tls\.crt/],
  },
  {
    name: 'a key from another issuance',
    layout: async (dir, good, pki) => kubeletWrite(dir, { ...good.secretFiles, 'tls.key': (await pki.leaf()).keyPem }),
    exit: 1,
    says: [/ERROR .*\/tls\.key: .*the private key does not match the certificate/, /fix: tls\.crt and tls\.key come from different issuances/],
  },
  {
    name: 'the chain in the wrong order',
    layout: secret((good) => ({ ...good.secretFiles, 'tls.crt': good.pki.intermediate.certPem + good.issued.certPem })),
    exit: 1,
    says: [/ERROR .*\/tls\.crt: the certificate matching the key is #2, not first/, /fix: order tls\.crt leaf first/],
  },
  {
    name: 'an expired certificate',
    layout: secret(async (_good, pki) => (await pki.leaf({ notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - 2 * DAY) })).secretFiles),
    exit: 1,
    says: [/ERROR .*\/tls\.crt: the certificate .* expired at \d{4}-/, /fix: renew the certificate/, /\(expired\)/],
  },
  {
    name: 'a certificate not valid yet',
    layout: secret(async (_good, pki) => (await pki.leaf({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 30 * DAY) })).secretFiles),
    exit: 1,
    says: [/ERROR .*is not valid until/, /fix: check the clocks/],
  },
  {
    name: 'a missing intermediate (served, with a warning)',
    layout: secret((good) => ({ 'tls.crt': good.issued.certPem, 'tls.key': good.keyPem })),
    exit: 0,
    says: [/WARN .*the chain ends at CN=localhost, issued by CN=hotcert test intermediate CA, which is neither in tls\.crt nor in ca\.crt/, /fix: append the missing intermediate/],
  },
  {
    name: 'a certificate that does not cover --host (served, with a warning)',
    layout: secret((good) => good.secretFiles),
    args: ['--host', 'api.example.com'],
    exit: 0,
    says: [/WARN .*does not cover api\.example\.com: its names are localhost, 127\.0\.0\.1/, /fix: add api\.example\.com to the Certificate's dnsNames/],
  },
  {
    name: 'a certificate expiring within 21 days',
    layout: secret(async (_good, pki) => (await pki.leaf({ notAfter: new Date(Date.now() + 5 * DAY) })).secretFiles),
    exit: 0,
    says: [/WARN .*expires in 4 day\(s\)|WARN .*expires in 5 day\(s\)/],
  },
  {
    name: 'a file copied over a Secret volume',
    layout: async (dir, good) => {
      await kubeletWrite(dir, good.secretFiles);
      const { rm } = await import('node:fs/promises');
      await rm(join(dir, 'tls.crt'));
      await writeFile(join(dir, 'tls.crt'), good.chainPem);
    },
    exit: 0,
    says: [/WARN .*tls\.crt is not a symlink into \.\.data: it will not follow the kubelet's updates/],
  },
  {
    name: 'a private key pasted into the certificate file (served, with a warning)',
    layout: secret((good) => ({ ...good.secretFiles, 'tls.crt': good.keyPem + good.chainPem })),
    exit: 0,
    says: [/WARN .*tls\.crt: the certificate file also holds a private key/, /fix: keep the private key in tls\.key only/],
  },
  {
    name: 'a plain directory',
    layout: async (dir, good) => {
      await writeFile(join(dir, 'tls.crt'), good.chainPem);
      await writeFile(join(dir, 'tls.key'), good.keyPem);
    },
    exit: 0,
    says: [/info .*a plain directory \(no \.\.data link\)/, /info .*ca\.crt: no CA bundle \(optional\)/],
  },
];

describe('hotcert check', () => {
  let pki: TestPki;
  let good: Leaf;
  const dirs: Array<Awaited<ReturnType<typeof tempDir>>> = [];

  beforeAll(async () => {
    pki = await TestPki.create();
    good = await pki.leaf();
  });
  afterAll(async () => {
    for (const dir of dirs) await dir.remove();
  });

  async function prepare(layout: Layout): Promise<string> {
    const dir = await tempDir('hotcert-check-');
    dirs.push(dir);
    await layout(dir.path, good, pki);
    return dir.path;
  }

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, { layout, args = [], exit, says }) => {
    const dir = await prepare(layout);
    const { code, stdout } = await runCli(['check', '--cert-dir', dir, ...args]);
    for (const pattern of says) expect(stdout).toMatch(pattern);
    expect(code).toBe(exit);
  });

  it('reports permission bits and the process user for an unreadable key (run as an unprivileged user)', async () => {
    const dir = await prepare(secret((leaf) => leaf.secretFiles));
    await chmod(dir, 0o755);
    await kubeletWrite(dir, good.secretFiles, { 'tls.key': 0o600 });
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const uid = asUser.uid ?? process.getuid?.();
    const cli = startCli(['check', '--cert-dir', dir], asUser);
    const { code, stdout } = await cli.exited;
    expect(stdout).toMatch(new RegExp(`ERROR .*/tls\\.key: permission denied: \\d+ bytes, mode 0600, owner uid \\d+ gid \\d+; hotcert runs as uid ${uid}`));
    expect(stdout).toMatch(/fix: make it readable by that user: set the Secret volume defaultMode/);
    expect(code).toBe(1);
  });

  it('prints a value with a newline as an escape, never as a line of its own', async () => {
    const dir = await prepare(secret((leaf) => leaf.secretFiles));
    const { stdout } = await runCli(['check', '--cert-dir', dir, '--host', 'localhost\n  ok    everything is fine']);
    expect(stdout).toContain('localhost\\n  ok    everything is fine');
    expect(stdout.split('\n').some((line) => /^\s*ok\s+everything is fine/.test(line))).toBe(false);
  });

  it('prints a JSON report with --json', async () => {
    const dir = await prepare(secret((leaf) => leaf.secretFiles));
    const { code, stdout } = await runCli(['check', '--cert-dir', dir, '--json', '--host', '127.0.0.1']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as CheckReport;
    expect(report).toEqual({
      servable: true,
      files: { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') },
      mount: 'kubelet-secret',
      certificate: {
        serialNumber: good.serialNumber,
        fingerprint256: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
        subject: 'CN=localhost',
        issuer: 'CN=hotcert test intermediate CA',
        validFrom: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        validTo: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        daysLeft: expect.any(Number),
        chain: ['CN=localhost', 'CN=hotcert test intermediate CA'],
      },
      findings: expect.any(Array),
    });
    for (const finding of report.findings) {
      expect(['ok', 'info', 'warn', 'error']).toContain(finding.status);
      expect(typeof finding.check).toBe('string');
      expect(typeof finding.message).toBe('string');
    }
    expect(report.findings.map((f) => f.check)).toEqual(['file_readable', 'file_readable', 'file_readable', 'mount', 'valid', 'chain_complete', 'expiry', 'san']);
  });

  it('says a subPath mount will never update', async () => {
    const dir = await prepare(async (path, leaf) => {
      await mkdir(path, { recursive: true });
      await writeFile(join(path, 'tls.crt'), leaf.chainPem);
      await writeFile(join(path, 'tls.key'), leaf.keyPem);
    });
    // A subPath mount makes the file a mount point of its own; mountinfo is where that shows.
    const mountinfo = `1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 8:1 /secret/tls.crt ${join(dir, 'tls.crt')} ro - ext4 /dev/sda1 ro\n`;
    const report = await checkCertificate({ certDir: dir }, undefined, { now: Date.now(), uid: 0, gid: 0, mountPoints: async () => parseMountPoints(mountinfo) });
    expect(report.mount).toBe('subpath');
    expect(report.findings).toContainEqual(expect.objectContaining({ status: 'warn', check: 'mount', file: join(dir, 'tls.crt'), message: expect.stringMatching(/subPath mount.*never updates/) }));
  });

  it('parses octal escapes in mountinfo', () => {
    expect(parseMountPoints('36 35 98:0 /mnt1 /mnt\\040with\\040space rw - ext3 /dev/root rw\n')).toEqual(new Set(['/mnt with space']));
  });

  it('exits 2 on a usage error', async () => {
    const { code, stderr } = await runCli(['check', '--cert', '/tmp/x.crt']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--cert: needs --key FILE as well/);
  });
});
