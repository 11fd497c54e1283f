/**
 * `hotcert dev`: a development CA (kept across runs, so a browser that trusts it keeps trusting
 * it) and a short-lived localhost leaf, re-issued with a new key on a timer and written the
 * kubelet's way into `DIR/mount/`, served through the very same file source as production.
 */
import { chmod, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { kubeletWrite } from './atomic-writer.js';
import type { DevConfig } from './config.js';
import { formatDuration } from './duration.js';
import type { Logger } from './logger.js';
import { SignalTrap, type ProcessSignals } from './signals.js';
import { createHotcertServer, DEFAULT_CERTIFICATE, type HotcertServer } from './server.js';
import { hasNameConstraints, issueCertificate, loadIssuer, type IssuedCertificate } from './x509-issuer.js';
import { ErrorCodes, HotcertError } from './errors.js';
import { escapeControl } from './text.js';

const DAY_MS = 86_400_000;
const CA_LIFETIME_MS = 3650 * DAY_MS;
/** Without rotation, a leaf lives a day; with it, a few rotation periods (at least a minute). */
const ONE_SHOT_LEAF_MS = DAY_MS;
const MIN_LEAF_MS = 60_000;

export interface DevOutput {
  write(text: string): unknown;
}

export interface DevPaths {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly mount: string;
}

export function devPaths(dir: string): DevPaths {
  const root = resolve(dir);
  return { dir: root, caCert: join(root, 'ca.crt'), caKey: join(root, 'ca.key'), mount: join(root, 'mount') };
}

/**
 * The CA key signs certificates the user's browser trusts: it must be a regular file of this user,
 * readable by nobody else. A link (which could lead anywhere) or another owner's file is refused;
 * a mode that lets others read it is narrowed to 0600, and said.
 */
async function guardCaKey(path: string, out: DevOutput): Promise<void> {
  let info: Stats;
  try {
    info = await lstat(path);
  } catch {
    return; // none yet: it is created with mode 0600
  }
  const uid = process.getuid?.();
  if (!info.isFile()) {
    throw new HotcertError(ErrorCodes.UNSAFE_PATH, `${path}: the development CA key is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; remove it (a new CA is created) or replace it with the key file itself`);
  }
  if (uid !== undefined && info.uid !== uid) {
    throw new HotcertError(ErrorCodes.UNSAFE_PATH, `${path}: the development CA key belongs to uid ${info.uid}, not to this user (uid ${uid}); remove it or use another --dir`);
  }
  if ((info.mode & 0o077) !== 0) {
    await chmod(path, 0o600);
    out.write(`The development CA key ${path} was readable by others (mode 0${(info.mode & 0o777).toString(8)}): set it to 0600.\n`);
  }
}

/** What the development CA may sign for: the names its leaves carry, and nothing else. */
const DEV_PERMITTED_NAMES = Object.freeze({ dns: ['localhost'], ip: ['127.0.0.1', '::1'] });

/** Loads the development CA, or creates it (key mode 0600) when there is none or it is unusable. */
export async function loadOrCreateCa(paths: DevPaths, now: number, out: DevOutput): Promise<IssuedCertificate> {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await guardCaKey(paths.caKey, out);
  try {
    const [certPem, keyPem] = await Promise.all([readFile(paths.caCert, 'utf8'), readFile(paths.caKey, 'utf8')]);
    const certificate = new X509Certificate(certPem);
    const usable = certificate.ca && certificate.checkPrivateKey(createPrivateKey(keyPem)) && Date.parse(certificate.validTo) - now > 30 * DAY_MS;
    if (usable && hasNameConstraints(certPem)) return await loadIssuer(certPem, keyPem);
    out.write(
      usable
        ? `The development CA in ${paths.dir} may sign for any name (made before hotcert restricted it to localhost): creating a new one (trust it again).\n`
        : `The development CA in ${paths.dir} is expired or does not match its key: creating a new one (trust it again).\n`,
    );
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') {
      out.write(`The development CA in ${paths.dir} cannot be used (${(error as Error).message}): creating a new one (trust it again).\n`);
    }
  }
  const ca = await issueCertificate({
    commonName: 'hotcert development CA',
    isCa: true,
    // A leaked development key can then vouch for nothing but this machine.
    permittedNames: DEV_PERMITTED_NAMES,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + CA_LIFETIME_MS),
  });
  await writeFile(paths.caKey, ca.keyPem, { mode: 0o600 });
  await chmod(paths.caKey, 0o600);
  await writeFile(paths.caCert, ca.certPem, { mode: 0o644 });
  return ca;
}

/** Issues a new localhost leaf (new key) and writes it into the mount the kubelet's way. */
export async function issueDevLeaf(ca: IssuedCertificate, paths: DevPaths, rotateEveryMs: number, now: number): Promise<IssuedCertificate> {
  const lifetime = rotateEveryMs === 0 ? ONE_SHOT_LEAF_MS : Math.max(rotateEveryMs * 3, MIN_LEAF_MS);
  const leaf = await issueCertificate({
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + lifetime),
    issuer: ca,
  });
  await kubeletWrite(paths.mount, { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': ca.certPem }, { 'tls.key': 0o600 });
  return leaf;
}

function banner(config: DevConfig, paths: DevPaths, port: number, metricsPort: number | undefined): string {
  const host = config.host === '127.0.0.1' || config.host === '0.0.0.0' || config.host === '::1' ? 'localhost' : config.host;
  const url = `https://${host}:${port}/`;
  const rotation = config.rotateEveryMs === 0 ? 'issued once (no rotation)' : `re-issued every ${formatDuration(config.rotateEveryMs)} with a new key`;
  return [
    '',
    `hotcert dev: Socket.IO over TLS with a development certificate ${rotation}`,
    '',
    `  Status page   ${url}`,
    `  Trust the CA  ${paths.caCert}`,
    `    curl        curl --cacert ${paths.caCert} ${url}healthz`,
    `    Node        NODE_EXTRA_CA_CERTS=${paths.caCert} node your-client.js`,
    `    Chromium    certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n hotcert-dev -i ${paths.caCert}`,
    '    Firefox     Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import',
    '    macOS       open the file, then Keychain Access > the certificate > Trust > Always Trust',
    `  Secret mount  ${paths.mount} (written the way the kubelet writes a Secret volume)`,
    metricsPort === undefined ? '  Metrics       off' : `  Metrics       http://${config.metrics === false ? '' : config.metrics.host}:${metricsPort}/metrics`,
    '',
    'Press Ctrl+C to stop.',
    '',
  ].map(escapeControl).join('\n');
}

export async function dev(config: DevConfig, logger: Logger, out: DevOutput = process.stdout, signals: ProcessSignals = process): Promise<void> {
  const trap = new SignalTrap(signals, logger);
  const paths = devPaths(config.dir);
  let ca: IssuedCertificate;
  let server: HotcertServer;
  try {
    ca = await loadOrCreateCa(paths, Date.now(), out);
    await issueDevLeaf(ca, paths, config.rotateEveryMs, Date.now());
    server = await createHotcertServer({
      certificate: { certDir: paths.mount },
      host: config.host,
      port: config.port,
      metrics: config.metrics,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      logger,
    });
  } catch (error) {
    trap.release();
    throw error;
  }
  out.write(banner(config, paths, server.port, server.metricsPort));
  const live = server.reloader.current(DEFAULT_CERTIFICATE);
  out.write(`${new Date().toISOString()} serving serial ${live?.serialNumber} (valid until ${live?.validTo})\n`);
  server.reloader.on('reload', ({ live: next, durationSeconds }) => {
    out.write(`${new Date().toISOString()} rotated: now serving serial ${next.serialNumber} (valid until ${next.validTo}; swapped ${(durationSeconds * 1000).toFixed(1)} ms after the file event)\n`);
  });
  server.reloader.on('reject', ({ reason, message }) => out.write(`${new Date().toISOString()} rejected (${reason}): ${message}\n`));

  let rotating: Promise<unknown> = Promise.resolve();
  const timer =
    config.rotateEveryMs === 0
      ? undefined
      : setInterval(() => {
          rotating = issueDevLeaf(ca, paths, config.rotateEveryMs, Date.now()).catch((error: unknown) => {
            logger.error({ err: error }, 'could not issue the next development certificate');
          });
        }, config.rotateEveryMs);
  await trap.run(server, () => clearInterval(timer));
  await rotating;
}
