import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Load tests measure latency: they run alone afterwards (vitest.load.config.ts, npm run test:load).
    exclude: ['test/load/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: load-bearing integration files are better not run all at once.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
