/**
 * The metrics of DESIGN §6, on a registry that is passed in (never prom-client's global one).
 * Values that depend on what is served now are computed at scrape time in `collect()`, so the
 * series of a replaced certificate disappear with it.
 */
import { Counter, Gauge, Histogram, collectDefaultMetrics, type Registry } from 'prom-client';
import type { X509Certificate } from 'node:crypto';
import { commonName, formatDistinguishedName, notAfterMs, notBeforeMs } from './certificate-info.js';
import { UNTRUSTED_REASONS } from './client-trust.js';
import { REJECTION_REASONS } from './material.js';
import type { PairStatus, Reloader } from './reloader.js';

export type CertificateRole = 'leaf' | 'intermediate' | 'client_ca';

export interface HotcertMetricsOptions {
  readonly registry: Registry;
  readonly reloader: Reloader;
  /** Counts open TLS connections of a pair negotiated with a certificate no longer served. */
  readonly connectionsOnPrevious?: (certificate: string, fingerprint: string) => number;
  /** Number of connected Socket.IO sockets. */
  readonly connectedSockets?: () => number;
  /** Register prom-client's default process metrics too. @default true */
  readonly processMetrics?: boolean;
}

const CERT_LABELS = ['certificate', 'role', 'serial_number', 'subject_cn'] as const;

const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/** Buckets for trigger-to-swap: a swap takes milliseconds, the poll up to its interval. */
const RELOAD_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class HotcertMetrics {
  readonly reloads: Counter<'certificate' | 'result' | 'trigger'>;
  readonly rejections: Counter<'certificate' | 'reason'>;
  readonly reloadDuration: Histogram<'certificate'>;
  readonly handshakeErrors: Counter<'reason'>;
  readonly socketConnections: Counter;
  readonly socketDisconnections: Counter<'reason'>;
  readonly watchMode: Gauge<'certificate' | 'mode'>;
  readonly watchErrors: Counter<'certificate'>;
  readonly handlerErrors: Counter<'event'>;
  readonly recycled: Counter<'certificate'>;
  readonly tlsResumptions: Counter<'result'>;
  readonly ticketKeyRotations: Counter<'reason'>;
  readonly closedUntrusted: Counter<'reason'>;
  readonly connectionsRefused: Counter<'reason'>;

  constructor(options: HotcertMetricsOptions) {
    const { registry, reloader } = options;
    const registers = [registry];
    const servedCertificates = function* (): Generator<[string, CertificateRole, X509Certificate]> {
      for (const name of reloader.certificates) {
        const status = reloader.status(name);
        if (!status) continue;
        yield [name, 'leaf', status.material.leaf];
        for (const intermediate of status.material.intermediates) yield [name, 'intermediate', intermediate];
        for (const clientCa of status.material.clientCa) yield [name, 'client_ca', clientCa];
      }
    };
    const certLabels = (certificate: string, role: CertificateRole, x509: X509Certificate) => ({
      certificate,
      role,
      serial_number: x509.serialNumber,
      subject_cn: commonName(x509.subject),
    });

    new Gauge({
      name: 'hotcert_certificate_not_after_timestamp_seconds',
      help: 'Expiry (notAfter) of each certificate being served, in Unix seconds.',
      labelNames: CERT_LABELS,
      registers,
      collect() {
        this.reset();
        for (const [name, role, x509] of servedCertificates()) this.set(certLabels(name, role, x509), notAfterMs(x509) / 1000);
      },
    });
    new Gauge({
      name: 'hotcert_certificate_not_before_timestamp_seconds',
      help: 'Start of validity (notBefore) of each certificate being served, in Unix seconds.',
      labelNames: CERT_LABELS,
      registers,
      collect() {
        this.reset();
        for (const [name, role, x509] of servedCertificates()) this.set(certLabels(name, role, x509), notBeforeMs(x509) / 1000);
      },
    });
    new Gauge({
      name: 'hotcert_certificate_info',
      help: 'The live leaf certificate of each pair (value is always 1).',
      labelNames: ['certificate', 'serial_number', 'fingerprint_sha256', 'subject', 'issuer', 'dns_names'] as const,
      registers,
      collect() {
        this.reset();
        for (const name of reloader.certificates) {
          const status = reloader.status(name);
          if (!status) continue;
          const leaf = status.material.leaf;
          this.set(
            {
              certificate: name,
              serial_number: leaf.serialNumber,
              fingerprint_sha256: leaf.fingerprint256.replaceAll(':', '').toLowerCase(),
              subject: formatDistinguishedName(leaf.subject),
              issuer: formatDistinguishedName(leaf.issuer),
              dns_names: status.live.dnsNames.join(','),
            },
            1,
          );
        }
      },
    });
    /** A gauge with one series per pair, its value read from the pair's status at scrape time. */
    const perPairGauge = (name: string, help: string, value: (status: PairStatus) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['certificate'] as const,
        registers,
        collect() {
          this.reset();
          for (const certificate of reloader.certificates) {
            const status = reloader.status(certificate);
            if (status) this.set({ certificate }, value(status));
          }
        },
      });
    perPairGauge('hotcert_last_reload_successful', 'Whether the latest candidate of each pair is being served (1) or was rejected (0).', (status) =>
      status.lastReloadSuccessful ? 1 : 0,
    );
    perPairGauge(
      'hotcert_last_reload_success_timestamp_seconds',
      'When each pair last swapped in a new certificate (or loaded at start-up), in Unix seconds.',
      (status) => status.lastSuccessAt / 1000,
    );
    const connectionsOnPrevious = options.connectionsOnPrevious ?? (() => 0);
    perPairGauge('hotcert_connections_on_previous_certificate', 'Open TLS connections negotiated with a certificate that is no longer served.', (status) =>
      connectionsOnPrevious(status.certificate, status.material.fingerprint),
    );
    const connectedSockets = options.connectedSockets;
    new Gauge({
      name: 'hotcert_socketio_connected_sockets',
      help: 'Socket.IO sockets connected now.',
      registers,
      collect() {
        this.set(connectedSockets?.() ?? 0);
      },
    });

    this.reloads = new Counter({
      name: 'hotcert_reloads_total',
      help: 'Reload attempts by result (applied, unchanged, rejected) and trigger (watch, poll, api, manual).',
      labelNames: ['certificate', 'result', 'trigger'] as const,
      registers,
    });
    this.rejections = new Counter({
      name: 'hotcert_reload_rejections_total',
      help: 'Candidates refused, by reason.',
      labelNames: ['certificate', 'reason'] as const,
      registers,
    });
    this.reloadDuration = new Histogram({
      name: 'hotcert_reload_duration_seconds',
      help: 'Time from the trigger (file event, poll, API event) to the swap.',
      labelNames: ['certificate'] as const,
      buckets: RELOAD_BUCKETS,
      registers,
    });
    this.handshakeErrors = new Counter({
      name: 'hotcert_tls_handshake_errors_total',
      help: 'TLS handshakes that failed, by reason (the TLS error code).',
      labelNames: ['reason'] as const,
      registers,
    });
    this.socketConnections = new Counter({
      name: 'hotcert_socketio_connections_total',
      help: 'Socket.IO connections accepted.',
      registers,
    });
    this.socketDisconnections = new Counter({
      name: 'hotcert_socketio_disconnections_total',
      help: 'Socket.IO disconnections, by reason.',
      labelNames: ['reason'] as const,
      registers,
    });

    this.watchMode = new Gauge({
      name: 'hotcert_file_watch_mode',
      help: 'How the file source learns about changes: 1 for the current mode (events = file events plus the poll, polling = the poll alone, after a watcher failure or with --no-watch).',
      labelNames: ['certificate', 'mode'] as const,
      registers,
    });
    this.watchErrors = new Counter({
      name: 'hotcert_file_watch_errors_total',
      help: 'File watcher failures (inotify watches exhausted, the directory removed, …); each falls back to polling.',
      labelNames: ['certificate'] as const,
      registers,
    });
    this.handlerErrors = new Counter({
      name: 'hotcert_socketio_handler_errors_total',
      help: 'Errors thrown by Socket.IO event handlers, caught so that they do not take the server down.',
      labelNames: ['event'] as const,
      registers,
    });

    this.recycled = new Counter({
      name: 'hotcert_connections_recycled_total',
      help: 'Connections closed after a rotation because they were negotiated under a replaced certificate (--recycle-after-rotation).',
      labelNames: ['certificate'] as const,
      registers,
    });

    this.tlsResumptions = new Counter({
      name: 'hotcert_tls_resumptions_total',
      help: 'Resumed TLS handshakes (result=resumed), and those refused because the client certificate they carry no longer verifies (result=refused).',
      labelNames: ['result'] as const,
      registers,
    });
    this.ticketKeyRotations = new Counter({
      name: 'hotcert_tls_ticket_key_rotations_total',
      help: 'Replacements of the TLS session-ticket keys: the client trust changed, or the keys reached their lifetime.',
      labelNames: ['reason'] as const,
      registers,
    });
    this.closedUntrusted = new Counter({
      name: 'hotcert_connections_closed_untrusted_total',
      help: 'Open mTLS connections closed because their client certificate no longer verifies: its CA was removed, it was revoked, or it expired.',
      labelNames: ['reason'] as const,
      registers,
    });
    this.connectionsRefused = new Counter({
      name: 'hotcert_connections_refused_total',
      help: 'TCP connections refused above --max-connections (max_connections), cut because the TLS handshake did not finish within --tls-handshake-timeout (handshake_timeout), or because an HTTP request did not arrive within --http-headers-timeout / --http-request-timeout (request_timeout).',
      labelNames: ['reason'] as const,
      registers,
    });
    new Gauge({
      name: 'hotcert_client_crl_next_update_timestamp_seconds',
      help: 'nextUpdate of each client CRL in force (--client-crl), in Unix seconds, by the CA that signed it. Past it, OpenSSL refuses that CA\'s clients.',
      labelNames: ['issuer'] as const,
      registers,
      collect() {
        this.reset();
        for (const name of reloader.certificates) {
          for (const crl of reloader.status(name)?.material.clientCrls ?? []) {
            if (crl.list.nextUpdateMs !== undefined) this.set({ issuer: formatDistinguishedName(crl.issuer.subject) }, crl.list.nextUpdateMs / 1000);
          }
        }
      },
    });
    for (const result of ['resumed', 'refused']) this.tlsResumptions.inc({ result }, 0);
    for (const reason of ['trust_changed', 'lifetime']) this.ticketKeyRotations.inc({ reason }, 0);
    for (const reason of UNTRUSTED_REASONS) this.closedUntrusted.inc({ reason }, 0);
    for (const reason of ['max_connections', 'handshake_timeout', 'request_timeout']) this.connectionsRefused.inc({ reason }, 0);

    for (const name of reloader.certificates) this.#initialise(name);
    reloader.on('reload', (event) => {
      this.reloads.inc({ certificate: event.certificate, result: 'applied', trigger: event.trigger });
      this.reloadDuration.observe({ certificate: event.certificate }, event.durationSeconds);
    });
    reloader.on('unchanged', (event) => this.reloads.inc({ certificate: event.certificate, result: 'unchanged', trigger: event.trigger }));
    reloader.on('reject', (event) => {
      this.reloads.inc({ certificate: event.certificate, result: 'rejected', trigger: event.trigger });
      this.rejections.inc({ certificate: event.certificate, reason: event.reason });
    });
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: registry });
      // prom-client names three gauges with a counter's `_total` suffix, which `promtool check
      // metrics` rejects; the same figures remain, by type, in nodejs_active_handles,
      // nodejs_active_requests and nodejs_active_resources.
      for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(name);
    }
  }

  /** Zero series exist from the start, so `rate()` and `increase()` see the first event. */
  #initialise(certificate: string): void {
    this.reloadDuration.zero({ certificate });
    for (const reason of REJECTION_REASONS) this.rejections.inc({ certificate, reason }, 0);
    this.watchErrors.inc({ certificate }, 0);
  }

  /** Records the file source's current mode for a pair. */
  setWatchMode(certificate: string, mode: 'events' | 'polling'): void {
    this.watchMode.set({ certificate, mode: 'events' }, mode === 'events' ? 1 : 0);
    this.watchMode.set({ certificate, mode: 'polling' }, mode === 'polling' ? 1 : 0);
  }
}

/** With the Redis adapter (`--redis-url`): the link's health. Absent without Redis. */
export function registerRedisMetrics(registry: Registry, isUp: () => boolean): { readonly errors: Counter } {
  new Gauge({
    name: 'hotcert_redis_up',
    help: 'Whether the Socket.IO Redis adapter is connected to Redis and Redis answers (1) or not (0); 0 also makes /readyz fail.',
    registers: [registry],
    collect() {
      this.set(isUp() ? 1 : 0);
    },
  });
  const errors = new Counter({
    name: 'hotcert_redis_errors_total',
    help: 'Errors of the Redis connection behind the Socket.IO adapter (refused, reset, timed out, protocol).',
    registers: [registry],
  });
  return { errors };
}
