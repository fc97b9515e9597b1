import { defineConfig } from 'vitest/config';

// One real Temporal dev server for the whole run (global setup); test files run in forked processes,
// never worker threads (the Temporal worker's native bridge and V8 contexts don't belong in threads).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/chaos/**', 'node_modules/**'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
