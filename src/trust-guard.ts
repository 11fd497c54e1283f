/**
 * mTLS trust that holds across time, not only at the full handshake:
 * - every resumed handshake is checked again in JavaScript against the trust in force now (CA
 *   bundle, CRLs, validity), before a byte of HTTP is read, and destroyed if it fails: OpenSSL
 *   does not re-verify a client certificate on resumption;
 * - a change of the trust epoch (bundle or CRLs) replaces the session-ticket keys, so no ticket from
 *   before resumes, and closes the live connections whose certificate no longer verifies, spread
 *   over a window; the others are untouched;
 * - a connection is closed when its client certificate expires (plus jitter);
 * - the ticket keys are also replaced on a timer, since Node never rotates them itself.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, Server as TlsServer, TLSSocket } from 'node:tls';
import { formatDistinguishedName, notAfterMs } from './certificate-info.js';
import { ClientTrust, type UntrustedReason } from './client-trust.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import { longTimeout, type LongTimer } from './long-timer.js';
import type { CertificateMaterial } from './material.js';
import type { Reloader } from './reloader.js';

export type TicketKeyRotationReason = 'trust_changed' | 'lifetime';

export interface TrustGuardOptions {
  readonly server: TlsServer;
  readonly reloader: Reloader;
  /** The pair a connection is served by, from its SNI server name. */
  readonly pairOf: (servername: string | false | null | undefined) => string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** mTLS is on (a client CA bundle): without it only resumptions are counted and the keys rotated. */
  readonly mtls: boolean;
  /** Spread closes of connections that lost trust, and expiry closes, over up to this many ms. */
  readonly windowMs: number;
  /** Replace the ticket keys this often; 0 never (only on trust changes). */
  readonly ticketKeyLifetimeMs: number;
  readonly onResumption?: (result: 'resumed' | 'refused') => void;
  readonly onTicketKeyRotation?: (reason: TicketKeyRotationReason) => void;
  readonly onClosedUntrusted?: (reason: UntrustedReason) => void;
  /** @default Math.random */
  readonly random?: () => number;
  /** @default 48 random bytes */
  readonly newTicketKeys?: () => Buffer;
}

interface Authenticated {
  readonly certificate: string;
  readonly leaf: X509Certificate;
  expiry: LongTimer | undefined;
  closing: LongTimer | undefined;
}

/** Intermediates clients sent in verified full handshakes, kept to check their resumed sessions. */
const MAX_INTERMEDIATES = 64;

export class TrustGuard {
  readonly #options: TrustGuardOptions;
  readonly #connections = new Map<TLSSocket, Authenticated>();
  readonly #intermediates = new Map<string, X509Certificate>();
  readonly #pairTrust = new Map<string, string>();
  /** One verdict-maker per served material, not one per handshake. */
  readonly #trusts = new WeakMap<CertificateMaterial, ClientTrust>();
  readonly #random: () => number;
  #lifetimeTimer: LongTimer | undefined;
  #stopped = false;

  constructor(options: TrustGuardOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    for (const name of options.reloader.certificates) this.#pairTrust.set(name, options.reloader.status(name)?.material.trustDigest ?? '');
    // Before the HTTP server's own listener: a refused session never reaches the request parser.
    options.server.prependListener('secureConnection', (socket: TLSSocket) => this.#onSecureConnection(socket));
    options.reloader.on('reload', ({ certificate, material }) => this.#onTrust(certificate, material.trustDigest));
    this.#armLifetime();
  }

  /** Open connections authenticated by a client certificate. */
  get authenticatedConnections(): number {
    return this.#connections.size;
  }

  #trustOf(certificate: string): ClientTrust | undefined {
    const material = this.#options.reloader.status(certificate)?.material;
    if (!material) return undefined;
    let trust = this.#trusts.get(material);
    if (!trust) {
      trust = ClientTrust.of(material);
      this.#trusts.set(material, trust);
    }
    return trust;
  }

  #onSecureConnection(socket: TLSSocket): void {
    const reused = socket.isSessionReused();
    if (!this.#options.mtls) {
      if (reused) this.#options.onResumption?.('resumed');
      return;
    }
    const certificate = this.#options.pairOf(socket.servername);
    const trust = this.#trustOf(certificate);
    if (!trust?.enabled) {
      if (reused) this.#options.onResumption?.('resumed');
      return;
    }
    // `authorized` of a resumed session is what OpenSSL decided when the session was made.
    if (!socket.authorized) {
      if (reused) this.#options.onResumption?.('resumed');
      return;
    }
    // The chain first: on a server socket, getPeerX509Certificate() loses the chain that
    // getPeerCertificate(true) would otherwise return (seen on Node 20 and 24).
    if (!reused) this.#learnIntermediates(socket);
    const leaf = socket.getPeerX509Certificate();
    if (reused) {
      const verdict = leaf ? trust.verify(leaf, this.#intermediates.values(), this.#options.clock.now()) : undefined;
      if (!verdict?.ok) {
        this.#options.onResumption?.('refused');
        this.#options.logger.info(
          { event: 'tls_resumption_refused', certificate, reason: verdict?.reason ?? 'ca_removed', ...(leaf ? this.#identity(leaf) : {}) },
          `refused a resumed TLS session: ${verdict?.message ?? 'it carries no client certificate'}`,
        );
        socket.destroy();
        return;
      }
      this.#options.onResumption?.('resumed');
    }
    if (leaf) this.#track(socket, certificate, leaf);
  }

  #learnIntermediates(socket: TLSSocket): void {
    let link: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true).issuerCertificate;
    for (let depth = 0; link && depth < 8; depth++) {
      const fingerprint = link.fingerprint256;
      if (fingerprint && !this.#intermediates.has(fingerprint) && link.raw) {
        try {
          this.#intermediates.set(fingerprint, new X509Certificate(link.raw));
          if (this.#intermediates.size > MAX_INTERMEDIATES) this.#intermediates.delete(this.#intermediates.keys().next().value as string);
        } catch {
          // Not a certificate Node can parse: it cannot serve as a link either.
        }
      }
      const next: DetailedPeerCertificate | undefined = link.issuerCertificate;
      if (!next || next === link || next.fingerprint256 === link.fingerprint256) break;
      link = next;
    }
  }

  #track(socket: TLSSocket, certificate: string, leaf: X509Certificate): void {
    const entry: Authenticated = { certificate, leaf, expiry: undefined, closing: undefined };
    this.#connections.set(socket, entry);
    const untilExpiry = notAfterMs(leaf) - this.#options.clock.now();
    entry.expiry = longTimeout(() => this.#close(socket, 'expired', `the client certificate expired at ${new Date(notAfterMs(leaf)).toISOString()}`), untilExpiry + this.#jitter());
    socket.once('close', () => {
      entry.expiry?.cancel();
      entry.closing?.cancel();
      this.#connections.delete(socket);
    });
  }

  #jitter(): number {
    return Math.floor(this.#random() * this.#options.windowMs);
  }

  #identity(leaf: X509Certificate): Record<string, string> {
    return { subject: formatDistinguishedName(leaf.subject), serialNumber: leaf.serialNumber };
  }

  #close(socket: TLSSocket, reason: UntrustedReason, why: string): void {
    const entry = this.#connections.get(socket);
    if (!entry || socket.destroyed) return;
    this.#connections.delete(socket);
    entry.expiry?.cancel();
    entry.closing?.cancel();
    this.#options.onClosedUntrusted?.(reason);
    this.#options.logger.warn(
      { event: 'connection_closed_untrusted', certificate: entry.certificate, reason, ...this.#identity(entry.leaf) },
      `closed a connection of client ${formatDistinguishedName(entry.leaf.subject)} (serial ${entry.leaf.serialNumber}): ${why}`,
    );
    socket.destroy();
  }

  #onTrust(certificate: string, digest: string): void {
    if (this.#stopped || this.#pairTrust.get(certificate) === digest) return;
    this.#pairTrust.set(certificate, digest);
    // Each pair's change replaces the keys: a session made through a pair that had not yet
    // reloaded the new bundle must not resume either.
    this.rotateTicketKeys('trust_changed');
    const trust = this.#trustOf(certificate);
    if (!trust?.enabled) return;
    const now = this.#options.clock.now();
    for (const [socket, entry] of this.#connections) {
      if (entry.certificate !== certificate || entry.closing) continue;
      const verdict = trust.verify(entry.leaf, this.#intermediates.values(), now);
      if (verdict.ok) continue;
      entry.closing = longTimeout(() => this.#close(socket, verdict.reason, verdict.message), this.#jitter());
    }
  }

  /** Replaces the session-ticket keys: no session from before resumes, on any SNI pair (they share the server's). */
  rotateTicketKeys(reason: TicketKeyRotationReason): void {
    this.#options.server.setTicketKeys(this.#options.newTicketKeys?.() ?? randomBytes(48));
    this.#options.onTicketKeyRotation?.(reason);
    this.#options.logger.info({ event: 'tls_ticket_keys_rotated', reason }, `replaced the TLS session-ticket keys (${reason === 'lifetime' ? 'their lifetime ended' : 'the client trust changed'})`);
    if (reason === 'trust_changed') this.#armLifetime();
  }

  #armLifetime(): void {
    this.#lifetimeTimer?.cancel();
    const { ticketKeyLifetimeMs } = this.#options;
    if (this.#stopped || ticketKeyLifetimeMs <= 0) return;
    this.#lifetimeTimer = longTimeout(() => {
      this.rotateTicketKeys('lifetime');
      this.#armLifetime();
    }, ticketKeyLifetimeMs);
  }

  /** Cancels every timer; connections are left to the server's shutdown. */
  stop(): void {
    this.#stopped = true;
    this.#lifetimeTimer?.cancel();
    for (const entry of this.#connections.values()) {
      entry.expiry?.cancel();
      entry.closing?.cancel();
    }
    this.#connections.clear();
  }
}
