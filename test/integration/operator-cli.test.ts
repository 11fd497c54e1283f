/**
 * `hotcert serve --cert-dir … --k8s-secret ns/name --k8s-events` as a process, against the
 * Kubernetes API STAND-IN, configured the way a pod is: KUBECONFIG (standing in for the
 * in-cluster service account) and POD_NAME/POD_NAMESPACE from the downward API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestPki } from '../support/certs.js';
import { runCli, startCli } from '../support/cli.js';
import { eventually } from '../support/eventually.js';
import { tempDir } from '../support/hotcert.js';
import { KubeApiStandIn } from '../support/kube-apiserver.js';
import { kubeletWrite } from '../support/kubelet.js';
import { waitForSerial } from '../support/tls-probe.js';

describe('hotcert serve in operator mode against a Kubernetes API stand-in', () => {
  let standIn: KubeApiStandIn;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    standIn = await KubeApiStandIn.start();
    dir = await tempDir('hotcert-operator-cli-');
  });
  afterAll(async () => {
    await standIn.close();
    await dir.remove();
  });

  it('watches the Secret through the API, posts Events, and exits 0 on SIGTERM', async () => {
    const pki = await TestPki.create();
    const first = await pki.leaf();
    await kubeletWrite(`${dir.path}/tls`, first.secretFiles);
    standIn.putSecret('web', 'web-tls', first.secretFiles);
    const env = { KUBECONFIG: await standIn.writeKubeconfig(dir.path), POD_NAME: 'web-0', POD_NAMESPACE: 'web', POD_UID: 'uid-1' };
    const cli = startCli(['serve', '--cert-dir', `${dir.path}/tls`, '--k8s-secret', 'web/web-tls', '--k8s-events', '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'], { env });
    try {
      const listening = await cli.waitForLine((line) => line['event'] === 'listening');
      expect(listening).toMatchObject({ k8sSecret: 'web/web-tls', k8sEvents: true });
      await eventually(() => expect(standIn.openWatches).toBe(1), { timeoutMs: 5_000 });
      const next = await pki.leaf();
      standIn.putSecret('web', 'web-tls', next.secretFiles);
      await waitForSerial({ port: listening['port'] as number, ca: pki.caPem, serial: next.serialNumber, withinMs: 2_000 });
      await eventually(() =>
        expect([...standIn.events.values()]).toEqual([
          expect.objectContaining({ reason: 'CertificateReloaded', involvedObject: expect.objectContaining({ kind: 'Pod', name: 'web-0', namespace: 'web', uid: 'uid-1' }) }),
        ]),
      );
      expect(cli.lines().find((line) => line['event'] === 'certificate_reloaded')).toMatchObject({ trigger: 'api', serialNumber: next.serialNumber });
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
      expect(standIn.openWatches).toBe(0);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('exits 2 when --k8s-events has no Pod identity, naming the downward API fields', async () => {
    const { code, stderr } = await runCli(['serve', '--cert-dir', dir.path, '--k8s-events']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--k8s-events: needs the Pod's identity from the downward API: set env POD_NAME \(fieldRef metadata\.name\) and POD_NAMESPACE/);
  });

  it('exits 2 when there is no way to reach the API', async () => {
    const { code, stderr } = await runCli(['serve', '--k8s-secret', 'web/web-tls'], { env: { KUBECONFIG: `${dir.path}/missing-kubeconfig`, HOME: dir.path } });
    expect(code).toBe(2);
    expect(stderr).toMatch(/Kubernetes API access: cannot load .*missing-kubeconfig/);
  });

  it('exits 3 when the Secret through the API holds no valid certificate at start-up', async () => {
    const pki = await TestPki.create();
    const leaf = await pki.leaf();
    standIn.putSecret('web', 'broken-tls', { ...leaf.secretFiles, 'tls.key': (await pki.leaf()).keyPem });
    const env = { KUBECONFIG: await standIn.writeKubeconfig(dir.path) };
    const { code, stderr } = await runCli(['serve', '--k8s-secret', 'web/broken-tls', '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'], { env });
    expect(code).toBe(3);
    expect(stderr).toMatch(/Secret web\/broken-tls key tls\.key: the private key does not match/);
  });
});
