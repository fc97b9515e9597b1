/**
 * The chaos scenario, short (part of `npm test`; the full one is `npm run test:chaos`): 60 orders over
 * HTTP while providers flap, with the worker and the Temporal dev server each killed -9 once and
 * restarted, and the API stopped once with SIGTERM and once with SIGKILL. Every accepted order must end
 * terminal, none missing, no provider effect twice. See test/chaos/chaos.ts. Bounded: about a minute,
 * four at most.
 */
import { afterAll, expect, inject, it } from 'vitest';
import { chaosViolations, formatReport, killAllChaosProcesses, runChaos } from './chaos/chaos';

afterAll(() => {
  killAllChaosProcesses();
});

it('60 orders through a worker kill, a server kill, two API restarts and flapping providers end terminal, exactly once', { timeout: 240_000 }, async () => {
  const report = await runChaos({
    name: 'short',
    temporalCli: inject('temporalCli'),
    seed: Number(process.env.CHAOS_SEED ?? 7),
    orders: 60,
    loadDurationMs: 30_000,
    concurrency: 4,
    courseOnlyShare: 0.3,
    limitedShare: 0.3,
    limitedStockShare: 0.3,
    cancelShare: 0.05,
    workerKills: 1,
    serverKills: 1,
    apiRestarts: ['SIGTERM', 'SIGKILL'],
    flapIntervalMs: 2500,
    settleTimeoutMs: 120_000,
    rescueAfterMs: 20_000,
  });
  process.stdout.write(`\nchaos (short):\n${formatReport(report)}\n\n`);
  expect(chaosViolations(report)).toEqual([]);
  expect(report).toMatchObject({ submitted: 60, workerKills: 1, serverKills: 1, apiRestarts: 2 });
});
