/**
 * Real headless Chromium (Debian's) driven by playwright-core, trusting a CA through an NSS
 * database in a temporary HOME, exactly as a user's browser on Linux would: no
 * --ignore-certificate-errors.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';

const run = promisify(execFile);

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** The flags this machine's closed network needs, and no certificate shortcuts. */
const FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface TrustingBrowser {
  readonly browser: Browser;
  close(): Promise<void>;
}

/** Launches Chromium with a fresh HOME whose NSS database trusts `caPath` as an authority. */
export async function launchTrusting(caPath: string): Promise<TrustingBrowser> {
  const home = await mkdtemp(join(tmpdir(), 'hotcert-browser-home-'));
  const nssdb = join(home, '.pki', 'nssdb');
  await mkdir(nssdb, { recursive: true });
  await run('certutil', ['-d', `sql:${nssdb}`, '-N', '--empty-password']);
  await run('certutil', ['-d', `sql:${nssdb}`, '-A', '-t', 'C,,', '-n', 'hotcert-dev-ca', '-i', caPath]);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, env: { ...process.env, HOME: home } as Record<string, string> });
  return {
    browser,
    async close() {
      await browser.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}
