import { defineConfig } from 'vitest/config';

// `npm run test:chaos`: the full chaos scenario. Each scenario runs its own Temporal dev server (in a
// child process it kills -9), so the global setup's shared server is only there for `inject()`.
// One file at a time: the machine is small and the scenario is the load.
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 15 * 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});
