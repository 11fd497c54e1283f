/**
 * Configuration is parsed once, here: from `argv` and `env` (parameters, never `process.env`)
 * into a frozen, fully resolved object. Every problem is reported at once (exit code 2).
 * Flags win over environment variables.
 */
import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { parseDuration } from './duration.js';
import { ConfigError } from './errors.js';
import { LOG_LEVELS } from './logger.js';
import type { CertificateLocation } from './server.js';

export const COMMANDS = ['serve'] as const;
export type Command = (typeof COMMANDS)[number];

export interface ServeConfig {
  readonly command: 'serve';
  readonly certificate: CertificateLocation;
  readonly host: string;
  readonly port: number;
  /** `false` when `--metrics-port 0` turned the side port off. */
  readonly metrics: { readonly host: string; readonly port: number } | false;
  readonly watch: boolean;
  readonly pollIntervalMs: number;
  readonly debounceMs: number;
  readonly logLevel: LevelWithSilent;
  readonly shutdownTimeoutMs: number;
}

export type Invocation =
  | { readonly kind: 'help'; readonly topic?: string }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly config: ServeConfig };

type Kind = 'string' | 'boolean';

/** One setting: its flag, its environment variables (first is the documented one), its help. */
export interface OptionSpec {
  readonly flag: string;
  readonly kind: Kind;
  readonly env: readonly string[];
  readonly value?: string;
  readonly default?: string;
  readonly help: string;
}

export const SERVE_OPTIONS: readonly OptionSpec[] = Object.freeze([
  { flag: 'cert-dir', kind: 'string', env: ['HOTCERT_CERT_DIR'], value: 'DIR', help: 'a mounted kubernetes.io/tls Secret: tls.crt, tls.key, optional ca.crt' },
  { flag: 'cert', kind: 'string', env: ['HOTCERT_CERT_FILE', 'HOTCERT_CERT'], value: 'FILE', help: 'certificate chain (leaf first), instead of --cert-dir' },
  { flag: 'key', kind: 'string', env: ['HOTCERT_KEY_FILE', 'HOTCERT_KEY'], value: 'FILE', help: 'private key (PKCS#8, PKCS#1 or SEC1 PEM), with --cert' },
  { flag: 'ca', kind: 'string', env: ['HOTCERT_CA_FILE', 'HOTCERT_CA'], value: 'FILE', help: 'optional CA bundle, with --cert' },
  { flag: 'host', kind: 'string', env: ['HOTCERT_HOST'], value: 'ADDR', default: '0.0.0.0', help: 'TLS listen address' },
  { flag: 'port', kind: 'string', env: ['HOTCERT_PORT'], value: 'PORT', default: '8443', help: 'TLS listen port (HTTPS + WSS)' },
  { flag: 'metrics-host', kind: 'string', env: ['HOTCERT_METRICS_HOST'], value: 'ADDR', default: '0.0.0.0', help: 'plain-HTTP /metrics, /healthz, /readyz address' },
  { flag: 'metrics-port', kind: 'string', env: ['HOTCERT_METRICS_PORT'], value: 'PORT', default: '9090', help: 'plain-HTTP metrics port; 0 turns it off' },
  { flag: 'poll-interval', kind: 'string', env: ['HOTCERT_POLL_INTERVAL'], value: 'DURATION', default: '10s', help: 'safety-net re-read of the files; 0 disables' },
  { flag: 'debounce', kind: 'string', env: ['HOTCERT_DEBOUNCE'], value: 'DURATION', default: '50ms', help: 'quiet time after a plain-file event before reading (a ..data swap is read at once)' },
  { flag: 'watch', kind: 'boolean', env: ['HOTCERT_WATCH'], default: 'true', help: 'watch the certificate directories for events (--no-watch: poll only)' },
  { flag: 'log-level', kind: 'string', env: ['HOTCERT_LOG_LEVEL'], value: 'LEVEL', default: 'info', help: `one of ${LOG_LEVELS.join(', ')}` },
  { flag: 'shutdown-timeout', kind: 'string', env: ['HOTCERT_SHUTDOWN_TIMEOUT'], value: 'DURATION', default: '25s', help: 'drain time on SIGTERM before connections are cut' },
] satisfies OptionSpec[]);

const GLOBAL_FLAGS = new Set(['help', 'version']);

export interface ConfigSources {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A raw value with where it came from, for messages. */
interface Raw {
  readonly value: string | boolean;
  readonly origin: string;
}

function collect(spec: readonly OptionSpec[], sources: ConfigSources, problems: string[]): { raw: Map<string, Raw>; positionals: string[]; help: boolean; version: boolean } {
  const options = Object.fromEntries([
    ...spec.map((s) => [s.flag, { type: s.kind }] as const),
    ['help', { type: 'boolean', short: 'h' }] as const,
    ['version', { type: 'boolean', short: 'v' }] as const,
  ]);
  const { tokens } = parseArgs({ args: [...sources.argv], options, strict: false, allowPositionals: true, allowNegative: true, tokens: true });
  const raw = new Map<string, Raw>();
  for (const s of spec) {
    const name = s.env.find((n) => sources.env[n] !== undefined && sources.env[n] !== '');
    if (name !== undefined) raw.set(s.flag, { value: sources.env[name] as string, origin: name });
  }
  const positionals: string[] = [];
  let help = false;
  let version = false;
  const known = new Map(spec.map((s) => [s.flag, s]));
  for (const token of tokens) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    if (token.name === 'help') help = true;
    else if (token.name === 'version') version = true;
    const option = known.get(token.name.replace(/^no-/, '')) ?? known.get(token.name);
    if (!option) {
      if (!GLOBAL_FLAGS.has(token.name)) problems.push(`${token.rawName}: unknown option (see hotcert --help)`);
      continue;
    }
    if (option.kind === 'string') {
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) {
        problems.push(`${token.rawName}: needs a value (${token.rawName} ${option.value ?? 'VALUE'})`);
        continue;
      }
      raw.set(option.flag, { value: token.value, origin: token.rawName });
    } else {
      raw.set(option.flag, { value: !token.rawName.startsWith('--no-'), origin: token.rawName });
    }
  }
  return { raw, positionals, help, version };
}

class Reader {
  constructor(
    private readonly raw: Map<string, Raw>,
    private readonly spec: readonly OptionSpec[],
    private readonly problems: string[],
  ) {}

  #get(flag: string): Raw | undefined {
    const value = this.raw.get(flag);
    if (value !== undefined) return value;
    const fallback = this.spec.find((s) => s.flag === flag)?.default;
    return fallback === undefined ? undefined : { value: fallback, origin: `default of --${flag}` };
  }

  string(flag: string): string | undefined {
    const raw = this.#get(flag);
    if (raw === undefined) return undefined;
    if (typeof raw.value !== 'string' || raw.value.trim() === '') {
      this.problems.push(`${raw.origin}: must not be empty`);
      return undefined;
    }
    return raw.value;
  }

  port(flag: string): number {
    const raw = this.#get(flag);
    const text = typeof raw?.value === 'string' ? raw.value.trim() : '';
    const port = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(port >= 0 && port <= 65535)) {
      this.problems.push(`${raw?.origin ?? `--${flag}`}: "${String(raw?.value)}" is not a port number (0-65535)`);
      return 0;
    }
    return port;
  }

  duration(flag: string): number {
    const raw = this.#get(flag);
    const ms = typeof raw?.value === 'string' ? parseDuration(raw.value) : undefined;
    if (ms === undefined) {
      this.problems.push(`${raw?.origin ?? `--${flag}`}: "${String(raw?.value)}" is not a duration (examples: 50ms, 10s, 5m, 1h; 0 where allowed)`);
      return 0;
    }
    return ms;
  }

  boolean(flag: string): boolean {
    const raw = this.#get(flag);
    if (typeof raw?.value === 'boolean') return raw.value;
    const text = String(raw?.value).trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(text)) return true;
    if (['false', '0', 'no', 'off'].includes(text)) return false;
    this.problems.push(`${raw?.origin ?? `--${flag}`}: "${String(raw?.value)}" is not a boolean (true or false)`);
    return false;
  }

  origin(flag: string): string {
    return this.raw.get(flag)?.origin ?? `--${flag}`;
  }

  has(flag: string): boolean {
    return this.raw.has(flag);
  }
}

function certificateLocation(read: Reader, problems: string[]): CertificateLocation {
  const certDir = read.has('cert-dir') ? read.string('cert-dir') : undefined;
  const cert = read.has('cert') ? read.string('cert') : undefined;
  const key = read.has('key') ? read.string('key') : undefined;
  const ca = read.has('ca') ? read.string('ca') : undefined;
  if (certDir !== undefined && (cert !== undefined || key !== undefined || ca !== undefined)) {
    problems.push(`${read.origin('cert-dir')} and ${[cert && read.origin('cert'), key && read.origin('key'), ca && read.origin('ca')].filter(Boolean).join('/')}: use either a certificate directory or explicit files, not both`);
  }
  if (certDir !== undefined) return { certDir };
  if (cert === undefined && key === undefined && ca === undefined) {
    problems.push('no certificate configured: set --cert-dir DIR (a mounted kubernetes.io/tls Secret; env HOTCERT_CERT_DIR) or --cert FILE --key FILE');
    return { certDir: '' };
  }
  if (cert === undefined) problems.push(`${read.origin(key !== undefined ? 'key' : 'ca')}: needs --cert FILE as well (env HOTCERT_CERT_FILE)`);
  if (key === undefined) problems.push(`${read.origin('cert')}: needs --key FILE as well (env HOTCERT_KEY_FILE)`);
  return { cert: cert ?? '', key: key ?? '', ca };
}

function serveConfig(read: Reader, problems: string[]): ServeConfig {
  const certificate = certificateLocation(read, problems);
  const host = read.string('host') ?? '0.0.0.0';
  const port = read.port('port');
  const metricsHost = read.string('metrics-host') ?? '0.0.0.0';
  const metricsPort = read.port('metrics-port');
  if (metricsPort !== 0 && metricsPort === port) {
    problems.push(`${read.origin('metrics-port')}: the metrics port must differ from the TLS port (${port})`);
  }
  const logLevel = read.string('log-level') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`${read.origin('log-level')}: "${logLevel}" is not a log level (one of ${LOG_LEVELS.join(', ')})`);
  }
  const watch = read.boolean('watch');
  const pollIntervalMs = read.duration('poll-interval');
  if (!watch && pollIntervalMs === 0) {
    problems.push(`${read.origin('poll-interval')}: with watching off (--no-watch) the poll is the only way to see a new certificate; it cannot be 0`);
  }
  return Object.freeze({
    command: 'serve',
    certificate: Object.freeze(certificate),
    host,
    port,
    metrics: metricsPort === 0 ? false : Object.freeze({ host: metricsHost, port: metricsPort }),
    watch,
    pollIntervalMs,
    debounceMs: read.duration('debounce'),
    logLevel: logLevel as LevelWithSilent,
    shutdownTimeoutMs: read.duration('shutdown-timeout'),
  });
}

/**
 * Parses the command line and environment. Throws `ConfigError` (code `HOTCERT_ERR_CONFIG`)
 * listing every problem.
 */
export function parseInvocation(sources: ConfigSources): Invocation {
  const problems: string[] = [];
  const { raw, positionals, help, version } = collect(SERVE_OPTIONS, sources, problems);
  const [command = 'serve', ...extra] = positionals;
  if (version) return { kind: 'version' };
  if (help || command === 'help') return { kind: 'help', ...(command !== 'help' || extra[0] === undefined ? {} : { topic: extra[0] }) };
  if (!(COMMANDS as readonly string[]).includes(command)) {
    problems.unshift(`"${command}": unknown command (commands: ${COMMANDS.join(', ')}; see hotcert --help)`);
  }
  for (const value of extra) problems.push(`"${value}": unexpected argument`);
  const config = serveConfig(new Reader(raw, SERVE_OPTIONS, problems), problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { kind: 'run', config };
}

/** `--help` text, generated from the same table the parser uses. */
export function helpText(): string {
  const rows = SERVE_OPTIONS.map((s) => {
    const flag = s.kind === 'boolean' ? `--[no-]${s.flag}` : `--${s.flag} ${s.value ?? ''}`.trimEnd();
    const defaults = s.default === undefined ? '' : ` (default ${s.default})`;
    return `  ${flag.padEnd(28)} ${s.help}${defaults}\n  ${''.padEnd(28)} env ${s.env.join(', ')}`;
  });
  return [
    'hotcert: HTTPS Socket.IO server that hot-swaps its TLS certificate without dropping a socket',
    '',
    'Usage:',
    '  hotcert [serve] --cert-dir DIR [options]',
    '  hotcert [serve] --cert FILE --key FILE [--ca FILE] [options]',
    '  hotcert --version | --help',
    '',
    'Options (flags win over environment variables):',
    ...rows,
    '',
    'Durations take ms, s, m or h (50ms, 10s, 5m).',
    'Signals: SIGTERM/SIGINT shut down gracefully, SIGHUP re-reads the certificate now.',
    'Exit codes: 0 clean shutdown, 1 unexpected error, 2 invalid configuration,',
    '            3 no valid certificate at start-up, 4 cannot listen.',
    '',
  ].join('\n');
}
