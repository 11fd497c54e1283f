import { describe, expect, it } from 'vitest';
import type { Server as SocketIoServer } from 'socket.io';
import { closeConnectionsGradually } from '../../src/drain.js';

function fakeIo(count: number) {
  const closed: number[] = [];
  let now = 0;
  const clients = Object.fromEntries(Array.from({ length: count }, (_, i) => [`c${i}`, { close: () => closed.push(now) }]));
  const io = { engine: { clients } } as unknown as SocketIoServer;
  const sleep = async (ms: number) => {
    now += ms;
  };
  return { io, closed, sleep };
}

describe('closeConnectionsGradually', () => {
  it('closes every connection in batches spread evenly over the window', async () => {
    const { io, closed, sleep } = fakeIo(25);
    expect(await closeConnectionsGradually(io, { spreadMs: 1_000, batches: 5, sleep })).toBe(25);
    expect(closed).toHaveLength(25);
    expect(new Set(closed)).toEqual(new Set([0, 200, 400, 600, 800]));
    expect(closed.filter((at) => at === 0)).toHaveLength(5);
  });

  it('closes everything at once without a window, and copes with no connections', async () => {
    const { io, closed, sleep } = fakeIo(7);
    await closeConnectionsGradually(io, { spreadMs: 0, sleep });
    expect(closed).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(await closeConnectionsGradually(fakeIo(0).io, { spreadMs: 1_000 })).toBe(0);
  });

  it('never makes more batches than connections', async () => {
    const { io, closed, sleep } = fakeIo(3);
    await closeConnectionsGradually(io, { spreadMs: 900, batches: 10, sleep });
    expect(closed).toEqual([0, 300, 600]);
  });
});
