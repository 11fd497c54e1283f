/**
 * The mTLS middleware example of docs/sni-mtls.md, run as written (taken from docs/sni-mtls.md by its `example:` tag):
 * with `--client-ca` but without `--require-client-cert`, a self-signed `CN=billing` impostor and a
 * trusted client with another name are refused, the trusted `CN=billing` client is let in, and the
 * impostor's certificate is only ever under `unverifiedClientCertificate`. Browser connections from
 * other origins are refused (cross-site WebSocket hijacking with the user's client certificate).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { io as connect } from 'socket.io-client';
import { clientCertificateOf, type HandshakeWithClientCertificate } from '../../src/client-certificate.js';
import type { HotcertServer, HotcertServerOptions } from '../../src/server.js';
import { issueCertificate } from '../../src/x509-issuer.js';
import { TestPki } from '../support/certs.js';
import { startHotcert, tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';

/** The fenced block that follows `<!-- example: NAME ... -->` in docs/sni-mtls.md. */
function readmeExample(name: string): string {
  const readme = readFileSync(new URL('../../docs/sni-mtls.md', import.meta.url), 'utf8');
  const match = new RegExp(`<!-- example: ${name}\\b[^>]*-->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match?.[1]) throw new Error(`docs/sni-mtls.md has no example tagged ${name}`);
  return match[1];
}

describe('the documented mTLS middleware example', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: HotcertServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await dir.remove();
  });

  /** A server asking for client certificates from a fresh client CA, without requiring one. */
  async function startMtls(options: Partial<HotcertServerOptions> = {}): Promise<{ serverPki: TestPki; clients: TestPki; hot: HotcertServer }> {
    dir = await tempDir();
    const [serverPki, clients] = [await TestPki.create(), await TestPki.create()];
    await kubeletWrite(join(dir.path, 'tls'), (await serverPki.leaf()).secretFiles);
    const bundle = join(dir.path, 'clients.pem');
    await writeFile(bundle, clients.caPem);
    server = await startHotcert({ certificate: { certDir: join(dir.path, 'tls') }, clientCa: bundle, ...options });
    return { serverPki, clients, hot: server };
  }

  it('refuses a self-signed impostor and a trusted client of another name, and lets the trusted one in', async () => {
    const { serverPki, clients, hot } = await startMtls();
    new Function('hot', 'clientCertificateOf', readmeExample('mtls-middleware'))(hot, clientCertificateOf);
    const seen: HandshakeWithClientCertificate[] = [];
    hot.io.on('connection', (socket) => seen.push(socket.handshake as HandshakeWithClientCertificate));

    const now = Date.now();
    const impostor = await issueCertificate({ commonName: 'billing', notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000) });
    const billing = await clients.leaf({ commonName: 'billing' });
    const other = await clients.leaf({ commonName: 'billing-reports' });
    const attempt = (identity: { cert: string; key: string }) =>
      new Promise<string>((resolve) => {
        const socket = connect(`https://localhost:${hot.port}`, { ca: serverPki.caPem, transports: ['websocket'], reconnection: false, forceNew: true, ...identity });
        socket.once('connect', () => {
          socket.close();
          resolve('accepted');
        });
        socket.once('connect_error', (error) => {
          socket.close();
          resolve(error.message);
        });
      });

    expect(await attempt({ cert: impostor.certPem, key: impostor.keyPem })).toBe('not allowed');
    expect(await attempt({ cert: other.chainPem, key: other.keyPem })).toBe('not allowed');
    expect(await attempt({ cert: billing.chainPem, key: billing.keyPem })).toBe('accepted');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.clientCertificate).toMatchObject({ subject: 'CN=billing', authorized: true });
  });

  it('keeps an unverified certificate only under unverifiedClientCertificate', async () => {
    const { serverPki, hot } = await startMtls();
    const seen: HandshakeWithClientCertificate[] = [];
    hot.io.on('connection', (socket) => seen.push(socket.handshake as HandshakeWithClientCertificate));
    const now = Date.now();
    const impostor = await issueCertificate({ commonName: 'billing', notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000) });
    const socket = connect(`https://localhost:${hot.port}`, { ca: serverPki.caPem, transports: ['websocket'], reconnection: false, forceNew: true, cert: impostor.certPem, key: impostor.keyPem });
    await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('connect_error', reject));
    socket.close();
    expect(seen[0]?.clientCertificate).toBeUndefined();
    expect(seen[0]?.unverifiedClientCertificate).toMatchObject({ subject: 'CN=billing', authorized: false });
  });

  it.each([
    ['with --client-ca and no list: only pages served by hotcert itself', undefined, { same: 'accepted', evil: 'refused', app: 'refused' }],
    ['with --allowed-origins https://app.example', ['https://app.example'], { same: 'refused', evil: 'refused', app: 'accepted' }],
  ])('refuses browser connections from other origins carrying the client certificate (%s); clients without Origin still connect', async (_name, allowedOrigins, expected) => {
    const { serverPki, clients, hot } = await startMtls({ allowedOrigins });
    const user = await clients.leaf({ commonName: 'user' });
    const port = hot.port;
    const attempt = (origin: string | undefined) =>
      new Promise<string>((resolve) => {
        const socket = connect(`https://localhost:${port}`, {
          ca: serverPki.caPem,
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
          cert: user.chainPem,
          key: user.keyPem,
          ...(origin ? { extraHeaders: { Origin: origin } } : {}),
        });
        socket.once('connect', () => {
          socket.close();
          resolve('accepted');
        });
        socket.once('connect_error', () => {
          socket.close();
          resolve('refused');
        });
      });
    expect(await attempt(undefined)).toBe('accepted');
    expect(await attempt(`https://localhost:${port}`)).toBe(expected.same);
    expect(await attempt('https://evil.example')).toBe(expected.evil);
    expect(await attempt('https://app.example')).toBe(expected.app);
  });
});
