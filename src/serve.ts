/**
 * `hotcert serve`: the server binary. Runs until SIGTERM/SIGINT, then shuts down gracefully.
 */
import { readFileSync } from 'node:fs';
import type { RedisConfig, ServeConfig } from './config.js';
import { ConfigError } from './errors.js';
import { redactRedisUrl, type RedisOptions } from './redis-adapter.js';
import type { Logger } from './logger.js';
import { createHotcertServer, DEFAULT_CERTIFICATE, type HotcertServer } from './server.js';
import { createKubeApi, loadKubeConfig } from './k8s/kube-api.js';
import type { KubernetesOptions } from './k8s/kubernetes.js';

export interface ProcessSignals {
  on(signal: NodeJS.Signals, listener: () => void): unknown;
  off(signal: NodeJS.Signals, listener: () => void): unknown;
}

/**
 * Serves until SIGTERM, SIGINT or SIGUSR2, then closes the server (time-boxed by its shutdown
 * timeout). While it stops, a second stop signal skips the drain delay and the spread of the
 * closes (the sockets are still told, and the exit code is 0), and SIGHUP is ignored; before,
 * SIGHUP re-reads the certificate. SIGUSR1 is ignored: by default it would open Node's inspector,
 * which gives code execution and the key in memory to anyone in the pod's network namespace.
 * Resolves once the server has closed.
 */
export async function runUntilSignal(server: HotcertServer, logger: Logger, signals: ProcessSignals, onStop?: () => void): Promise<void> {
  let stopping = false;
  const handlers = new Map<NodeJS.Signals, () => void>();
  await new Promise<void>((stopped) => {
    const stop = (signal: NodeJS.Signals) => () => {
      if (stopping) {
        logger.warn({ event: 'shutdown', signal }, `${signal} again: closing the sockets now, without the drain delay`);
        void server.close({ immediate: true });
        return;
      }
      stopping = true;
      logger.info({ event: 'shutdown', signal }, `${signal}: shutting down`);
      onStop?.();
      void server.close().then(stopped);
    };
    handlers.set('SIGTERM', stop('SIGTERM'));
    handlers.set('SIGINT', stop('SIGINT'));
    handlers.set('SIGUSR2', stop('SIGUSR2'));
    handlers.set('SIGHUP', () => {
      if (stopping) {
        logger.info({ event: 'sighup' }, 'SIGHUP while shutting down: ignored');
        return;
      }
      logger.info({ event: 'sighup' }, 'SIGHUP: re-reading the certificate');
      void server.reload('manual');
    });
    handlers.set('SIGUSR1', () => logger.warn({ event: 'sigusr1' }, 'SIGUSR1 ignored: hotcert does not open the Node.js inspector'));
    for (const [signal, handler] of handlers) signals.on(signal, handler);
  });
  for (const [signal, handler] of handlers) signals.off(signal, handler);
  logger.info({ event: 'stopped' }, 'shut down cleanly');
}

/** Starts the server and resolves when it has shut down after a signal. */
async function kubernetesOptions(config: ServeConfig): Promise<KubernetesOptions | undefined> {
  if (!config.kubernetes) return undefined;
  const api = await createKubeApi(await loadKubeConfig(config.kubernetes.access));
  return { api, secret: config.kubernetes.secret, events: config.kubernetes.events };
}

function redisOptions(redis: RedisConfig | undefined): RedisOptions | undefined {
  if (!redis) return undefined;
  let ca: string | undefined;
  if (redis.caFile !== undefined) {
    try {
      ca = readFileSync(redis.caFile, 'utf8');
    } catch (error) {
      throw new ConfigError([`--redis-ca ${redis.caFile}: cannot read the file (${(error as { code?: string }).code ?? (error as Error).message})`]);
    }
  }
  return { url: redis.url, password: redis.password, ca };
}

export async function serve(config: ServeConfig, logger: Logger, signals: ProcessSignals = process): Promise<void> {
  const server = await createHotcertServer({
    certificate: config.certificate,
    kubernetes: await kubernetesOptions(config),
    host: config.host,
    port: config.port,
    metrics: config.metrics,
    watch: config.watch,
    pollIntervalMs: config.pollIntervalMs,
    debounceMs: config.debounceMs,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    tls: { minVersion: config.tlsMinVersion },
    sni: Object.fromEntries(config.sni.map(({ name, location }) => [name, location])),
    clientCa: config.clientCa,
    requireClientCert: config.requireClientCert,
    clientCrl: config.clientCrl,
    ticketKeyLifetimeMs: config.ticketKeyLifetimeMs,
    limits: config.limits,
    recycleAfterRotationMs: config.recycleAfterRotationMs,
    redis: redisOptions(config.redis),
    drainDelayMs: config.drainDelayMs,
    socketIo: { transports: [...config.transports] },
    relay: { maxRoomsPerSocket: config.maxRoomsPerSocket },
    maxMessageBytes: config.maxMessageBytes,
    allowedOrigins: config.allowedOrigins,
    maxWriteBacklogBytes: config.maxWriteBacklogBytes,
    logger,
  });
  const live = server.reloader.current(DEFAULT_CERTIFICATE);
  logger.info(
    {
      event: 'listening',
      host: config.host,
      port: server.port,
      metricsPort: server.metricsPort ?? null,
      serialNumber: live?.serialNumber,
      notAfter: live?.validTo,
      watch: config.watch,
      pollIntervalMs: config.pollIntervalMs,
      k8sSecret: config.kubernetes?.secret ? `${config.kubernetes.secret.namespace}/${config.kubernetes.secret.name}` : null,
      k8sEvents: config.kubernetes?.events !== undefined,
      sni: config.sni.map((pair) => pair.name),
      clientCa: config.clientCa ?? null,
      requireClientCert: config.requireClientCert,
      clientCrl: config.clientCrl ?? null,
      maxConnections: config.limits.maxConnections ?? null,
      redis: config.redis ? redactRedisUrl(config.redis.url) : null,
      transports: config.transports,
      drainDelayMs: config.drainDelayMs,
    },
    `serving Socket.IO over TLS on https://${config.host}:${server.port}/ (certificate serial ${live?.serialNumber ?? '?'}, valid until ${live?.validTo ?? '?'})`,
  );
  await runUntilSignal(server, logger, signals);
}
