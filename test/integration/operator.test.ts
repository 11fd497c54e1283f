/**
 * Operator mode against a Kubernetes API STAND-IN (test/support/kube-apiserver.ts; no real API
 * server can run here): the Secret watched through the API reaches the TLS handshake in seconds,
 * every watch fault is survived while the last good certificate keeps serving, and Events are
 * posted, aggregated and free of key material.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createKubeApi, loadKubeConfig, type KubeApi } from '../../src/k8s/kube-api.js';
import type { HotcertServer } from '../../src/server.js';
import { TestPki, type Leaf } from '../support/certs.js';
import { eventually, sleep } from '../support/eventually.js';
import { memoryLogger, metricValue, startHotcert, tempDir } from '../support/hotcert.js';
import { KubeApiStandIn } from '../support/kube-apiserver.js';
import { kubeletWrite } from '../support/kubelet.js';
import { probe, waitForSerial } from '../support/tls-probe.js';

const NS = 'web';
const NAME = 'web-tls';
const POD = { namespace: NS, name: 'web-5d8f7c9b4-x2x7q', uid: '1f0e7c3a-7d2b-4c5e-9a51-0c1d2e3f4a5b' };
const BACKOFF = { initialMs: 50, maxMs: 400, minMs: 20 };
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

describe('operator mode against a Kubernetes API stand-in', () => {
  let standIn: KubeApiStandIn;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let api: KubeApi;
  let pki: TestPki;
  let server: HotcertServer | undefined;
  let log: ReturnType<typeof memoryLogger>;
  const allRequests: Array<{ method: string; path: string; query: Record<string, string> }> = [];

  beforeAll(async () => {
    standIn = await KubeApiStandIn.start();
    pki = await TestPki.create();
  });
  afterAll(async () => {
    await standIn.close();
    // Exported for the chart's RBAC test: exactly what this code asks the API server for.
    await mkdir(ARTIFACTS, { recursive: true });
    await writeFile(`${ARTIFACTS}k8s-api-requests.json`, JSON.stringify(allRequests, null, 2));
  });
  beforeEach(async () => {
    dir = await tempDir('hotcert-operator-');
    api = await createKubeApi(await loadKubeConfig({ inCluster: false, kubeconfig: await standIn.writeKubeconfig(dir.path) }));
    log = memoryLogger();
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    allRequests.push(...standIn.requests.map(({ method, path, query }) => ({ method, path, query })));
    standIn.requests.length = 0;
    standIn.events.clear();
    await dir.remove();
  });

  async function putLeaf(leaf: Leaf): Promise<void> {
    standIn.putSecret(NS, NAME, leaf.secretFiles);
  }

  async function startApiOnly(extra: { events?: boolean; stallTimeoutMs?: number; watchTimeoutSeconds?: number } = {}): Promise<HotcertServer> {
    server = await startHotcert({
      logger: log.logger,
      kubernetes: {
        api,
        secret: { namespace: NS, name: NAME },
        events: extra.events ? { pod: POD } : undefined,
        backoff: BACKOFF,
        stallTimeoutMs: extra.stallTimeoutMs ?? 30_000,
        watchTimeoutSeconds: extra.watchTimeoutSeconds ?? 60,
      },
    });
    await eventually(async () => expect(await metricValue(server!, 'hotcert_k8s_watch_up')).toBe(1));
    return server;
  }

  async function rotateThroughApi(withinMs = 2_000): Promise<Leaf> {
    const next = await pki.leaf();
    await putLeaf(next);
    await waitForSerial({ port: server!.port, ca: pki.caPem, serial: next.serialNumber, withinMs });
    return next;
  }

  it('delivers a Secret update to the TLS handshake within 2 s while the mounted files stay old', async () => {
    const first = await pki.leaf();
    await kubeletWrite(dir.path, first.secretFiles);
    await putLeaf(first);
    server = await startHotcert({
      certificate: { certDir: dir.path },
      logger: log.logger,
      kubernetes: { api, secret: { namespace: NS, name: NAME }, backoff: BACKOFF },
    });
    await eventually(async () => expect(await metricValue(server!, 'hotcert_k8s_watch_up')).toBe(1));
    const next = await rotateThroughApi();
    expect(await metricValue(server, 'hotcert_reloads_total', { result: 'applied', trigger: 'api' })).toBe(1);
    // The kubelet catches up a minute later: the file source finds what is already served.
    await kubeletWrite(dir.path, next.secretFiles);
    await eventually(async () => expect(await metricValue(server!, 'hotcert_reloads_total', { result: 'unchanged', trigger: 'watch' })).toBeGreaterThanOrEqual(1));
    expect(await metricValue(server, 'hotcert_reloads_total', { result: 'applied', trigger: 'watch' })).toBeUndefined();
  });

  it('starts from the API alone and asks only for the one Secret', async () => {
    const first = await pki.leaf();
    await putLeaf(first);
    await startApiOnly();
    expect((await probe({ port: server!.port, ca: pki.caPem })).serialNumber).toBe(first.serialNumber);
    await rotateThroughApi();
    expect(standIn.requests[0]).toMatchObject({ method: 'GET', path: `/api/v1/namespaces/${NS}/secrets/${NAME}` });
    const secretRequests = standIn.requests.filter((r) => r.path.endsWith('/secrets'));
    expect(secretRequests.length).toBeGreaterThanOrEqual(2);
    for (const request of secretRequests) {
      expect(request.path).toBe(`/api/v1/namespaces/${NS}/secrets`);
      expect(request.query['fieldSelector']).toBe(`metadata.name=${NAME}`);
    }
    const watch = secretRequests.find((r) => r.query['watch'] === 'true');
    expect(watch?.query).toMatchObject({ allowWatchBookmarks: 'true', resourceVersion: expect.stringMatching(/^\d+$/), timeoutSeconds: '60' });
  });

  it('relists after 410 Gone and picks up the change it missed', async () => {
    await putLeaf(await pki.leaf());
    await startApiOnly();
    const before = (await metricValue(server!, 'hotcert_k8s_watch_restarts_total', { reason: 'gone' })) ?? 0;
    standIn.stallWatches();
    const missed = await pki.leaf();
    await putLeaf(missed);
    standIn.compact();
    // The stream ends cleanly; the next watch, from the old resourceVersion, gets 410 Gone.
    standIn.endWatches();
    await waitForSerial({ port: server!.port, ca: pki.caPem, serial: missed.serialNumber, withinMs: 3_000 });
    expect(await metricValue(server!, 'hotcert_k8s_watch_restarts_total', { reason: 'gone' })).toBe(before + 1);
  });

  it('resumes from the resourceVersion of the last bookmark', async () => {
    await putLeaf(await pki.leaf());
    await startApiOnly({ watchTimeoutSeconds: 1 });
    for (let i = 0; i < 5; i++) standIn.bumpUnrelated();
    standIn.bookmark();
    const bookmarked = standIn.resourceVersion;
    // The server ends the stream after timeoutSeconds; the next watch starts at the bookmark.
    await eventually(() => expect(standIn.requests.some((r) => r.query['watch'] === 'true' && r.query['resourceVersion'] === bookmarked)).toBe(true), { timeoutMs: 4_000 });
    expect(await metricValue(server!, 'hotcert_k8s_watch_restarts_total', { reason: 'closed' })).toBeGreaterThanOrEqual(1);
    await rotateThroughApi();
  });

  it('re-watches a dropped stream and a stalled one', async () => {
    await putLeaf(await pki.leaf());
    await startApiOnly({ stallTimeoutMs: 800 });
    standIn.dropWatches();
    await rotateThroughApi();
    await eventually(() => expect(standIn.openWatches).toBe(1));
    standIn.stallWatches();
    const next = await pki.leaf();
    await putLeaf(next);
    await waitForSerial({ port: server!.port, ca: pki.caPem, serial: next.serialNumber, withinMs: 4_000 });
    expect(await metricValue(server!, 'hotcert_k8s_watch_restarts_total', { reason: 'stalled' })).toBeGreaterThanOrEqual(1);
  });

  it.each([
    [401, 'unauthorized', /the service account token was refused/],
    [403, 'forbidden', /RBAC denies it: the Role needs get, list and watch/],
    [500, 'server_error', /HTTP 500/],
  ] as const)('keeps serving through HTTP %d, says why, backs off and recovers', async (code, reason, advice) => {
    const served = await pki.leaf();
    await putLeaf(served);
    await startApiOnly();
    standIn.failNext(code, 4);
    standIn.dropWatches();
    await eventually(async () => expect(await metricValue(server!, 'hotcert_k8s_watch_restarts_total', { reason })).toBeGreaterThanOrEqual(4), { timeoutMs: 5_000 });
    expect((await probe({ port: server!.port, ca: pki.caPem })).serialNumber).toBe(served.serialNumber);
    const warning = log.lines().find((line) => line['event'] === 'k8s_watch_error' && line['reason'] === reason);
    expect(String(warning?.['msg'])).toMatch(advice);
    expect(String(warning?.['msg'])).toMatch(/still serving the last good certificate/);
    expect(server!.readiness().ready).toBe(true);
    await eventually(async () => expect(await metricValue(server!, 'hotcert_k8s_watch_up')).toBe(1));
    await rotateThroughApi();
  });

  it('survives the API server going away (connection refused) with capped backoff', async () => {
    await putLeaf(await pki.leaf());
    await startApiOnly();
    await standIn.goDown();
    await eventually(async () => expect(await metricValue(server!, 'hotcert_k8s_watch_restarts_total', { reason: 'network' })).toBeGreaterThanOrEqual(6), { timeoutMs: 6_000 });
    expect(await metricValue(server!, 'hotcert_k8s_watch_up')).toBe(0);
    const attempts = log.lines().filter((line) => line['event'] === 'k8s_watch_error');
    const delays = attempts.map((line) => line['retryInMs'] as number);
    expect(Math.max(...delays)).toBeLessThanOrEqual(BACKOFF.maxMs);
    expect(delays.every((delay) => delay >= BACKOFF.minMs)).toBe(true);
    await standIn.comeBack();
    await eventually(async () => expect(await metricValue(server!, 'hotcert_k8s_watch_up')).toBe(1), { timeoutMs: 3_000 });
    await rotateThroughApi();
  });

  it('keeps serving when the Secret is deleted, and reports it', async () => {
    const served = await pki.leaf();
    await putLeaf(served);
    await startApiOnly();
    standIn.deleteSecret(NS, NAME);
    await eventually(async () => expect(await metricValue(server!, 'hotcert_k8s_secret_present')).toBe(0));
    expect(log.lines().some((line) => line['event'] === 'k8s_secret_missing')).toBe(true);
    expect((await probe({ port: server!.port, ca: pki.caPem })).serialNumber).toBe(served.serialNumber);
    await rotateThroughApi();
    expect(await metricValue(server!, 'hotcert_k8s_secret_present')).toBe(1);
  });

  it.each([
    ['a Secret of the wrong type', 'parse_error', (leaf: Leaf) => standIn.putSecret(NS, NAME, leaf.secretFiles, 'Opaque'), /type is "Opaque", expected kubernetes\.io\/tls/],
    ['a Secret without tls.key', 'empty', (leaf: Leaf) => standIn.putSecret(NS, NAME, { 'tls.crt': leaf.chainPem }), /has no tls\.key/],
  ] as const)('rejects %s with reason %s', async (_name, reason, put, message) => {
    const served = await pki.leaf();
    await putLeaf(served);
    await startApiOnly();
    put(await pki.leaf());
    await eventually(async () => expect(await metricValue(server!, 'hotcert_reload_rejections_total', { reason })).toBe(1));
    expect(String(log.lines().find((line) => line['event'] === 'certificate_rejected')?.['msg'])).toMatch(message);
    expect((await probe({ port: server!.port, ca: pki.caPem })).serialNumber).toBe(served.serialNumber);
  });

  it('posts an Event per swap and per rejection to the Pod, aggregates repeats, and never sends key material', async () => {
    const first = await pki.leaf();
    await putLeaf(first);
    await startApiOnly({ events: true });
    const next = await rotateThroughApi();
    const wrongKey = (await pki.leaf()).keyPem;
    standIn.putSecret(NS, NAME, { ...next.secretFiles, 'tls.key': wrongKey });
    standIn.putSecret(NS, NAME, { ...next.secretFiles, 'tls.key': wrongKey, extra: 'x' });
    await eventually(() => {
      const events = [...standIn.events.values()];
      expect(events.filter((e) => e['reason'] === 'CertificateReloaded')).toHaveLength(1);
      expect(events.filter((e) => e['reason'] === 'CertificateRejected')).toEqual([expect.objectContaining({ count: 2 })]);
    });
    const reloaded = [...standIn.events.values()].find((e) => e['reason'] === 'CertificateReloaded');
    expect(reloaded).toMatchObject({
      type: 'Normal',
      involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: POD.namespace, name: POD.name, uid: POD.uid },
      source: { component: 'hotcert' },
      count: 1,
      message: expect.stringContaining(`serial ${next.serialNumber}`),
    });
    expect(String(reloaded?.['message'])).toMatch(/not after \d{4}-\d\d-\d\dT/);
    const rejected = [...standIn.events.values()].find((e) => e['reason'] === 'CertificateRejected');
    expect(rejected).toMatchObject({ type: 'Warning', message: expect.stringContaining('(key_mismatch)') });
    expect(standIn.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
    // The recorder counts once the API server has answered.
    await eventually(async () => {
      expect(await metricValue(server!, 'hotcert_k8s_events_total', { result: 'created' })).toBe(2);
      expect(await metricValue(server!, 'hotcert_k8s_events_total', { result: 'patched' })).toBe(1);
    });

    const eventBytes = standIn.requests.filter((r) => r.path.includes('/events')).map((r) => r.body).join('\n');
    expect(eventBytes).not.toMatch(/PRIVATE KEY/);
    for (const key of [first.keyPem, next.keyPem, wrongKey]) {
      const body = key.split('\n').slice(1, -2).join('');
      expect(eventBytes).not.toContain(body.slice(0, 32));
      expect(eventBytes).not.toContain(Buffer.from(key).toString('base64').slice(0, 32));
    }
  });

  it('rate-limits Events like client-go and counts what it drops', async () => {
    const { EventRecorder } = await import('../../src/k8s/event-recorder.js');
    const results: string[] = [];
    const recorder = new EventRecorder({ api, pod: POD, logger: log.logger, burst: 3, refillEveryMs: 60_000, onResult: (r) => results.push(r) });
    for (let i = 0; i < 5; i++) recorder.record({ type: 'Warning', reason: 'CertificateRejected', message: `distinct message ${i}` });
    await recorder.flush();
    expect(results).toEqual(['created', 'created', 'created', 'rate_limited', 'rate_limited']);
    expect(standIn.events.size).toBe(3);
  });

  it('makes only the requests a Role limited to the one Secret and Events grants', async () => {
    await putLeaf(await pki.leaf());
    await startApiOnly({ events: true });
    const served = await rotateThroughApi();
    // The same rejection twice: the second is aggregated into the first Event with a PATCH.
    const wrongKey = (await pki.leaf()).keyPem;
    standIn.putSecret(NS, NAME, { ...served.secretFiles, 'tls.key': wrongKey });
    standIn.putSecret(NS, NAME, { ...served.secretFiles, 'tls.key': wrongKey, extra: 'x' });
    await eventually(() => expect(standIn.requests.some((r) => r.method === 'PATCH')).toBe(true), { timeoutMs: 5_000 });
    await sleep(100);
    expect(standIn.requestShapes()).toEqual([
      `GET /api/v1/namespaces/${NS}/secrets`,
      `GET /api/v1/namespaces/${NS}/secrets watch`,
      `GET /api/v1/namespaces/${NS}/secrets/NAME`,
      `PATCH /api/v1/namespaces/${NS}/events/NAME`,
      `POST /api/v1/namespaces/${NS}/events`,
    ]);
    expect(standIn.rbacVerbs()).toEqual({ secrets: ['get', 'list', 'watch'], events: ['create', 'patch'] });
  });
});
