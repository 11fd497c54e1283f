/**
 * The Secret source: list + watch of exactly one Secret through the Kubernetes API, handing its
 * `tls.crt`/`tls.key`/`ca.crt` to the same reloader as the file source (trigger `api`).
 *
 * It resumes a watch from the last resourceVersion (bookmarks keep that fresh), relists on
 * 410 Gone, re-watches when the server ends a stream, aborts and re-watches a stream that went
 * silent, and on any other failure (refused, reset, 401, 403, 5xx) keeps serving and retries
 * with capped exponential backoff and jitter. client-node's informer stops on such errors;
 * this loop never does until `close()`.
 */
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { CandidateSink } from '../file-source.js';
import type { Logger } from '../logger.js';
import type { PemFile } from '../material.js';
import { candidateDigest, type Candidate } from '../read-candidate.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { KubeApiError, type KubeApi, type SecretObject, type StatusObject, type WatchHandle } from './kube-api.js';

export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

/** Why a watch was restarted: the `reason` label of `hotcert_k8s_watch_restarts_total`. */
export type WatchRestartReason = 'closed' | 'gone' | 'stalled' | 'unauthorized' | 'forbidden' | 'not_found' | 'server_error' | 'network';

export interface SecretSourceEvents {
  /** The watch is established (true) or failing (false). */
  onWatchUp?(up: boolean): void;
  onRestart?(reason: WatchRestartReason): void;
  /** Whether the Secret exists (false after a DELETED event or an empty list). */
  onSecretPresent?(present: boolean): void;
}

export interface SecretSourceOptions extends SecretSourceEvents {
  readonly api: KubeApi;
  readonly namespace: string;
  readonly name: string;
  readonly sink: CandidateSink;
  readonly logger: Logger;
  /** Asked of the server per watch request; it ends the stream after about that long. @default 300 */
  readonly watchTimeoutSeconds?: number;
  /** A stream with no event or bookmark for this long is abandoned. @default 90_000 */
  readonly stallTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Digest of a candidate already served (the start-up load), so it is not offered twice. */
  readonly alreadyServed?: string | undefined;
}

function restartReason(error: unknown): WatchRestartReason {
  const status = error instanceof KubeApiError ? error.status : undefined;
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 410) return 'gone';
  if (status !== undefined) return 'server_error';
  return 'network';
}

const ADVICE: Partial<Record<WatchRestartReason, string>> = {
  unauthorized: 'the service account token was refused: check that it is mounted (automountServiceAccountToken) and valid',
  forbidden: 'RBAC denies it: the Role needs get, list and watch on this Secret (resourceNames)',
  not_found: 'the namespace does not exist or the API path is wrong',
};

/** Turns a Secret into a candidate, or the reason it cannot be one. */
export function secretCandidate(secret: SecretObject, namespace: string, name: string): Candidate {
  const where = `Secret ${namespace}/${name}`;
  if (secret.type !== TLS_SECRET_TYPE) {
    return {
      rejection: {
        reason: 'parse_error',
        file: where,
        message: `${where}: type is "${secret.type ?? '(none)'}", expected ${TLS_SECRET_TYPE} (cert-manager creates ${TLS_SECRET_TYPE} Secrets)`,
      },
    };
  }
  const data = secret.data ?? {};
  const file = (key: string): PemFile | undefined => {
    const value = data[key];
    return value === undefined ? undefined : { path: `${where} key ${key}`, data: Buffer.from(value, 'base64') };
  };
  const cert = file('tls.crt');
  const key = file('tls.key');
  if (!cert || !key) {
    const missing = [cert ? undefined : 'tls.crt', key ? undefined : 'tls.key'].filter(Boolean).join(' and ');
    return { rejection: { reason: 'empty', file: where, message: `${where}: has no ${missing}` } };
  }
  return { files: { cert, key, ca: file('ca.crt') } };
}

class WatchEnded {
  constructor(readonly reason: 'closed' | 'gone' | 'stalled') {}
}

export class SecretSource {
  readonly #options: SecretSourceOptions;
  readonly #clock: Clock;
  #resourceVersion = '';
  #lastAccepted: string | undefined;
  #closed = false;
  #handle: WatchHandle | undefined;
  #wake: (() => void) | undefined;
  #endWatch: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: SecretSourceOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#lastAccepted = options.alreadyServed;
  }

  /** Reads the Secret once: the start-up load when the API is the only source. */
  async fetch(): Promise<Candidate> {
    const { api, namespace, name } = this.#options;
    const secret = await api.getSecret(namespace, name);
    if (!secret) {
      return { rejection: { reason: 'read_error', file: `Secret ${namespace}/${name}`, message: `Secret ${namespace}/${name} does not exist` } };
    }
    return secretCandidate(secret, namespace, name);
  }

  /** Starts the list + watch loop in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#handle?.abort();
    this.#endWatch?.();
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { logger, namespace, name } = this.#options;
    let relist = true;
    let failures = 0;
    while (!this.#closed) {
      try {
        if (relist) {
          await this.#list();
          relist = false;
        }
        const started = this.#clock.monotonic();
        const ended = await this.#watch();
        if (this.#closed) break;
        this.#options.onRestart?.(ended.reason);
        logger.debug({ event: 'k8s_watch_restart', reason: ended.reason, resourceVersion: this.#resourceVersion }, `watch of Secret ${namespace}/${name} ended (${ended.reason}); watching again`);
        if (ended.reason === 'gone') relist = true;
        // A stream that ends at once, again and again, is a failure in disguise: back off.
        failures = this.#clock.monotonic() - started < 1_000 ? failures + 1 : 0;
        if (failures > 0) await this.#sleep(backoffDelay(failures - 1, this.#options.backoff));
      } catch (error) {
        if (this.#closed) break;
        const reason = restartReason(error);
        this.#options.onWatchUp?.(false);
        this.#options.onRestart?.(reason);
        const delay = backoffDelay(failures, this.#options.backoff);
        failures++;
        const advice = ADVICE[reason];
        logger[failures === 1 ? 'warn' : 'debug'](
          { event: 'k8s_watch_error', reason, attempt: failures, retryInMs: delay, err: { message: (error as Error).message } },
          `cannot watch Secret ${namespace}/${name} (${reason}): ${(error as Error).message}${advice ? `; ${advice}` : ''}; still serving the last good certificate, retrying in ${delay} ms`,
        );
        relist = true;
        await this.#sleep(delay);
      }
    }
    this.#options.onWatchUp?.(false);
  }

  async #list(): Promise<void> {
    const { api, namespace, name } = this.#options;
    const list = await api.listSecrets(namespace, name);
    this.#resourceVersion = list.resourceVersion;
    const [secret] = list.items;
    if (secret) this.#deliver(secret);
    else this.#missing();
  }

  #watch(): Promise<WatchEnded> {
    const { api, namespace, name, logger } = this.#options;
    const stallMs = this.#options.stallTimeoutMs ?? 90_000;
    return new Promise<WatchEnded>((resolve, reject) => {
      let settled = false;
      let stallTimer: NodeJS.Timeout | undefined;
      const finish = (outcome: WatchEnded | Error) => {
        if (settled) return;
        settled = true;
        this.#endWatch = undefined;
        clearTimeout(stallTimer);
        this.#handle?.abort();
        this.#handle = undefined;
        if (outcome instanceof WatchEnded) resolve(outcome);
        else reject(outcome);
      };
      const armStallTimer = () => {
        clearTimeout(stallTimer);
        stallTimer = setTimeout(() => finish(new WatchEnded('stalled')), stallMs);
        stallTimer.unref();
      };
      armStallTimer();
      // close() ends a watch even while its request is still being made.
      this.#endWatch = () => finish(new WatchEnded('closed'));
      api
        .watchSecrets(
          namespace,
          name,
          this.#resourceVersion,
          this.#options.watchTimeoutSeconds ?? 300,
          (type, object) => {
            if (settled) return;
            armStallTimer();
            this.#options.onWatchUp?.(true);
            const secret = object as SecretObject;
            if (type === 'ERROR') {
              const status = object as StatusObject;
              if (status.code === 410) return finish(new WatchEnded('gone'));
              return finish(new KubeApiError(`watch Secret ${namespace}/${name}: ${status.reason ?? 'error'} ${status.message ?? ''}`.trim(), status.code));
            }
            const version = secret.metadata?.resourceVersion;
            if (version) this.#resourceVersion = version;
            if (type === 'ADDED' || type === 'MODIFIED') this.#deliver(secret);
            else if (type === 'DELETED') this.#missing();
          },
          (error) => finish(error ? (error as Error) : new WatchEnded('closed')),
        )
        .then(
          (handle) => {
            if (settled) handle.abort();
            else {
              this.#handle = handle;
              // The response headers arrived: the stream is up even before its first event.
              this.#options.onWatchUp?.(true);
            }
          },
          (error: unknown) => finish(error as Error),
        );
      logger.trace({ event: 'k8s_watch', resourceVersion: this.#resourceVersion }, 'watching');
    });
  }

  #deliver(secret: SecretObject): void {
    const { namespace, name, sink } = this.#options;
    this.#options.onSecretPresent?.(true);
    const candidate = secretCandidate(secret, namespace, name);
    const digest = candidateDigest(candidate);
    if (digest !== undefined && digest === this.#lastAccepted) return;
    const outcome = sink(candidate, { trigger: 'api' });
    this.#lastAccepted = outcome.result === 'rejected' || outcome.result === 'deferred' ? undefined : digest;
  }

  #missing(): void {
    const { namespace, name, logger } = this.#options;
    this.#options.onSecretPresent?.(false);
    this.#lastAccepted = undefined;
    logger.warn({ event: 'k8s_secret_missing', namespace, name }, `Secret ${namespace}/${name} does not exist (deleted?); still serving the last good certificate`);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
