/**
 * `hotcert serve`: the server binary. Runs until SIGTERM/SIGINT, then shuts down gracefully.
 */
import { readFileSync } from 'node:fs';
import type { RedisConfig, ServeConfig } from './config.js';
import { ConfigError } from './errors.js';
import { redactRedisUrl, type RedisOptions } from './redis-adapter.js';
import type { Logger } from './logger.js';
import { createHotcertServer, DEFAULT_CERTIFICATE, type HotcertServer } from './server.js';
import { SignalTrap, type ProcessSignals } from './signals.js';
import { createKubeApi, loadKubeConfig } from './k8s/kube-api.js';
import type { KubernetesOptions } from './k8s/kubernetes.js';

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
  // Trapped before start-up: a signal that comes while hotcert starts never ends it abruptly.
  const trap = new SignalTrap(signals, logger);
  let server: HotcertServer;
  try {
    server = await startServer(config, logger);
  } catch (error) {
    trap.release();
    throw error;
  }
  logListening(config, server, logger);
  await trap.run(server);
}

async function startServer(config: ServeConfig, logger: Logger): Promise<HotcertServer> {
  return createHotcertServer({
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
}

function logListening(config: ServeConfig, server: HotcertServer, logger: Logger): void {
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
}

export type { ProcessSignals } from './signals.js';
