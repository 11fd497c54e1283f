/**
 * A small least-recently-used memo for results of pure, deterministic computations (parsing a
 * certificate, checking a signature). Bounded, so a stream of distinct inputs cannot grow it.
 */
export class BoundedCache<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #capacity: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  /** The value for `key`, computing and remembering it on a miss. `compute` may throw; nothing is kept then. */
  get(key: K, compute: (key: K) => V): V {
    if (this.#entries.has(key)) {
      const value = this.#entries.get(key) as V;
      // Move to the most recently used end.
      this.#entries.delete(key);
      this.#entries.set(key, value);
      return value;
    }
    const value = compute(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.#capacity) this.#entries.delete(this.#entries.keys().next().value as K);
    return value;
  }

  get size(): number {
    return this.#entries.size;
  }
}
