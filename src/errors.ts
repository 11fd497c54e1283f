/**
 * Stable error codes. Scripts and tests match on `code`, never on message text.
 */
export const ErrorCodes = {
  /** The command line or environment is invalid; the CLI exits with 2. */
  CONFIG: 'HOTCERT_ERR_CONFIG',
  /** No valid certificate could be loaded at start-up; the CLI exits with 3. */
  NO_CERTIFICATE: 'HOTCERT_ERR_NO_CERTIFICATE',
  /** A listener could not bind (port in use, not permitted); the CLI exits with 4. */
  LISTEN: 'HOTCERT_ERR_LISTEN',
  /** A library call received options it cannot use. */
  INVALID_OPTION: 'HOTCERT_ERR_INVALID_OPTION',
  /** A certificate pair name is unknown to the reloader. */
  UNKNOWN_CERTIFICATE: 'HOTCERT_ERR_UNKNOWN_CERTIFICATE',
  /** A path hotcert would write, delete or read a secret from is not what it must be (a link out, wrong owner); the CLI exits with 2. */
  UNSAFE_PATH: 'HOTCERT_ERR_UNSAFE_PATH',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface HotcertErrorOptions {
  readonly cause?: unknown;
  /** Machine-readable details (never key material). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Every error hotcert raises on purpose carries a stable `code`. */
export class HotcertError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: HotcertErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HotcertError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** Invalid configuration: every problem found, reported together. */
export class ConfigError extends HotcertError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(ErrorCodes.CONFIG, `invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      details: { problems },
    });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** The `code` of a Node.js system error (`ENOENT`, `EACCES`, …), if any. */
export function systemErrorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const { code } = error as { code: unknown };
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
