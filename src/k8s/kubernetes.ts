/**
 * Operator mode, wired: the Secret source, the Event recorder and their metrics. The server
 * calls `initialFromApi()` when the API is the only source, and `startKubernetes()` once it is
 * listening.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { ErrorCodes, HotcertError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Candidate } from '../read-candidate.js';
import type { Reloader } from '../reloader.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { EventRecorder, type EventResult, type PodReference } from './event-recorder.js';
import type { KubeApi } from './kube-api.js';
import { SecretSource, type WatchRestartReason } from './secret-source.js';

export interface SecretReference {
  readonly namespace: string;
  readonly name: string;
}

export interface KubernetesOptions {
  /** The API client (`createKubeApi(await loadKubeConfig(...))`). */
  readonly api: KubeApi;
  /** Watch this `kubernetes.io/tls` Secret through the API. */
  readonly secret?: SecretReference | undefined;
  /** Post Events to this Pod. */
  readonly events?: { readonly pod: PodReference } | undefined;
  /** Server-side watch timeout per request. @default 300 */
  readonly watchTimeoutSeconds?: number;
  /** Abandon a watch stream silent for this long. @default 90_000 */
  readonly stallTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  /** When the API is the only source: how long start-up waits for the Secret. @default 30_000 */
  readonly initialTimeoutMs?: number;
}

export const WATCH_RESTART_REASONS: readonly WatchRestartReason[] = ['closed', 'gone', 'stalled', 'unauthorized', 'forbidden', 'not_found', 'server_error', 'network'];
export const EVENT_RESULTS: readonly EventResult[] = ['created', 'patched', 'failed', 'dropped', 'rate_limited'];

/** Registered only for the parts in use, so a file-only or events-only pod shows no watch series. */
export class KubernetesMetrics {
  readonly watchUp: Gauge | undefined;
  readonly secretPresent: Gauge | undefined;
  readonly restarts: Counter<'reason'> | undefined;
  readonly events: Counter<'result'> | undefined;

  constructor(registry: Registry, watching: boolean, recording: boolean) {
    const registers = [registry];
    if (watching) {
      this.watchUp = new Gauge({ name: 'hotcert_k8s_watch_up', help: 'Whether the watch of the Secret through the Kubernetes API is established (1) or failing (0).', registers });
      this.secretPresent = new Gauge({ name: 'hotcert_k8s_secret_present', help: 'Whether the watched Secret exists (0 after it was deleted).', registers });
      this.restarts = new Counter({
        name: 'hotcert_k8s_watch_restarts_total',
        help: 'Restarts of the Secret watch, by reason (closed by the server, gone = 410, stalled, unauthorized, forbidden, not_found, server_error, network).',
        labelNames: ['reason'] as const,
        registers,
      });
      for (const reason of WATCH_RESTART_REASONS) this.restarts.inc({ reason }, 0);
    }
    if (recording) {
      this.events = new Counter({
        name: 'hotcert_k8s_events_total',
        help: 'Kubernetes Events posted about this Pod, by result (created, patched = aggregated repeat, failed, dropped, rate_limited).',
        labelNames: ['result'] as const,
        registers,
      });
      for (const result of EVENT_RESULTS) this.events.inc({ result }, 0);
    }
  }
}

/**
 * The start-up load from the API: retries the list (with backoff) until `initialTimeoutMs`;
 * a Secret that exists but is invalid fails at once, as a bad file would.
 */
export async function initialFromApi(options: KubernetesOptions, secret: SecretReference, logger: Logger, clock: Clock = systemClock): Promise<Candidate> {
  const source = new SecretSource({ api: options.api, namespace: secret.namespace, name: secret.name, sink: () => ({ result: 'unchanged' }), logger });
  const deadline = clock.monotonic() + (options.initialTimeoutMs ?? 30_000);
  for (let attempt = 0; ; attempt++) {
    try {
      const candidate = await source.fetch();
      if ('files' in candidate || clock.monotonic() >= deadline) return candidate;
      logger.warn({ event: 'k8s_initial_wait', reason: candidate.rejection.reason }, `${candidate.rejection.message}; waiting for it`);
    } catch (error) {
      if (clock.monotonic() >= deadline) {
        throw new HotcertError(ErrorCodes.NO_CERTIFICATE, `no valid certificate at start-up: cannot read Secret ${secret.namespace}/${secret.name} through the Kubernetes API: ${(error as Error).message}`, {
          cause: error,
          details: { reason: 'read_error', file: `Secret ${secret.namespace}/${secret.name}` },
        });
      }
      logger.warn({ event: 'k8s_initial_wait', err: { message: (error as Error).message } }, `cannot read Secret ${secret.namespace}/${secret.name} yet: ${(error as Error).message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(backoffDelay(attempt, options.backoff), Math.max(0, deadline - clock.monotonic()))));
  }
}

export interface RunningKubernetes {
  close(): Promise<void>;
}

export interface StartKubernetesOptions {
  readonly options: KubernetesOptions;
  readonly reloader: Reloader;
  readonly certificate: string;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Digest of the candidate loaded at start-up, when it came from the API. */
  readonly alreadyServed?: string | undefined;
  /** Completes a Secret's candidate before it is offered (the mTLS client CA). */
  readonly transform?: (candidate: Candidate) => Candidate;
}

export function startKubernetes({ options, reloader, certificate, registry, logger, clock, alreadyServed, transform }: StartKubernetesOptions): RunningKubernetes {
  const metrics = new KubernetesMetrics(registry, options.secret !== undefined, options.events !== undefined);
  let recorder: EventRecorder | undefined;
  if (options.events) {
    recorder = new EventRecorder({ api: options.api, pod: options.events.pod, logger, onResult: (result) => metrics.events?.inc({ result }), ...(clock ? { clock } : {}) });
    recorder.subscribe(reloader);
  }
  let source: SecretSource | undefined;
  if (options.secret) {
    source = new SecretSource({
      api: options.api,
      namespace: options.secret.namespace,
      name: options.secret.name,
      sink: (candidate, offer) => reloader.offer(certificate, transform ? transform(candidate) : candidate, offer),
      logger,
      alreadyServed,
      ...(options.watchTimeoutSeconds === undefined ? {} : { watchTimeoutSeconds: options.watchTimeoutSeconds }),
      ...(options.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: options.stallTimeoutMs }),
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      ...(clock ? { clock } : {}),
      onWatchUp: (up) => metrics.watchUp?.set(up ? 1 : 0),
      onRestart: (reason) => metrics.restarts?.inc({ reason }),
      onSecretPresent: (present) => metrics.secretPresent?.set(present ? 1 : 0),
    });
    source.start();
  }
  return {
    async close() {
      await source?.close();
      await recorder?.flush();
    },
  };
}
