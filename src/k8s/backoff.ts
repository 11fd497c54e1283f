/**
 * Capped exponential backoff with full jitter (the AWS architecture blog's "full jitter"):
 * a delay drawn uniformly from [base, min(cap, initial * 2^attempt)], so replicas that lost the
 * API server together do not come back in lockstep.
 */
export interface BackoffOptions {
  /** @default 500 */
  readonly initialMs?: number;
  /** @default 30_000 */
  readonly maxMs?: number;
  /** The smallest delay, so a retry never spins. @default 100 */
  readonly minMs?: number;
}

export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const min = Math.min(options.minMs ?? 100, max);
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.round(min + random() * Math.max(0, ceiling - min));
}
