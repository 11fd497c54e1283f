/**
 * The status page in real headless Chromium that trusts the development CA through NSS: it shows
 * each new certificate as it rotates under the same socket, with no console errors and no mixed
 * content. A screenshot is saved to test-artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ConsoleMessage } from 'playwright-core';
import { launchTrusting, type TrustingBrowser } from '../support/browser.js';
import { startDev, type DevRun } from '../support/dev-cli.js';
import { tempDir } from '../support/hotcert.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

describe('status page in Chromium', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let run: DevRun;
  let chromium: TrustingBrowser;

  beforeAll(async () => {
    dir = await tempDir('hotcert-browser-');
    run = await startDev(dir.path, '2s');
    chromium = await launchTrusting(run.caPath);
  });
  afterAll(async () => {
    await chromium?.close();
    await run?.stop();
    await dir?.remove();
  });

  it('follows two rotations on one socket, with no console errors and no mixed content', async () => {
    const page = await chromium.browser.newPage({ viewport: { width: 1100, height: 900 } });
    const messages: ConsoleMessage[] = [];
    const pageErrors: Error[] = [];
    page.on('console', (message) => messages.push(message));
    page.on('pageerror', (error) => pageErrors.push(error));

    const response = await page.goto(run.url);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toMatch(/default-src 'none'/);
    expect(await response?.securityDetails()).toMatchObject({ subjectName: 'localhost', issuer: 'hotcert development CA' });

    await page.getByTestId('connection-state').filter({ hasText: 'Connected over HTTPS' }).waitFor();
    const socketId = await page.getByTestId('socket-id').textContent();
    expect(socketId).toMatch(/^[\w-]{10,}$/);

    // The first row is the certificate announced on connect; wait for two rotations after it.
    await page.locator('#history tr:nth-child(3)').waitFor({ timeout: 15_000 });
    const rows = await page.locator('#history tr').evaluateAll((trs) => trs.map((tr) => ({ serial: tr.getAttribute('data-serial'), socketId: tr.getAttribute('data-socket-id') })));
    const served = run.servedSerials();
    const seen = rows.map((row) => row.serial).reverse();
    expect(new Set(seen).size).toBe(seen.length);
    for (const serial of seen) expect(served).toContain(serial);
    expect(rows.every((row) => row.socketId === socketId)).toBe(true);
    expect(await page.getByTestId('socket-id').textContent()).toBe(socketId);
    expect(await page.getByTestId('reconnects').textContent()).toBe('0');
    expect(Number(await page.getByTestId('rotations').textContent())).toBeGreaterThanOrEqual(2);
    expect(await page.getByTestId('serial').textContent()).toBe(seen.at(-1));
    expect(await page.getByTestId('countdown').textContent()).toMatch(/^\d+m \d+s$|^\d+s$/);
    expect(await page.getByTestId('transport').textContent()).toBe('websocket');

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}status-page.png`, fullPage: true });

    const problems = messages.filter((m) => m.type() === 'error' || m.type() === 'warning' || /mixed content/i.test(m.text()));
    expect(problems.map((m) => `${m.type()}: ${m.text()}`)).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('is readable on a phone-sized screen', async () => {
    const page = await chromium.browser.newPage({ viewport: { width: 375, height: 740 }, isMobile: true });
    await page.goto(run.url);
    await page.getByTestId('connection-state').filter({ hasText: 'Connected' }).waitFor();
    // Runs in the page: `globalThis` is the window there.
    const overflow = await page.evaluate(() => {
      const { document, innerWidth } = globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number };
      return document.documentElement.scrollWidth - innerWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    await page.close();
  });
});
