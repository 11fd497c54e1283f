/**
 * The client trust in force (the client CA bundle and its CRLs), able to say in JavaScript whether a
 * client certificate still verifies. OpenSSL checks full handshakes; this checks what OpenSSL does
 * not: sessions that resume, and connections that stay open while trust contracts. Pure: the
 * time is a parameter.
 */
import type { X509Certificate } from 'node:crypto';
import { formatDistinguishedName, notAfterMs, notBeforeMs } from './certificate-info.js';
import type { CertificateMaterial, IssuedCrl } from './material.js';

/** Why a client certificate no longer verifies; the `reason` label of `hotcert_connections_closed_untrusted_total`. */
export type UntrustedReason = 'ca_removed' | 'revoked' | 'expired';

export const UNTRUSTED_REASONS: readonly UntrustedReason[] = Object.freeze(['ca_removed', 'revoked', 'expired']);

export type TrustVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: UntrustedReason; readonly message: string };

/** Longest chain walked from a client certificate up to a CA of the bundle. */
const MAX_DEPTH = 8;

function describe(certificate: X509Certificate): string {
  return `${formatDistinguishedName(certificate.subject) || '(empty subject)'} (serial ${certificate.serialNumber})`;
}

function issued(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

export class ClientTrust {
  readonly #cas: readonly X509Certificate[];
  /** CRLs by the fingerprint of the CA that signed them. */
  readonly #crls: ReadonlyMap<string, IssuedCrl>;
  /** Identifies this trust epoch (`''` without mTLS). */
  readonly digest: string;

  constructor(cas: readonly X509Certificate[], crls: readonly IssuedCrl[], digest: string) {
    this.#cas = cas;
    this.#crls = new Map(crls.map((crl) => [crl.issuer.fingerprint256, crl]));
    this.digest = digest;
  }

  static of(material: CertificateMaterial): ClientTrust {
    return new ClientTrust(material.clientCa, material.clientCrls, material.trustDigest);
  }

  /** Whether mTLS is on (there is a client CA bundle). */
  get enabled(): boolean {
    return this.#cas.length > 0;
  }

  /**
   * Whether `leaf` chains, through `intermediates` (certificates clients sent in earlier full
   * handshakes), to a CA of the bundle, with every certificate on the way inside its validity
   * window and, when CRLs are in force, listed by none and covered by a current CRL of its issuer
   * (as OpenSSL checks it with CRLs: every certificate of the chain).
   */
  verify(leaf: X509Certificate, intermediates: Iterable<X509Certificate>, nowMs: number): TrustVerdict {
    const pool = [...intermediates];
    let current = leaf;
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      const expired = this.#outsideValidity(current, nowMs);
      if (expired) return expired;
      if (this.#cas.some((ca) => ca.raw.equals(current.raw)) && current.checkIssued(current)) return { ok: true };
      const anchor = this.#cas.find((ca) => issued(current, ca));
      const parent = anchor ?? pool.find((candidate) => candidate.ca && !candidate.raw.equals(current.raw) && issued(current, candidate));
      if (!parent) {
        return {
          ok: false,
          reason: 'ca_removed',
          message: `${describe(current)} was issued by ${formatDistinguishedName(current.issuer) || '(empty issuer)'}, which is no longer a CA of the client CA bundle`,
        };
      }
      const revoked = this.#revocation(current, parent, nowMs);
      if (revoked) return revoked;
      // A CA of the bundle ends the walk unless it has an issuer of its own in the bundle.
      if (anchor && (anchor.checkIssued(anchor) || !this.#cas.some((ca) => !ca.raw.equals(anchor.raw) && issued(anchor, ca)))) {
        const anchorExpired = this.#outsideValidity(anchor, nowMs);
        return anchorExpired ?? { ok: true };
      }
      current = parent;
    }
    return { ok: false, reason: 'ca_removed', message: `${describe(leaf)}: no chain to a CA of the client CA bundle within ${MAX_DEPTH} certificates` };
  }

  #outsideValidity(certificate: X509Certificate, nowMs: number): TrustVerdict | undefined {
    if (nowMs > notAfterMs(certificate)) {
      return { ok: false, reason: 'expired', message: `${describe(certificate)} expired at ${new Date(notAfterMs(certificate)).toISOString()}` };
    }
    if (nowMs < notBeforeMs(certificate)) {
      return { ok: false, reason: 'expired', message: `${describe(certificate)} is not valid until ${new Date(notBeforeMs(certificate)).toISOString()}` };
    }
    return undefined;
  }

  #revocation(certificate: X509Certificate, issuer: X509Certificate, nowMs: number): TrustVerdict | undefined {
    if (this.#crls.size === 0) return undefined;
    const crl = this.#crls.get(issuer.fingerprint256);
    if (!crl) {
      return { ok: false, reason: 'revoked', message: `${describe(certificate)}: revocation status unknown: no CRL from its issuer ${describe(issuer)} (with --client-crl, every issuing CA needs one)` };
    }
    if (crl.list.nextUpdateMs !== undefined && nowMs > crl.list.nextUpdateMs) {
      return { ok: false, reason: 'revoked', message: `${describe(certificate)}: revocation status unknown: the CRL of ${describe(issuer)} expired at ${new Date(crl.list.nextUpdateMs).toISOString()}` };
    }
    if (crl.list.revokes(certificate.serialNumber)) {
      return { ok: false, reason: 'revoked', message: `${describe(certificate)} is revoked by the CRL of ${describe(issuer)}` };
    }
    return undefined;
  }
}
