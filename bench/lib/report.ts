/** Shared helpers for the benchmarks: percentiles, tables, JSON results and SVG plots. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const QUICK = process.argv.includes('--quick');

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export function summarise(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
  };
}

export function table(headers: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(2)) : c)));
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...cells.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function machine(): string {
  return `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node.js ${process.version}`;
}

/** Writes bench/results/NAME.json (the numbers) for BENCHMARKS.md and later comparison. */
export function writeResult(name: string, result: unknown): void {
  mkdirSync(`${ROOT}bench/results`, { recursive: true });
  writeFileSync(`${ROOT}bench/results/${name}${QUICK ? '.quick' : ''}.json`, `${JSON.stringify({ machine: machine(), date: new Date().toISOString(), quick: QUICK, result }, null, 2)}\n`);
}

/** A minimal SVG of several empirical CDFs (x: value, y: fraction ≤ x), for latency distributions. */
export function cdfSvg(title: string, unit: string, series: ReadonlyArray<{ name: string; values: readonly number[] }>, log = true): string {
  const width = 720;
  const height = 360;
  const margin = { left: 60, right: 20, top: 40, bottom: 50 };
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  const min = Math.max(Math.min(...all), 0.01);
  const max = Math.max(...all);
  const x = (v: number) => margin.left + ((log ? Math.log10(Math.max(v, min)) - Math.log10(min) : v - min) / ((log ? Math.log10(max) - Math.log10(min) : max - min) || 1)) * (width - margin.left - margin.right);
  const y = (f: number) => height - margin.bottom - f * (height - margin.top - margin.bottom);
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const paths = series.map((s, i) => {
    const sorted = [...s.values].sort((a, b) => a - b);
    const d = sorted.map((v, j) => `${j === 0 ? 'M' : 'L'}${x(v).toFixed(1)},${y((j + 1) / sorted.length).toFixed(1)}`).join(' ');
    return `<path d="${d}" fill="none" stroke="${colours[i % colours.length]}" stroke-width="2"/><text x="${width - margin.right - 200}" y="${margin.top + 16 * i}" fill="${colours[i % colours.length]}" font-size="12">${s.name}</text>`;
  });
  const ticks = log ? [0.1, 1, 10, 100, 1000, 10000].filter((t) => t >= min / 2 && t <= max * 2) : [];
  const tickMarks = ticks.map((t) => `<line x1="${x(t)}" x2="${x(t)}" y1="${y(0)}" y2="${y(1)}" stroke="#ddd"/><text x="${x(t)}" y="${height - margin.bottom + 16}" font-size="11" text-anchor="middle">${t}</text>`);
  const yTicks = [0, 0.5, 0.95, 0.99, 1].map((f) => `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(f)}" y2="${y(f)}" stroke="#eee"/><text x="${margin.left - 6}" y="${y(f) + 4}" font-size="11" text-anchor="end">${f}</text>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${width / 2}" y="22" font-size="15" text-anchor="middle">${title}</text>`,
    ...yTicks,
    ...tickMarks,
    `<text x="${width / 2}" y="${height - 12}" font-size="12" text-anchor="middle">${unit}${log ? ' (log scale)' : ''}</text>`,
    `<text x="16" y="${height / 2}" font-size="12" transform="rotate(-90 16 ${height / 2})" text-anchor="middle">fraction of swaps</text>`,
    ...paths,
    '</svg>',
    '',
  ].join('\n');
}

/** docs/bench/NAME.svg for a full run; a quick run's plot goes to test-artifacts/ and leaves the docs alone. */
export function writePlot(name: string, svg: string): void {
  const dir = QUICK ? `${ROOT}test-artifacts/bench` : `${ROOT}docs/bench`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/${name}.svg`, svg);
}
