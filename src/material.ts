/**
 * Certificate material: parse and validate a candidate `tls.crt` / `tls.key` / `ca.crt` set
 * before anything is swapped. Pure: no I/O, the clock is a parameter.
 */
import { createHash, createPrivateKey, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { BoundedCache } from './bounded-cache.js';
import { describeCertificate, formatDistinguishedName, notAfterMs, notBeforeMs, type CertificateInfo } from './certificate-info.js';
import { crlBlocks, RevocationList } from './crl.js';

/** Why a candidate was refused; the `reason` label of `hotcert_reload_rejections_total`. */
export type RejectionReason =
  | 'read_error'
  | 'empty'
  | 'parse_error'
  | 'key_mismatch'
  | 'expired'
  | 'not_yet_valid'
  | 'chain_invalid';

export const REJECTION_REASONS: readonly RejectionReason[] = Object.freeze([
  'read_error',
  'empty',
  'parse_error',
  'key_mismatch',
  'expired',
  'not_yet_valid',
  'chain_invalid',
]);

/** A refused candidate: the reason code, the file at fault and a message that says what to do. */
export interface Rejection {
  readonly reason: RejectionReason;
  readonly file: string;
  readonly message: string;
}

export interface PemFile {
  /** Where the bytes came from; used in messages only. */
  readonly path: string;
  readonly data: Buffer;
}

export interface CandidateFiles {
  readonly cert: PemFile;
  readonly key: PemFile;
  readonly ca?: PemFile | undefined;
  /** mTLS: the CAs whose client certificates are accepted; swapped together with the pair. */
  readonly clientCa?: PemFile | undefined;
  /** mTLS: PEM CRLs, each signed by a CA of `clientCa`; swapped together with it. */
  readonly clientCrl?: PemFile | undefined;
}

/** A CRL proven to be signed by `issuer`, a CA of the client CA bundle. */
export interface IssuedCrl {
  readonly list: RevocationList;
  readonly issuer: X509Certificate;
}

export type ValidationResult =
  | { readonly ok: true; readonly material: CertificateMaterial }
  | { readonly ok: false; readonly rejection: Rejection };

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;
const PRIVATE_KEY_HEADER = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * A validated certificate chain with its private key. The key stays in a private field: it
 * is handed to the TLS stack through `tlsOptions()` and never appears in JSON or `inspect`.
 */
export class CertificateMaterial {
  /** Leaf first, then intermediates, as served. */
  readonly chain: readonly X509Certificate[];
  /** Certificates from `ca.crt`, if present. Not sent to clients. */
  readonly ca: readonly X509Certificate[];
  /**
   * SHA-256 over the chain and the CAs: equal fingerprints mean nothing to swap. The key needs no
   * share in it: it is proven to belong to the leaf, whose public key the chain already carries, so
   * the same key in another encoding (PKCS#8 instead of SEC1) is the same material.
   */
  readonly fingerprint: string;
  readonly info: CertificateInfo;
  #keyPem: string | undefined;

  /** mTLS: the CAs client certificates must chain to (empty without mTLS). */
  readonly clientCa: readonly X509Certificate[];
  /** mTLS: the revocation lists in force, each with the CA that signed it. */
  readonly clientCrls: readonly IssuedCrl[];
  /**
   * The trust epoch: SHA-256 over the client CA bundle and the CRLs (empty without mTLS). When it
   * changes, sessions from before must not resume and live connections are checked again.
   */
  readonly trustDigest: string;

  /**
   * @param keyPem the PEM text of the private key, already proven to belong to the chain's leaf
   * (`validateMaterial`); it goes to the TLS stack as it is, without a re-encoding.
   */
  constructor(
    chain: readonly X509Certificate[],
    keyPem: string,
    ca: readonly X509Certificate[],
    clientCa: readonly X509Certificate[] = [],
    clientCrls: readonly IssuedCrl[] = [],
  ) {
    if (chain.length === 0) throw new TypeError('a certificate chain needs at least one certificate');
    this.chain = Object.freeze([...chain]);
    this.ca = Object.freeze([...ca]);
    this.clientCa = Object.freeze([...clientCa]);
    this.clientCrls = Object.freeze([...clientCrls]);
    this.#keyPem = keyPem;
    const trust = createHash('sha256');
    for (const part of [...clientCa.map((c) => c.raw), Buffer.from('crl'), ...clientCrls.map((c) => c.list.raw)]) trust.update(part);
    this.trustDigest = clientCa.length === 0 ? '' : trust.digest('hex');
    const hash = createHash('sha256');
    const parts = [...chain.map((c) => c.raw), Buffer.from('ca'), ...ca.map((c) => c.raw), Buffer.from('trust'), Buffer.from(this.trustDigest)];
    for (const part of parts) hash.update(part);
    this.fingerprint = hash.digest('hex');
    this.info = describeCertificate(this.leaf);
  }

  get leaf(): X509Certificate {
    return this.chain[0] as X509Certificate;
  }

  get intermediates(): readonly X509Certificate[] {
    return this.chain.slice(1);
  }

  /** The chain in PEM, leaf first. */
  get certificatePem(): string {
    return this.chain.map((c) => c.toString()).join('');
  }

  get notAfterMs(): number {
    return notAfterMs(this.leaf);
  }

  /**
   * Options for `tls.createSecureContext` / `setSecureContext`, with the private key. The key is
   * handed out once and then forgotten: after the TLS context is built, nothing of hotcert's
   * keeps it.
   */
  tlsOptions(): { cert: string; key: string; ca?: string; crl?: string[] } {
    const key = this.#keyPem;
    if (key === undefined) throw new Error(`the private key of certificate ${this.info.serialNumber} was already handed to the TLS stack`);
    this.#keyPem = undefined;
    const clientCa = this.clientCa.map((c) => c.toString()).join('');
    // One PEM per CRL: given one concatenated string, Node would load only the first.
    const crl = this.clientCrls.map((c) => c.list.pem);
    return { cert: this.certificatePem, key, ...(clientCa ? { ca: clientCa } : {}), ...(crl.length > 0 ? { crl } : {}) };
  }

  /** Whether the private key is still held (it is until `tlsOptions()` hands it out). */
  get holdsKey(): boolean {
    return this.#keyPem !== undefined;
  }

  static {
    // util.inspect (and so console.log) shows the summary, never the private field's contents.
    Object.defineProperty(CertificateMaterial.prototype, inspect.custom, {
      value(this: CertificateMaterial): string {
        return this.toString();
      },
    });
  }

  toJSON(): { fingerprint: string; info: CertificateInfo } {
    return { fingerprint: this.fingerprint, info: this.info };
  }

  toString(): string {
    return `CertificateMaterial { serialNumber: '${this.info.serialNumber}', subject: '${this.info.subject}', validTo: '${this.info.validTo}' }`;
  }
}

function reject(reason: RejectionReason, file: string, message: string): ValidationResult {
  return { ok: false, rejection: Object.freeze({ reason, file, message }) };
}

function describe(certificate: X509Certificate): string {
  return `${formatDistinguishedName(certificate.subject) || '(empty subject)'} (serial ${certificate.serialNumber})`;
}

/**
 * CA certificates parsed and signatures verified, remembered across candidates: a renewal changes
 * the leaf, but the intermediates and `ca.crt` stay the same from one candidate to the next, and
 * parsing and verifying them again was a third of a swap's CPU. Keyed by the PEM text and by
 * SHA-256 fingerprints, so a changed certificate is always parsed and checked afresh. Leaves are
 * never kept: each is new, and keeping them alive let the memory of replaced TLS contexts fragment
 * (RSS grew 25 MiB over 10,000 swaps instead of 1).
 */
const parsedCaCertificates = new BoundedCache<string, X509Certificate>(32);
const verifiedIssuers = new BoundedCache<string, boolean>(32);

function checkIssued(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/** Whether `parent` issued `child`: names match and `parent`'s key verifies `child`'s signature. */
function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  if (!child.ca) return checkIssued(child, parent);
  return verifiedIssuers.get(`${child.fingerprint256}<${parent.fingerprint256}`, () => checkIssued(child, parent));
}

/** The certificates of a PEM file; `leafFirst` when the first one is a leaf (`tls.crt`), not to be remembered. */
function parseCertificates(file: PemFile, text: string, leafFirst = false): X509Certificate[] | Rejection {
  const blocks = text.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) {
    const hint = PRIVATE_KEY_HEADER.test(text)
      ? 'it holds a private key, not a certificate: are the certificate and key files swapped?'
      : 'it holds no PEM "BEGIN CERTIFICATE" block: expected a PEM certificate (leaf first, then intermediates)';
    return { reason: 'parse_error', file: file.path, message: `${file.path}: ${hint}` };
  }
  const certificates: X509Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    try {
      certificates.push(leafFirst && index === 0 ? new X509Certificate(block) : parsedCaCertificates.get(block, (pem) => new X509Certificate(pem)));
    } catch {
      return {
        reason: 'parse_error',
        file: file.path,
        message: `${file.path}: certificate #${index + 1} is not a valid X.509 certificate (truncated or corrupted PEM); re-issue it or restore the Secret`,
      };
    }
  }
  return certificates;
}

function parseKey(file: PemFile, text: string): KeyObject | Rejection {
  if (!PRIVATE_KEY_HEADER.test(text)) {
    const hint = text.includes('-----BEGIN CERTIFICATE-----')
      ? 'it holds a certificate, not a private key: are the certificate and key files swapped?'
      : 'it holds no PEM "PRIVATE KEY" block: expected a PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key';
    return { reason: 'parse_error', file: file.path, message: `${file.path}: ${hint}` };
  }
  let key: KeyObject;
  try {
    key = parseTraditionalKey(text) ?? createPrivateKey({ key: text, format: 'pem' });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // PKCS#8 "ENCRYPTED PRIVATE KEY" or a legacy "Proc-Type: 4,ENCRYPTED" header; OpenSSL's own
    // error for a missing passphrase differs between versions.
    const encrypted = code === 'ERR_MISSING_PASSPHRASE' || /-{5}BEGIN ENCRYPTED PRIVATE KEY-{5}|Proc-Type: 4,ENCRYPTED/.test(text);
    const message =
      encrypted
        ? 'the private key is encrypted; hotcert needs an unencrypted key (as cert-manager writes it)'
        : 'the private key cannot be parsed (truncated or corrupted PEM, or an unsupported key type)';
    return { reason: 'parse_error', file: file.path, message: `${file.path}: ${message}` };
  }
  const type = key.asymmetricKeyType ?? 'unknown';
  if (!SIGNING_KEY_TYPES.has(type)) {
    return {
      reason: 'parse_error',
      file: file.path,
      message: `${file.path}: unsupported key type ${type}: a TLS server needs an RSA, ECDSA or EdDSA signing key`,
    };
  }
  return key;
}

/**
 * cert-manager writes keys in the traditional encodings by default (`privateKey.encoding: PKCS1`):
 * `RSA PRIVATE KEY` (PKCS#1) and `EC PRIVATE KEY` (SEC1). Decoding those from DER with the type
 * named costs a third of OpenSSL's PEM path, which tries every decoder in turn. Anything else (PKCS#8,
 * headers, several blocks) is left to the PEM path.
 */
const TRADITIONAL_KEY = /^\s*-{5}BEGIN (RSA|EC) PRIVATE KEY-{5}\r?\n([A-Za-z0-9+/=\r\n]+)-{5}END \1 PRIVATE KEY-{5}\s*$/;

function parseTraditionalKey(text: string): KeyObject | undefined {
  const match = TRADITIONAL_KEY.exec(text);
  if (!match) return undefined;
  try {
    return createPrivateKey({ key: Buffer.from(match[2] as string, 'base64'), format: 'der', type: match[1] === 'RSA' ? 'pkcs1' : 'sec1' });
  } catch {
    return undefined; // the PEM path gives the error its usual wording
  }
}

/** Key types a TLS server certificate can be used with. */
const SIGNING_KEY_TYPES: ReadonlySet<string> = new Set(['rsa', 'rsa-pss', 'ec', 'ed25519', 'ed448']);

const PROOF = Buffer.from('hotcert proof of possession');

/**
 * Does `key` belong to `certificate`? `checkPrivateKey` compares public keys only, and an EC key
 * file carries its public key beside the private scalar: a corrupted scalar would pass it and then
 * fail every handshake. So the key also signs, and the certificate's public key must verify.
 */
function keyMatches(certificate: X509Certificate, key: KeyObject): boolean {
  try {
    if (!certificate.checkPrivateKey(key)) return false;
    const digest = key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256';
    return verify(digest, PROOF, certificate.publicKey, sign(digest, PROOF, key));
  } catch {
    return false;
  }
}

function isRejection(value: unknown): value is Rejection {
  return typeof value === 'object' && value !== null && 'reason' in value && 'message' in value;
}

function checkChain(file: PemFile, keyFile: PemFile, chain: readonly X509Certificate[], key: KeyObject): Rejection | undefined {
  const [leaf] = chain;
  if (leaf && !keyMatches(leaf, key)) {
    const position = chain.findIndex((c) => keyMatches(c, key));
    if (position > 0) {
      return {
        reason: 'chain_invalid',
        file: file.path,
        message: `${file.path}: the certificate matching the key is #${position + 1}, not first; put the leaf first, then its intermediates`,
      };
    }
    return {
      reason: 'key_mismatch',
      file: keyFile.path,
      message: `${keyFile.path}: the private key does not match the certificate ${describe(leaf)} in ${file.path}; they come from different issuances (a writer may still be writing, or the Secret was edited by hand)`,
    };
  }
  for (let i = 1; i < chain.length; i++) {
    const child = chain[i - 1] as X509Certificate;
    const parent = chain[i] as X509Certificate;
    if (!issuedBy(child, parent)) {
      const reversed = parent.checkIssued(child);
      const what = reversed
        ? `is in the wrong order: #${i + 1} was issued by #${i}; order the file leaf first, then each issuer`
        : `is broken: certificate #${i + 1} ${describe(parent)} did not issue #${i} ${describe(child)}; include the right intermediate`;
      return { reason: 'chain_invalid', file: file.path, message: `${file.path}: the chain ${what}` };
    }
  }
  return undefined;
}

function checkValidity(file: PemFile, chain: readonly X509Certificate[], nowMs: number): Rejection | undefined {
  for (const [index, certificate] of chain.entries()) {
    const which = index === 0 ? 'the certificate' : `intermediate #${index + 1}`;
    const notBefore = notBeforeMs(certificate);
    const notAfter = notAfterMs(certificate);
    if (nowMs < notBefore) {
      return {
        reason: 'not_yet_valid',
        file: file.path,
        message: `${file.path}: ${which} ${describe(certificate)} is not valid until ${new Date(notBefore).toISOString()} (now ${new Date(nowMs).toISOString()}); check the clock of this node and of the issuer`,
      };
    }
    if (nowMs > notAfter) {
      return {
        reason: 'expired',
        file: file.path,
        message: `${file.path}: ${which} ${describe(certificate)} expired at ${new Date(notAfter).toISOString()}; renew it (cert-manager: check the Certificate's status and the issuer)`,
      };
    }
  }
  return undefined;
}

function isBlank(data: Buffer): boolean {
  return data.toString('latin1').trim().length === 0;
}

/**
 * Validates a candidate: not empty, parses, key matches the leaf, each certificate issued by the
 * next one, every certificate inside its validity window, `ca.crt` (if any) parses.
 */
export function validateMaterial(files: CandidateFiles, nowMs: number): ValidationResult {
  const { cert, key, ca } = files;
  if (isBlank(cert.data)) return reject('empty', cert.path, `${cert.path}: the certificate file is empty`);
  if (isBlank(key.data)) return reject('empty', key.path, `${key.path}: the private key file is empty`);

  const chain = parseCertificates(cert, cert.data.toString('latin1'), true);
  if (isRejection(chain)) return { ok: false, rejection: Object.freeze(chain) };
  const keyText = key.data.toString('latin1');
  const privateKey = parseKey(key, keyText);
  if (isRejection(privateKey)) return { ok: false, rejection: Object.freeze(privateKey) };

  const chainProblem = checkChain(cert, key, chain, privateKey) ?? checkValidity(cert, chain, nowMs);
  if (chainProblem) return { ok: false, rejection: Object.freeze(chainProblem) };

  let caCertificates: X509Certificate[] = [];
  if (ca && !isBlank(ca.data)) {
    const parsed = parseCertificates(ca, ca.data.toString('latin1'));
    if (isRejection(parsed)) return { ok: false, rejection: Object.freeze(parsed) };
    caCertificates = parsed;
    const unanchored = checkAnchor(cert, ca, chain, caCertificates);
    if (unanchored) return { ok: false, rejection: Object.freeze(unanchored) };
  }
  let clientCas: X509Certificate[] = [];
  if (files.clientCa) {
    const { clientCa } = files;
    if (isBlank(clientCa.data)) return reject('empty', clientCa.path, `${clientCa.path}: the client CA bundle is empty (mTLS needs at least one CA certificate)`);
    const parsed = parseCertificates(clientCa, clientCa.data.toString('latin1'));
    if (isRejection(parsed)) return { ok: false, rejection: Object.freeze(parsed) };
    const notCa = parsed.findIndex((c) => !c.ca);
    if (notCa >= 0) {
      return reject('chain_invalid', clientCa.path, `${clientCa.path}: certificate #${notCa + 1} ${describe(parsed[notCa] as X509Certificate)} is not a CA certificate (basicConstraints CA:TRUE); put only CA certificates in the client CA bundle`);
    }
    const expired = parsed.find((c) => nowMs > notAfterMs(c));
    if (expired) return reject('expired', clientCa.path, `${clientCa.path}: client CA ${describe(expired)} expired at ${new Date(notAfterMs(expired)).toISOString()}`);
    clientCas = parsed;
  }
  let crls: IssuedCrl[] = [];
  if (files.clientCrl) {
    const parsed = parseCrls(files.clientCrl, files.clientCa?.path ?? 'the client CA bundle', clientCas, nowMs);
    if (isRejection(parsed)) return { ok: false, rejection: Object.freeze(parsed) };
    crls = parsed;
  }
  return { ok: true, material: new CertificateMaterial(chain, keyText, caCertificates, clientCas, crls) };
}

/**
 * The CRLs of a `--client-crl` file, each proven to be signed by a CA of the client CA bundle: a
 * list nobody trusted could otherwise revoke (or fail to revoke) anyone.
 */
function parseCrls(file: PemFile, bundlePath: string, cas: readonly X509Certificate[], nowMs: number): IssuedCrl[] | Rejection {
  const text = file.data.toString('latin1');
  if (text.trim().length === 0) return { reason: 'empty', file: file.path, message: `${file.path}: the CRL file is empty (give one or more PEM "BEGIN X509 CRL" blocks)` };
  const blocks = crlBlocks(text);
  if (blocks.length === 0) {
    return { reason: 'parse_error', file: file.path, message: `${file.path}: it holds no PEM "BEGIN X509 CRL" block: expected one or more PEM CRLs (convert a DER CRL with openssl crl -inform DER)` };
  }
  const crls: IssuedCrl[] = [];
  for (const [index, der] of blocks.entries()) {
    let list: RevocationList;
    try {
      list = new RevocationList(der);
    } catch (error) {
      return { reason: 'parse_error', file: file.path, message: `${file.path}: CRL #${index + 1} is not a valid X.509 CRL (${(error as Error).message}); re-export it from the CA` };
    }
    if (!list.signatureSupported) {
      return { reason: 'parse_error', file: file.path, message: `${file.path}: CRL #${index + 1} uses signature algorithm ${list.signatureAlgorithm}, which hotcert cannot check (use RSA PKCS#1 v1.5, ECDSA or EdDSA)` };
    }
    const issuer = cas.find((ca) => list.issuedBy(ca));
    if (!issuer) {
      return {
        reason: 'chain_invalid',
        file: file.path,
        message: `${file.path}: CRL #${index + 1} is not signed by any CA in ${bundlePath}; each CRL must come from a CA of the client CA bundle (add the issuing CA to the bundle, or remove the CRL)`,
      };
    }
    if (nowMs < list.thisUpdateMs) {
      return {
        reason: 'not_yet_valid',
        file: file.path,
        message: `${file.path}: CRL #${index + 1} from ${describe(issuer)} is not valid until ${new Date(list.thisUpdateMs).toISOString()} (now ${new Date(nowMs).toISOString()}); check the clocks`,
      };
    }
    crls.push(Object.freeze({ list, issuer }));
  }
  return crls;
}

/**
 * With a `ca.crt`, the served chain must lead to it: its last certificate is one of those CAs or
 * is signed by one. Otherwise clients that trust that CA fail (a missing or corrupted
 * intermediate, or a certificate from another issuer than the Secret says).
 */
function checkAnchor(certFile: PemFile, caFile: PemFile, chain: readonly X509Certificate[], cas: readonly X509Certificate[]): Rejection | undefined {
  const last = chain.at(-1) as X509Certificate;
  const anchored = cas.some((ca) => ca.raw.equals(last.raw) || issuedBy(last, ca));
  if (anchored) return undefined;
  return {
    reason: 'chain_invalid',
    file: certFile.path,
    message: `${certFile.path}: the chain ends at ${describe(last)}, issued by ${formatDistinguishedName(last.issuer) || '(empty issuer)'}, which no certificate in ${caFile.path} signed: an intermediate is missing or corrupted, or the certificate comes from another issuer`,
  };
}
