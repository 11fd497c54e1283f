/**
 * Posts Kubernetes Events about the Pod, the way client-go's recorder does: an Event repeated
 * within the aggregation window bumps `count` and `lastTimestamp` on the existing object (a
 * PATCH) instead of creating a new one; a token bucket per Pod keeps a storm from flooding the
 * API server. Recording never blocks a reload: Events are queued and sent in the background, and
 * a full queue drops the oldest. Messages come from certificate facts and rejection messages,
 * which never contain key material.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Reloader } from '../reloader.js';
import type { KubeApi } from './kube-api.js';

export type EventResult = 'created' | 'patched' | 'failed' | 'dropped' | 'rate_limited';

export interface PodReference {
  readonly namespace: string;
  readonly name: string;
  /** From the downward API (`metadata.uid`), when given. */
  readonly uid?: string | undefined;
}

export interface EventRecorderOptions {
  readonly api: KubeApi;
  readonly pod: PodReference;
  readonly logger: Logger;
  readonly onResult?: (result: EventResult) => void;
  /** Repeats within this window are aggregated into one Event. @default 600_000 (client-go: 10 min) */
  readonly aggregationWindowMs?: number;
  /** Token bucket: burst size. @default 25 (client-go's spam filter) */
  readonly burst?: number;
  /** Token bucket: one token per this many ms. @default 300_000 (client-go: 1 per 5 min) */
  readonly refillEveryMs?: number;
  /** @default 100 */
  readonly maxQueue?: number;
  /** @default systemClock */
  readonly clock?: Clock;
  /** The reporting component. @default 'hotcert' */
  readonly component?: string;
}

export interface EventSpec {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

interface Aggregate {
  name: string;
  count: number;
  firstTimestamp: string;
  lastSeen: number;
}

/** The longest message the API server accepts for an Event is 1 KiB; longer ones are cut. */
const MAX_MESSAGE = 1024;

export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #clock: Clock;
  readonly #queue: EventSpec[] = [];
  readonly #aggregates = new Map<string, Aggregate>();
  #tokens: number;
  #lastRefill: number;
  #sending: Promise<void> | undefined;

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#tokens = options.burst ?? 25;
    this.#lastRefill = this.#clock.monotonic();
  }

  /** Records `CertificateReloaded` for each swap and `CertificateRejected` for each rejection. */
  subscribe(reloader: Reloader): void {
    reloader.on('reload', ({ certificate, live, trigger }) =>
      this.record({
        type: 'Normal',
        reason: 'CertificateReloaded',
        message: `Serving certificate "${certificate}" serial ${live.serialNumber} (${live.subject}), not after ${live.validTo}; trigger ${trigger}`,
      }),
    );
    reloader.on('reject', ({ certificate, reason, message }) =>
      this.record({
        type: 'Warning',
        reason: 'CertificateRejected',
        message: `Rejected a candidate for certificate "${certificate}" (${reason}); still serving the last good one: ${message}`,
      }),
    );
  }

  /** Queues an Event; returns at once. */
  record(spec: EventSpec): void {
    if (this.#queue.length >= (this.#options.maxQueue ?? 100)) {
      this.#queue.shift();
      this.#options.onResult?.('dropped');
    }
    this.#queue.push({ ...spec, message: spec.message.length > MAX_MESSAGE ? `${spec.message.slice(0, MAX_MESSAGE - 3)}...` : spec.message });
    this.#sending ??= this.#drain().finally(() => {
      this.#sending = undefined;
    });
  }

  /** Resolves when every queued Event has been sent (or has failed). */
  async flush(): Promise<void> {
    while (this.#sending) await this.#sending;
  }

  async #drain(): Promise<void> {
    for (let spec = this.#queue.shift(); spec; spec = this.#queue.shift()) {
      try {
        await this.#send(spec);
      } catch (error) {
        this.#options.onResult?.('failed');
        this.#options.logger.warn({ event: 'k8s_event_failed', reason: spec.reason, err: { message: (error as Error).message } }, `could not post a Kubernetes Event: ${(error as Error).message}`);
      }
    }
  }

  #takeToken(): boolean {
    const now = this.#clock.monotonic();
    const every = this.#options.refillEveryMs ?? 300_000;
    const burst = this.#options.burst ?? 25;
    const earned = Math.floor((now - this.#lastRefill) / every);
    if (earned > 0) {
      this.#tokens = Math.min(burst, this.#tokens + earned);
      this.#lastRefill += earned * every;
    }
    if (this.#tokens <= 0) return false;
    this.#tokens--;
    return true;
  }

  async #send(spec: EventSpec): Promise<void> {
    const { api, pod } = this.#options;
    const key = `${spec.type}|${spec.reason}|${spec.message}`;
    const now = this.#clock.now();
    const timestamp = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const existing = this.#aggregates.get(key);
    const window = this.#options.aggregationWindowMs ?? 600_000;
    if (existing && now - existing.lastSeen <= window) {
      existing.count++;
      existing.lastSeen = now;
      await api.patchEvent(pod.namespace, existing.name, [
        { op: 'replace', path: '/count', value: existing.count },
        { op: 'replace', path: '/lastTimestamp', value: timestamp },
      ]);
      this.#options.onResult?.('patched');
      return;
    }
    if (!this.#takeToken()) {
      this.#options.onResult?.('rate_limited');
      return;
    }
    const name = `${pod.name}.${randomBytes(8).toString('hex')}`;
    const component = this.#options.component ?? 'hotcert';
    await api.createEvent(pod.namespace, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: pod.namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}) },
      type: spec.type,
      reason: spec.reason,
      message: spec.message,
      source: { component },
      reportingComponent: component,
      reportingInstance: pod.name,
      firstTimestamp: timestamp,
      lastTimestamp: timestamp,
      count: 1,
    });
    this.#forgetOld(now, window);
    this.#aggregates.set(key, { name, count: 1, firstTimestamp: timestamp, lastSeen: now });
    this.#options.onResult?.('created');
  }

  #forgetOld(now: number, window: number): void {
    for (const [key, aggregate] of this.#aggregates) {
      if (now - aggregate.lastSeen > window) this.#aggregates.delete(key);
    }
  }
}
