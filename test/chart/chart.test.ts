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
    ['several replicas without Redis', ['--set', 'replicaCount=2'], /several replicas \(replicaCount > 1 or autoscaling\) need redis\.url/],
    ['autoscaling without Redis', ['--set', 'autoscaling.enabled=true'], /several replicas .* need redis\.url/],
    ['long-polling across replicas without sticky sessions', ['--set', 'replicaCount=3', '--set', 'redis.url=redis://r:6379', '--set', 'socketio.transports=polling\\,websocket'], /offers polling with several replicas but socketio\.stickySessions is false/],
    ['a Redis CA without rediss://', ['--set', 'redis.url=redis://r:6379', '--set', 'redis.tls.caSecret=ca'], /redis\.tls\.caSecret needs a rediss:\/\/ redis\.url/],
    ['a Redis URL that is not one', ['--set', 'redis.url=http://r:6379'], /redis\.url|url.*pattern|does not match pattern/],
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

describe('rendered chart with several replicas (Helm 3)', () => {
  const [helm3] = HELMS;
  const containerOf = (objects: K8sObject[]) => find(objects, 'Deployment').spec.template.spec.containers[0];

  it('uses the Redis adapter, its password from a Secret and its CA from another, and offers WebSocket only', async () => {
    const objects = await render(helm3.binary, ['-f', `${CHART}/ci/hardened-values.yaml`]);
    const container = containerOf(objects);
    expect(container.args).toEqual(expect.arrayContaining(['--redis-url=rediss://redis-master.cache.svc:6380', '--redis-ca=/etc/hotcert/redis-ca/ca.crt', '--transports=websocket']));
    expect(container.env).toContainEqual({ name: 'HOTCERT_REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'password' } } });
    expect(JSON.stringify(container.args)).not.toContain('redis-auth');
    expect(container.volumeMounts).toContainEqual({ name: 'redis-ca', mountPath: '/etc/hotcert/redis-ca', readOnly: true });
    expect(find(objects, 'Deployment').spec.template.spec.volumes).toContainEqual({ name: 'redis-ca', secret: { secretName: 'redis-ca', defaultMode: 0o444 } });
    // Spread over zones, at most one pod down at a time, scaled by the HPA between 3 and 6.
    expect(find(objects, 'Deployment').spec.template.spec.topologySpreadConstraints[0]).toMatchObject({ topologyKey: 'topology.kubernetes.io/zone', labelSelector: { matchLabels: expect.any(Object) } });
    expect(find(objects, 'PodDisruptionBudget').spec).toMatchObject({ maxUnavailable: 1 });
    expect(find(objects, 'HorizontalPodAutoscaler').spec).toMatchObject({ minReplicas: 3, maxReplicas: 6 });
    expect(find(objects, 'Deployment').spec.replicas).toBeUndefined();
  });

  it('offers long-polling again when the ingress keeps sessions sticky, and drains with --drain-delay when asked', async () => {
    const objects = await render(helm3.binary, ['--set', 'replicaCount=3', '--set', 'redis.url=redis://redis:6379', '--set', 'socketio.stickySessions=true', '--set', 'hotcert.drainDelay=5s', '--set', 'preStopSleepSeconds=0']);
    const container = containerOf(objects);
    expect(container.args).toEqual(expect.arrayContaining(['--redis-url=redis://redis:6379', '--transports=polling,websocket', '--drain-delay=5s']));
    expect(container.env.map((e: { name: string }) => e.name)).not.toContain('HOTCERT_REDIS_PASSWORD');
    expect(find(objects, 'Deployment').spec.replicas).toBe(3);
  });

  it('keeps the single-replica defaults free of Redis and long-polling on', async () => {
    const container = containerOf(await render(helm3.binary));
    expect(container.args).toContain('--transports=polling,websocket');
    expect(container.args.join(' ')).not.toMatch(/redis|drain-delay/);
  });

  it('alerts when replicas serve different certificates for longer than the window, and when Redis is lost', async () => {
    const rule = find(await render(helm3.binary, ['--set', 'prometheusRule.enabled=true', '--set', 'prometheusRule.for.replicasDiffer=20m']), 'PrometheusRule');
    const rules = rule.spec.groups.flatMap((g: { rules: Array<Record<string, string>> }) => g.rules);
    expect(rules.find((r: Record<string, string>) => r['alert'] === 'HotcertReplicasServeDifferentCertificates')).toMatchObject({ expr: 'hotcert:served_certificates:count > 1', for: '20m' });
    expect(rules.find((r: Record<string, string>) => r['record'] === 'hotcert:served_certificates:count')?.['expr']).toContain('count by (namespace, job, certificate, fingerprint_sha256) (hotcert_certificate_info)');
    expect(rules.find((r: Record<string, string>) => r['alert'] === 'HotcertRedisDown')).toMatchObject({ expr: 'hotcert_redis_up == 0', for: '2m' });
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
    const all = await render(helm3.binary, ['-f', `${CHART}/ci/cert-manager-values.yaml`, '--set', 'networkPolicy.enabled=true', '--set', 'autoscaling.enabled=true', '--set', 'redis.url=redis://redis:6379']);
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
      expect.arrayContaining([
        'Time until expiry (leaf, soonest per certificate)',
        'Reloads by result',
        'Rejections by reason',
        'TLS handshake errors by reason',
        'Socket.IO sockets',
        'Replicas: distinct certificates served (rolling renewal)',
        'Redis adapter up (per pod)',
      ]),
    );
  });

  it('puts thresholds from values into the alert rules', async () => {
    const objects = await render(helm3.binary, [
      '--set',
      'prometheusRule.enabled=true',
      '--set',
      'prometheusRule.expiringSoonDays=30',
      '--set',
      'prometheusRule.for.reloadFailing=20m',
      '--set',
      'prometheusRule.clientCrlExpiringSoonHours=48',
    ]);
    const rules = find(objects, 'PrometheusRule').spec.groups.flatMap((g: { rules: unknown[] }) => g.rules) as Array<{ alert: string; expr: string; for: string }>;
    expect(rules.map((r) => r.alert ?? `record ${(r as { record?: string }).record}`)).toEqual([
      'HotcertCertificateExpiringSoon',
      'HotcertCertificateExpiring',
      'HotcertCertificateExpired',
      'HotcertCertificateNotYetValid',
      'HotcertReloadFailing',
      'HotcertTLSHandshakeErrors',
      'HotcertKubernetesWatchDown',
      'HotcertClientCrlExpiringSoon',
      'HotcertClientCrlStale',
      'record hotcert:served_certificates:count',
      'HotcertReplicasServeDifferentCertificates',
      'HotcertRedisDown',
    ]);
    expect(rules.find((r) => r.alert === 'HotcertCertificateExpiringSoon')?.expr).toContain('< 30 * 86400');
    expect(rules.find((r) => r.alert === 'HotcertReloadFailing')?.for).toBe('20m');
    expect(rules.find((r) => r.alert === 'HotcertClientCrlExpiringSoon')?.expr).toContain('< 48 * 3600');
  });

  it('ships a helm test that opens a WSS connection with the Secret\'s CA', () => {
    const pod = find(defaults, 'Pod', '-test-wss');
    expect((pod.metadata as { annotations?: Record<string, string> }).annotations).toMatchObject({ 'helm.sh/hook': 'test' });
    expect(pod.spec.containers[0].command).toEqual(['/nodejs/bin/node', '/test/wss-test.mjs']);
    expect(pod.spec.containers[0].env).toEqual(expect.arrayContaining([{ name: 'HOTCERT_TEST_HOST', value: 'hotcert.hotcert.svc' }]));
  });
});
