/**
 * mTLS: the client certificate a Socket.IO connection presented, on `socket.handshake`, so
 * middleware and handlers can authorise by it. The client CA bundle is read here for candidates
 * that come through the Kubernetes API (they carry only the serving Secret).
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { Server, Socket } from 'socket.io';
import { formatDistinguishedName } from './certificate-info.js';
import type { PemFile } from './material.js';

export interface ClientCertificate {
  /** Distinguished name, `CN=…, O=…`. */
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly validTo: string;
  /** Verified against the client CA bundle. */
  readonly authorized: boolean;
  /** Why not, when not (`SELF_SIGNED_CERT_IN_CHAIN`, …). */
  readonly authorizationError: string | undefined;
}

/**
 * `socket.handshake` with the mTLS client certificate: `clientCertificate` only when it verified
 * against the client CA bundle; a certificate that did not (self-signed, another CA, revoked) is
 * under `unverifiedClientCertificate` and must never be used to authorise.
 */
export type HandshakeWithClientCertificate = Socket['handshake'] & {
  clientCertificate?: ClientCertificate;
  unverifiedClientCertificate?: ClientCertificate;
};

/**
 * The verified client certificate of a socket (`socket.handshake.clientCertificate`), or
 * `undefined` when the client presented none or one that did not verify.
 */
export function clientCertificateOf(socket: Socket): ClientCertificate | undefined {
  return (socket.handshake as HandshakeWithClientCertificate).clientCertificate;
}

function dn(parts: Record<string, string | string[] | undefined> | undefined): string {
  if (!parts) return '';
  return formatDistinguishedName(
    Object.entries(parts)
      .flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${key}=${v ?? ''}`))
      .join('\n'),
  );
}

/**
 * Adds `socket.handshake.clientCertificate` for every connection whose certificate verified, and
 * `unverifiedClientCertificate` for those that presented one that did not.
 */
export function exposeClientCertificate(io: Server): void {
  io.use((socket, next) => {
    const tlsSocket = socket.request.socket as TLSSocket;
    const peer = typeof tlsSocket.getPeerCertificate === 'function' ? tlsSocket.getPeerCertificate() : undefined;
    if (peer && Object.keys(peer).length > 0) {
      const field = tlsSocket.authorized ? 'clientCertificate' : 'unverifiedClientCertificate';
      (socket.handshake as HandshakeWithClientCertificate)[field] = Object.freeze({
        subject: dn(peer.subject as unknown as Record<string, string>),
        issuer: dn(peer.issuer as unknown as Record<string, string>),
        serialNumber: peer.serialNumber.toUpperCase(),
        fingerprint256: peer.fingerprint256,
        validTo: new Date(peer.valid_to).toISOString(),
        authorized: tlsSocket.authorized,
        authorizationError: tlsSocket.authorizationError ? String(tlsSocket.authorizationError) : undefined,
      });
    }
    next();
  });
}

/** The client CA bundle as a candidate file (an unreadable one fails validation with read_error). */
export function readClientCa(path: string): PemFile {
  try {
    return { path, data: readFileSync(path) };
  } catch {
    return { path, data: Buffer.alloc(0) };
  }
}
