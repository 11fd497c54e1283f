/** Time, injected so tests can move it. */
export interface Clock {
  /** Wall-clock time in epoch milliseconds (validity windows, timestamps). */
  now(): number;
  /** Monotonic milliseconds (durations). */
  monotonic(): number;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  monotonic: () => performance.now(),
});
