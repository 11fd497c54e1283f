import { ErrorCodes } from './errors.js';

/** Process exit codes (DESIGN §3). */
export const ExitCode = {
  OK: 0,
  UNEXPECTED: 1,
  CONFIG: 2,
  NO_CERTIFICATE: 3,
  LISTEN: 4,
  /** `hotcert check`: the material would not be served. */
  CHECK_FAILED: 1,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code for an error that ended the process. */
export function exitCodeFor(error: unknown): ExitCodeValue {
  switch ((error as { code?: unknown } | null)?.code) {
    case ErrorCodes.CONFIG:
    case ErrorCodes.UNSAFE_PATH:
      return ExitCode.CONFIG;
    case ErrorCodes.NO_CERTIFICATE:
      return ExitCode.NO_CERTIFICATE;
    case ErrorCodes.LISTEN:
      return ExitCode.LISTEN;
    default:
      return ExitCode.UNEXPECTED;
  }
}
