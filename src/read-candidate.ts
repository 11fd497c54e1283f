import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { systemErrorCode } from './errors.js';
import type { CandidateFiles, PemFile, Rejection } from './material.js';

/** Where one named certificate pair lives on disk. */
export interface CertificatePaths {
  readonly cert: string;
  readonly key: string;
  /** Optional: a missing `ca` file is not an error. */
  readonly ca?: string | undefined;
  /** mTLS client CA bundle: required when given. */
  readonly clientCa?: string | undefined;
  /** mTLS CRLs (PEM, one or more): required when given. */
  readonly clientCrl?: string | undefined;
}

/** What a source hands to the reloader: raw bytes, or the reason they could not be read. */
export type Candidate = { readonly files: CandidateFiles } | { readonly rejection: Rejection };

/** Certificate files are a few KiB; anything this large is not one. */
export const DEFAULT_MAX_FILE_BYTES: number = 1024 * 1024;

const EXPLANATIONS: Readonly<Record<string, string>> = {
  ENOENT: 'the file does not exist (check the path and that the Secret is mounted there)',
  EACCES: 'permission denied (make it readable by the user hotcert runs as: check the volume defaultMode and fsGroup)',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory, not a file',
  ELOOP: 'too many levels of symbolic links (a symlink loop)',
  ENOTDIR: 'a component of the path is not a directory',
  EMFILE: 'too many open files in this process',
  ENFILE: 'too many open files on this system',
};

function describeReadError(path: string, error: unknown): string {
  const code = systemErrorCode(error);
  const why = (code && EXPLANATIONS[code]) ?? (error instanceof Error ? error.message : String(error));
  return `${path}: cannot read: ${why}${code ? ` (${code})` : ''}`;
}

class FileTooLargeError extends Error {
  readonly code = 'EFBIG';
}

/** What a path that is not a regular file is, for messages. */
export function fileTypeName(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a named pipe (FIFO)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

class NotRegularFileError extends Error {
  readonly code = 'ENOTREG';
}

/**
 * Reads a whole file, refusing (without reading it all) one larger than `maxBytes`. Synchronous on
 * purpose: certificate files are a few KiB on a local (usually tmpfs) mount, where one blocking read
 * takes microseconds, while the promise-based calls cost an event-loop turn each and made the
 * read of a pair ten times slower under load.
 */
function readLimited(path: string, maxBytes: number): Buffer {
  // Non-blocking: opening a named pipe for reading would otherwise wait for a writer, with the
  // event loop stopped. Then anything that is not a regular file is refused before a read.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw Object.assign(new Error('it is a directory, not a file'), { code: 'EISDIR' });
    if (!stats.isFile()) throw new NotRegularFileError(`it is ${fileTypeName(stats)}, not a regular file: point it at the certificate file itself`);
    if (stats.size > maxBytes) throw new FileTooLargeError(`${stats.size} bytes is larger than the ${maxBytes}-byte limit for certificate files`);
    const buffer = Buffer.alloc(Math.min(maxBytes + 1, Math.max(stats.size + 1, 4096)));
    let length = 0;
    for (;;) {
      if (length === buffer.length) throw new FileTooLargeError(`the file grew past the ${maxBytes}-byte limit while being read`);
      const bytesRead = readSync(fd, buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new FileTooLargeError(`the file grew past the ${maxBytes}-byte limit while being read`);
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

interface ReadFailure extends Rejection {
  readonly code: string | undefined;
}

function readOne(path: string, maxBytes: number): PemFile | ReadFailure {
  try {
    return { path, data: readLimited(path, maxBytes) };
  } catch (error) {
    return { reason: 'read_error', file: path, message: describeReadError(path, error), code: systemErrorCode(error) };
  }
}

function toRejection({ reason, file, message }: ReadFailure): Rejection {
  return { reason, file, message };
}

function isPemFile(value: PemFile | ReadFailure): value is PemFile {
  return 'data' in value;
}

/**
 * Reads a pair (and its optional CA) in one go. A missing `ca` file is tolerated; a missing
 * certificate or key is a `read_error` naming the file.
 */
export async function readCandidate(paths: CertificatePaths, maxBytes: number = DEFAULT_MAX_FILE_BYTES): Promise<Candidate> {
  const cert = readOne(paths.cert, maxBytes);
  const key = readOne(paths.key, maxBytes);
  const ca = paths.ca === undefined ? undefined : readOne(paths.ca, maxBytes);
  const clientCa = paths.clientCa === undefined ? undefined : readOne(paths.clientCa, maxBytes);
  const clientCrl = paths.clientCrl === undefined ? undefined : readOne(paths.clientCrl, maxBytes);
  if (!isPemFile(cert)) return { rejection: toRejection(cert) };
  if (!isPemFile(key)) return { rejection: toRejection(key) };
  if (clientCa !== undefined && !isPemFile(clientCa)) return { rejection: toRejection(clientCa) };
  if (clientCrl !== undefined && !isPemFile(clientCrl)) return { rejection: toRejection(clientCrl) };
  // ca.crt is optional: its absence is fine, any other failure is reported.
  if (ca !== undefined && !isPemFile(ca) && ca.code !== 'ENOENT') return { rejection: toRejection(ca) };
  return {
    files: {
      cert,
      key,
      ...(ca !== undefined && isPemFile(ca) ? { ca } : {}),
      ...(clientCa !== undefined ? { clientCa } : {}),
      ...(clientCrl !== undefined ? { clientCrl } : {}),
    },
  };
}

/** SHA-256 over the candidate's bytes (not its paths); `undefined` for a failed read. */
export function candidateDigest(candidate: Candidate): string | undefined {
  if (!('files' in candidate)) return undefined;
  return filesDigest(candidate.files);
}

export function filesDigest(files: CandidateFiles): string {
  const hash = createHash('sha256');
  for (const file of [files.cert, files.key, files.ca, files.clientCa, files.clientCrl]) {
    hash.update(file ? `${file.data.length}:` : '-:');
    if (file) hash.update(file.data);
  }
  return hash.digest('hex');
}
