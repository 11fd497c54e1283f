/**
 * Monitoring end to end with the real thing: Debian's Prometheus server (foreground, loopback)
 * scrapes a running hotcert and evaluates the chart's alert rules; Debian's blackbox exporter
 * probes the TLS port over HTTPS with the CA (tls_config.ca_file), as an operator would. A
 * short-lived certificate fires the expiry alert; a kubelet-style rotation to a long-lived one
 * resolves it, and the probe sees the new fingerprint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { HotcertServer } from '../../src/server.js';
import { TestPki, type Leaf } from '../support/certs.js';
import { eventually } from '../support/eventually.js';
import { helm, CHART, HELMS } from '../support/helm.js';
import { startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';
import { foreground, freePort, getJson, type Foreground } from '../support/processes.js';

const DAY = 86_400_000;

interface AlertsResponse {
  data: { alerts: Array<{ labels: Record<string, string>; state: string }> };
}

describe('Prometheus and the blackbox exporter against a running hotcert', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let pki: TestPki;
  let hot: HotcertServer;
  let prometheus: Foreground;
  let blackbox: Foreground;
  let prometheusUrl: string;
  let probeUrl: string;
  let shortLived: Leaf;

  beforeAll(async () => {
    dir = await tempDir('hotcert-prometheus-');
    pki = await TestPki.create();
    shortLived = await pki.leaf({ notAfter: new Date(Date.now() + 2 * DAY) });
    await kubeletWrite(join(dir.path, 'tls'), shortLived.secretFiles);
    hot = await startHotcert({ certificate: { certDir: join(dir.path, 'tls') } });

    // The chart's rules, with "for" shortened so the test need not wait 15 minutes.
    const { stdout } = await helm(HELMS[0].binary, [
      'template', 'hotcert', CHART, '--show-only', 'templates/prometheusrule.yaml',
      '--set', 'prometheusRule.enabled=true',
      ...['expiringSoon', 'expiring', 'expired', 'notYetValid', 'reloadFailing', 'handshakeErrors', 'watchDown'].flatMap((k) => ['--set', `prometheusRule.for.${k}=0s`]),
    ]);
    const rule = parseAllDocuments(stdout).map((d) => d.toJS()).find((d) => d?.kind === 'PrometheusRule');
    await writeFile(join(dir.path, 'rules.yaml'), stringify({ groups: rule.spec.groups }));

    const blackboxPort = await freePort();
    await writeFile(
      join(dir.path, 'blackbox.yaml'),
      stringify({ modules: { hotcert_https: { prober: 'http', timeout: '5s', http: { fail_if_not_ssl: true, tls_config: { ca_file: join(dir.path, 'tls', 'ca.crt'), server_name: 'localhost' } } } } }),
    );
    blackbox = foreground('prometheus-blackbox-exporter', [`--config.file=${join(dir.path, 'blackbox.yaml')}`, `--web.listen-address=127.0.0.1:${blackboxPort}`]);
    probeUrl = `http://127.0.0.1:${blackboxPort}/probe?module=hotcert_https&target=${encodeURIComponent(`https://127.0.0.1:${hot.port}/healthz`)}`;

    const prometheusPort = await freePort();
    prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
    await writeFile(
      join(dir.path, 'prometheus.yaml'),
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [join(dir.path, 'rules.yaml')],
        scrape_configs: [{ job_name: 'hotcert', static_configs: [{ targets: [`127.0.0.1:${hot.metricsPort}`], labels: { namespace: 'web', pod: 'web-0' } }] }],
      }),
    );
    await mkdir(join(dir.path, 'tsdb'));
    prometheus = foreground('prometheus', [
      `--config.file=${join(dir.path, 'prometheus.yaml')}`,
      `--storage.tsdb.path=${join(dir.path, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${prometheusPort}`,
    ]);
    await eventually(() => getJson(`${prometheusUrl}/api/v1/status/buildinfo`), { timeoutMs: 20_000, intervalMs: 200 });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await blackbox?.stop();
    await hot?.close();
    await dir?.remove();
  });

  async function firing(): Promise<string[]> {
    const { data } = await getJson<AlertsResponse>(`${prometheusUrl}/api/v1/alerts`);
    return data.alerts.filter((a) => a.state === 'firing').map((a) => `${a.labels['alertname']} ${a.labels['role'] ?? ''}`.trim());
  }

  async function probedFingerprint(): Promise<string> {
    const text = await (await fetch(probeUrl)).text();
    expect(text).toMatch(/^probe_success 1$/m);
    const match = /probe_ssl_last_chain_info\{[^}]*fingerprint_sha256="([0-9a-f]{64})"/.exec(text);
    if (!match) throw new Error(`no probe_ssl_last_chain_info in:\n${text}`);
    return match[1] as string;
  }

  it('fires the expiry alert for a short-lived certificate and resolves it after a rotation', async () => {
    await eventually(async () => expect(await firing()).toContain('HotcertCertificateExpiring leaf'), { timeoutMs: 30_000, intervalMs: 500 });
    expect(await firing()).not.toContain('HotcertCertificateExpiringSoon leaf');
    const before = await probedFingerprint();
    expect(before).toBe(new X509Certificate(shortLived.issued.certPem).fingerprint256.replaceAll(':', '').toLowerCase());

    const longLived = await pki.leaf({ notAfter: new Date(Date.now() + 90 * DAY) });
    await kubeletWrite(join(dir.path, 'tls'), longLived.secretFiles);
    await eventually(async () => expect(await firing()).toEqual([]), { timeoutMs: 30_000, intervalMs: 500 });

    const after = await probedFingerprint();
    expect(after).not.toBe(before);
    const served = hot.reloader.current('default');
    expect(served?.serialNumber).toBe(longLived.serialNumber);
    expect(after).toBe(served?.fingerprint256.replaceAll(':', '').toLowerCase());
  });
});
