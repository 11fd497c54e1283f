import { describe, expect, it } from 'vitest';
import { BoundedCache } from '../../src/bounded-cache.js';

describe('BoundedCache', () => {
  it('computes a value once and serves it from memory afterwards', () => {
    const cache = new BoundedCache<string, number>(4);
    let calls = 0;
    const length = (key: string) => (calls++, key.length);
    expect(cache.get('abc', length)).toBe(3);
    expect(cache.get('abc', length)).toBe(3);
    expect(calls).toBe(1);
  });

  it('forgets the least recently used entry beyond its capacity', () => {
    const cache = new BoundedCache<string, string>(2);
    const computed: string[] = [];
    const upper = (key: string) => (computed.push(key), key.toUpperCase());
    cache.get('a', upper);
    cache.get('b', upper);
    cache.get('a', upper); // a is now the most recent
    cache.get('c', upper); // evicts b
    expect(cache.size).toBe(2);
    cache.get('a', upper);
    cache.get('b', upper);
    expect(computed).toEqual(['a', 'b', 'c', 'b']);
  });

  it('keeps nothing when the computation throws', () => {
    const cache = new BoundedCache<string, number>(2);
    expect(() => cache.get('bad', () => { throw new Error('no'); })).toThrow('no');
    expect(cache.size).toBe(0);
    expect(cache.get('bad', () => 1)).toBe(1);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new BoundedCache(0)).toThrow(RangeError);
    expect(() => new BoundedCache(1.5)).toThrow(/positive integer/);
  });
});
