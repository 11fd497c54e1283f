/**
 * The composition root of the library: `createHotcertServer()` wires the HTTPS server, Socket.IO,
 * the reloader, the file source, metrics, logs and the side port, and tears them down in reverse.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server as HttpServer, RequestListener } from 'node:http';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { constants } from 'node:crypto';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Server as SocketIoServer, type ServerOptions as SocketIoOptions, type Socket } from 'socket.io';
import { systemClock, type Clock } from './clock.js';
import { announceCertificates, installRelayHandlers, type RelayOptions } from './default-app.js';
import { ErrorCodes, HotcertError } from './errors.js';
import { FileSource, type WatcherFactory } from './file-source.js';
import { boundPort, listen } from './listen.js';
import { silentLogger, type Logger } from './logger.js';
import { HotcertMetrics, registerRedisMetrics } from './metrics.js';
import { connectRedis, redactRedisUrl, type RedisLink, type RedisOptions } from './redis-adapter.js';
import { closeConnectionsGradually } from './drain.js';
import { createMetricsServer, type Readiness } from './metrics-server.js';
import { candidateDigest, readCandidate, type Candidate, type CertificatePaths } from './read-candidate.js';
import { initialFromApi, startKubernetes, type KubernetesOptions, type RunningKubernetes, type SecretReference } from './k8s/kubernetes.js';
import { Reloader, type ReloadTrigger } from './reloader.js';
import { logReloaderEvents } from './reload-log.js';
import { TlsConnectionTracker } from './tls-connections.js';
import { createTlsPortHandler } from './tls-port-handler.js';
import { guardHandlers } from './handler-guard.js';
import { answerPlainHttp } from './plain-http-answer.js';
import { SniContexts } from './sni.js';
import { ConnectionRecycler } from './recycler.js';
import { exposeClientCertificate, readClientCa } from './client-certificate.js';
import { answerClientErrors, DEFAULT_CONNECTION_LIMITS, enforceMaxConnections, isHandshakeTimeout, limitOptions, type ConnectionLimits } from './connection-limits.js';
import { TrustGuard } from './trust-guard.js';
import { guardWriteBacklog } from './backlog-guard.js';
import { originPolicy } from './origin-policy.js';
import { LogBudget } from './log-budget.js';
import type { CertificateMaterial } from './material.js';
import { StatusPage } from './status-page.js';
import { packageVersion } from './version.js';

/** Socket.IO `maxHttpBufferSize` unless `maxMessageBytes` says otherwise. */
export const DEFAULT_MAX_MESSAGE_BYTES: number = 64 * 1024;
/** Unsent output a connection may hold before the backlog guard closes it. */
export const DEFAULT_MAX_WRITE_BACKLOG_BYTES: number = 1024 * 1024;

/** The single certificate pair's logical name (the `certificate` metric label). */
export const DEFAULT_CERTIFICATE = 'default';

/** A mounted `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`, optional `ca.crt`), or explicit files. */
export type CertificateLocation = { readonly certDir: string } | { readonly cert: string; readonly key: string; readonly ca?: string | undefined };

/** TLS settings kept across swaps (the certificate and key come from the watched files). */
export type TlsBaseOptions = Omit<SecureContextOptions, 'cert' | 'key' | 'pfx' | 'passphrase' | 'ticketKeys'>;

/**
 * The TLS policy: TLS 1.2 at least; for TLS 1.2 only forward-secret AEAD suites (Mozilla's
 * "intermediate" list; TLS 1.3 suites are all AEAD); no renegotiation.
 */
export const DEFAULT_TLS_OPTIONS: Readonly<TlsBaseOptions> = Object.freeze({
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
} satisfies TlsBaseOptions);

export interface HotcertServerOptions {
  /** Where the serving certificate and key are on disk. Optional when `kubernetes.secret` is given. */
  readonly certificate?: CertificateLocation | undefined;
  /** Operator mode: watch the Secret through the API and/or post Events to the Pod. */
  readonly kubernetes?: KubernetesOptions | undefined;
  /**
   * More certificates, by SNI host name (`api.example.com`, or `*.example.com`), each watched and
   * reloaded on its own. Clients without SNI, or asking for another name, get `certificate`.
   */
  readonly sni?: Readonly<Record<string, CertificateLocation>>;
  /** mTLS: ask clients for a certificate from a CA in this bundle; it reloads with each pair. */
  readonly clientCa?: string | undefined;
  /** mTLS: refuse clients without a valid certificate. @default false */
  readonly requireClientCert?: boolean;
  /**
   * mTLS: PEM CRLs (one or more in one file), each signed by a CA of `clientCa`; reloaded with it.
   * With CRLs, OpenSSL checks every certificate of a client's chain: give a CRL for each issuing CA.
   */
  readonly clientCrl?: string | undefined;
  /**
   * mTLS: live connections whose client certificate stops verifying (CA removed, revoked) are
   * closed at random moments within this many ms; expiring ones up to this long after expiry. @default 30_000
   */
  readonly trustChangeWindowMs?: number;
  /** Replace the TLS session-ticket keys this often (they are also replaced when the client trust changes); 0 never. @default 43_200_000 (12 h) */
  readonly ticketKeyLifetimeMs?: number;
  /** Timeouts and limits for connections that have not done anything useful yet. @default DEFAULT_CONNECTION_LIMITS */
  readonly limits?: Partial<ConnectionLimits>;
  /**
   * After a swap, close connections negotiated under the replaced certificate at random moments
   * within this many ms, so clients reconnect onto the new chain. 0 turns it off. @default 0
   */
  readonly recycleAfterRotationMs?: number;
  /** TLS listen address. @default '0.0.0.0' */
  readonly host?: string;
  /** TLS listen port (HTTPS + WSS); 0 picks a free port. @default 8443 */
  readonly port?: number;
  /** Plain-HTTP `/metrics`, `/healthz`, `/readyz`; `false` turns it off. @default { host: '0.0.0.0', port: 9090 } */
  readonly metrics?: { readonly host?: string; readonly port?: number } | false;
  /** Watch the certificate directories for changes. With `false` only the poll runs. @default true */
  readonly watch?: boolean;
  /** Safety-net re-read interval in ms; 0 disables. @default 10_000 */
  readonly pollIntervalMs?: number;
  /** Quiet time after a plain-file event, in ms. @default 50 */
  readonly debounceMs?: number;
  /** Time allowed for `close()`, drain delay included, in ms. @default 25_000 */
  readonly shutdownTimeoutMs?: number;
  /**
   * On `close()`, stay up but report not ready for this many ms before closing sockets, so the
   * Service drops this endpoint first and reconnecting clients land on another replica. @default 0
   */
  readonly drainDelayMs?: number;
  /** Several replicas: the Socket.IO Redis Streams adapter, with connection-state recovery. */
  readonly redis?: RedisOptions | undefined;
  /** Extra TLS settings (minVersion, ciphers, …), reapplied at every swap. @default { minVersion: 'TLSv1.2' } */
  readonly tls?: TlsBaseOptions;
  /** Passed to the Socket.IO `Server`. */
  readonly socketIo?: Partial<SocketIoOptions>;
  /** Install `echo`/`join`/`leave`/`publish` (DESIGN §5). `hotcert:certificate` is always sent. @default true */
  readonly defaultApp?: boolean;
  /** Limits of the default app's relay (rooms per socket). */
  readonly relay?: RelayOptions;
  /**
   * Close a connection whose unsent output (answers and broadcasts a client does not read) stays
   * above this many bytes for two checks 250 ms apart (or exceeds 16 times it); 0 turns the guard off. @default 1_048_576
   */
  readonly maxWriteBacklogBytes?: number;
  /** The largest message a client may send (Socket.IO `maxHttpBufferSize`). @default 65_536 */
  readonly maxMessageBytes?: number;
  /**
   * Browser origins (`https://app.example.com`, or `*`) allowed to open Socket.IO connections;
   * clients that send no `Origin` (not browsers) are always allowed. @default any origin, or with
   * `clientCa` only pages served by hotcert itself (a browser sends the user's client certificate
   * to whichever page asks)
   */
  readonly allowedOrigins?: readonly string[] | undefined;
  /** Your handler for HTTP requests on the TLS port (everything but `/healthz` and `/socket.io/`); replaces the status page. */
  readonly requestHandler?: RequestListener;
  /** @default a silent logger */
  readonly logger?: Logger;
  /** @default a new Registry */
  readonly registry?: Registry;
  /** @default the system clock */
  readonly clock?: Clock;
  /** Watches the certificate directories. @default chokidar */
  readonly watcherFactory?: WatcherFactory;
}

export interface HotcertServer {
  readonly httpsServer: HttpsServer;
  readonly io: SocketIoServer;
  readonly reloader: Reloader;
  readonly registry: Registry;
  readonly metrics: HotcertMetrics;
  readonly logger: Logger;
  /** The bound TLS port (useful with `port: 0`). */
  readonly port: number;
  /** The bound metrics port, or `undefined` when it is off. */
  readonly metricsPort: number | undefined;
  /** Why the server is or is not ready (`/readyz`). */
  readiness(): Readiness;
  /** Re-reads the certificate files now (trigger `manual`). */
  reload(trigger?: ReloadTrigger): Promise<void>;
  /**
   * Stops sources, disconnects sockets, closes both ports. Idempotent: the same promise every time.
   * `immediate` (also on a later call) skips what is left of the drain delay and of the spread.
   */
  close(options?: { readonly immediate?: boolean }): Promise<void>;
}

/** Socket.IO's `allowRequest` (and CORS for listed origins) from the origin policy. */
function socketIoOriginOptions(options: HotcertServerOptions, logger: Logger): Partial<SocketIoOptions> {
  const allows = originPolicy({ allowedOrigins: options.allowedOrigins, sameOriginByDefault: options.clientCa !== undefined });
  if (!allows) return {};
  const listed = options.allowedOrigins?.filter((origin) => origin !== '*');
  return {
    allowRequest: (request, callback) => {
      const ok = allows(request);
      if (!ok) logger.info({ event: 'origin_refused', origin: request.headers.origin }, `refused a Socket.IO connection from origin ${JSON.stringify(request.headers.origin)} (not allowed by --allowed-origins)`);
      callback(ok ? null : 'origin not allowed', ok);
    },
    ...(listed && listed.length > 0 ? { cors: { origin: [...listed], credentials: true } } : {}),
  };
}

/**
 * tls.Server keeps the options it built its context from (`server.key`); the context has its own
 * copy, so drop the server's, and with it the last reference hotcert's code could reach.
 */
function forgetKey(server: HttpsServer): void {
  Reflect.set(server, 'key', undefined);
}

export function certificatePaths(location: CertificateLocation): CertificatePaths {
  if ('certDir' in location) {
    return { cert: join(location.certDir, 'tls.crt'), key: join(location.certDir, 'tls.key'), ca: join(location.certDir, 'ca.crt') };
  }
  return { cert: location.cert, key: location.key, ca: location.ca };
}

/**
 * Creates and starts a hotcert server: loads the certificate (strictly: throws
 * `HOTCERT_ERR_NO_CERTIFICATE` when there is no valid one), listens, and starts watching.
 *
 * @example
 * const hot = await createHotcertServer({ certificate: { certDir: '/etc/tls' }, port: 8443 });
 * hot.io.on('connection', (socket) => socket.on('ping', (ack) => ack('pong')));
 * process.on('SIGTERM', () => hot.close());
 */
export async function createHotcertServer(options: HotcertServerOptions): Promise<HotcertServer> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger();
  const registry = options.registry ?? new Registry();
  const host = options.host ?? '0.0.0.0';
  const port = options.port ?? 8443;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 25_000;
  const withClientCa = (paths: CertificatePaths): CertificatePaths =>
    options.clientCa ? { ...paths, clientCa: options.clientCa, ...(options.clientCrl ? { clientCrl: options.clientCrl } : {}) } : paths;
  const paths = options.certificate ? withClientCa(certificatePaths(options.certificate)) : undefined;
  const apiSecret = options.kubernetes?.secret;
  if (!paths && !apiSecret) {
    throw new HotcertError(ErrorCodes.INVALID_OPTION, 'no certificate source: give `certificate` (a directory or files) and/or `kubernetes.secret`');
  }
  if (options.requireClientCert && !options.clientCa) {
    throw new HotcertError(ErrorCodes.INVALID_OPTION, '`requireClientCert` needs `clientCa`, the CA bundle client certificates must come from');
  }
  if (options.clientCrl && !options.clientCa) {
    throw new HotcertError(ErrorCodes.INVALID_OPTION, '`clientCrl` needs `clientCa`, the CA bundle whose CAs signed the CRLs');
  }
  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  const tlsBase: TlsBaseOptions = { ...DEFAULT_TLS_OPTIONS, ...options.tls };
  // API candidates carry no client CA: read it from its file, so a swap never drops mTLS.
  const addClientCa = (candidate: Candidate): Candidate =>
    options.clientCa && 'files' in candidate
      ? { files: { ...candidate.files, clientCa: readClientCa(options.clientCa), ...(options.clientCrl ? { clientCrl: readClientCa(options.clientCrl) } : {}) } }
      : candidate;

  // Start-up is strict: the files when there are any, else the Secret through the API.
  const firstCandidate = paths
    ? await readCandidate(paths)
    : addClientCa(await initialFromApi(options.kubernetes as KubernetesOptions, apiSecret as SecretReference, logger, clock));
  const material = Reloader.validateInitial(DEFAULT_CERTIFICATE, firstCandidate, clock);
  const sniPairs = await Promise.all(
    Object.entries(options.sni ?? {}).map(async ([name, location]) => {
      const sniPaths = withClientCa(certificatePaths(location));
      const candidate = await readCandidate(sniPaths);
      return { name: name.toLowerCase(), paths: sniPaths, candidate, material: Reloader.validateInitial(name, candidate, clock) };
    }),
  );

  const reloader = new Reloader({ clock });
  const requestHandler = createTlsPortHandler({
    reloader,
    certificate: DEFAULT_CERTIFICATE,
    statusPage: options.requestHandler ? undefined : new StatusPage(packageVersion()),
    requestHandler: options.requestHandler,
  });
  const sni = new SniContexts();
  // The request handler exists before Socket.IO attaches: engine.io captures existing listeners.
  const httpsServer = createHttpsServer(
    {
      ...limitOptions(limits),
      ...tlsBase,
      ...material.tlsOptions(),
      // Only with SNI pairs: the callback runs in JavaScript on every handshake that names a host.
      ...(sniPairs.length > 0 ? { SNICallback: sni.callback } : {}),
      requestCert: options.clientCa !== undefined,
      rejectUnauthorized: options.requireClientCert ?? false,
    },
    requestHandler,
  );
  forgetKey(httpsServer);
  reloader.addPair(
    DEFAULT_CERTIFICATE,
    material,
    (next) => {
      try {
        httpsServer.setSecureContext({ ...tlsBase, ...next.tlsOptions(), ticketKeys: httpsServer.getTicketKeys() });
      } finally {
        forgetKey(httpsServer);
      }
    },
    'files' in firstCandidate ? firstCandidate.files : undefined,
  );
  for (const pair of sniPairs) {
    // Each SNI context shares the server's ticket keys, so sessions resume across names and swaps.
    const apply = (next: CertificateMaterial) => sni.set(pair.name, createSecureContext({ ...tlsBase, ...next.tlsOptions(), ticketKeys: httpsServer.getTicketKeys() }));
    apply(pair.material);
    reloader.addPair(pair.name, pair.material, apply, 'files' in pair.candidate ? pair.candidate.files : undefined);
  }
  const redisMetrics = options.redis ? registerRedisMetrics(registry, () => redisLink?.up ?? false) : undefined;
  const redisLink: RedisLink | undefined = options.redis
    ? connectRedis(
        options.redis,
        {
          onUpChange: (up, reason) => {
            const fields = { event: 'redis', up, url: redactRedisUrl((options.redis as RedisOptions).url) };
            if (up) logger.info(fields, 'connected to Redis: the Socket.IO adapter is up');
            else logger.warn({ ...fields, reason }, `lost Redis (${reason}): not ready until it is back; reconnecting`);
          },
          onError: (error) => {
            redisMetrics?.errors.inc();
            logger.debug({ event: 'redis_error', err: { code: (error as { code?: unknown }).code, message: error.message } }, 'Redis client error');
          },
        },
        logger,
      )
    : undefined;
  const io = new SocketIoServer(httpsServer, {
    serveClient: true,
    // Several replicas: rooms and broadcasts across them, and sessions that survive moving to
    // another replica (a drain, a lost pod) for two minutes, missed packets included.
    ...(redisLink ? { adapter: redisLink.adapter, connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000, skipMiddlewares: true } } : {}),
    // A relay's messages are small; Socket.IO's own default (1 MB) lets a few clients hold a lot.
    maxHttpBufferSize: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    ...socketIoOriginOptions(options, logger),
    ...options.socketIo,
  });
  answerPlainHttp(httpsServer, {
    // The refused handshake itself is counted as `http_request` by the connection tracker.
    onPlainHttp: ({ remoteAddress }) => logger.debug({ event: 'plain_http', remoteAddress }, 'answered a plain-HTTP request on the TLS port with 400'),
  });

  // A socket is served by the pair its TLS connection asked for by SNI, else the default one.
  const pairForName = (servername: string | false | null | undefined): string => sni.match(servername) ?? DEFAULT_CERTIFICATE;
  const certificateOf = (socket: Socket): string => pairForName((socket.request.socket as TLSSocket).servername);
  const tracker = new TlsConnectionTracker(httpsServer, {
    pairOf: (servername) => {
      const certificate = pairForName(servername);
      const status = reloader.status(certificate);
      return status && { certificate, fingerprint: status.material.fingerprint };
    },
    onHandshakeError: (reason, error) => {
      metrics.handshakeErrors.inc({ reason });
      if (isHandshakeTimeout(error)) metrics.connectionsRefused.inc({ reason: 'handshake_timeout' });
      logger.debug({ reason, err: { code: (error as { code?: unknown }).code, message: error.message } }, 'TLS handshake failed');
    },
  });
  const metrics = new HotcertMetrics({
    registry,
    reloader,
    connectionsOnPrevious: (name, fingerprint) => tracker.countOnPrevious(name, fingerprint),
    connectedSockets: () => io.of('/').sockets.size,
  });
  enforceMaxConnections(httpsServer, limits.maxConnections, () => metrics.connectionsRefused.inc({ reason: 'max_connections' }));
  answerClientErrors(httpsServer, () => metrics.connectionsRefused.inc({ reason: 'request_timeout' }));
  const trustGuard = new TrustGuard({
    server: httpsServer,
    reloader,
    pairOf: pairForName,
    clock,
    logger,
    mtls: options.clientCa !== undefined,
    windowMs: options.trustChangeWindowMs ?? 30_000,
    ticketKeyLifetimeMs: options.ticketKeyLifetimeMs ?? 12 * 3_600_000,
    onResumption: (result) => metrics.tlsResumptions.inc({ result }),
    onTicketKeyRotation: (reason) => metrics.ticketKeyRotations.inc({ reason }),
    onClosedUntrusted: (reason) => metrics.closedUntrusted.inc({ reason }),
  });
  const recycler =
    (options.recycleAfterRotationMs ?? 0) > 0
      ? new ConnectionRecycler({
          reloader,
          tracker,
          windowMs: options.recycleAfterRotationMs as number,
          onRecycled: (certificate) => metrics.recycled.inc({ certificate }),
        })
      : undefined;
  const errorLogs = new LogBudget({ perWindow: 5, windowMs: 60_000 });
  guardHandlers(io, (event, error, socket) => {
    metrics.handlerErrors.inc({ event });
    // Every error is counted; one socket gets a few log lines a minute, not one per packet.
    const budget = socket ? errorLogs.take(socket) : { log: true, suppressed: 0 };
    if (budget.log) {
      logger.error({ event: 'socketio_handler_error', socketEvent: event, err: error }, `a Socket.IO "${event}" handler threw; the server carries on`);
    } else if (budget.suppressed === 1) {
      logger.warn({ event: 'socketio_handler_error_suppressed', socketId: socket?.id }, 'handler errors of this socket keep coming: further ones are counted, not logged, for a minute');
    }
  });
  if (options.clientCa) exposeClientCertificate(io);
  /** Why hotcert itself closed a socket, for the disconnect reason. */
  const closedBecause = new WeakMap<Socket, string>();
  const relayOptions: RelayOptions = {
    ...options.relay,
    onAbusive: (socket, refusals) => {
      closedBecause.set(socket, 'refused_requests');
      logger.warn(
        { event: 'socket_closed_refused_requests', socketId: socket.id, remoteAddress: socket.handshake.address, refusals },
        `closed a socket that sent ${refusals} refused requests within 10 s`,
      );
      options.relay?.onAbusive?.(socket, refusals);
    },
  };
  const maxWriteBacklogBytes = options.maxWriteBacklogBytes ?? DEFAULT_MAX_WRITE_BACKLOG_BYTES;
  const backlogGuard =
    maxWriteBacklogBytes > 0
      ? guardWriteBacklog({
          io,
          maxBytes: maxWriteBacklogBytes,
          onCut: ({ remoteAddress, bytes }) =>
            logger.warn(
              { event: 'socket_write_backlog_exceeded', remoteAddress, bytes, limit: maxWriteBacklogBytes },
              `closed a connection from ${remoteAddress ?? 'an unknown address'} that does not read what it is sent (${bytes} bytes unsent, limit ${maxWriteBacklogBytes})`,
            ),
          onError: (error) => logger.error({ event: 'internal_error', component: 'backlog_guard', err: error }, 'the write-backlog guard failed; it carries on'),
        })
      : undefined;
  io.on('connection', (socket) => {
    metrics.socketConnections.inc();
    socket.once('disconnect', (reason) =>
      metrics.socketDisconnections.inc({ reason: closedBecause.get(socket) ?? (backlogGuard?.cut(socket.conn) ? 'write_backlog_exceeded' : reason) }),
    );
    if (options.defaultApp ?? true) installRelayHandlers(io, socket, relayOptions);
  });
  const stopAnnouncing = announceCertificates({ io, reloader, certificateOf });
  logReloaderEvents(reloader, logger);

  const fileSource = (certificate: string, sourcePaths: CertificatePaths, loaded: Candidate | undefined) =>
    new FileSource({
      paths: sourcePaths,
      alreadyServed: loaded && candidateDigest(loaded),
      sink: (candidate, offer) => reloader.offer(certificate, candidate, offer),
      watch: options.watch ?? true,
      pollIntervalMs: options.pollIntervalMs ?? 10_000,
      debounceMs: options.debounceMs ?? 50,
      clock,
      ...(options.watcherFactory ? { watcherFactory: options.watcherFactory } : {}),
      onWatchError: () => metrics.watchErrors.inc({ certificate }),
      onWatchMode: (mode, reason) => {
        metrics.setWatchMode(certificate, mode);
        const fields = { event: 'file_watch_mode', certificate, mode, reason };
        if (mode === 'events' || options.watch === false) logger.info(fields, `${mode === 'events' ? 'watching' : 'polling'} the files of certificate "${certificate}" (${reason})`);
        else logger.warn(fields, `file events unavailable for certificate "${certificate}" (${reason}): polling its files instead`);
      },
    });
  const sources = [...(paths ? [fileSource(DEFAULT_CERTIFICATE, paths, firstCandidate)] : []), ...sniPairs.map((pair) => fileSource(pair.name, pair.paths, pair.candidate))];
  let kubernetes: RunningKubernetes | undefined;

  let listening = false;
  let closing: Promise<void> | undefined;
  const readiness = (): Readiness => {
    const reasons: string[] = [];
    if (closing) reasons.push('shutting down');
    if (!listening) reasons.push('TLS listener is not up');
    if (redisLink && !redisLink.up) reasons.push(`Socket.IO Redis adapter: ${redisLink.downReason ?? 'Redis is down'}`);
    const now = clock.now();
    for (const name of reloader.certificates) {
      const leaf = reloader.status(name)?.material.leaf;
      if (!leaf) continue;
      if (now > Date.parse(leaf.validTo)) reasons.push(`certificate ${name} expired at ${leaf.validTo}`);
      if (now < Date.parse(leaf.validFrom)) reasons.push(`certificate ${name} is not valid until ${leaf.validFrom}`);
    }
    return { ready: reasons.length === 0, reasons };
  };

  const metricsServer: HttpServer | undefined =
    options.metrics === false
      ? undefined
      : createMetricsServer({ registry, readiness, onError: (error) => logger.error({ err: error }, 'metrics request failed') });

  const drainDelayMs = options.drainDelayMs ?? 0;
  const hurry = new AbortController();
  /** A pause of the shutdown that `close({ immediate: true })` cuts short. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (hurry.signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        hurry.signal.removeEventListener('abort', done);
        resolve();
      }
      hurry.signal.addEventListener('abort', done, { once: true });
    });
  const shutdown = async (): Promise<void> => {
    const timer = setTimeout(() => {
      logger.warn({ openConnections: tracker.size }, 'shutdown timeout reached; closing the remaining connections');
      httpsServer.closeAllConnections();
      tracker.destroyAll();
    }, shutdownTimeoutMs);
    timer.unref();
    if (drainDelayMs > 0 && listening) {
      // /readyz fails from now on; keep serving until the Service has dropped this endpoint.
      logger.info({ event: 'drain', drainDelayMs }, `not ready; closing sockets in ${drainDelayMs / 1000}s, once the Service has dropped this endpoint`);
      await pause(drainDelayMs);
    }
    stopAnnouncing();
    recycler?.stop();
    trustGuard.stop();
    backlogGuard?.stop();
    await Promise.all([...sources.map((source) => source.close()), kubernetes?.close()]);
    if (redisLink && listening) {
      // Several replicas: spread the reconnections so the others are not hit all at once.
      const spreadMs = Math.min(5_000, Math.max(0, (shutdownTimeoutMs - drainDelayMs) / 4));
      const closed = await closeConnectionsGradually(io, { spreadMs, sleep: pause });
      logger.info({ event: 'drain', closed, spreadMs }, `closed ${closed} connections over ${spreadMs / 1000}s; clients reconnect to the other replicas`);
    }
    const drained = new Promise<void>((done) => {
      // io.close() disconnects every socket and closes the HTTPS server.
      void io.close(() => done());
    });
    const metricsClosed = metricsServer?.listening
      ? new Promise<void>((done) => {
          metricsServer.close(() => done());
          metricsServer.closeIdleConnections();
        })
      : Promise.resolve();
    await Promise.all([drained, metricsClosed]);
    // After io.close(): the sessions of the closed sockets are written to Redis before QUIT.
    await redisLink?.close();
    clearTimeout(timer);
    listening = false;
  };
  const close = (closeOptions?: { readonly immediate?: boolean }): Promise<void> => {
    if (closeOptions?.immediate) hurry.abort();
    return (closing ??= shutdown());
  };

  try {
    // A deep accept queue: under a burst of connections the kernel holds them for the handshake
    // timeout to judge, instead of dropping SYNs that clients then retry seconds later.
    await listen(httpsServer, { host, port, label: 'TLS', setting: '--port', backlog: 4096 });
    listening = true;
    if (metricsServer && options.metrics !== false) {
      await listen(metricsServer, {
        host: options.metrics?.host ?? '0.0.0.0',
        port: options.metrics?.port ?? 9090,
        label: 'metrics',
        setting: '--metrics-port',
      });
    }
    await Promise.all(sources.map((source) => source.start()));
    if (options.kubernetes) {
      kubernetes = startKubernetes({
        options: options.kubernetes,
        reloader,
        certificate: DEFAULT_CERTIFICATE,
        registry,
        logger,
        clock,
        alreadyServed: paths ? undefined : candidateDigest(firstCandidate),
        transform: addClientCa,
      });
    }
  } catch (error) {
    await close();
    throw error;
  }

  return {
    httpsServer,
    io,
    reloader,
    registry,
    metrics,
    logger,
    port: boundPort(httpsServer),
    metricsPort: metricsServer ? boundPort(metricsServer) : undefined,
    readiness,
    reload: async (trigger: ReloadTrigger = 'manual') => {
      await Promise.all(sources.map((source) => source.reload(trigger)));
    },
    close,
  };
}

export { ErrorCodes, HotcertError };
