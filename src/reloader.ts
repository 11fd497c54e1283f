/**
 * The reloader alone decides what is served. Sources hand it candidates; it validates, skips what
 * is already served, builds and swaps through the pair's `apply` function, keeps the last good
 * material and tells subscribers. A failed candidate never replaces a good one.
 */
import { EventEmitter } from 'node:events';
import type { CertificateInfo } from './certificate-info.js';
import { systemClock, type Clock } from './clock.js';
import { ErrorCodes, HotcertError } from './errors.js';
import { validateMaterial, type CandidateFiles, type CertificateMaterial, type Rejection, type RejectionReason } from './material.js';
import { filesDigest, type Candidate } from './read-candidate.js';

/** What caused a reload attempt; the `trigger` label of `hotcert_reloads_total`. */
export type ReloadTrigger = 'watch' | 'poll' | 'api' | 'manual';

/** Swaps the material into the TLS stack. Throws if the TLS stack refuses it. */
export type ApplyMaterial = (material: CertificateMaterial) => void;

/** The certificate being served for one named pair. */
export interface LiveCertificate extends CertificateInfo {
  /** Logical name of the pair (`default` for the single-pair case). */
  readonly certificate: string;
  /** When this certificate started being served (ISO 8601). */
  readonly reloadedAt: string;
}

export interface ReloadEvent {
  readonly certificate: string;
  readonly trigger: ReloadTrigger;
  readonly live: LiveCertificate;
  readonly material: CertificateMaterial;
  readonly previous: LiveCertificate;
  /** Trigger (event seen by the source) to swap done. */
  readonly durationSeconds: number;
}

export interface UnchangedEvent {
  readonly certificate: string;
  readonly trigger: ReloadTrigger;
}

export interface RejectEvent {
  readonly certificate: string;
  readonly trigger: ReloadTrigger;
  readonly reason: RejectionReason;
  readonly file: string;
  readonly message: string;
  /** The same bytes were refused for the same reason last time (log it quietly). */
  readonly repeated: boolean;
}

export interface ReloaderEvents {
  reload: [ReloadEvent];
  unchanged: [UnchangedEvent];
  reject: [RejectEvent];
  /** A subscriber threw; the reloader carried on. */
  listenerError: [unknown];
}

export interface OfferOptions {
  readonly trigger: ReloadTrigger;
  /** Monotonic time the trigger was seen; defaults to now. */
  readonly startedAt?: number;
  /**
   * A tentative offer that would be rejected is not counted or reported: the source will try
   * again (a writer may be between writing the certificate and the key).
   */
  readonly tentative?: boolean;
}

export type OfferOutcome =
  | { readonly result: 'applied'; readonly live: LiveCertificate }
  | { readonly result: 'unchanged' }
  | { readonly result: 'rejected'; readonly rejection: Rejection }
  | { readonly result: 'deferred'; readonly rejection: Rejection };

/** Reasons a writer in progress can cause; worth a second look before counting. */
const TRANSIENT_REASONS: ReadonlySet<RejectionReason> = new Set(['read_error', 'empty', 'parse_error', 'key_mismatch', 'chain_invalid']);

interface PairState {
  readonly apply: ApplyMaterial;
  material: CertificateMaterial;
  live: LiveCertificate;
  rawHash: string;
  lastSuccessful: boolean;
  lastSuccessAt: number;
  lastRejectedKey: string | undefined;
}

export interface PairStatus {
  readonly certificate: string;
  readonly material: CertificateMaterial;
  readonly live: LiveCertificate;
  /** Did the latest candidate get served (or was it already being served). */
  readonly lastReloadSuccessful: boolean;
  /** Epoch ms of the last swap (or of the initial load). */
  readonly lastSuccessAt: number;
}

export type CertificateListener = (live: LiveCertificate) => void;

export interface ReloaderOptions {
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * Holds the last good material per named pair.
 *
 * @example
 * const reloader = new Reloader();
 * reloader.addPair('default', material, (m) => server.setSecureContext(m.tlsOptions()));
 * reloader.subscribe((live) => console.log('serving', live.serialNumber));
 * reloader.offer('default', await readCandidate(paths), { trigger: 'manual' });
 */
export class Reloader extends EventEmitter<ReloaderEvents> {
  readonly #clock: Clock;
  readonly #pairs = new Map<string, PairState>();
  readonly #listeners = new Set<CertificateListener>();

  constructor(options: ReloaderOptions = {}) {
    super();
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Validates the first candidate of a pair strictly: at start-up there is no last good
   * certificate to fall back on. Throws `HOTCERT_ERR_NO_CERTIFICATE` naming the file and reason.
   */
  static validateInitial(certificate: string, candidate: Candidate, clock: Clock = systemClock): CertificateMaterial {
    const rejection = 'rejection' in candidate ? candidate.rejection : undefined;
    const result = 'files' in candidate ? validateMaterial(candidate.files, clock.now()) : undefined;
    if (result?.ok) return result.material;
    const why = rejection ?? (result && !result.ok ? result.rejection : undefined);
    throw new HotcertError(ErrorCodes.NO_CERTIFICATE, `no valid certificate for "${certificate}" at start-up: ${why?.message ?? 'nothing to read'}`, {
      details: { certificate, reason: why?.reason, file: why?.file },
    });
  }

  /** Registers a pair with its already validated and served first material. */
  addPair(certificate: string, material: CertificateMaterial, apply: ApplyMaterial, raw?: CandidateFiles): LiveCertificate {
    if (this.#pairs.has(certificate)) {
      throw new HotcertError(ErrorCodes.INVALID_OPTION, `certificate "${certificate}" is already registered`);
    }
    const live = this.#live(certificate, material);
    this.#pairs.set(certificate, {
      apply,
      material,
      live,
      rawHash: raw ? filesDigest(raw) : '',
      lastSuccessful: true,
      lastSuccessAt: this.#clock.now(),
      lastRejectedKey: undefined,
    });
    this.#notify(live);
    return live;
  }

  get certificates(): readonly string[] {
    return [...this.#pairs.keys()];
  }

  status(certificate: string): PairStatus | undefined {
    const state = this.#pairs.get(certificate);
    if (!state) return undefined;
    return {
      certificate,
      material: state.material,
      live: state.live,
      lastReloadSuccessful: state.lastSuccessful,
      lastSuccessAt: state.lastSuccessAt,
    };
  }

  current(certificate: string): LiveCertificate | undefined {
    return this.#pairs.get(certificate)?.live;
  }

  /** Calls `listener` at once with every live certificate, then after every swap. */
  subscribe(listener: CertificateListener): () => void {
    this.#listeners.add(listener);
    for (const state of this.#pairs.values()) this.#call(listener, state.live);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Considers a candidate for a pair. Synchronous: one decision at a time. */
  offer(certificate: string, candidate: Candidate, options: OfferOptions): OfferOutcome {
    const state = this.#pairs.get(certificate);
    if (!state) throw new HotcertError(ErrorCodes.UNKNOWN_CERTIFICATE, `no certificate pair named "${certificate}"`);
    const startedAt = options.startedAt ?? this.#clock.monotonic();

    if ('rejection' in candidate) return this.#reject(certificate, state, candidate.rejection, options, 'read');
    const rawHash = filesDigest(candidate.files);
    if (rawHash === state.rawHash) return this.#unchanged(certificate, state, options);

    const result = validateMaterial(candidate.files, this.#clock.now());
    if (!result.ok) return this.#reject(certificate, state, result.rejection, options, rawHash);
    const { material } = result;
    if (material.fingerprint === state.material.fingerprint) {
      state.rawHash = rawHash;
      return this.#unchanged(certificate, state, options);
    }

    try {
      state.apply(material);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const rejection: Rejection = {
        reason: code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH' ? 'key_mismatch' : 'parse_error',
        file: candidate.files.cert.path,
        message: `${candidate.files.cert.path}: the TLS stack refused the certificate and key (${code ?? 'unknown error'})`,
      };
      return this.#reject(certificate, state, rejection, { ...options, tentative: false }, rawHash);
    }

    const previous = state.live;
    const live = this.#live(certificate, material);
    Object.assign(state, {
      material,
      live,
      rawHash,
      lastSuccessful: true,
      lastSuccessAt: this.#clock.now(),
      lastRejectedKey: undefined,
    } satisfies Partial<PairState>);
    const durationSeconds = Math.max(0, this.#clock.monotonic() - startedAt) / 1000;
    this.emit('reload', { certificate, trigger: options.trigger, live, material, previous, durationSeconds });
    this.#notify(live);
    return { result: 'applied', live };
  }

  #live(certificate: string, material: CertificateMaterial): LiveCertificate {
    return Object.freeze({ ...material.info, certificate, reloadedAt: new Date(this.#clock.now()).toISOString() });
  }

  #unchanged(certificate: string, state: PairState, options: OfferOptions): OfferOutcome {
    state.lastSuccessful = true;
    state.lastRejectedKey = undefined;
    this.emit('unchanged', { certificate, trigger: options.trigger });
    return { result: 'unchanged' };
  }

  #reject(certificate: string, state: PairState, rejection: Rejection, options: OfferOptions, rawHash: string): OfferOutcome {
    if (options.tentative && TRANSIENT_REASONS.has(rejection.reason)) return { result: 'deferred', rejection };
    const key = `${rawHash}|${rejection.reason}|${rejection.message}`;
    const repeated = state.lastRejectedKey === key;
    state.lastRejectedKey = key;
    state.lastSuccessful = false;
    this.emit('reject', { certificate, trigger: options.trigger, ...rejection, repeated });
    return { result: 'rejected', rejection };
  }

  #notify(live: LiveCertificate): void {
    for (const listener of this.#listeners) this.#call(listener, live);
  }

  #call(listener: CertificateListener, live: LiveCertificate): void {
    try {
      listener(live);
    } catch (error) {
      // A subscriber's bug must not stop the others or the reloader.
      this.emit('listenerError', error);
    }
  }
}
