/**
 * Issues X.509 certificates with `node:crypto`'s WebCrypto and @peculiar/x509 (no openssl).
 * Used by `hotcert dev` for its development CA and leaves; the tests build their PKI on it too.
 */
import 'reflect-metadata'; // @peculiar/x509's dependency injection needs the Reflect metadata API.
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type KeyAlgorithm = 'ecdsa' | 'rsa';

type KeyPair = webcrypto.CryptoKeyPair;

const KEY_PARAMS: Readonly<Record<KeyAlgorithm, webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams>> = {
  ecdsa: { name: 'ECDSA', namedCurve: 'P-256' },
  rsa: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
};

const SIGNING: Readonly<Record<KeyAlgorithm, webcrypto.Algorithm>> = {
  ecdsa: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams,
  rsa: KEY_PARAMS.rsa,
};

/** A certificate with its key pair, able to sign others when it is a CA. */
export interface IssuedCertificate {
  readonly certificate: x509.X509Certificate;
  readonly keys: KeyPair;
  readonly algorithm: KeyAlgorithm;
  /** Upper-case hex, as `X509Certificate#serialNumber` prints it. */
  readonly serialNumber: string;
  readonly certPem: string;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
}

export interface IssueRequest {
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa?: boolean;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** @default 'ecdsa' (or the issuer's algorithm) */
  readonly algorithm?: KeyAlgorithm;
  /** Signs the new certificate; self-signed without one. */
  readonly issuer?: IssuedCertificate;
  /** A CA may only issue for these names (a critical name-constraints extension). */
  readonly permittedNames?: { readonly dns?: readonly string[]; readonly ip?: readonly string[] };
}

/** The name-constraints extension's OID. */
export const NAME_CONSTRAINTS_OID = '2.5.29.30';

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, contents: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(contents.length), contents]);
}

/** An IPv4 or IPv6 address followed by an all-ones mask of the same length (one exact address). */
function ipWithMask(address: string): Buffer {
  let bytes: number[];
  if (isIPv4(address)) {
    bytes = address.split('.').map(Number);
  } else if (isIPv6(address)) {
    const [head = '', tail = ''] = address.split('::');
    const groups = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
    const [left, right] = [groups(head), address.includes('::') ? groups(tail) : []];
    const words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
    bytes = words.flatMap((word) => [word >> 8, word & 0xff]);
  } else {
    throw new TypeError(`not an IP address: ${address}`);
  }
  return Buffer.from([...bytes, ...new Array<number>(bytes.length).fill(0xff)]);
}

/** NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees } with dNSName [2] and iPAddress [7] bases. */
function nameConstraints(permitted: NonNullable<IssueRequest['permittedNames']>): x509.Extension {
  const subtrees = [
    ...(permitted.dns ?? []).map((name) => der(0x30, der(0x82, Buffer.from(name, 'ascii')))),
    ...(permitted.ip ?? []).map((address) => der(0x30, der(0x87, ipWithMask(address)))),
  ];
  const value = der(0x30, der(0xa0, Buffer.concat(subtrees)));
  return new x509.Extension(NAME_CONSTRAINTS_OID, true, value);
}

function newSerialNumber(): string {
  // 16 random bytes, positive and without a leading zero byte, so it prints back unchanged.
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x10;
  return bytes.toString('hex').toUpperCase();
}

function pem(der: ArrayBuffer, label: string): string {
  return `${x509.PemConverter.encode(der, label)}\n`;
}

export async function issueCertificate(request: IssueRequest): Promise<IssuedCertificate> {
  const algorithm = request.algorithm ?? request.issuer?.algorithm ?? 'ecdsa';
  const keys = (await webcrypto.subtle.generateKey(KEY_PARAMS[algorithm], true, ['sign', 'verify'])) as KeyPair;
  const serialNumber = newSerialNumber();
  const extensions: x509.Extension[] = [];
  if (request.isCa) {
    extensions.push(
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    );
    if (request.permittedNames) extensions.push(nameConstraints(request.permittedNames));
  } else {
    extensions.push(
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
      ]),
    );
  }
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never));
  const name = `CN=${request.commonName}`;
  const { issuer } = request;
  let certificate: x509.X509Certificate;
  if (issuer) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey as never));
    certificate = await x509.X509CertificateGenerator.create({
      serialNumber,
      subject: name,
      issuer: issuer.certificate.subject,
      notBefore: request.notBefore,
      notAfter: request.notAfter,
      publicKey: keys.publicKey as never,
      signingKey: issuer.keys.privateKey as never,
      signingAlgorithm: SIGNING[issuer.algorithm] as never,
      extensions,
    });
  } else {
    certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber,
      name,
      notBefore: request.notBefore,
      notAfter: request.notAfter,
      keys: keys as never,
      signingAlgorithm: SIGNING[algorithm] as never,
      extensions,
    });
  }
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certificate, keys, algorithm, serialNumber, certPem: `${certificate.toString('pem')}\n`, keyPem: pem(pkcs8, 'PRIVATE KEY') };
}

/** Whether a PEM certificate carries a name-constraints extension. */
export function hasNameConstraints(certPem: string): boolean {
  return new x509.X509Certificate(certPem).getExtension(NAME_CONSTRAINTS_OID) !== null;
}

/** Loads a CA kept on disk (PEM certificate and PKCS#8 PEM key) so it can sign again. */
export async function loadIssuer(certPem: string, keyPem: string): Promise<IssuedCertificate> {
  const certificate = new x509.X509Certificate(certPem);
  const algorithm: KeyAlgorithm = certificate.publicKey.algorithm.name === 'ECDSA' ? 'ecdsa' : 'rsa';
  const der = x509.PemConverter.decodeFirst(keyPem);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, KEY_PARAMS[algorithm], true, ['sign']);
  const publicKey = await certificate.publicKey.export(KEY_PARAMS[algorithm] as never, ['verify'] as never, webcrypto as never);
  return {
    certificate,
    keys: { privateKey, publicKey: publicKey as unknown as webcrypto.CryptoKey },
    algorithm,
    serialNumber: certificate.serialNumber.toUpperCase(),
    certPem,
    keyPem,
  };
}
