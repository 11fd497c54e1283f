/**
 * A certificate factory for tests: a fresh CA, intermediate and leaf per call, ECDSA P-256 or
 * RSA-2048, with a new key on every issuance (as cert-manager does with rotationPolicy Always).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';

type RsaHashedKeyGenParams = webcrypto.RsaHashedKeyGenParams;
type EcKeyGenParams = webcrypto.EcKeyGenParams;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type KeyAlgorithm = 'ecdsa' | 'rsa';

const ALGORITHMS: Record<KeyAlgorithm, RsaHashedKeyGenParams | EcKeyGenParams> = {
  ecdsa: { name: 'ECDSA', namedCurve: 'P-256' },
  rsa: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' } as RsaHashedKeyGenParams,
};

function signing(algorithm: KeyAlgorithm): Algorithm {
  return algorithm === 'ecdsa' ? ({ name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams) : ALGORITHMS.rsa;
}

const DAY = 86_400_000;

export interface Issued {
  readonly certPem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  readonly serialNumber: string;
  readonly keys: CryptoKeyPair;
  readonly certificate: x509.X509Certificate;
  readonly algorithm: KeyAlgorithm;
}

export interface IssueOptions {
  readonly commonName?: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly algorithm?: KeyAlgorithm;
  readonly isCa?: boolean;
}

function newSerial(): string {
  // Positive, 16 bytes, no leading zero byte: what X509Certificate#serialNumber prints back.
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x10;
  return bytes.toString('hex').toUpperCase();
}

async function issue(options: IssueOptions, issuer?: Issued): Promise<Issued> {
  const algorithm = options.algorithm ?? issuer?.algorithm ?? 'ecdsa';
  const keys = (await webcrypto.subtle.generateKey(ALGORITHMS[algorithm], true, ['sign', 'verify'])) as CryptoKeyPair;
  const serialNumber = newSerial();
  const name = `CN=${options.commonName ?? 'localhost'}`;
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = options.notAfter ?? new Date(Date.now() + 90 * DAY);
  const extensions: x509.Extension[] = [];
  if (options.isCa) {
    extensions.push(
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    );
  } else {
    const names = [
      ...(options.dnsNames ?? ['localhost']).map((value) => ({ type: 'dns' as const, value })),
      ...(options.ipAddresses ?? ['127.0.0.1']).map((value) => ({ type: 'ip' as const, value })),
    ];
    extensions.push(
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
    );
  }
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  if (issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey));
  const certificate = issuer
    ? await x509.X509CertificateGenerator.create({
        serialNumber,
        subject: name,
        issuer: issuer.certificate.subject,
        notBefore,
        notAfter,
        publicKey: keys.publicKey,
        signingKey: issuer.keys.privateKey,
        signingAlgorithm: signing(issuer.algorithm),
        extensions,
      })
    : await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber,
        name,
        notBefore,
        notAfter,
        keys,
        signingAlgorithm: signing(algorithm),
        extensions,
      });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    certPem: certificate.toString('pem') + '\n',
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n',
    serialNumber,
    keys,
    certificate,
    algorithm,
  };
}

/** A root CA and an intermediate under it, able to issue leaves. */
export class TestPki {
  private constructor(
    readonly root: Issued,
    readonly intermediate: Issued,
  ) {}

  static async create(algorithm: KeyAlgorithm = 'ecdsa'): Promise<TestPki> {
    const root = await issue({ commonName: 'hotcert test root CA', isCa: true, algorithm, notAfter: new Date(Date.now() + 3650 * DAY) });
    const intermediate = await issue({ commonName: 'hotcert test intermediate CA', isCa: true, notAfter: new Date(Date.now() + 365 * DAY) }, root);
    return new TestPki(root, intermediate);
  }

  /** PEM of the root: what a client trusts. */
  get caPem(): string {
    return this.root.certPem;
  }

  /** A new leaf with a new key, signed by the intermediate. */
  async leaf(options: IssueOptions = {}): Promise<Leaf> {
    const leaf = await issue({ ...options, isCa: false }, this.intermediate);
    return new Leaf(leaf, this);
  }
}

/** An issued leaf with the files a cert-manager Secret holds. */
export class Leaf {
  constructor(
    readonly issued: Issued,
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
