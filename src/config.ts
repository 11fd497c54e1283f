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
import { kubeConfigSource, type KubeConfigSource } from './k8s/kube-api.js';
import type { CertificateLocation } from './server.js';
import type { ConnectionLimits } from './connection-limits.js';

export const COMMANDS = ['serve', 'dev', 'check'] as const;
export type Command = (typeof COMMANDS)[number];

export interface ListenConfig {
  readonly host: string;
  readonly port: number;
  /** `false` when `--metrics-port 0` turned the side port off. */
  readonly metrics: { readonly host: string; readonly port: number } | false;
  readonly logLevel: LevelWithSilent;
  readonly shutdownTimeoutMs: number;
}

export interface KubernetesConfig {
  /** `--k8s-secret NAMESPACE/NAME`. */
  readonly secret: { readonly namespace: string; readonly name: string } | undefined;
  /** `--k8s-events`: the Pod from the downward API (`POD_NAMESPACE`, `POD_NAME`, optional `POD_UID`). */
  readonly events: { readonly pod: { readonly namespace: string; readonly name: string; readonly uid: string | undefined } } | undefined;
  /** Where API access comes from: in-cluster, or `KUBECONFIG`. */
  readonly access: KubeConfigSource;
}

export interface ServeConfig extends ListenConfig {
  readonly command: 'serve';
  /** Absent when the Secret is only read through the API. */
  readonly certificate: CertificateLocation | undefined;
  /** Operator mode, when `--k8s-secret` or `--k8s-events` is given. */
  readonly kubernetes: KubernetesConfig | undefined;
  readonly watch: boolean;
  readonly pollIntervalMs: number;
  readonly debounceMs: number;
  /** `--tls-min-version`: 1.2 (default) or 1.3. */
  readonly tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
  /** `--cert-dir NAME=DIR`: certificates for SNI host names, besides the default one. */
  readonly sni: readonly SniCertificate[];
  /** `--client-ca`: mTLS client CA bundle. */
  readonly clientCa: string | undefined;
  readonly requireClientCert: boolean;
  /** `--client-crl`: PEM CRLs signed by CAs of the client CA bundle. */
  readonly clientCrl: string | undefined;
  /** `--tls-ticket-key-lifetime`: 0 never replaces them on a timer. */
  readonly ticketKeyLifetimeMs: number;
  /** `--tls-handshake-timeout`, `--http-*-timeout`, `--max-connections`. */
  readonly limits: ConnectionLimits;
  /** `--recycle-after-rotation`: 0 is off. */
  readonly recycleAfterRotationMs: number;
  /** `--redis-url` (+ `HOTCERT_REDIS_PASSWORD`, `--redis-ca`): the Socket.IO Redis adapter. */
  readonly redis: RedisConfig | undefined;
  /** `--drain-delay`: on SIGTERM, how long to stay up but not ready before closing sockets. */
  readonly drainDelayMs: number;
  /** `--transports`: the Socket.IO transports offered. */
  readonly transports: readonly SocketIoTransport[];
  /** `--max-rooms-per-socket`: the default app's cap on rooms per socket. */
  readonly maxRoomsPerSocket: number;
  /** `--allowed-origins`: browser origins allowed to connect (`*` any); undefined for the default rule. */
  readonly allowedOrigins: readonly string[] | undefined;
  /** `--max-message-bytes`: the largest message a client may send. */
  readonly maxMessageBytes: number;
  /** `--max-write-backlog-bytes`: unsent output a connection may hold; 0 is off. */
  readonly maxWriteBacklogBytes: number;
}

export type SocketIoTransport = 'polling' | 'websocket';

export interface RedisConfig {
  readonly url: string;
  /** From `HOTCERT_REDIS_PASSWORD` (a Secret); never a flag, so it never shows in a process list. */
  readonly password: string | undefined;
  /** `--redis-ca FILE`: the CA bundle that signed Redis's certificate (with `rediss://`). */
  readonly caFile: string | undefined;
}

export interface SniCertificate {
  /** A host name (`api.example.com`) or a wildcard (`*.example.com`). */
  readonly name: string;
  readonly location: CertificateLocation;
}

export interface DevConfig extends ListenConfig {
  readonly command: 'dev';
  /** Keeps `ca.crt`/`ca.key` across runs; the kubelet-style mount is `dir/mount`. */
  readonly dir: string;
  /** 0: issue once, never rotate. */
  readonly rotateEveryMs: number;
}

export interface CheckConfig {
  readonly command: 'check';
  readonly certificate: CertificateLocation;
  /** A server name (DNS name or IP address) the certificate must cover. */
  readonly serverName: string | undefined;
  readonly json: boolean;
}

export type Config = ServeConfig | DevConfig | CheckConfig;

export type Invocation =
  | { readonly kind: 'help'; readonly command?: Command }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly config: Config };

type Kind = 'string' | 'boolean';

/** One setting: its flag, its environment variables (first is the documented one), its help. */
export interface OptionSpec {
  readonly flag: string;
  readonly kind: Kind;
  /** May be given several times (flags) or comma-separated (environment). */
  readonly multiple?: boolean;
  readonly env: readonly string[];
  readonly value?: string;
  readonly default?: string;
  readonly help: string;
}

const CERT_DIR: OptionSpec = { flag: 'cert-dir', kind: 'string', env: ['HOTCERT_CERT_DIR'], value: 'DIR', help: 'a mounted kubernetes.io/tls Secret: tls.crt, tls.key, optional ca.crt' };
const CERT: OptionSpec = { flag: 'cert', kind: 'string', env: ['HOTCERT_CERT_FILE', 'HOTCERT_CERT'], value: 'FILE', help: 'certificate chain (leaf first), instead of --cert-dir' };
const KEY: OptionSpec = { flag: 'key', kind: 'string', env: ['HOTCERT_KEY_FILE', 'HOTCERT_KEY'], value: 'FILE', help: 'private key (PKCS#8, PKCS#1 or SEC1 PEM), with --cert' };
const CA: OptionSpec = { flag: 'ca', kind: 'string', env: ['HOTCERT_CA_FILE', 'HOTCERT_CA'], value: 'FILE', help: 'optional CA bundle, with --cert' };
const HOST: OptionSpec = { flag: 'host', kind: 'string', env: ['HOTCERT_HOST'], value: 'ADDR', default: '0.0.0.0', help: 'TLS listen address' };
const PORT: OptionSpec = { flag: 'port', kind: 'string', env: ['HOTCERT_PORT'], value: 'PORT', default: '8443', help: 'TLS listen port (HTTPS + WSS)' };
const METRICS_HOST: OptionSpec = { flag: 'metrics-host', kind: 'string', env: ['HOTCERT_METRICS_HOST'], value: 'ADDR', default: '0.0.0.0', help: 'plain-HTTP /metrics, /healthz, /readyz address' };
const METRICS_PORT: OptionSpec = { flag: 'metrics-port', kind: 'string', env: ['HOTCERT_METRICS_PORT'], value: 'PORT', default: '9090', help: 'plain-HTTP metrics port; 0 turns it off' };
const LOG_LEVEL: OptionSpec = { flag: 'log-level', kind: 'string', env: ['HOTCERT_LOG_LEVEL'], value: 'LEVEL', default: 'info', help: `one of ${LOG_LEVELS.join(', ')}` };
const SHUTDOWN_TIMEOUT: OptionSpec = { flag: 'shutdown-timeout', kind: 'string', env: ['HOTCERT_SHUTDOWN_TIMEOUT'], value: 'DURATION', default: '25s', help: 'drain time on SIGTERM before connections are cut' };

export const SERVE_OPTIONS: readonly OptionSpec[] = Object.freeze([
  {
    ...CERT_DIR,
    multiple: true,
    value: '[NAME=]DIR',
    help: 'a mounted kubernetes.io/tls Secret: tls.crt, tls.key, optional ca.crt; repeat as NAME=DIR to serve another certificate to clients asking for host NAME (SNI; env: comma-separated)',
  },
  CERT,
  KEY,
  CA,
  HOST,
  PORT,
  METRICS_HOST,
  METRICS_PORT,
  { flag: 'poll-interval', kind: 'string', env: ['HOTCERT_POLL_INTERVAL'], value: 'DURATION', default: '10s', help: 'safety-net re-read of the files; 0 disables' },
  { flag: 'debounce', kind: 'string', env: ['HOTCERT_DEBOUNCE'], value: 'DURATION', default: '50ms', help: 'quiet time after a plain-file event before reading (a ..data swap is read at once)' },
  { flag: 'watch', kind: 'boolean', env: ['HOTCERT_WATCH'], default: 'true', help: 'watch the certificate directories for events (--no-watch: poll only)' },
  { flag: 'client-ca', kind: 'string', env: ['HOTCERT_CLIENT_CA'], value: 'FILE', help: 'mTLS: ask clients for a certificate issued by a CA in this bundle (reloaded with the serving certificates)' },
  { flag: 'require-client-cert', kind: 'boolean', env: ['HOTCERT_REQUIRE_CLIENT_CERT'], default: 'false', help: 'mTLS: refuse clients without a valid certificate (needs --client-ca)' },
  { flag: 'client-crl', kind: 'string', env: ['HOTCERT_CLIENT_CRL'], value: 'FILE', help: 'mTLS: PEM CRLs (one or more), each signed by a CA of --client-ca; revoked clients are refused and their connections closed (reloaded with the bundle)' },
  { flag: 'tls-ticket-key-lifetime', kind: 'string', env: ['HOTCERT_TLS_TICKET_KEY_LIFETIME'], value: 'DURATION', default: '12h', help: 'replace the TLS session-ticket keys this often (also whenever the client trust changes); 0 only on trust changes' },
  { flag: 'tls-handshake-timeout', kind: 'string', env: ['HOTCERT_TLS_HANDSHAKE_TIMEOUT'], value: 'DURATION', default: '10s', help: 'a TLS handshake must finish within this time, or the connection is cut' },
  { flag: 'http-headers-timeout', kind: 'string', env: ['HOTCERT_HTTP_HEADERS_TIMEOUT'], value: 'DURATION', default: '10s', help: 'HTTP request headers on the TLS port must arrive within this time' },
  { flag: 'http-request-timeout', kind: 'string', env: ['HOTCERT_HTTP_REQUEST_TIMEOUT'], value: 'DURATION', default: '30s', help: 'a whole HTTP request (headers and body) must arrive within this time; 0 turns it off' },
  { flag: 'http-keep-alive-timeout', kind: 'string', env: ['HOTCERT_HTTP_KEEP_ALIVE_TIMEOUT'], value: 'DURATION', default: '5s', help: 'close an idle HTTP keep-alive connection after this time' },
  { flag: 'max-rooms-per-socket', kind: 'string', env: ['HOTCERT_MAX_ROOMS_PER_SOCKET'], value: 'N', default: '100', help: 'default app: rooms one socket may be in at once' },
  { flag: 'allowed-origins', kind: 'string', env: ['HOTCERT_ALLOWED_ORIGINS'], value: 'LIST', help: 'browser origins allowed to open Socket.IO connections (https://app.example.com,…; * for any); default: any, or with --client-ca only pages served by hotcert itself' },
  { flag: 'max-message-bytes', kind: 'string', env: ['HOTCERT_MAX_MESSAGE_BYTES'], value: 'BYTES', default: '65536', help: 'the largest Socket.IO message a client may send (maxHttpBufferSize)' },
  { flag: 'max-write-backlog-bytes', kind: 'string', env: ['HOTCERT_MAX_WRITE_BACKLOG_BYTES'], value: 'BYTES', default: '1048576', help: 'close a connection whose unsent output stays above this (a client that does not read); 0 turns it off' },
  { flag: 'max-connections', kind: 'string', env: ['HOTCERT_MAX_CONNECTIONS'], value: 'N', help: 'refuse new TCP connections at once above this many open ones (default: no limit)' },
  { flag: 'recycle-after-rotation', kind: 'string', env: ['HOTCERT_RECYCLE_AFTER_ROTATION'], value: 'DURATION', default: '0', help: 'after a swap, close connections still on the old certificate at random moments within this window, so clients reconnect onto the new one; 0 is off' },
  { flag: 'tls-min-version', kind: 'string', env: ['HOTCERT_TLS_MIN_VERSION'], value: 'VERSION', default: '1.2', help: 'lowest TLS version accepted: 1.2 or 1.3' },
  { flag: 'k8s-secret', kind: 'string', env: ['HOTCERT_K8S_SECRET'], value: 'NS/NAME', help: 'watch this kubernetes.io/tls Secret through the Kubernetes API (in-cluster config, else KUBECONFIG)' },
  { flag: 'k8s-events', kind: 'boolean', env: ['HOTCERT_K8S_EVENTS'], default: 'false', help: 'post Kubernetes Events to the Pod (POD_NAME, POD_NAMESPACE from the downward API)' },
  { flag: 'redis-url', kind: 'string', env: ['HOTCERT_REDIS_URL'], value: 'URL', help: 'Socket.IO Redis adapter for several replicas: redis://host:6379 or rediss:// (TLS); the password comes from env HOTCERT_REDIS_PASSWORD' },
  { flag: 'redis-ca', kind: 'string', env: ['HOTCERT_REDIS_CA'], value: 'FILE', help: "CA bundle that signed Redis's TLS certificate (with rediss://)" },
  { flag: 'transports', kind: 'string', env: ['HOTCERT_TRANSPORTS'], value: 'LIST', default: 'polling,websocket', help: 'Socket.IO transports offered: websocket for several replicas without sticky sessions' },
  LOG_LEVEL,
  SHUTDOWN_TIMEOUT,
  { flag: 'drain-delay', kind: 'string', env: ['HOTCERT_DRAIN_DELAY'], value: 'DURATION', default: '0s', help: 'on SIGTERM, stay up but not ready this long (until the Service drops this endpoint), then close sockets so clients reconnect elsewhere' },
] satisfies OptionSpec[]);

export const DEV_OPTIONS: readonly OptionSpec[] = Object.freeze([
  { flag: 'dir', kind: 'string', env: ['HOTCERT_DIR'], value: 'DIR', default: '.hotcert-dev', help: 'where the development CA is kept (ca.crt, ca.key) and the Secret-like mount/ is written' },
  { flag: 'rotate-every', kind: 'string', env: ['HOTCERT_ROTATE_EVERY'], value: 'DURATION', default: '30s', help: 're-issue the leaf (new key) this often; 0 issues once' },
  { ...HOST, default: '127.0.0.1' },
  PORT,
  { ...METRICS_HOST, default: '127.0.0.1' },
  METRICS_PORT,
  { ...LOG_LEVEL, default: 'warn', help: `JSON log level (the dev banner and rotation lines are always printed): ${LOG_LEVELS.join(', ')}` },
  SHUTDOWN_TIMEOUT,
] satisfies OptionSpec[]);

export const CHECK_OPTIONS: readonly OptionSpec[] = Object.freeze([
  CERT_DIR,
  CERT,
  KEY,
  CA,
  // Not HOTCERT_HOST: in a pod that names the listen address, not the name to check.
  { flag: 'host', kind: 'string', env: [], value: 'NAME', help: 'a DNS name or IP address the certificate must cover' },
  { flag: 'json', kind: 'boolean', env: [], default: 'false', help: 'print the report as JSON' },
] satisfies OptionSpec[]);

export const COMMAND_OPTIONS: Readonly<Record<Command, readonly OptionSpec[]>> = Object.freeze({ serve: SERVE_OPTIONS, dev: DEV_OPTIONS, check: CHECK_OPTIONS });

const SUMMARIES: Readonly<Record<Command, string>> = {
  serve: 'serve Socket.IO over TLS from a certificate directory or files, reloading it live (default)',
  dev: 'generate a development CA and a short-lived localhost certificate, rotate it live, and serve the status page',
  check: 'diagnose a certificate directory or files: exit 0 when hotcert would serve them, 1 otherwise',
};

const GLOBAL_FLAGS = new Set(['help', 'version']);
/** Joins the values of a repeated option internally. */
const LIST_SEPARATOR = '\u0000';

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
    ...Object.values(COMMAND_OPTIONS)
      .flat()
      .map((s) => [s.flag, { type: s.kind }] as const),
    ['help', { type: 'boolean', short: 'h' }] as const,
    ['version', { type: 'boolean', short: 'v' }] as const,
  ]);
  const { tokens } = parseArgs({ args: [...sources.argv], options, strict: false, allowPositionals: true, allowNegative: true, tokens: true });
  const raw = new Map<string, Raw>();
  for (const s of spec) {
    const name = s.env.find((n) => sources.env[n] !== undefined && sources.env[n] !== '');
    if (name !== undefined) {
      const value = sources.env[name] as string;
      raw.set(s.flag, { value: s.multiple ? value.split(',').map((v) => v.trim()).join(LIST_SEPARATOR) : value, origin: name });
    }
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
      if (!GLOBAL_FLAGS.has(token.name)) problems.push(`${token.rawName}: unknown option here (see hotcert --help)`);
      continue;
    }
    if (option.kind === 'string') {
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) {
        problems.push(`${token.rawName}: needs a value (${token.rawName} ${option.value ?? 'VALUE'})`);
        continue;
      }
      const previous = option.multiple ? raw.get(option.flag) : undefined;
      // Repeated flags accumulate; the environment's value is replaced by the first flag.
      const value = previous && previous.origin.startsWith('--') ? `${String(previous.value)}${LIST_SEPARATOR}${token.value}` : token.value;
      raw.set(option.flag, { value, origin: token.rawName });
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

  /** A whole number of at least `min`. */
  count(flag: string, min: number): number | undefined {
    const raw = this.#get(flag);
    if (raw === undefined) return undefined;
    const text = typeof raw.value === 'string' ? raw.value.trim() : '';
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(Number.isSafeInteger(value) && value >= min)) {
      this.problems.push(`${raw.origin}: "${String(raw.value)}" is not a whole number of at least ${min}`);
      return undefined;
    }
    return value;
  }

  /** A duration that must not be 0. */
  positiveDuration(flag: string): number {
    const ms = this.duration(flag);
    if (ms === 0 && this.problems.every((p) => !p.startsWith(this.origin(flag)))) this.problems.push(`${this.origin(flag)}: must be longer than 0`);
    return ms;
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

const SNI_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `--cert-dir` values: at most one plain DIR, any number of NAME=DIR for SNI. */
function certDirEntries(read: Reader, problems: string[]): { unnamed: string | undefined; sni: SniCertificate[] } {
  const raw = read.has('cert-dir') ? read.string('cert-dir') : undefined;
  if (raw === undefined) return { unnamed: undefined, sni: [] };
  let unnamed: string | undefined;
  const sni: SniCertificate[] = [];
  for (const entry of raw.split(LIST_SEPARATOR).filter((e) => e.length > 0)) {
    const at = entry.indexOf('=');
    const name = at > 0 ? entry.slice(0, at).toLowerCase() : undefined;
    if (name === undefined || !SNI_NAME.test(name)) {
      if (unnamed !== undefined) problems.push(`${read.origin('cert-dir')}: only one --cert-dir DIR without a NAME= (the default certificate); got ${unnamed} and ${entry}`);
      unnamed = entry;
      continue;
    }
    if (sni.some((s) => s.name === name)) problems.push(`${read.origin('cert-dir')}: ${name} is given twice`);
    sni.push(Object.freeze({ name, location: Object.freeze({ certDir: entry.slice(at + 1) }) }));
  }
  return { unnamed, sni };
}

function certificateLocation(read: Reader, problems: string[], certDirOverride?: string): CertificateLocation {
  const certDir = certDirOverride ?? (read.has('cert-dir') ? read.string('cert-dir') : undefined);
  const cert = read.has('cert') ? read.string('cert') : undefined;
  const key = read.has('key') ? read.string('key') : undefined;
  const ca = read.has('ca') ? read.string('ca') : undefined;
  if (certDir !== undefined && (cert !== undefined || key !== undefined || ca !== undefined)) {
    problems.push(`${read.origin('cert-dir')} and ${[cert && read.origin('cert'), key && read.origin('key'), ca && read.origin('ca')].filter(Boolean).join('/')}: use either a certificate directory or explicit files, not both`);
  }
  if (certDir !== undefined) return { certDir };
  if (cert === undefined && key === undefined && ca === undefined) {
    problems.push('no certificate configured: set --cert-dir DIR (a mounted kubernetes.io/tls Secret; env HOTCERT_CERT_DIR), --cert FILE --key FILE, or --k8s-secret NS/NAME');
    return { certDir: '' };
  }
  if (cert === undefined) problems.push(`${read.origin(key !== undefined ? 'key' : 'ca')}: needs --cert FILE as well (env HOTCERT_CERT_FILE)`);
  if (key === undefined) problems.push(`${read.origin('cert')}: needs --key FILE as well (env HOTCERT_KEY_FILE)`);
  return { cert: cert ?? '', key: key ?? '', ca };
}

function listenConfig(read: Reader, problems: string[]): ListenConfig {
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
  return {
    host,
    port,
    metrics: metricsPort === 0 ? false : Object.freeze({ host: metricsHost, port: metricsPort }),
    logLevel: logLevel as LevelWithSilent,
    shutdownTimeoutMs: read.duration('shutdown-timeout'),
  };
}

/** A DNS-1123 label (namespaces) or subdomain (Secret and Pod names). */
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_1123_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function kubernetesConfig(read: Reader, env: ConfigSources['env'], problems: string[]): KubernetesConfig | undefined {
  const secretText = read.has('k8s-secret') ? read.string('k8s-secret') : undefined;
  const events = read.boolean('k8s-events');
  if (secretText === undefined && !events) return undefined;
  let secret: KubernetesConfig['secret'];
  if (secretText !== undefined) {
    const [namespace = '', name = '', ...rest] = secretText.split('/');
    if (rest.length > 0 || !DNS_1123_LABEL.test(namespace) || !DNS_1123_SUBDOMAIN.test(name)) {
      problems.push(`${read.origin('k8s-secret')}: "${secretText}" is not NAMESPACE/NAME (lower-case DNS names, e.g. web/web-tls)`);
    } else {
      secret = Object.freeze({ namespace, name });
    }
  }
  let pod: NonNullable<KubernetesConfig['events']>['pod'] | undefined;
  if (events) {
    const namespace = env['POD_NAMESPACE'];
    const name = env['POD_NAME'];
    if (!namespace || !name) {
      problems.push(
        `${read.origin('k8s-events')}: needs the Pod's identity from the downward API: set env POD_NAME (fieldRef metadata.name) and POD_NAMESPACE (fieldRef metadata.namespace)`,
      );
    } else {
      pod = Object.freeze({ namespace, name, uid: env['POD_UID'] || undefined });
    }
  }
  return Object.freeze({ secret, events: pod ? Object.freeze({ pod }) : undefined, access: Object.freeze(kubeConfigSource(env)) });
}

function redisConfig(read: Reader, env: ConfigSources['env'], problems: string[]): RedisConfig | undefined {
  const url = read.has('redis-url') ? read.string('redis-url') : undefined;
  const caFile = read.has('redis-ca') ? read.string('redis-ca') : undefined;
  if (url === undefined) {
    if (caFile !== undefined) problems.push(`${read.origin('redis-ca')}: needs --redis-url rediss://… (TLS to Redis)`);
    return undefined;
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || parsed.hostname === '') {
    // The URL may hold a password: name the setting, not the value.
    problems.push(`${read.origin('redis-url')}: not a Redis URL (redis://host:6379, or rediss://host:6380 for TLS; the password belongs in env HOTCERT_REDIS_PASSWORD)`);
  } else if (caFile !== undefined && parsed.protocol !== 'rediss:') {
    problems.push(`${read.origin('redis-ca')}: a CA for Redis needs TLS: use a rediss:// URL`);
  }
  return Object.freeze({ url, password: env['HOTCERT_REDIS_PASSWORD'] || undefined, caFile });
}

function allowedOrigins(read: Reader, problems: string[]): readonly string[] | undefined {
  const text = read.has('allowed-origins') ? read.string('allowed-origins') : undefined;
  if (text === undefined) return undefined;
  const origins = text.split(',').map((origin) => origin.trim()).filter((origin) => origin.length > 0);
  const bad = origins.filter((origin) => origin !== '*' && !/^https?:\/\/[^/\s]+\/?$/i.test(origin));
  if (bad.length > 0 || origins.length === 0) {
    problems.push(`${read.origin('allowed-origins')}: "${text}" must list origins such as https://app.example.com (scheme and host, no path), or *`);
  }
  return Object.freeze(origins);
}

function serveConfig(read: Reader, problems: string[], env: ConfigSources['env']): ServeConfig {
  const kubernetes = kubernetesConfig(read, env, problems);
  const { unnamed, sni } = certDirEntries(read, problems);
  const apiOnly = read.has('k8s-secret') && unnamed === undefined && sni.length === 0 && !['cert', 'key', 'ca'].some((flag) => read.has(flag));
  // The default pair: the unnamed --cert-dir or --cert/--key; with only named ones, the first.
  const certificate = apiOnly
    ? undefined
    : unnamed === undefined && sni.length > 0 && !read.has('cert') && !read.has('key')
      ? sni[0]?.location
      : certificateLocation(read, problems, unnamed);
  const clientCa = read.has('client-ca') ? read.string('client-ca') : undefined;
  const requireClientCert = read.boolean('require-client-cert');
  if (requireClientCert && clientCa === undefined) {
    problems.push(`${read.origin('require-client-cert')}: needs --client-ca FILE (the CAs client certificates must come from)`);
  }
  const clientCrl = read.has('client-crl') ? read.string('client-crl') : undefined;
  if (clientCrl !== undefined && clientCa === undefined) {
    problems.push(`${read.origin('client-crl')}: needs --client-ca FILE (the CAs that signed the CRLs)`);
  }
  const limits: ConnectionLimits = Object.freeze({
    handshakeTimeoutMs: read.positiveDuration('tls-handshake-timeout'),
    headersTimeoutMs: read.positiveDuration('http-headers-timeout'),
    requestTimeoutMs: read.duration('http-request-timeout'),
    keepAliveTimeoutMs: read.positiveDuration('http-keep-alive-timeout'),
    maxConnections: read.has('max-connections') ? read.count('max-connections', 1) : undefined,
  });
  const listen = listenConfig(read, problems);
  const watch = read.boolean('watch');
  const pollIntervalMs = read.duration('poll-interval');
  if (!watch && pollIntervalMs === 0) {
    problems.push(`${read.origin('poll-interval')}: with watching off (--no-watch) the poll is the only way to see a new certificate; it cannot be 0`);
  }
  const redis = redisConfig(read, env, problems);
  const drainDelayMs = read.duration('drain-delay');
  if (drainDelayMs >= listen.shutdownTimeoutMs && listen.shutdownTimeoutMs > 0) {
    problems.push(`${read.origin('drain-delay')}: must be shorter than --shutdown-timeout (${listen.shutdownTimeoutMs / 1000}s), which also has to close the sockets`);
  }
  const transportText = read.string('transports') ?? 'polling,websocket';
  const transports = [...new Set(transportText.split(',').map((t) => t.trim()).filter((t) => t.length > 0))];
  const unknown = transports.filter((t) => t !== 'polling' && t !== 'websocket');
  if (unknown.length > 0 || transports.length === 0) {
    problems.push(`${read.origin('transports')}: "${transportText}" must list polling and/or websocket (comma-separated)`);
  }
  const tlsMinVersion = read.string('tls-min-version') ?? '1.2';
  if (tlsMinVersion !== '1.2' && tlsMinVersion !== '1.3') {
    problems.push(`${read.origin('tls-min-version')}: "${tlsMinVersion}" is not 1.2 or 1.3 (older TLS versions are not offered)`);
  }
  return Object.freeze({
    command: 'serve',
    sni: Object.freeze(sni),
    recycleAfterRotationMs: read.duration('recycle-after-rotation'),
    redis,
    drainDelayMs,
    transports: Object.freeze(transports as SocketIoTransport[]),
    clientCa,
    requireClientCert,
    clientCrl,
    ticketKeyLifetimeMs: read.duration('tls-ticket-key-lifetime'),
    maxRoomsPerSocket: read.count('max-rooms-per-socket', 1) ?? 100,
    maxMessageBytes: read.count('max-message-bytes', 1) ?? 65_536,
    allowedOrigins: allowedOrigins(read, problems),
    maxWriteBacklogBytes: read.count('max-write-backlog-bytes', 0) ?? 1_048_576,
    limits,
    tlsMinVersion: tlsMinVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
    certificate: certificate && Object.freeze(certificate),
    kubernetes,
    ...listen,
    watch,
    pollIntervalMs,
    debounceMs: read.duration('debounce'),
  });
}

/** The shortest rotation `hotcert dev` accepts: issuing takes a few milliseconds, browsers need a moment. */
export const MIN_ROTATE_EVERY_MS = 1_000;

function devConfig(read: Reader, problems: string[]): DevConfig {
  const rotateEveryMs = read.duration('rotate-every');
  if (rotateEveryMs !== 0 && rotateEveryMs < MIN_ROTATE_EVERY_MS) {
    problems.push(`${read.origin('rotate-every')}: rotating more often than every ${MIN_ROTATE_EVERY_MS / 1000}s is not useful (use 0 to issue once)`);
  }
  return Object.freeze({ command: 'dev', dir: read.string('dir') ?? '.hotcert-dev', rotateEveryMs, ...listenConfig(read, problems) });
}

function checkConfig(read: Reader, problems: string[]): CheckConfig {
  return Object.freeze({
    command: 'check',
    certificate: Object.freeze(certificateLocation(read, problems)),
    serverName: read.has('host') ? read.string('host') : undefined,
    json: read.boolean('json'),
  });
}

const BUILDERS: { readonly [C in Command]: (read: Reader, problems: string[], env: ConfigSources['env']) => Config } = {
  serve: serveConfig,
  dev: devConfig,
  check: checkConfig,
};

/**
 * Parses the command line and environment. Throws `ConfigError` (code `HOTCERT_ERR_CONFIG`)
 * listing every problem.
 */
export function parseInvocation(sources: ConfigSources): Invocation {
  const problems: string[] = [];
  const command = commandOf(sources.argv);
  const spec = COMMAND_OPTIONS[command ?? 'serve'];
  const { raw, positionals, help, version } = collect(spec, sources, problems);
  if (version) return { kind: 'version' };
  const [first, ...rest] = positionals;
  if (help || first === 'help') {
    const topic = first === 'help' ? rest[0] : command;
    return { kind: 'help', ...((COMMANDS as readonly string[]).includes(topic ?? '') ? { command: topic as Command } : {}) };
  }
  const extra = command === undefined ? positionals : rest;
  if (command === undefined && first !== undefined) {
    problems.unshift(`"${first}": unknown command (commands: ${COMMANDS.join(', ')}; see hotcert --help)`);
    extra.shift();
  }
  for (const value of extra) problems.push(`"${value}": unexpected argument`);
  const config = BUILDERS[command ?? 'serve'](new Reader(raw, spec, problems), problems, sources.env);
  if (problems.length > 0) throw new ConfigError(problems);
  return { kind: 'run', config };
}

/** The command named by the first positional argument, if it is one. */
function commandOf(argv: readonly string[]): Command | undefined {
  const { positionals } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(
      Object.values(COMMAND_OPTIONS)
        .flat()
        .map((s) => [s.flag, { type: s.kind }]),
    ),
    strict: false,
    allowPositionals: true,
    allowNegative: true,
  });
  const [first] = positionals;
  return (COMMANDS as readonly string[]).includes(first ?? '') ? (first as Command) : undefined;
}

/** `--help` text, generated from the same tables the parser uses. */
export function helpText(command?: Command): string {
  const rows = (spec: readonly OptionSpec[]) =>
    spec.map((s) => {
      const flag = s.kind === 'boolean' ? `--[no-]${s.flag}` : `--${s.flag} ${s.value ?? ''}`.trimEnd();
      const defaults = s.default === undefined ? '' : ` (default ${s.default})`;
      const env = s.env.length > 0 ? `\n  ${''.padEnd(28)} env ${s.env.join(', ')}` : '';
      return `  ${flag.padEnd(28)} ${s.help}${defaults}${env}`;
    });
  const footer = [
    '',
    'Durations take ms, s, m or h (50ms, 10s, 5m). Flags win over environment variables.',
    'Exit codes: 0 clean shutdown, 1 unexpected error, 2 invalid configuration,',
    '            3 no valid certificate at start-up, 4 cannot listen.',
    '',
  ];
  if (command === 'dev') {
    return ['Usage: hotcert dev [--dir DIR] [--port PORT] [--rotate-every DURATION]', '', SUMMARIES.dev, '', 'Options:', ...rows(DEV_OPTIONS), ...footer].join('\n');
  }
  if (command === 'check') {
    return [
      'Usage: hotcert check (--cert-dir DIR | --cert FILE --key FILE [--ca FILE]) [--host NAME] [--json]',
      '',
      SUMMARIES.check,
      '',
      'Options:',
      ...rows(CHECK_OPTIONS),
      '',
    ].join('\n');
  }
  return [
    'hotcert: HTTPS Socket.IO server that hot-swaps its TLS certificate without dropping a socket',
    '',
    'Usage:',
    '  hotcert [serve] --cert-dir DIR [options]',
    '  hotcert [serve] --cert FILE --key FILE [--ca FILE] [options]',
    '  hotcert dev [--dir DIR] [--port PORT] [--rotate-every DURATION]',
    '  hotcert check --cert-dir DIR [--host NAME] [--json]',
    '  hotcert --version | --help | COMMAND --help',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.padEnd(8)} ${SUMMARIES[c]}`),
    '',
    'Options of serve:',
    ...rows(SERVE_OPTIONS),
    '',
    'Signals: SIGTERM/SIGINT shut down gracefully, SIGHUP re-reads the certificate now.',
    ...footer,
  ].join('\n');
}
