/**
 * A certificate factory for tests: a fresh CA, intermediate and leaf per call, ECDSA P-256 or
 * RSA-2048, with a new key on every issuance (as cert-manager does with rotationPolicy Always).
 */
import { createPrivateKey } from 'node:crypto';
import { issueCertificate, type IssuedCertificate, type KeyAlgorithm } from '../../src/x509-issuer.js';

export type { KeyAlgorithm } from '../../src/x509-issuer.js';

const DAY = 86_400_000;

export interface LeafOptions {
  readonly commonName?: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
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
