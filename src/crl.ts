/**
 * Certificate revocation lists for mTLS (`--client-crl`): parsed from PEM, each proven to be signed
 * by a CA of the client CA bundle. Node reads only the first CRL of a concatenated PEM, so the TLS
 * stack is handed each CRL on its own (`crl: [pem, …]`); the same parsed lists let hotcert check
 * resumed sessions and live connections in JavaScript. Pure: no I/O, no clock.
 */
import { createHash, verify, type X509Certificate } from 'node:crypto';
import { certificateSubjectDer, childrenOf, contents, DerError, DerTag, expectTag, normaliseSerial, readNode, readOid, readSerial, readTime, whole } from './der.js';

/** OpenSSL writes `X509 CRL`; some libraries write `CRL`. Both are read; the TLS stack gets `X509 CRL`. */
const CRL_BLOCK = /-----BEGIN (X509 )?CRL-----[^-]+-----END \1CRL-----/g;

/** Signature algorithms by OID: the digest `crypto.verify` takes (null for EdDSA). */
const SIGNATURE_DIGESTS: Readonly<Record<string, string | null>> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};

/** A parsed, not yet verified, certificate revocation list. */
export class RevocationList {
  /** The DER of the whole CRL. */
  readonly raw: Buffer;
  /** The DER of the issuer's Name, matched byte for byte against CA subjects. */
  readonly issuerDer: Buffer;
  readonly thisUpdateMs: number;
  /** `undefined` when the CRL carries no nextUpdate (RFC 5280 requires one; OpenSSL tolerates its absence). */
  readonly nextUpdateMs: number | undefined;
  readonly #revoked: ReadonlySet<string>;
  readonly #tbs: Buffer;
  readonly #signatureOid: string;
  readonly #signature: Buffer;

  constructor(der: Buffer) {
    this.raw = der;
    const list = expectTag(readNode(der, 0), DerTag.SEQUENCE, 'a CertificateList SEQUENCE');
    if (list.end !== der.length) throw new DerError('trailing bytes after the CRL');
    const [tbsNode, algorithmNode, signatureNode] = childrenOf(der, list);
    const tbs = expectTag(tbsNode, DerTag.SEQUENCE, 'a TBSCertList SEQUENCE');
    this.#tbs = whole(der, tbs);
    this.#signatureOid = readOid(der, childrenOf(der, expectTag(algorithmNode, DerTag.SEQUENCE, 'a signature AlgorithmIdentifier'))[0] as never);
    const bits = contents(der, expectTag(signatureNode, DerTag.BIT_STRING, 'a signature BIT STRING'));
    this.#signature = bits.subarray(1);

    const fields = childrenOf(der, tbs);
    let index = fields[0]?.tag === DerTag.INTEGER ? 1 : 0; // version
    index++; // signature AlgorithmIdentifier (repeated inside the TBS)
    this.issuerDer = whole(der, expectTag(fields[index++], DerTag.SEQUENCE, 'the issuer Name'));
    const thisUpdate = fields[index++];
    if (!thisUpdate) throw new DerError('missing thisUpdate');
    this.thisUpdateMs = readTime(der, thisUpdate);
    const maybeNext = fields[index];
    this.nextUpdateMs = maybeNext && (maybeNext.tag === DerTag.UTC_TIME || maybeNext.tag === DerTag.GENERALIZED_TIME) ? readTime(der, fields[index++] as never) : undefined;
    const revoked = new Set<string>();
    const entries = fields[index];
    if (entries?.tag === DerTag.SEQUENCE) {
      for (const entry of childrenOf(der, entries)) {
        const [serial] = childrenOf(der, expectTag(entry, DerTag.SEQUENCE, 'a revoked-certificate entry'));
        revoked.add(normaliseSerial(readSerial(der, serial as never)));
      }
    }
    this.#revoked = revoked;
  }

  /** How many certificates the list revokes. */
  get size(): number {
    return this.#revoked.size;
  }

  /** SHA-256 of the DER, hex. */
  get fingerprint(): string {
    return createHash('sha256').update(this.raw).digest('hex');
  }

  /** The CRL as PEM, as the TLS stack takes it. */
  get pem(): string {
    const base64 = this.raw.toString('base64').replace(/.{1,64}/g, '$&\n');
    return `-----BEGIN X509 CRL-----\n${base64}-----END X509 CRL-----\n`;
  }

  /** Whether this list revokes the certificate with `serialNumber` (hex, as `X509Certificate` prints it). */
  revokes(serialNumber: string): boolean {
    return this.#revoked.has(normaliseSerial(serialNumber));
  }

  /** Whether `ca` issued this list: its subject is the list's issuer and its key verifies the signature. */
  issuedBy(ca: X509Certificate): boolean {
    if (!certificateSubjectDer(ca.raw).equals(this.issuerDer)) return false;
    const digest = SIGNATURE_DIGESTS[this.#signatureOid];
    if (digest === undefined) return false;
    try {
      return verify(digest, this.#tbs, ca.publicKey, this.#signature);
    } catch {
      return false;
    }
  }

  /** Whether the signature algorithm is one hotcert can check. */
  get signatureSupported(): boolean {
    return SIGNATURE_DIGESTS[this.#signatureOid] !== undefined;
  }

  get signatureAlgorithm(): string {
    return this.#signatureOid;
  }
}

/** The DER of each `BEGIN X509 CRL` block in `text`; empty when there is none. */
export function crlBlocks(text: string): Buffer[] {
  return (text.match(CRL_BLOCK) ?? []).map((block) =>
    Buffer.from(
      block
        .replace(/-----(BEGIN|END) (X509 )?CRL-----/g, '')
        .replace(/\s+/g, ''),
      'base64',
    ),
  );
}
