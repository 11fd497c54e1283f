/**
 * A certificate factory for tests: a fresh CA, intermediate and leaf per call, ECDSA P-256 or
 * RSA-2048, with a new key on every issuance (as cert-manager does with rotationPolicy Always).
 */
import { createPrivateKey } from 'node:crypto';
import { issueCertificate, type IssuedCertificate, type KeyAlgorithm } from '../../src/x509-issuer.js';
// After x509-issuer, which sets up @peculiar/x509's crypto provider and Reflect metadata.
import { X509CrlGenerator } from '@peculiar/x509';

export type { KeyAlgorithm } from '../../src/x509-issuer.js';

const DAY = 86_400_000;

export interface LeafOptions {
  readonly commonName?: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

export interface CrlOptions {
  readonly revoked?: readonly string[];
  readonly thisUpdate?: Date;
  readonly nextUpdate?: Date;
}

/** A root CA and an intermediate under it, able to issue leaves. */
export class TestPki {
  private constructor(
    readonly root: IssuedCertificate,
    readonly intermediate: IssuedCertificate,
  ) {}

  static async create(algorithm: KeyAlgorithm = 'ecdsa'): Promise<TestPki> {
    const now = Date.now();
    const root = await issueCertificate({ commonName: 'hotcert test root CA', isCa: true, algorithm, notBefore: new Date(now - DAY), notAfter: new Date(now + 3650 * DAY) });
    const intermediate = await issueCertificate({
      commonName: 'hotcert test intermediate CA',
      isCa: true,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + 365 * DAY),
      issuer: root,
    });
    return new TestPki(root, intermediate);
  }

  /** Another intermediate under the same root, with keys of `algorithm` (so its leaves have them too). */
  async withIntermediate(algorithm: KeyAlgorithm): Promise<TestPki> {
    const now = Date.now();
    const intermediate = await issueCertificate({
      commonName: `hotcert test ${algorithm} intermediate CA`,
      isCa: true,
      algorithm,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + 365 * DAY),
      issuer: this.root,
    });
    return new TestPki(this.root, intermediate);
  }

  /** PEM of the root and the intermediate: a client CA bundle that can carry a CRL from each. */
  get bundlePem(): string {
    return this.root.certPem + this.intermediate.certPem;
  }

  /**
   * A PEM CRL signed by the root or the intermediate, revoking `revoked` serials. OpenSSL checks
   * every certificate of a chain against its issuer's CRL, so a leaf needs `crls()`: both.
   */
  async crl(signer: 'root' | 'intermediate', options: CrlOptions = {}): Promise<string> {
    const issuer = this[signer];
    const now = Date.now();
    const crl = await X509CrlGenerator.create({
      issuer: issuer.certificate.subject,
      thisUpdate: options.thisUpdate ?? new Date(now - 60_000),
      nextUpdate: options.nextUpdate ?? new Date(now + 7 * DAY),
      entries: (options.revoked ?? []).map((serialNumber) => ({ serialNumber, revocationDate: new Date(now - 1_000) })),
      signingAlgorithm: issuer.algorithm === 'ecdsa' ? ({ name: 'ECDSA', hash: 'SHA-256' } as never) : ({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as never),
      signingKey: issuer.keys.privateKey as never,
    });
    // OpenSSL's label, as `openssl ca -gencrl` writes it.
    return `${crl.toString('pem').replace(/-----(BEGIN|END) CRL-----/g, '-----$1 X509 CRL-----')}\n`;
  }

  /** A CRL from the root (for the intermediate) and one from the intermediate (for leaves) in one PEM file. */
  async crls(options: CrlOptions = {}): Promise<string> {
    return (await this.crl('root')) + (await this.crl('intermediate', options));
  }

  /** PEM of the root: what a client trusts. */
  get caPem(): string {
    return this.root.certPem;
  }

  /** A new leaf with a new key, signed by the intermediate. */
  async leaf(options: LeafOptions = {}): Promise<Leaf> {
    const issued = await issueCertificate({
      commonName: options.commonName ?? 'localhost',
      dnsNames: options.dnsNames ?? ['localhost'],
      ipAddresses: options.ipAddresses ?? ['127.0.0.1'],
      notBefore: options.notBefore ?? new Date(Date.now() - 60_000),
      notAfter: options.notAfter ?? new Date(Date.now() + 90 * DAY),
      issuer: this.intermediate,
    });
    return new Leaf(issued, this);
  }
}

/** An issued leaf with the files a cert-manager Secret holds. */
export class Leaf {
  constructor(
    readonly issued: IssuedCertificate,
    readonly pki: TestPki,
  ) {}

  get serialNumber(): string {
    return this.issued.serialNumber;
  }

  /** `tls.crt`: leaf first, then the intermediate. */
  get chainPem(): string {
    return this.issued.certPem + this.pki.intermediate.certPem;
  }

  get keyPem(): string {
    return this.issued.keyPem;
  }

  /** The key re-encoded: `pkcs1` (RSA only), `sec1` (EC only) or `pkcs8`. */
  keyAs(type: 'pkcs1' | 'sec1' | 'pkcs8'): string {
    return createPrivateKey(this.issued.keyPem).export({ type, format: 'pem' }).toString();
  }

  /** The contents of a `kubernetes.io/tls` Secret as cert-manager writes it. */
  get secretFiles(): Record<string, string> {
    return { 'tls.crt': this.chainPem, 'tls.key': this.keyPem, 'ca.crt': this.pki.caPem };
  }
}
