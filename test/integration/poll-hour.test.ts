/**
 * The poll alone carries every update: an hour of simulated time (fake timers, real files) with
 * watching off, a kubelet-style rotation every five minutes, and the default 10 s poll. Each new
 * certificate is applied within one poll interval, exactly once, by the poll.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileSource } from '../../src/file-source.js';
import { Reloader, type ReloadEvent } from '../../src/reloader.js';
import { certificatePaths } from '../../src/server.js';
import { TestPki } from '../support/certs.js';
import { tempDir } from '../support/hotcert.js';
import { kubeletWrite } from '../support/kubelet.js';

const POLL_MS = 10_000;
const ROTATE_EVERY_MS = 5 * 60_000;
const HOUR_MS = 60 * 60_000;

describe('polling only, for an hour of simulated time', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('applies every rotation within one poll interval, once each', async () => {
    const dir = await tempDir();
    const pki = await TestPki.create();
    const leaves = await Promise.all(Array.from({ length: HOUR_MS / ROTATE_EVERY_MS + 1 }, () => pki.leaf()));
    await kubeletWrite(dir.path, (leaves[0] as (typeof leaves)[number]).secretFiles);

    vi.useFakeTimers({ toFake: ['setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'Date', 'performance'] });
    const reloader = new Reloader();
    const paths = certificatePaths({ certDir: dir.path });
    const { candidateDigest, readCandidate } = await import('../../src/read-candidate.js');
    const initial = await readCandidate(paths);
    reloader.addPair('default', Reloader.validateInitial('default', initial), () => {});
    const swaps: Array<ReloadEvent & { at: number }> = [];
    reloader.on('reload', (event) => swaps.push({ ...event, at: Date.now() }));
    let attempts = 0;
    const source = new FileSource({
      paths,
      watch: false,
      pollIntervalMs: POLL_MS,
      alreadyServed: candidateDigest(initial),
      sink: (candidate, offer) => {
        attempts++;
        return reloader.offer('default', candidate, offer);
      },
    });
    await source.start();

    const written: number[] = [];
    for (let elapsed = 0; elapsed < HOUR_MS; elapsed += POLL_MS) {
      const index = elapsed / ROTATE_EVERY_MS;
      if (elapsed > 0 && Number.isInteger(index)) {
        await kubeletWrite(dir.path, (leaves[index] as (typeof leaves)[number]).secretFiles);
        written.push(Date.now());
      }
      await vi.advanceTimersByTimeAsync(POLL_MS);
      await source.idle(); // the read itself is real file I/O
    }
    await source.close();
    vi.useRealTimers();
    await dir.remove();

    expect(written).toHaveLength(11);
    expect(swaps.map((s) => s.live.serialNumber)).toEqual(leaves.slice(1, 12).map((l) => l.serialNumber));
    expect(swaps.every((s) => s.trigger === 'poll')).toBe(true);
    swaps.forEach((swap, i) => expect(swap.at - (written[i] as number)).toBeLessThanOrEqual(POLL_MS));
    // Reads that find the bytes already served are not offered: one offer per rotation.
    expect(attempts).toBe(11);
  }, 60_000);
});
