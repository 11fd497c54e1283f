/**
 * The Helm chart with real Helm 3 and Helm 4: lint, render every ci/*-values.yaml scenario,
 * validate every object against the Kubernetes, cert-manager and Prometheus Operator schemas and
 * for unknown field names, refuse invalid values, and pin down what the rendered output promises.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import * as certManager from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as coreV1 from 'kubernetes-models/v1';
import { CHART, find, helm, HELMS, render, type K8sObject } from '../support/helm.js';
import { StrictFieldChecker } from '../support/strict-fields.js';

const SCENARIOS = readdirSync(`${CHART}/ci`).filter((f) => f.endsWith('-values.yaml'));

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'apps/v1 Deployment': appsV1.Deployment,
  'v1 Service': coreV1.Service,
  'v1 ServiceAccount': coreV1.ServiceAccount,
  'v1 ConfigMap': coreV1.ConfigMap,
  'v1 Pod': coreV1.Pod,
  'rbac.authorization.k8s.io/v1 Role': rbacV1.Role,
  'rbac.authorization.k8s.io/v1 RoleBinding': rbacV1.RoleBinding,
  'policy/v1 PodDisruptionBudget': policyV1.PodDisruptionBudget,
  'networking.k8s.io/v1 NetworkPolicy': networkingV1.NetworkPolicy,
  'autoscaling/v2 HorizontalPodAutoscaler': autoscalingV2.HorizontalPodAutoscaler,
  'cert-manager.io/v1 Certificate': certManager.Certificate,
  'monitoring.coreos.com/v1 ServiceMonitor': monitoring.ServiceMonitor,
  'monitoring.coreos.com/v1 PrometheusRule': monitoring.PrometheusRule,
};

let strict: StrictFieldChecker;
beforeAll(() => {
  strict = new StrictFieldChecker();
});

function validate(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  for (const object of objects) {
    const key = `${object.apiVersion} ${object.kind}`;
    const Model = MODELS[key];
    if (!Model) {
      problems.push(`${key}: no schema to validate against`);
      continue;
    }
    try {
      new Model(object).validate();
    } catch (error) {
      problems.push(`${key} ${object.metadata.name}: ${(error as Error).message}`);
    }
    problems.push(...strict.unknownFields(object).map((p) => `${key} ${object.metadata.name}: ${p}`));
  }
  return problems;
}

describe.each(HELMS)('chart with $name', ({ binary }) => {
  it.each(SCENARIOS)('lints --strict with ci/%s', async (scenario) => {
    const { stdout } = await helm(binary, ['lint', '--strict', CHART, '-f', `${CHART}/ci/${scenario}`]);
    expect(stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it.each(SCENARIOS)('renders ci/%s into objects valid against their schemas, with no unknown fields', async (scenario) => {
    const objects = await render(binary, ['-f', `${CHART}/ci/${scenario}`]);
    expect(objects.length).toBeGreaterThanOrEqual(5);
    expect(validate(objects)).toEqual([]);
  });

  it.each([
    ['replicaCount: 0', ['--set', 'replicaCount=0'], /replicaCount: Must be greater than or equal to 1|replicaCount.*minimum/],
    ['an unknown key', ['--set', 'replicas=3'], /additional propert(y|ies) 'replicas' not allowed|replicas.*not allowed/],
    ['an unknown nested key', ['--set', 'hotcert.pollIntervall=5s'], /pollIntervall/],
    ['a bad log level', ['--set', 'hotcert.logLevel=verbose'], /logLevel/],
    ['a malformed digest', ['--set', 'image.digest=latest'], /digest/],
    ['certificate.create without an issuer', ['--set', 'certificate.create=true', '--set', 'certificate.dnsNames={a.example}'], /certificate\.create needs certificate\.issuerRef\.name/],
    ['certificate.create with existingSecret', ['--set', 'certificate.create=true', '--set', 'existingSecret=x', '--set', 'certificate.issuerRef.name=ca'], /certificate\.create and existingSecret are exclusive/],
    ['a grace period shorter than the drain', ['--set', 'terminationGracePeriodSeconds=20'], /terminationGracePeriodSeconds \(20\) must exceed hotcert\.shutdownTimeoutSeconds \+ preStopSleepSeconds \(30\)/],
  ])('refuses %s', async (_name, args, message) => {
    await expect(render(binary, args)).rejects.toThrow(message);
  });

  it('renders a working release from the defaults: the Secret <release>-hotcert-tls, API watch and Events', async () => {
    const objects = await render(binary, [], 'web', 'shop');
    const deployment = find(objects, 'Deployment');
    const args: string[] = deployment.spec.template.spec.containers[0].args;
    expect(args).toEqual(expect.arrayContaining(['serve', '--cert-dir=/etc/hotcert/tls', '--k8s-secret=shop/web-hotcert-tls', '--k8s-events']));
    expect(deployment.spec.template.spec.volumes).toEqual([{ name: 'tls', secret: { secretName: 'web-hotcert-tls', defaultMode: 0o440 } }]);
  });
});

describe('rendered chart (Helm 3, defaults unless said otherwise)', () => {
  const [helm3] = HELMS;
  let defaults: K8sObject[];
  beforeAll(async () => {
    defaults = await render(helm3.binary);
  });

  it('mounts the whole Secret as a directory, never with subPath', () => {
    const pod = find(defaults, 'Deployment').spec.template.spec;
    const mounts = pod.containers[0].volumeMounts;
    expect(mounts).toEqual([{ name: 'tls', mountPath: '/etc/hotcert/tls', readOnly: true }]);
    expect(JSON.stringify(pod)).not.toContain('subPath');
  });

  it('probes /healthz (liveness) and /readyz (readiness) on the metrics port', () => {
    const container = find(defaults, 'Deployment').spec.template.spec.containers[0];
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(container.ports).toEqual([
      { name: 'https', containerPort: 8443, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
    ]);
  });

  it('runs as a numeric non-root user with a read-only root, no capabilities, RuntimeDefault seccomp', () => {
    const pod = find(defaults, 'Deployment').spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0].securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
  });

  it('drains before it is killed: preStop pause, grace period above the shutdown timeout', () => {
    const pod = find(defaults, 'Deployment').spec.template.spec;
    expect(pod.containers[0].lifecycle).toEqual({ preStop: { sleep: { seconds: 5 } } });
    expect(pod.containers[0].args).toContain('--shutdown-timeout=25s');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(25 + 5);
  });

  it('gets its Pod identity from the downward API', () => {
    const env = find(defaults, 'Deployment').spec.template.spec.containers[0].env;
    expect(env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
    ]);
  });

  it('labels everything app.kubernetes.io/* and never selects on helm.sh/chart', async () => {
    const all = await render(helm3.binary, ['-f', `${CHART}/ci/cert-manager-values.yaml`, '--set', 'networkPolicy.enabled=true', '--set', 'autoscaling.enabled=true']);
    for (const object of all) {
      expect(object.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': 'hotcert', 'app.kubernetes.io/instance': 'hotcert', 'app.kubernetes.io/managed-by': 'Helm' });
    }
    const selectors = [
      find(all, 'Deployment').spec.selector.matchLabels,
      find(all, 'Service').spec.selector,
      find(all, 'PodDisruptionBudget').spec.selector.matchLabels,
      find(all, 'NetworkPolicy').spec.podSelector.matchLabels,
      find(all, 'ServiceMonitor').spec.selector.matchLabels,
    ];
    for (const selector of selectors) expect(selector).toEqual({ 'app.kubernetes.io/name': 'hotcert', 'app.kubernetes.io/instance': 'hotcert' });
  });

  it('grants the service account nothing and mounts no token when API mode is off', async () => {
    const objects = await render(helm3.binary, ['-f', `${CHART}/ci/files-only-values.yaml`]);
    expect(objects.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding')).toEqual([]);
    const pod = find(objects, 'Deployment').spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.containers[0].args.some((a: string) => a.startsWith('--k8s'))).toBe(false);
    expect(find(defaults, 'Deployment').spec.template.spec.automountServiceAccountToken).toBe(true);
    expect(find(defaults, 'ServiceAccount').automountServiceAccountToken).toBe(false);
  });

  it('creates the cert-manager Certificate with a key rotated at every renewal', async () => {
    const objects = await render(helm3.binary, ['-f', `${CHART}/ci/cert-manager-values.yaml`]);
    expect(find(objects, 'Certificate').spec).toMatchObject({
      secretName: 'hotcert-tls',
      issuerRef: { name: 'hotcert-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
      dnsNames: ['ws.example.com', 'hotcert.hotcert.svc'],
      duration: '2160h',
      renewBefore: '720h',
      privateKey: { rotationPolicy: 'Always', algorithm: 'ECDSA' },
    });
    expect(find(objects, 'ServiceMonitor').spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', scheme: 'http', interval: '30s', scrapeTimeout: '10s' }]);
    const dashboard = find(objects, 'ConfigMap', '-dashboard');
    expect(dashboard.metadata.labels?.['grafana_dashboard']).toBe('1');
    const json = JSON.parse(dashboard.data['hotcert.json']) as { panels: Array<{ title: string }> };
    expect(json.panels.map((p) => p.title)).toEqual(
      expect.arrayContaining(['Time until expiry (leaf, soonest per certificate)', 'Reloads by result', 'Rejections by reason', 'TLS handshake errors by reason', 'Socket.IO sockets']),
    );
  });

  it('puts thresholds from values into the alert rules', async () => {
    const objects = await render(helm3.binary, ['--set', 'prometheusRule.enabled=true', '--set', 'prometheusRule.expiringSoonDays=30', '--set', 'prometheusRule.for.reloadFailing=20m']);
    const rules = find(objects, 'PrometheusRule').spec.groups.flatMap((g: { rules: unknown[] }) => g.rules) as Array<{ alert: string; expr: string; for: string }>;
    expect(rules.map((r) => r.alert)).toEqual([
      'HotcertCertificateExpiringSoon',
      'HotcertCertificateExpiring',
      'HotcertCertificateExpired',
      'HotcertCertificateNotYetValid',
      'HotcertReloadFailing',
      'HotcertTLSHandshakeErrors',
      'HotcertKubernetesWatchDown',
    ]);
    expect(rules.find((r) => r.alert === 'HotcertCertificateExpiringSoon')?.expr).toContain('< 30 * 86400');
    expect(rules.find((r) => r.alert === 'HotcertReloadFailing')?.for).toBe('20m');
  });

  it('ships a helm test that opens a WSS connection with the Secret\'s CA', () => {
    const pod = find(defaults, 'Pod', '-test-wss');
    expect((pod.metadata as { annotations?: Record<string, string> }).annotations).toMatchObject({ 'helm.sh/hook': 'test' });
    expect(pod.spec.containers[0].command).toEqual(['/nodejs/bin/node', '/test/wss-test.mjs']);
    expect(pod.spec.containers[0].env).toEqual(expect.arrayContaining([{ name: 'HOTCERT_TEST_HOST', value: 'hotcert.hotcert.svc' }]));
  });
});
