/**
 * The file source: tells the reloader "something may have changed" and hands it the bytes.
 *
 * It watches the *directories* holding the files (the kubelet replaces `..data`, so a watch on a
 * single file goes stale), treats every event as a hint and re-reads, and polls on a timer as a
 * safety net for missed events. A `..data` swap is atomic and is read at once; other events wait
 * for a short quiet time (`debounce`). A candidate that looks half-written is re-read for a
 * short settle window before it is counted as a rejection.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { watch } from 'chokidar';
import { systemClock, type Clock } from './clock.js';
import { candidateDigest, readCandidate, DEFAULT_MAX_FILE_BYTES, type Candidate, type CertificatePaths } from './read-candidate.js';
import type { OfferOptions, OfferOutcome, ReloadTrigger } from './reloader.js';

/** What the file source needs of a watcher (chokidar's FSWatcher; a test may pass another). */
export interface DirectoryWatcher {
  on(event: 'all', listener: (event: string, path: string) => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  once(event: 'ready', listener: () => void): unknown;
  close(): Promise<void>;
}

export type WatcherFactory = (directories: readonly string[]) => DirectoryWatcher;

/** How the source currently learns about changes. */
export type WatchMode = 'events' | 'polling';

export const chokidarWatcher: WatcherFactory = (directories) =>
  watch([...directories], {
    ignoreInitial: true,
    depth: 0,
    followSymlinks: false,
    // The kubelet's writes are atomic by construction; plain writers are debounced by the source.
    awaitWriteFinish: false,
  });

/** Where a source delivers candidates (the reloader's `offer`, bound to one pair). */
export type CandidateSink = (candidate: Candidate, options: OfferOptions) => OfferOutcome;

export interface FileSourceOptions {
  readonly paths: CertificatePaths;
  readonly sink: CandidateSink;
  /** Watch the directories for events. With `false`, only the poll runs. @default true */
  readonly watch?: boolean;
  /** Re-read interval; `0` disables the poll. @default 10_000 */
  readonly pollIntervalMs?: number;
  /** Quiet time after a plain-file event before reading. @default 50 */
  readonly debounceMs?: number;
  /** How long a half-written candidate is re-read before it counts as rejected. @default 1_000 */
  readonly settleMs?: number;
  /** Pause between settle re-reads. @default 100 */
  readonly settleRetryMs?: number;
  /** @default 1 MiB */
  readonly maxFileBytes?: number;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Called with watcher failures (the source falls back to polling). */
  readonly onWatchError?: (error: unknown) => void;
  /** Called when the source switches between file events and polling, with why. */
  readonly onWatchMode?: (mode: WatchMode, reason: string) => void;
  /** Poll interval while file events are unavailable. @default 1_000 */
  readonly fallbackPollIntervalMs?: number;
  /** How often to try file events again after a watcher error. @default 30_000 */
  readonly rewatchIntervalMs?: number;
  /** @default chokidar on the directories */
  readonly watcherFactory?: WatcherFactory;
  /** Digest of the candidate already served (the start-up load), so the first poll does not offer it again. */
  readonly alreadyServed?: string | undefined;
}

interface Pending {
  trigger: ReloadTrigger;
  startedAt: number;
}

/** Re-reads after the last event of a burst (see `#scheduleConfirmations`). */
const CONFIRM_DELAYS_MS = [100, 1_100];

/** Prefix of everything the kubelet's AtomicWriter creates in a Secret mount. */
const KUBELET_PREFIX = '..';
const KUBELET_DATA = '..data';
const KUBELET_DATA_TMP = '..data_tmp';

export class FileSource {
  readonly #paths: CertificatePaths;
  readonly #sink: CandidateSink;
  readonly #watch: boolean;
  readonly #pollIntervalMs: number;
  readonly #debounceMs: number;
  readonly #settleMs: number;
  readonly #settleRetryMs: number;
  readonly #maxFileBytes: number;
  readonly #clock: Clock;
  readonly #onWatchError: (error: unknown) => void;
  readonly #onWatchMode: (mode: WatchMode, reason: string) => void;
  readonly #fallbackPollIntervalMs: number;
  readonly #rewatchIntervalMs: number;
  readonly #watcherFactory: WatcherFactory;
  /** Directories to watch, each with the file names in it that matter. */
  readonly #watched = new Map<string, Set<string>>();

  #watcher: DirectoryWatcher | undefined;
  #mode: WatchMode = 'polling';
  #fallbackTimer: NodeJS.Timeout | undefined;
  #lastRewatch = 0;
  #abandonReadyWait: (() => void) | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #debounceTimer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #settleSince: number | undefined;
  #running: Promise<void> | undefined;
  #queued: Pending | undefined;
  #debounced: Pending | undefined;
  #confirmTimers: NodeJS.Timeout[] = [];
  /** Digest of the last candidate the reloader applied or found unchanged. */
  #lastAccepted: string | undefined;
  /** Digest of the last candidate the reloader refused. */
  #lastRejected: string | undefined;
  #closed = false;

  constructor(options: FileSourceOptions) {
    this.#paths = options.paths;
    this.#sink = options.sink;
    this.#watch = options.watch ?? true;
    this.#pollIntervalMs = options.pollIntervalMs ?? 10_000;
    this.#debounceMs = options.debounceMs ?? 50;
    this.#settleMs = options.settleMs ?? 1_000;
    this.#settleRetryMs = options.settleRetryMs ?? 100;
    this.#maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.#clock = options.clock ?? systemClock;
    this.#onWatchError = options.onWatchError ?? (() => {});
    this.#onWatchMode = options.onWatchMode ?? (() => {});
    this.#fallbackPollIntervalMs = options.fallbackPollIntervalMs ?? 1_000;
    this.#rewatchIntervalMs = options.rewatchIntervalMs ?? 30_000;
    this.#watcherFactory = options.watcherFactory ?? chokidarWatcher;
    this.#lastAccepted = options.alreadyServed;
    for (const file of [options.paths.cert, options.paths.key, options.paths.ca, options.paths.clientCa, options.paths.clientCrl]) {
      if (file === undefined) continue;
      const dir = dirname(resolve(file));
      const names = this.#watched.get(dir) ?? new Set<string>();
      names.add(basename(file));
      this.#watched.set(dir, names);
    }
  }

  /** Starts watching and polling; resolves once the watcher is ready. */
  async start(): Promise<void> {
    if (this.#pollIntervalMs > 0) {
      this.#pollTimer = setInterval(() => this.#request('poll'), this.#pollIntervalMs);
      this.#pollTimer.unref();
    }
    if (!this.#watch) {
      this.#onWatchMode('polling', 'watching is off (--no-watch)');
      return;
    }
    await this.#startWatcher('started');
  }

  /** `events` while file events arrive, `polling` when watching is off or has failed. */
  get mode(): WatchMode {
    return this.#mode;
  }

  async #startWatcher(reason: string): Promise<void> {
    this.#lastRewatch = this.#clock.monotonic();
    let watcher: DirectoryWatcher;
    try {
      watcher = this.#watcherFactory([...this.#watched.keys()]);
    } catch (error) {
      this.#fallBack(error);
      return;
    }
    this.#watcher = watcher;
    watcher.on('all', (event, path) => {
      // The watched directory itself went away: its watch is dead even when it comes back.
      if (event === 'unlinkDir' && this.#watched.has(path)) this.#fallBack(undefined, `${path} was removed`);
      else this.#onEvent(path, event);
    });
    watcher.on('error', (error) => this.#fallBack(error));
    // A watcher that fails before it is ready may never be: stop waiting when it is replaced.
    await new Promise<void>((ready) => {
      watcher.once('ready', ready);
      this.#abandonReadyWait = ready;
    });
    this.#abandonReadyWait = undefined;
    if (this.#watcher !== watcher) return;
    clearInterval(this.#fallbackTimer);
    this.#fallbackTimer = undefined;
    this.#mode = 'events';
    this.#onWatchMode('events', reason);
  }

  /**
   * File events failed (inotify watches exhausted, the directory removed, …): poll every
   * `fallbackPollIntervalMs` instead, and try events again once the directories exist.
   */
  #fallBack(error: unknown, reason?: string): void {
    if (this.#closed) return;
    if (error !== undefined) this.#onWatchError(error);
    const watcher = this.#watcher;
    this.#watcher = undefined;
    this.#abandonReadyWait?.();
    watcher?.close().catch(() => {});
    const why = reason ?? `watcher error: ${(error as { code?: string } | undefined)?.code ?? (error as Error | undefined)?.message ?? 'unknown'}`;
    const removed = reason !== undefined;
    if (this.#mode !== 'polling' || this.#fallbackTimer === undefined) this.#onWatchMode('polling', why);
    this.#mode = 'polling';
    clearInterval(this.#fallbackTimer);
    this.#fallbackTimer = setInterval(() => {
      this.#request('poll');
      const due = removed || this.#clock.monotonic() - this.#lastRewatch >= this.#rewatchIntervalMs;
      if (due && this.#watcher === undefined && [...this.#watched.keys()].every((dir) => existsSync(dir))) {
        void this.#startWatcher(removed ? 'the directory is back' : 'retrying file events');
      }
    }, this.#fallbackPollIntervalMs);
    this.#fallbackTimer.unref();
    this.#request('poll');
  }

  /** Reads now, outside the watch and the poll (SIGHUP, an admin endpoint, a test). */
  async reload(trigger: ReloadTrigger = 'manual'): Promise<void> {
    this.#request(trigger);
    await this.idle();
  }

  /** Resolves when no read is running or queued. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pollTimer);
    clearInterval(this.#fallbackTimer);
    clearTimeout(this.#debounceTimer);
    clearTimeout(this.#settleTimer);
    for (const timer of this.#confirmTimers) clearTimeout(timer);
    await this.#watcher?.close();
    await this.idle();
  }

  #onEvent(path: string, event = 'change'): void {
    const names = this.#watched.get(dirname(path));
    const name = basename(path);
    if (!names) return;
    const kubelet = name.startsWith(KUBELET_PREFIX);
    if (!kubelet && !names.has(name)) return;
    const seenAt = this.#clock.monotonic();
    this.#scheduleConfirmations(seenAt);
    // Names starting with `..` belong to the kubelet's AtomicWriter (`..data`, `..data_tmp`, the
    // timestamped directories). Its swap is atomic, so a read at any moment sees a whole pair.
    // A new timestamped directory or `..data_tmp` comes before the flip: reading then finds the
    // old pair and only delays the read that matters (the confirmations cover a folded event).
    if (kubelet && (name === KUBELET_DATA_TMP || (event === 'addDir' && name !== KUBELET_DATA))) return;
    if (kubelet) {
      clearTimeout(this.#debounceTimer);
      const since = this.#debounced?.startedAt ?? seenAt;
      this.#debounced = undefined;
      this.#request('watch', since);
      return;
    }
    this.#debounced ??= { trigger: 'watch', startedAt: seenAt };
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => {
      const pending = this.#debounced;
      this.#debounced = undefined;
      if (pending) this.#request(pending.trigger, pending.startedAt);
    }, this.#debounceMs);
  }

  /**
   * chokidar folds events that come close together (a 5 ms throttle per file, 1 s per directory
   * listing), so the last change of a burst can go unreported. Re-read a little after the last
   * event and once more after the directory throttle; unchanged bytes cost one small read.
   */
  #scheduleConfirmations(seenAt: number): void {
    for (const timer of this.#confirmTimers) clearTimeout(timer);
    this.#confirmTimers = CONFIRM_DELAYS_MS.map((delay) => {
      const timer = setTimeout(() => this.#request('watch', seenAt), Math.max(delay, this.#debounceMs * 2));
      timer.unref();
      return timer;
    });
  }

  /** Asks for a read; reads never overlap, and requests made during one collapse into one more. */
  #request(trigger: ReloadTrigger, startedAt: number = this.#clock.monotonic()): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#queued = { trigger: this.#queued?.trigger ?? trigger, startedAt: Math.min(this.#queued?.startedAt ?? startedAt, startedAt) };
      return;
    }
    this.#running = this.#read({ trigger, startedAt }).finally(() => {
      this.#running = undefined;
      const next = this.#queued;
      this.#queued = undefined;
      if (next) this.#request(next.trigger, next.startedAt);
    });
  }

  async #read(pending: Pending): Promise<void> {
    const candidate = await readCandidate(this.#paths, this.#maxFileBytes);
    if (this.#closed) return;
    // The same bytes as the last accepted offer: nothing to tell the reloader. (After a
    // rejection the same bytes are offered again: a certificate not yet valid becomes valid.
    // A manual reload is always reported: someone asked.)
    const digest = candidateDigest(candidate);
    if (digest !== undefined && digest === this.#lastAccepted && pending.trigger !== 'manual') return;
    // Bytes just refused are looked at again by the poll (a certificate not valid yet becomes
    // valid), not by every file event of the same burst.
    if (digest !== undefined && digest === this.#lastRejected && pending.trigger === 'watch') return;
    const now = this.#clock.monotonic();
    const settled = this.#settleSince !== undefined && now - this.#settleSince >= this.#settleMs;
    const outcome = this.#sink(candidate, { trigger: pending.trigger, startedAt: pending.startedAt, tentative: !settled });
    clearTimeout(this.#settleTimer);
    if (outcome.result !== 'deferred') {
      this.#settleSince = undefined;
      this.#lastAccepted = outcome.result === 'rejected' ? undefined : digest;
      this.#lastRejected = outcome.result === 'rejected' ? digest : undefined;
      return;
    }
    // Looks half-written: look again shortly, and count it only if it stays broken.
    this.#settleSince ??= now;
    this.#settleTimer = setTimeout(() => this.#request(pending.trigger, pending.startedAt), this.#settleRetryMs);
    this.#settleTimer.unref();
  }
}
