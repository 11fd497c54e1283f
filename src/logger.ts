import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS: readonly LevelWithSilent[] = Object.freeze(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * Paths pino censors wherever they appear. hotcert never logs key material on purpose; this is
 * the second line of defence against a future mistake.
 */
const REDACT_PATHS = ['key', 'privateKey', 'tlsKey', '*.key', '*.privateKey', '*.tlsKey', 'tls.key', 'options.key'];

export interface LoggerOptions {
  /** @default 'info' */
  readonly level?: LevelWithSilent;
  /** @default standard output */
  readonly destination?: DestinationStream;
}

/** JSON lines to standard output: what Kubernetes log collectors expect. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'hotcert',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
