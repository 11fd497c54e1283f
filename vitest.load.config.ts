import { defineConfig } from 'vitest/config';

/** Load tests run alone, one file at a time, after the rest of the suite: they measure latency. */
export default defineConfig({
  test: {
    include: ['test/load/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 1,
    reporters: ['default'],
  },
});
