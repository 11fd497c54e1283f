/**
 * deploy/ and the things the chart ships besides manifests: the rendered files are fresh, the
 * kustomization builds, the Role grants exactly what the code asks the API for (measured against
 * the Kubernetes API STAND-IN), the alert rules pass promtool, and the helm test script opens a
 * real WSS connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { createKubeApi, loadKubeConfig } from '../../src/k8s/kube-api.js';
import { TestPki } from '../support/certs.js';
import { eventually } from '../support/eventually.js';
import { CHART, find, HELMS, render, ROOT } from '../support/helm.js';
import { startHotcert, tempDir } from '../support/hotcert.js';
import { KubeApiStandIn } from '../support/kube-apiserver.js';
import { kubeletWrite } from '../support/kubelet.js';
import { waitForSerial } from '../support/tls-probe.js';

const run = promisify(execFile);

describe('deploy/', () => {
  it('is what the chart renders now (scripts/render-deploy.mjs --check)', async () => {
    const { stdout } = await run(process.execPath, [`${ROOT}scripts/render-deploy.mjs`, '--check'], { env: { ...process.env, HELM: HELMS[0].binary } });
    expect(stdout).toContain('deploy/ is up to date');
  });

  it('builds with kubectl kustomize into the namespace and the chart defaults', async () => {
    const { stdout } = await run('kubectl', ['kustomize', `${ROOT}deploy`], { env: { ...process.env, KUBECONFIG: '/dev/null' } });
    const objects = parseAllDocuments(stdout).map((d) => d.toJS() as { kind: string; metadata: { namespace?: string; name: string } });
    expect(objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'Namespace', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
    for (const object of objects) if (object.kind !== 'Namespace') expect(object.metadata.namespace).toBe('hotcert');
  });
});

describe('RBAC against the Kubernetes API stand-in', () => {
  let standIn: KubeApiStandIn;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    standIn = await KubeApiStandIn.start();
    dir = await tempDir('hotcert-rbac-');
  });
  afterAll(async () => {
    await standIn.close();
    await dir.remove();
  });

  it("grants exactly the requests hotcert makes in API mode with Events, no more", async () => {
    // Everything operator mode does: start from the API, watch, swap, reject twice (aggregated).
    const pki = await TestPki.create();
    const first = await pki.leaf();
    standIn.putSecret('shop', 'web-hotcert-tls', first.secretFiles);
    const api = await createKubeApi(await loadKubeConfig({ inCluster: false, kubeconfig: await standIn.writeKubeconfig(dir.path) }));
    const server = await startHotcert({
      kubernetes: { api, secret: { namespace: 'shop', name: 'web-hotcert-tls' }, events: { pod: { namespace: 'shop', name: 'web-0' } } },
    });
    try {
      await eventually(() => expect(standIn.openWatches).toBe(1));
      const next = await pki.leaf();
      standIn.putSecret('shop', 'web-hotcert-tls', next.secretFiles);
      await waitForSerial({ port: server.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 2_000 });
      const wrongKey = (await pki.leaf()).keyPem;
      standIn.putSecret('shop', 'web-hotcert-tls', { ...next.secretFiles, 'tls.key': wrongKey });
      standIn.putSecret('shop', 'web-hotcert-tls', { ...next.secretFiles, 'tls.key': wrongKey, other: 'x' });
      await eventually(() => expect(standIn.requests.some((r) => r.method === 'PATCH')).toBe(true));
    } finally {
      await server.close();
    }
    const used = standIn.rbacVerbs();

    const objects = await render(HELMS[0].binary, [], 'web', 'shop');
    const role = find(objects, 'Role');
    const granted = Object.fromEntries(role['rules'].map((rule: { resources: string[]; verbs: string[] }) => [rule.resources[0], [...rule.verbs].sort()]));
    expect(granted).toEqual(used);
    expect(role['rules'].find((rule: { resources: string[] }) => rule.resources[0] === 'secrets').resourceNames).toEqual(['web-hotcert-tls']);
    expect(find(objects, 'RoleBinding')['subjects']).toEqual([{ kind: 'ServiceAccount', name: 'web-hotcert', namespace: 'shop' }]);
  });
});

describe('alert rules', () => {
  it('pass promtool check rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', `${ROOT}deploy/prometheus/hotcert-rules.yaml`]);
    expect(stdout).toMatch(/SUCCESS: 12 rules found/);
  });

  it('fire and stay silent as the promtool unit tests expect', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', `${ROOT}test/prometheus/hotcert-rules.test.yaml`]);
    expect(stdout).toMatch(/SUCCESS/);
  });
});

describe('helm test script (charts/hotcert/files/wss-test.mjs)', () => {
  it('opens a WSS connection verified against the CA and receives hotcert:certificate', async () => {
    const dir = await tempDir('hotcert-helm-test-');
    const pki = await TestPki.create();
    const leaf = await pki.leaf({ dnsNames: ['hotcert.hotcert.svc', 'localhost'] });
    await kubeletWrite(dir.path, leaf.secretFiles);
    const server = await startHotcert({ certificate: { certDir: dir.path } });
    try {
      const { stdout } = await run(process.execPath, [`${CHART}/files/wss-test.mjs`], {
        env: { ...process.env, HOTCERT_TEST_HOST: '127.0.0.1', HOTCERT_TEST_PORT: String(server.port), HOTCERT_TEST_SERVERNAME: 'hotcert.hotcert.svc', HOTCERT_TEST_CA: `${dir.path}/ca.crt` },
      });
      expect(stdout).toContain('WebSocket upgrade: HTTP 101');
      expect(stdout).toContain(`hotcert:certificate received: serial ${leaf.serialNumber}`);
      await expect(
        run(process.execPath, [`${CHART}/files/wss-test.mjs`], {
          env: { ...process.env, HOTCERT_TEST_HOST: '127.0.0.1', HOTCERT_TEST_PORT: String(server.port), HOTCERT_TEST_SERVERNAME: 'wrong.example', HOTCERT_TEST_CA: `${dir.path}/ca.crt` },
        }),
      ).rejects.toMatchObject({ stderr: expect.stringMatching(/FAIL: ERR_TLS_CERT_ALTNAME_INVALID/) });
    } finally {
      await server.close();
      await dir.remove();
    }
  });
});
