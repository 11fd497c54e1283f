import { describe, expect, it } from 'vitest';
import { closeRecoveryGap, compareStreamIds, nextStreamId, StreamReadPosition, type RecoveringAdapter } from '../../src/redis-recovery.js';

describe('stream ids', () => {
  it('compares milliseconds first, then the sequence, as numbers', () => {
    expect(compareStreamIds('1700000000000-5', '1700000000000-12')).toBeLessThan(0);
    expect(compareStreamIds('1700000000001-0', '1700000000000-99')).toBeGreaterThan(0);
    expect(compareStreamIds('999-0', '1000-0')).toBeLessThan(0);
    expect(compareStreamIds('1000-3', '1000-3')).toBe(0);
    expect(nextStreamId('1000-9')).toBe('1000-10');
  });

  it('tracks the newest id handed out, from XREAD answers and XADD ids, never going back', () => {
    const position = new StreamReadPosition();
    position.observeRead(null); // a blocking read that timed out
    expect(position.last).toBeUndefined();
    position.observeRead([{ name: 'hotcert', messages: [{ id: '10-0' }, { id: '12-1' }] }]);
    position.advance('11-0');
    expect(position.last).toBe('12-1');
    position.advance('13-0');
    expect(position.last).toBe('13-0');
  });
});

describe('closeRecoveryGap', () => {
  const entry = (id: string, rooms: string[], data: unknown, nsp = '/') => ({
    id,
    message: { nsp, type: '3', data: JSON.stringify({ packet: { data: ['message', data] }, opts: { rooms, except: [] } }) },
  });
  const decode = (message: Record<string, string>) => ({ data: JSON.parse(message['data'] as string) });

  function setUp(stream: ReturnType<typeof entry>[], replayed: unknown[][], duringRead: () => void = () => {}) {
    const position = new StreamReadPosition();
    const reads: Array<[string, string]> = [];
    const adapter: RecoveringAdapter = {
      nsp: { name: '/' },
      restoreSession: async () => ({ rooms: ['news'], missedPackets: replayed.map((p) => [...p]) }),
    };
    const readRange = async (start: string, end: string) => {
      reads.push([start, end]);
      duringRead();
      return stream.filter((e) => compareStreamIds(e.id, start) >= 0 && compareStreamIds(e.id, end) <= 0);
    };
    closeRecoveryGap(adapter, position, readRange, decode);
    return { adapter, position, reads };
  }

  it('adds what local delivery handed out past the replay, for the session rooms only, in order', async () => {
    const stream = [entry('5-0', ['news'], 'replayed'), entry('6-0', ['news'], 'gap 1'), entry('7-0', ['sport'], 'other room'), entry('7-1', [], 'to all'), entry('8-0', ['news'], 'gap 2', '/admin')];
    const { adapter, position, reads } = setUp(stream, [['message', 'replayed', '5-0']]);
    position.advance('8-0');
    const session = await adapter.restoreSession('pid', '4-0');
    expect(session?.missedPackets).toEqual([
      ['message', 'replayed', '5-0'],
      ['message', 'gap 1', '6-0'],
      ['message', 'to all', '7-1'],
    ]);
    expect(reads).toEqual([['5-1', '8-0']]);
  });

  it('reads nothing more when local delivery is not past the replay, and keeps the client offset without a replay', async () => {
    const { adapter, position, reads } = setUp([entry('5-0', ['news'], 'x')], []);
    position.advance('4-0');
    expect((await adapter.restoreSession('pid', '4-0'))?.missedPackets).toEqual([]);
    expect(reads).toEqual([]);
  });

  it('reads again while deliveries move on during its own read', async () => {
    const stream = [entry('6-0', ['news'], 'a'), entry('9-0', ['news'], 'b')];
    const { adapter, position, reads } = setUp(stream, [], () => {
      // While the first read is under way, the reader hands out 9-0.
      if (reads.length === 1) position.advance('9-0');
    });
    position.advance('6-0');
    const session = await adapter.restoreSession('pid', '5-0');
    expect(session?.missedPackets.map((p) => p[1])).toEqual(['a', 'b']);
    expect(reads).toEqual([
      ['5-1', '6-0'],
      ['6-1', '9-0'],
    ]);
  });

  it('passes on a session that cannot be restored', async () => {
    const position = new StreamReadPosition();
    position.advance('9-0');
    const adapter: RecoveringAdapter = { nsp: { name: '/' }, restoreSession: async () => null };
    closeRecoveryGap(adapter, position, async () => [], decode);
    expect(await adapter.restoreSession('pid', '1-0')).toBeNull();
  });
});
