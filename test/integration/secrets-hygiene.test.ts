/**
 * Private key material never leaves the TLS stack: across rotations and the fault matrix, every
 * log line, the metrics, the Kubernetes Events (API stand-in), `hotcert check` output and the
 * CLI's error messages are captured and searched for any run of any private key, as PEM base64,
 * as DER bytes and as hex. After a swap, hotcert holds no reference to the key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { createKubeApi, loadKubeConfig } from '../../src/k8s/kube-api.js';
import type { HotcertServer } from '../../src/server.js';
import { TestPki, type Leaf } from '../support/certs.js';
import { runCli } from '../support/cli.js';
import { eventually } from '../support/eventually.js';
import { memoryLogger, metricValue, startHotcert, tempDir } from '../support/hotcert.js';
import { KubeApiStandIn } from '../support/kube-apiserver.js';
import { kubeletWrite } from '../support/kubelet.js';
import { waitForSerial } from '../support/tls-probe.js';

/** Every 24-character run of a key's PEM base64, 16-byte run of its DER, and 32-character run of its hex. */
function keyFragments(keyPem: string): string[] {
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  const sec1OrPkcs1 = createPrivateKey(keyPem).export({ type: createPrivateKey(keyPem).asymmetricKeyType === 'ec' ? 'sec1' : 'pkcs1', format: 'der' });
  const fragments: string[] = [];
  for (const encoding of [der, sec1OrPkcs1]) {
    const base64 = encoding.toString('base64');
    const hex = encoding.toString('hex');
    const latin1 = encoding.toString('latin1');
    for (let i = 0; i + 24 <= base64.length; i += 12) fragments.push(base64.slice(i, i + 24));
    for (let i = 0; i + 32 <= hex.length; i += 16) fragments.push(hex.slice(i, i + 32));
    for (let i = 0; i + 16 <= latin1.length; i += 8) fragments.push(latin1.slice(i, i + 16));
  }
  return fragments;
}

function leaks(captured: string, keys: readonly string[]): string[] {
  const found: string[] = [];
  if (/PRIVATE KEY-----/.test(captured)) found.push('a PEM private key header');
  for (const [i, key] of keys.entries()) {
    if (keyFragments(key).some((fragment) => captured.includes(fragment))) found.push(`key #${i}`);
  }
  return found;
}

describe('secrets hygiene', () => {
  let standIn: KubeApiStandIn;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  let server: HotcertServer;
  const keys: string[] = [];
  const log = memoryLogger();
  const captured: string[] = [];

  beforeAll(async () => {
    standIn = await KubeApiStandIn.start();
    dir = await tempDir('hotcert-hygiene-');
    pki = await TestPki.create();
  });
  afterAll(async () => {
    await server?.close();
    await standIn.close();
    await dir.remove();
  });

  async function leaf(): Promise<Leaf> {
    const issued = await pki.leaf();
    keys.push(issued.keyPem);
    return issued;
  }

  it('puts no key byte in logs, metrics, Events, check output or error messages across the fault matrix', async () => {
    const mount = join(dir.path, 'tls');
    const first = await leaf();
    await kubeletWrite(mount, first.secretFiles);
    standIn.putSecret('web', 'web-tls', first.secretFiles);
    const api = await createKubeApi(await loadKubeConfig({ inCluster: false, kubeconfig: await standIn.writeKubeconfig(dir.path) }));
    server = await startHotcert({
      certificate: { certDir: mount },
      logger: log.logger,
      kubernetes: { api, secret: { namespace: 'web', name: 'web-tls' }, events: { pod: { namespace: 'web', name: 'web-0' } } },
    });

    const faults: Array<(good: Leaf, other: Leaf) => Record<string, string>> = [
      (good, other) => ({ ...good.secretFiles, 'tls.key': other.keyPem }), // key mismatch
      (good) => ({ ...good.secretFiles, 'tls.crt': good.keyPem, 'tls.key': good.chainPem }), // swapped files
      (good) => ({ ...good.secretFiles, 'tls.key': good.keyPem.slice(0, good.keyPem.length - 60) }), // truncated key
      (good) => ({ ...good.secretFiles, 'tls.key': createPrivateKey(good.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'p' }).toString() }),
    ];
    for (const fault of faults) {
      const [good, other] = [await leaf(), await leaf()];
      const before = (await metricValue(server, 'hotcert_reloads_total', { result: 'rejected' })) ?? 0;
      await kubeletWrite(mount, fault(good, other));
      standIn.putSecret('web', 'web-tls', fault(good, other));
      await eventually(async () => expect((await metricValue(server, 'hotcert_reloads_total', { result: 'rejected' })) ?? 0).toBeGreaterThan(before), { timeoutMs: 5_000 });
      const next = await leaf();
      standIn.putSecret('web', 'web-tls', next.secretFiles);
      await waitForSerial({ port: server.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 2_000 });
      captured.push((await runCli(['check', '--cert-dir', mount])).stdout, (await runCli(['check', '--cert-dir', mount, '--json'])).stdout);
    }
    // A key pasted into tls.crt: the certificates in it are served, the key block is ignored.
    const pasted = await leaf();
    await kubeletWrite(mount, { ...pasted.secretFiles, 'tls.crt': `${pasted.keyPem}${pasted.chainPem}` });
    await waitForSerial({ port: server.port, ca: pki.caPem, serial: pasted.serialNumber, withinMs: 2_000 });
    captured.push((await runCli(['check', '--cert-dir', mount])).stdout);
    await eventually(() => expect(standIn.requests.filter((r) => r.path.endsWith('/events')).length).toBeGreaterThanOrEqual(2));

    // Start-up failures print their reason on stderr.
    const broken = join(dir.path, 'broken');
    const [a, b] = [await leaf(), await leaf()];
    await kubeletWrite(broken, { ...a.secretFiles, 'tls.key': b.keyPem });
    const failed = await runCli(['--cert-dir', broken, '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0']);
    expect(failed.code).toBe(3);
    captured.push(failed.stdout, failed.stderr);

    captured.push(log.text(), await server.registry.metrics(), ...standIn.requests.filter((r) => r.path.includes('/events')).map((r) => r.body));
    expect(keys.length).toBe(16);
    expect(leaks(captured.join('\n'), keys)).toEqual([]);
    // The search itself finds a key where there is one.
    expect(leaks(`log line ${keys[3]?.split('\n')[2] ?? ''}`, keys)).toEqual(['key #3']);
  });

  it('holds no reference to a served key after the swap', async () => {
    const status = server.reloader.status('default');
    expect(status?.material.holdsKey).toBe(false);
    expect(() => status?.material.tlsOptions()).toThrow(/already handed to the TLS stack/);
    expect((server.httpsServer as unknown as { key?: unknown }).key).toBeUndefined();
  });
});
