/**
 * `hotcert check`: diagnoses a certificate directory or files the way an operator wants it: what
 * is wrong, in which file, and how to fix it. The verdict uses the very validation the reloader
 * applies, so "would be served" means exactly that.
 */
import { X509Certificate } from 'node:crypto';
import { constants } from 'node:fs';
import { access, lstat, readFile, readlink, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { describeCertificate, formatDistinguishedName, notAfterMs, type CertificateInfo } from './certificate-info.js';
import { systemErrorCode } from './errors.js';
import { validateMaterial, type RejectionReason } from './material.js';
import { fileTypeName, readCandidate, type CertificatePaths } from './read-candidate.js';
import { escapeControl } from './text.js';
import { certificatePaths, type CertificateLocation } from './server.js';

export type FindingStatus = 'ok' | 'info' | 'warn' | 'error';

export interface Finding {
  readonly status: FindingStatus;
  /** Stable identifier of the check (`file_readable`, `key_match`, `san`, …). */
  readonly check: string;
  readonly file?: string;
  readonly message: string;
  readonly fix?: string;
}

export type MountKind = 'kubelet-secret' | 'subpath' | 'plain';

export interface CheckReport {
  /** Would hotcert serve this material (the exit code: 0 if so, 1 otherwise). */
  readonly servable: boolean;
  readonly files: { readonly cert: string; readonly key: string; readonly ca?: string };
  readonly mount: MountKind;
  readonly certificate?: CertificateInfo & { readonly daysLeft: number; readonly chain: readonly string[] };
  readonly findings: readonly Finding[];
}

export interface CheckEnvironment {
  readonly now: number;
  readonly uid: number;
  readonly gid: number;
  /** Mount points of this process (from /proc/self/mountinfo); a subPath mount is one. */
  readonly mountPoints: () => Promise<ReadonlySet<string>>;
}

/** Warn when fewer days than this are left (the chart's default "expiring soon" alert). */
export const EXPIRY_WARNING_DAYS = 21;
const DAY_MS = 86_400_000;

const FIXES: Readonly<Record<RejectionReason, string>> = {
  read_error: 'make the file exist and be readable by the user hotcert runs as',
  empty: 'the Secret holds an empty value: check the Certificate (kubectl describe certificate NAME) and its issuer, or recreate the Secret',
  parse_error: 'put a PEM certificate chain in tls.crt and an unencrypted PEM private key in tls.key',
  key_mismatch: 'tls.crt and tls.key come from different issuances: renew the certificate (cmctl renew NAME) or restore a matching pair',
  expired: 'renew the certificate: check the Certificate and issuer status (kubectl describe certificate NAME, kubectl get certificaterequests)',
  not_yet_valid: "check the clocks of this node and of the issuer; the certificate's notBefore is in the future",
  chain_invalid: 'order tls.crt leaf first, then each intermediate, each issued by the next',
};

/** Parses /proc/self/mountinfo: field 5 is the mount point, with spaces etc. octal-escaped. */
export function parseMountPoints(mountinfo: string): Set<string> {
  const points = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field) points.add(field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
  }
  return points;
}

export async function readMountPoints(): Promise<ReadonlySet<string>> {
  try {
    return parseMountPoints(await readFile('/proc/self/mountinfo', 'utf8'));
  } catch {
    return new Set();
  }
}

export const processEnvironment = (): CheckEnvironment => ({
  now: Date.now(),
  uid: process.getuid?.() ?? -1,
  gid: process.getgid?.() ?? -1,
  mountPoints: readMountPoints,
});

function mode(bits: number): string {
  return `0${(bits & 0o777).toString(8).padStart(3, '0')}`;
}

async function checkFile(path: string, role: string, optional: boolean, env: CheckEnvironment): Promise<Finding> {
  try {
    const info = await stat(path);
    if (!info.isFile()) {
      return { status: 'error', check: 'file_readable', file: path, message: `the ${role} path is ${fileTypeName(info)}, not a regular file`, fix: `point it at the ${role} file itself` };
    }
    const facts = `${info.size} bytes, mode ${mode(info.mode)}, owner uid ${info.uid} gid ${info.gid}`;
    try {
      await access(path, constants.R_OK);
    } catch {
      return {
        status: 'error',
        check: 'file_readable',
        file: path,
        message: `permission denied: ${facts}; hotcert runs as uid ${env.uid} gid ${env.gid}`,
        fix: 'make it readable by that user: set the Secret volume defaultMode (e.g. 0440) and the pod securityContext.fsGroup to its group',
      };
    }
    return { status: 'ok', check: 'file_readable', file: path, message: `readable: ${facts}` };
  } catch (error) {
    const code = systemErrorCode(error);
    if (code === 'ENOENT' && optional) return { status: 'info', check: 'file_readable', file: path, message: `no ${role} (optional)` };
    if (code === 'ENOENT') {
      return {
        status: 'error',
        check: 'file_readable',
        file: path,
        message: `the ${role} file does not exist`,
        fix: `check the path, that the Secret has the key ${basename(path)} and that the volume is mounted at ${dirname(path)}`,
      };
    }
    return { status: 'error', check: 'file_readable', file: path, message: `cannot read the ${role}: ${code ?? String(error)}`, fix: 'check the path and its permissions' };
  }
}

async function mountFindings(paths: CertificatePaths, location: CertificateLocation, env: CheckEnvironment): Promise<{ kind: MountKind; findings: Finding[] }> {
  const points = await env.mountPoints();
  for (const file of [paths.cert, paths.key]) {
    if (points.has(resolve(file))) {
      return {
        kind: 'subpath',
        findings: [
          {
            status: 'warn',
            check: 'mount',
            file,
            message: 'the file is a mount point of its own (a subPath mount): the kubelet never updates subPath mounts, so renewals will not reach this pod',
            fix: 'mount the whole Secret as a directory (volumeMounts without subPath) and point --cert-dir at it',
          },
        ],
      };
    }
  }
  if (!('certDir' in location)) return { kind: 'plain', findings: [] };
  const info = await stat(location.certDir).catch(() => undefined);
  if (!info?.isDirectory()) {
    return {
      kind: 'plain',
      findings: [
        {
          status: 'error',
          check: 'mount',
          file: location.certDir,
          message: info ? `the certificate directory is ${fileTypeName(info)}, not a directory` : 'the certificate directory does not exist',
          fix: 'check --cert-dir against the volumeMounts mountPath of the Secret volume',
        },
      ],
    };
  }
  const dataLink = join(location.certDir, '..data');
  const isSecret = await lstat(dataLink).then((s) => s.isSymbolicLink(), () => false);
  if (!isSecret) {
    return {
      kind: 'plain',
      findings: [
        {
          status: 'info',
          check: 'mount',
          file: location.certDir,
          message: 'a plain directory (no ..data link): not a kubelet Secret volume; hotcert still watches and polls it',
        },
      ],
    };
  }
  const findings: Finding[] = [];
  for (const file of [paths.cert, paths.key]) {
    const target = await readlink(file).catch(() => undefined);
    if (target !== join('..data', basename(file))) {
      findings.push({
        status: 'warn',
        check: 'mount',
        file,
        message: `the directory is a kubelet Secret volume, but ${basename(file)} is not a symlink into ..data: it will not follow the kubelet's updates`,
        fix: 'do not copy or mount files over a Secret volume; mount the Secret directory as it is',
      });
    }
  }
  if (findings.length === 0) {
    findings.push({ status: 'ok', check: 'mount', file: location.certDir, message: 'kubelet Secret volume: updates arrive as atomic ..data swaps (after the kubelet sync period)' });
  }
  return { kind: 'kubelet-secret', findings };
}

/** Rejection messages start with the file; the report prints the file already. */
function withoutFilePrefix(message: string, file: string): string {
  return message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
}

function parseChain(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const parsed: X509Certificate[] = [];
  for (const block of blocks) {
    try {
      parsed.push(new X509Certificate(block));
    } catch {
      return parsed;
    }
  }
  return parsed;
}

function chainFindings(chain: readonly X509Certificate[], ca: readonly X509Certificate[], file: string): Finding[] {
  const last = chain.at(-1);
  if (!last) return [];
  const selfSigned = last.checkIssued(last);
  if (selfSigned) return [{ status: 'ok', check: 'chain_complete', file, message: 'the chain ends at a self-signed certificate' }];
  const issuer = ca.find((candidate) => last.checkIssued(candidate) && last.verify(candidate.publicKey));
  if (issuer) {
    return [{ status: 'ok', check: 'chain_complete', file, message: `the chain ends at a certificate issued by ${formatDistinguishedName(issuer.subject)} from ca.crt: clients must trust it` }];
  }
  return [
    {
      status: 'warn',
      check: 'chain_complete',
      file,
      message: `the chain ends at ${formatDistinguishedName(last.subject)}, issued by ${formatDistinguishedName(last.issuer)}, which is neither in tls.crt nor in ca.crt: clients without that issuer fail with "unable to verify the first certificate"`,
      fix: 'append the missing intermediate certificate(s) to tls.crt after the leaf (cert-manager does this when the issuer provides the chain)',
    },
  ];
}

function sanFinding(leaf: X509Certificate, info: CertificateInfo, serverName: string, file: string): Finding {
  const covered = isIP(serverName) ? leaf.checkIP(serverName) !== undefined : leaf.checkHost(serverName) !== undefined;
  if (covered) return { status: 'ok', check: 'san', file, message: `covers ${serverName}` };
  const names = [...info.dnsNames, ...info.ipAddresses].join(', ') || '(none)';
  return {
    status: 'warn',
    check: 'san',
    file,
    message: `does not cover ${serverName}: its names are ${names}; clients connecting to ${serverName} fail with ERR_TLS_CERT_ALTNAME_INVALID`,
    fix: `add ${serverName} to the Certificate's ${isIP(serverName) ? 'ipAddresses' : 'dnsNames'}, or connect with a name it covers`,
  };
}

export async function checkCertificate(location: CertificateLocation, serverName: string | undefined, env: CheckEnvironment): Promise<CheckReport> {
  const paths = certificatePaths(location);
  const findings: Finding[] = [];
  findings.push(await checkFile(paths.cert, 'certificate', false, env), await checkFile(paths.key, 'private key', false, env));
  if (paths.ca !== undefined) findings.push(await checkFile(paths.ca, 'CA bundle', true, env));
  const mount = await mountFindings(paths, location, env);
  findings.push(...mount.findings);

  const candidate = await readCandidate(paths);
  let servable = false;
  if ('files' in candidate) {
    const result = validateMaterial(candidate.files, env.now);
    servable = result.ok;
    findings.push(
      result.ok
        ? { status: 'ok', check: 'valid', file: paths.cert, message: 'parses, the key matches, the chain is in order and every certificate is inside its validity window' }
        : {
            status: 'error',
            check: result.rejection.reason,
            file: result.rejection.file,
            message: withoutFilePrefix(result.rejection.message, result.rejection.file),
            fix: FIXES[result.rejection.reason],
          },
    );
  }

  if ('files' in candidate && /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(candidate.files.cert.data.toString('latin1'))) {
    findings.push({
      status: 'warn',
      check: 'key_in_certificate',
      file: paths.cert,
      message: 'the certificate file also holds a private key (hotcert ignores it): whoever may read certificates can read the key',
      fix: 'keep the private key in tls.key only and re-issue the certificate if the file was shared',
    });
  }
  const chain = 'files' in candidate ? parseChain(candidate.files.cert.data.toString('latin1')) : [];
  const ca = 'files' in candidate && candidate.files.ca ? parseChain(candidate.files.ca.data.toString('latin1')) : [];
  const leaf = chain[0];
  let certificate: CheckReport['certificate'];
  if (leaf) {
    const info = describeCertificate(leaf);
    const daysLeft = Math.floor((notAfterMs(leaf) - env.now) / DAY_MS);
    certificate = { ...info, daysLeft, chain: chain.map((c) => formatDistinguishedName(c.subject)) };
    findings.push(...chainFindings(chain, ca, paths.cert));
    if (daysLeft >= 0 && daysLeft < EXPIRY_WARNING_DAYS) {
      findings.push({
        status: 'warn',
        check: 'expiry',
        file: paths.cert,
        message: `expires in ${daysLeft} day(s), at ${info.validTo}`,
        fix: 'cert-manager renews at 2/3 of the lifetime by default: if it has not, check the Certificate (kubectl describe certificate NAME)',
      });
    } else if (daysLeft >= EXPIRY_WARNING_DAYS) {
      findings.push({ status: 'ok', check: 'expiry', file: paths.cert, message: `${daysLeft} days left (until ${info.validTo})` });
    }
    if (serverName !== undefined) findings.push(sanFinding(leaf, info, serverName, paths.cert));
  }
  return {
    servable,
    files: { cert: paths.cert, key: paths.key, ...(paths.ca === undefined ? {} : { ca: paths.ca }) },
    mount: mount.kind,
    ...(certificate ? { certificate } : {}),
    findings,
  };
}

const LABELS: Readonly<Record<FindingStatus, string>> = { ok: 'ok   ', info: 'info ', warn: 'WARN ', error: 'ERROR' };

/** The report for people: each finding with its file and fix, then the verdict. */
export function formatReport(report: CheckReport): string {
  const lines: string[] = [`hotcert check: ${report.files.cert}, ${report.files.key}${report.files.ca ? `, ${report.files.ca}` : ''}`, ''];
  for (const finding of report.findings) {
    lines.push(`  ${LABELS[finding.status]} ${finding.file ? `${finding.file}: ` : ''}${finding.message}`);
    if (finding.fix) lines.push(`        fix: ${finding.fix}`);
  }
  const cert = report.certificate;
  if (cert) {
    lines.push(
      '',
      `Certificate: ${cert.subject} (serial ${cert.serialNumber})`,
      `  issuer      ${cert.issuer}`,
      `  valid       ${cert.validFrom} to ${cert.validTo} (${cert.daysLeft < 0 ? 'expired' : `${cert.daysLeft} days left`})`,
      `  DNS names   ${cert.dnsNames.join(', ') || '(none)'}`,
      `  IP names    ${cert.ipAddresses.join(', ') || '(none)'}`,
      `  chain       ${cert.chain.join(' <- ')}`,
      `  SHA-256     ${cert.fingerprint256}`,
    );
  }
  const errors = report.findings.filter((f) => f.status === 'error').length;
  const warnings = report.findings.filter((f) => f.status === 'warn').length;
  lines.push(
    '',
    report.servable
      ? `Result: hotcert would serve this certificate${warnings ? ` (${warnings} warning${warnings > 1 ? 's' : ''})` : ''}.`
      : `Result: hotcert would NOT serve this certificate (${errors} error${errors > 1 ? 's' : ''}).`,
    '',
  );
  // Values (paths, DNS names, subjects) come from files and flags: none may write a line of its own.
  return lines.map(escapeControl).join('\n');
}
