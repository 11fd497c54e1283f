const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/**
 * Parses a duration such as `50ms`, `10s`, `1.5m` or `2h` into milliseconds.
 * A bare `0` is accepted (it means "off" where a setting allows that).
 * Returns `undefined` for anything else, so the caller can name the setting.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  const match = PATTERN.exec(trimmed);
  if (!match) return undefined;
  const [, amount, unit] = match;
  const ms = Number(amount) * (UNITS[unit ?? ''] ?? Number.NaN);
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** Formats milliseconds back into the shortest exact duration text. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
