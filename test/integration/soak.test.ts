/**
 * The soak, short form (bench/soak.ts; `npm run soak` runs the full 1,000 sockets / 200
 * rotations): nothing lost while the certificate rotates under live rooms.
 */
import { describe, expect, it } from 'vitest';
import { formatSoak, FULL_SOAK, runSoak, SHORT_SOAK } from '../../bench/soak.js';

const full = process.env['HOTCERT_SOAK'] === 'full';

describe(`soak (${full ? 'full' : 'short'})`, () => {
  it('delivers every acked message exactly once to every room member, drops no socket, fails no trusted handshake', async () => {
    const result = await runSoak(full ? FULL_SOAK : SHORT_SOAK);
    console.log(`\n${formatSoak(result)}\n`);
    expect(result.acked).toBeGreaterThan(result.config.sockets);
    expect(result.acked).toBe(result.published);
    expect(result.missing).toBe(0);
    expect(result.duplicates).toBe(0);
    expect(result.deliveries).toBe(result.expectedDeliveries);
    expect(result.disconnects).toBe(0);
    expect(result.failedHandshakes).toBe(0);
    expect(result.applied).toBe(result.config.rotations);
    expect(result.rejected).toBe(result.config.badCandidates);
    // No SecureContext leak: the server's heap after all rotations stays within a few MiB of where it began.
    expect(result.heapEndMiB - result.heapStartMiB).toBeLessThan(full ? 40 : 25);
  }, full ? 1_800_000 : 300_000);
});
