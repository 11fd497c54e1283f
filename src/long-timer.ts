/**
 * `setTimeout` for delays of any length: Node fires a delay above 2^31-1 ms (24.8 days) at once,
 * which certificate lifetimes and ticket-key lifetimes easily exceed. Unref'd: a pending timer
 * never keeps the process alive.
 */
const MAX_DELAY_MS = 2 ** 31 - 1;

export interface LongTimer {
  cancel(): void;
}

export function longTimeout(callback: () => void, delayMs: number, now: () => number = Date.now): LongTimer {
  const due = now() + Math.max(0, delayMs);
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const remaining = due - now();
    timer = setTimeout(remaining > MAX_DELAY_MS ? arm : callback, Math.min(Math.max(0, remaining), MAX_DELAY_MS));
    timer.unref();
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}
