import { describe, expect, it } from 'vitest';
import { helpText, parseInvocation, SERVE_OPTIONS, type ServeConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { formatDuration, parseDuration } from '../../src/duration.js';

function config(argv: string[], env: Record<string, string> = {}): ServeConfig {
  const invocation = parseInvocation({ argv, env });
  if (invocation.kind !== 'run' || invocation.config.command !== 'serve') throw new Error(`expected serve, got ${JSON.stringify(invocation)}`);
  return invocation.config;
}

function problems(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    parseInvocation({ argv, env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseInvocation', () => {
  it('resolves the defaults of DESIGN §3', () => {
    expect(config(['--cert-dir', '/etc/tls'])).toEqual({
      command: 'serve',
      certificate: { certDir: '/etc/tls' },
      host: '0.0.0.0',
      port: 8443,
      metrics: { host: '0.0.0.0', port: 9090 },
      watch: true,
      pollIntervalMs: 10_000,
      debounceMs: 50,
      logLevel: 'info',
      shutdownTimeoutMs: 25_000,
      tlsMinVersion: 'TLSv1.2',
      sni: [],
      clientCa: undefined,
      requireClientCert: false,
      clientCrl: undefined,
      ticketKeyLifetimeMs: 12 * 3_600_000,
      maxRoomsPerSocket: 100,
      maxMessageBytes: 65_536,
      allowedOrigins: undefined,
      maxWriteBacklogBytes: 1_048_576,
      limits: { handshakeTimeoutMs: 10_000, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, maxConnections: undefined },
      recycleAfterRotationMs: 0,
      redis: undefined,
      drainDelayMs: 0,
      transports: ['polling', 'websocket'],
    });
  });

  it('takes the Redis adapter settings, the password only from the environment', () => {
    expect(
      config(['--cert-dir', '/tls', '--redis-url', 'rediss://redis.cache:6380/0', '--redis-ca', '/etc/redis-ca/ca.crt', '--transports', 'websocket', '--drain-delay', '5s'], {
        HOTCERT_REDIS_PASSWORD: 's3cret',
      }),
    ).toMatchObject({
      redis: { url: 'rediss://redis.cache:6380/0', password: 's3cret', caFile: '/etc/redis-ca/ca.crt' },
      transports: ['websocket'],
      drainDelayMs: 5_000,
    });
    expect(config([], { HOTCERT_CERT_DIR: '/tls', HOTCERT_REDIS_URL: 'redis://127.0.0.1:6379', HOTCERT_TRANSPORTS: 'websocket, polling', HOTCERT_DRAIN_DELAY: '2s' })).toMatchObject({
      redis: { url: 'redis://127.0.0.1:6379', password: undefined, caFile: undefined },
      transports: ['websocket', 'polling'],
      drainDelayMs: 2_000,
    });
  });

  it.each([
    [['--redis-url', 'http://user:hunter2@redis:6379'], /^--redis-url: not a Redis URL \(redis:\/\/host:6379/],
    [['--redis-url', 'redis://redis:6379', '--redis-ca', '/ca.crt'], /^--redis-ca: a CA for Redis needs TLS: use a rediss:\/\/ URL/],
    [['--redis-ca', '/ca.crt'], /^--redis-ca: needs --redis-url rediss:\/\//],
    [['--transports', 'websocket,carrier-pigeon'], /^--transports: "websocket,carrier-pigeon" must list polling and\/or websocket/],
    [['--drain-delay', '30s'], /^--drain-delay: must be shorter than --shutdown-timeout \(25s\)/],
  ])('refuses %j with a clear message', (argv, expected) => {
    const found = problems(['--cert-dir', '/tls', ...argv]);
    expect(found).toEqual([expect.stringMatching(expected)]);
    // A password in a bad URL never reaches the message.
    expect(found.join('\n')).not.toContain('hunter2');
  });

  it('takes several --cert-dir as NAME=DIR for SNI, and the client CA for mTLS', () => {
    expect(config(['--cert-dir', '/tls/default', '--cert-dir', 'api.example.com=/tls/api', '--cert-dir=*.example.org=/tls/org', '--client-ca', '/ca/clients.pem', '--require-client-cert'])).toMatchObject({
      certificate: { certDir: '/tls/default' },
      sni: [
        { name: 'api.example.com', location: { certDir: '/tls/api' } },
        { name: '*.example.org', location: { certDir: '/tls/org' } },
      ],
      clientCa: '/ca/clients.pem',
      requireClientCert: true,
    });
    // Only named ones: the first also serves clients without SNI.
    expect(config([], { HOTCERT_CERT_DIR: 'a.example=/a, b.example=/b' })).toMatchObject({ certificate: { certDir: '/a' }, sni: [{ name: 'a.example' }, { name: 'b.example' }] });
    expect(problems(['--cert-dir', '/a', '--cert-dir', '/b'])).toEqual([expect.stringMatching(/only one --cert-dir DIR without a NAME=/)]);
    expect(problems(['--cert-dir', '/a', '--require-client-cert'])).toEqual([expect.stringMatching(/--require-client-cert: needs --client-ca FILE/)]);
  });

  it('takes CRLs with the client CA, and refuses them without one', () => {
    expect(config(['--cert-dir', '/a', '--client-ca', '/ca.pem', '--client-crl', '/crl.pem'])).toMatchObject({ clientCa: '/ca.pem', clientCrl: '/crl.pem' });
    expect(config(['--cert-dir', '/a', '--client-ca', '/ca.pem'], { HOTCERT_CLIENT_CRL: '/env.pem' })).toMatchObject({ clientCrl: '/env.pem' });
    expect(problems(['--cert-dir', '/a', '--client-crl', '/crl.pem'])).toEqual(['--client-crl: needs --client-ca FILE (the CAs that signed the CRLs)']);
  });

  it.each([
    [['--tls-handshake-timeout', '0'], '--tls-handshake-timeout: must be longer than 0'],
    [['--http-headers-timeout', '0'], '--http-headers-timeout: must be longer than 0'],
    [['--http-keep-alive-timeout', '0'], '--http-keep-alive-timeout: must be longer than 0'],
    [['--max-connections', '0'], '--max-connections: "0" is not a whole number of at least 1'],
    [['--max-connections', 'lots'], '--max-connections: "lots" is not a whole number of at least 1'],
    [['--allowed-origins', 'app.example.com/path'], '--allowed-origins: "app.example.com/path" must list origins such as https://app.example.com (scheme and host, no path), or *'],
    [['--tls-ticket-key-lifetime', 'daily'], expect.stringMatching(/^--tls-ticket-key-lifetime: "daily" is not a duration/)],
  ])('refuses connection limits %j', (argv, expected) => {
    expect(problems(['--cert-dir', '/a', ...argv])).toEqual([expected]);
  });

  it('takes TLS 1.3 as the minimum when asked, and nothing older than 1.2', () => {
    expect(config(['--cert-dir', '/d', '--tls-min-version', '1.3']).tlsMinVersion).toBe('TLSv1.3');
    expect(problems(['--cert-dir', '/d', '--tls-min-version', '1.0'])).toEqual(['--tls-min-version: "1.0" is not 1.2 or 1.3 (older TLS versions are not offered)']);
  });

  it('returns a frozen object', () => {
    const resolved = config(['serve', '--cert-dir=/etc/tls']);
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(Object.isFrozen(resolved.certificate)).toBe(true);
  });

  it('reads every setting from HOTCERT_* variables, and flags win', () => {
    const env = {
      HOTCERT_CERT_FILE: '/a.crt',
      HOTCERT_KEY_FILE: '/a.key',
      HOTCERT_CA_FILE: '/ca.crt',
      HOTCERT_HOST: '127.0.0.1',
      HOTCERT_PORT: '9443',
      HOTCERT_METRICS_HOST: '127.0.0.2',
      HOTCERT_METRICS_PORT: '0',
      HOTCERT_POLL_INTERVAL: '1m',
      HOTCERT_DEBOUNCE: '0',
      HOTCERT_WATCH: 'false',
      HOTCERT_LOG_LEVEL: 'debug',
      HOTCERT_SHUTDOWN_TIMEOUT: '5s',
      HOTCERT_TLS_MIN_VERSION: '1.3',
      HOTCERT_TLS_TICKET_KEY_LIFETIME: '1h',
      HOTCERT_TLS_HANDSHAKE_TIMEOUT: '3s',
      HOTCERT_HTTP_HEADERS_TIMEOUT: '4s',
      HOTCERT_HTTP_REQUEST_TIMEOUT: '0',
      HOTCERT_HTTP_KEEP_ALIVE_TIMEOUT: '65s',
      HOTCERT_MAX_CONNECTIONS: '5000',
      HOTCERT_MAX_ROOMS_PER_SOCKET: '20',
      HOTCERT_MAX_MESSAGE_BYTES: '1000000',
      HOTCERT_ALLOWED_ORIGINS: 'https://app.example.com, https://admin.example.com',
      HOTCERT_MAX_WRITE_BACKLOG_BYTES: '0',
    };
    expect(config([], env)).toEqual({
      tlsMinVersion: 'TLSv1.3',
      sni: [],
      clientCa: undefined,
      requireClientCert: false,
      clientCrl: undefined,
      ticketKeyLifetimeMs: 3_600_000,
      maxRoomsPerSocket: 20,
      maxMessageBytes: 1_000_000,
      allowedOrigins: ['https://app.example.com', 'https://admin.example.com'],
      maxWriteBacklogBytes: 0,
      limits: { handshakeTimeoutMs: 3_000, headersTimeoutMs: 4_000, requestTimeoutMs: 0, keepAliveTimeoutMs: 65_000, maxConnections: 5_000 },
      recycleAfterRotationMs: 0,
      redis: undefined,
      drainDelayMs: 0,
      transports: ['polling', 'websocket'],
      command: 'serve',
      certificate: { cert: '/a.crt', key: '/a.key', ca: '/ca.crt' },
      host: '127.0.0.1',
      port: 9443,
      metrics: false,
      watch: false,
      pollIntervalMs: 60_000,
      debounceMs: 0,
      logLevel: 'debug',
      shutdownTimeoutMs: 5_000,
    });
    expect(config(['--port', '10443', '--watch', '--log-level=warn'], env)).toMatchObject({ port: 10443, watch: true, logLevel: 'warn' });
  });

  it('has an environment variable for every flag', () => {
    for (const option of SERVE_OPTIONS) {
      expect(option.env[0]).toBe(`HOTCERT_${option.flag.toUpperCase().replaceAll('-', '_')}${['cert', 'key', 'ca'].includes(option.flag) ? '_FILE' : ''}`);
    }
  });

  it('reports every problem at once, naming the flag or variable', () => {
    const found = problems(['--port', '99999', '--poll-interval', 'often', '--log-level', 'loud', '--bogus', 'extra'], { HOTCERT_DEBOUNCE: '5' });
    expect(found).toEqual(
      expect.arrayContaining([
        '--bogus: unknown option here (see hotcert --help)',
        '"extra": unknown command (commands: serve, dev, check; see hotcert --help)',
        expect.stringMatching(/^no certificate configured: set --cert-dir DIR/),
        '--port: "99999" is not a port number (0-65535)',
        expect.stringMatching(/^--poll-interval: "often" is not a duration/),
        expect.stringMatching(/^--log-level: "loud" is not a log level/),
        expect.stringMatching(/^HOTCERT_DEBOUNCE: "5" is not a duration/),
      ]),
    );
    expect(found).toHaveLength(7);
  });

  it.each([
    [['--cert-dir', '/d', '--cert', '/c'], /use either a certificate directory or explicit files/],
    [['--cert', '/c'], /--cert: needs --key FILE as well/],
    [['--key', '/k'], /--key: needs --cert FILE as well/],
    [['--cert-dir', '/d', '--port', '9090'], /metrics port must differ from the TLS port/],
    [['--cert-dir', '/d', '--no-watch', '--poll-interval', '0'], /with watching off .* it cannot be 0/],
    [['--cert-dir'], /--cert-dir: needs a value/],
    [['--cert-dir', '/d', '--port', '--debounce', '1s'], /--port: needs a value/],
    [['--cert-dir', '/d'], null],
  ])('%j', (argv, expected) => {
    if (expected === null) expect(() => parseInvocation({ argv, env: {} })).not.toThrow();
    else expect(problems(argv).join('\n')).toMatch(expected);
  });

  it('parses operator mode: the Secret reference, the Pod from the downward API, API access', () => {
    const env = { POD_NAME: 'web-0', POD_NAMESPACE: 'web', KUBECONFIG: '/k/config:/k/other' };
    expect(config(['--k8s-secret', 'web/web-tls', '--k8s-events'], env)).toMatchObject({
      certificate: undefined,
      kubernetes: {
        secret: { namespace: 'web', name: 'web-tls' },
        events: { pod: { namespace: 'web', name: 'web-0', uid: undefined } },
        access: { inCluster: false, kubeconfig: '/k/config' },
      },
    });
    expect(config(['--cert-dir', '/tls'], { HOTCERT_K8S_SECRET: 'web/web-tls' })).toMatchObject({ certificate: { certDir: '/tls' }, kubernetes: { secret: { name: 'web-tls' }, events: undefined } });
    expect(config(['--cert-dir', '/tls']).kubernetes).toBeUndefined();
    expect(problems(['--k8s-secret', 'Web/x_y'])).toEqual([expect.stringMatching(/^--k8s-secret: "Web\/x_y" is not NAMESPACE\/NAME/)]);
    expect(problems(['--cert-dir', '/tls', '--k8s-events'])).toEqual([expect.stringMatching(/set env POD_NAME \(fieldRef metadata\.name\) and POD_NAMESPACE/)]);
  });

  it('parses dev with its own defaults: localhost only, quiet JSON logs', () => {
    expect(parseInvocation({ argv: ['dev'], env: {} })).toEqual({
      kind: 'run',
      config: {
        command: 'dev',
        dir: '.hotcert-dev',
        rotateEveryMs: 30_000,
        host: '127.0.0.1',
        port: 8443,
        metrics: { host: '127.0.0.1', port: 9090 },
        logLevel: 'warn',
        shutdownTimeoutMs: 25_000,
      },
    });
    expect(parseInvocation({ argv: ['dev', '--rotate-every', '5s', '--dir', '/tmp/d', '--port', '0'], env: {} })).toMatchObject({
      config: { rotateEveryMs: 5_000, dir: '/tmp/d', port: 0 },
    });
    expect(problems(['dev', '--rotate-every', '10ms'])).toEqual([expect.stringMatching(/--rotate-every: rotating more often than every 1s/)]);
    expect(problems(['dev', '--cert-dir', '/x'])).toEqual(['--cert-dir: unknown option here (see hotcert --help)']);
  });

  it('parses check; its --host is a name to check and never comes from HOTCERT_HOST', () => {
    expect(parseInvocation({ argv: ['check', '--cert-dir', '/etc/tls', '--host', 'api.example.com', '--json'], env: { HOTCERT_HOST: '0.0.0.0' } })).toEqual({
      kind: 'run',
      config: { command: 'check', certificate: { certDir: '/etc/tls' }, serverName: 'api.example.com', json: true },
    });
    expect(parseInvocation({ argv: ['check'], env: { HOTCERT_HOST: '0.0.0.0', HOTCERT_CERT_DIR: '/etc/tls' } })).toMatchObject({
      config: { serverName: undefined, json: false, certificate: { certDir: '/etc/tls' } },
    });
  });

  it('recognises --help and --version before anything else', () => {
    expect(parseInvocation({ argv: ['--version', '--bogus'], env: {} })).toEqual({ kind: 'version' });
    expect(parseInvocation({ argv: ['-h'], env: {} })).toEqual({ kind: 'help' });
    expect(parseInvocation({ argv: ['dev', '--help'], env: {} })).toEqual({ kind: 'help', command: 'dev' });
    expect(parseInvocation({ argv: ['help', 'check'], env: {} })).toEqual({ kind: 'help', command: 'check' });
    expect(helpText('dev')).toContain('--rotate-every DURATION');
    expect(helpText('check')).toContain('--[no-]json');
    expect(helpText()).toContain('--cert-dir DIR');
    expect(helpText()).toContain('HOTCERT_SHUTDOWN_TIMEOUT');
  });
});

describe('durations', () => {
  it.each([
    ['50ms', 50],
    ['10s', 10_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['0', 0],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(parseDuration(formatDuration(ms))).toBe(ms);
  });

  it.each(['', '10', '-1s', '1d', 'ten seconds', '1 s'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
