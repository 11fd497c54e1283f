import type { X509Certificate } from 'node:crypto';

/** What hotcert tells the world about a certificate: public facts only, never key material. */
export interface CertificateInfo {
  /** Upper-case hex, as `X509Certificate#serialNumber` gives it. */
  readonly serialNumber: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex. */
  readonly fingerprint256: string;
  /** Distinguished name, RDNs joined with `, ` (e.g. `CN=example.com, O=Example`). */
  readonly subject: string;
  readonly issuer: string;
  /** ISO 8601 timestamps. */
  readonly validFrom: string;
  readonly validTo: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/** A subjectAltName entry as Node.js prints it: `DNS:example.com`, `IP Address:127.0.0.1`. */
interface AltName {
  readonly type: string;
  readonly value: string;
}

/**
 * Splits Node's `subjectAltName` string. Node quotes a value as a JSON string when it holds
 * characters (such as `,`) that would make the plain form ambiguous.
 */
export function parseSubjectAltName(text: string | undefined): AltName[] {
  if (!text) return [];
  const names: AltName[] = [];
  const entry = /\s*([^:,]+):("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)/gy;
  let match: RegExpExecArray | null;
  while (entry.lastIndex < text.length && (match = entry.exec(text)) !== null) {
    const [, type = '', raw = ''] = match;
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        value = raw;
      }
    }
    names.push({ type: type.trim(), value });
  }
  return names;
}

/** `CN=a\nO=b` (Node's multi-line form) to `CN=a, O=b`. */
export function formatDistinguishedName(dn: string): string {
  return dn
    .split('\n')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .join(', ');
}

/** The common name of a distinguished name in Node's multi-line form, or `''`. */
export function commonName(dn: string): string {
  for (const line of dn.split('\n')) {
    if (line.startsWith('CN=')) return line.slice(3);
  }
  return '';
}

export function toIsoTime(nodeTime: string): string {
  const ms = Date.parse(nodeTime);
  return Number.isNaN(ms) ? nodeTime : new Date(ms).toISOString();
}

export function notAfterMs(certificate: X509Certificate): number {
  return Date.parse(certificate.validTo);
}

export function notBeforeMs(certificate: X509Certificate): number {
  return Date.parse(certificate.validFrom);
}

export function describeCertificate(certificate: X509Certificate): CertificateInfo {
  const altNames = parseSubjectAltName(certificate.subjectAltName);
  return Object.freeze({
    serialNumber: certificate.serialNumber,
    fingerprint256: certificate.fingerprint256,
    subject: formatDistinguishedName(certificate.subject),
    issuer: formatDistinguishedName(certificate.issuer),
    validFrom: toIsoTime(certificate.validFrom),
    validTo: toIsoTime(certificate.validTo),
    dnsNames: Object.freeze(altNames.filter((n) => n.type === 'DNS').map((n) => n.value)),
    ipAddresses: Object.freeze(altNames.filter((n) => n.type === 'IP Address').map((n) => n.value)),
  });
}
