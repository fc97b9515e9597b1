/**
 * The full chaos run (`npm run test:chaos`): 500 orders over HTTP while providers flap, the worker is
 * killed -9 four times, the Temporal dev server twice (restarted on the same SQLite file and ports), and
 * the API is stopped once with SIGTERM and once with SIGKILL. Then everything heals, an operator settles
 * the out-of-stock orders (half restocked and redriven, half discarded), and every accepted order must
 * end terminal, none missing, no provider effect twice.
 *
 * `CHAOS_SEED=<n>` replays another plan; `KEEP_TEST_DATA=1` keeps the work directory (logs, SQLite
 * file, report.json), which is kept anyway when something went wrong. Below it, the minimal
 * reproduction of the one bug the run keeps finding (both fail until it is fixed).
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { deadLetterQueueWorkflowId, entriesQuery } from '../../src/workflows/definitions';
import { eventually, startTestStack, type TestStack } from '../support/stack';
import { chaosViolations, formatReport, killAllChaosProcesses, runChaos } from './chaos';

afterAll(() => {
  killAllChaosProcesses();
});

it(
  '500 orders through worker, server and API kills and flapping providers: every accepted order ends terminal, exactly once',
  { timeout: 14 * 60_000 },
  async () => {
    const report = await runChaos({
      name: 'full',
      temporalCli: inject('temporalCli'),
      seed: Number(process.env.CHAOS_SEED ?? 20261204),
      orders: 500,
      loadDurationMs: 150_000,
      concurrency: 8,
      courseOnlyShare: 0.3,
      limitedShare: 0.3,
      limitedStockShare: 0.3,
      cancelShare: 0.04,
      workerKills: 4,
      serverKills: 2,
      apiRestarts: ['SIGTERM', 'SIGKILL'],
      flapIntervalMs: 4000,
      settleTimeoutMs: 5 * 60_000,
      rescueAfterMs: 30_000,
    });
    process.stdout.write(`\nchaos (full):\n${formatReport(report)}\n\n`);
    expect(chaosViolations(report)).toEqual([]);
    expect(report).toMatchObject({ submitted: 500, workerKills: 4, serverKills: 2, apiRestarts: 2 });
    expect(report.parkedAtSomePoint).toBeGreaterThan(0);
    expect(report.operatorDiscards + report.operatorRedrives).toBeGreaterThan(0);
  },
);

// The full run above keeps finding orders parked "unavailable" that never come back on their own; this
// is the smallest reproduction (and fails until src/workflows/dead-letter-queue.ts is fixed). The
// queue's idle wait is `condition(() => redriveQueue.size > 0 || discards.length > 0 || …, auto.waitMs
// ?? '1 day')`, computed before it went idle: a park arriving later adds an entry that nothing
// schedules. With the provider up all along (failing calls, healthy probes) no health transition comes
// either, so the order waits for its own one-hour backstop.
describe('minimal reproduction', () => {
  let stack: TestStack | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('an unavailable entry parked into an idle queue while its provider is up comes back by itself', { timeout: 90_000 }, async () => {
    stack = await startTestStack(__filename, { env: { HEALTH_CHECK_INTERVAL_MS: '500', STEP_MAX_ATTEMPTS: '2' } });
    const s = stack;
    const dlq = s.client.workflow.getHandle(deadLetterQueueWorkflowId('packing', 0, 1));
    const entries = () => dlq.query(entriesQuery).catch(() => []);
    // Packing answers 503 to every call while its health probe stays green: orders park "unavailable".
    await s.admin.setProvider('packing', { state: 'up', failureRate: 1 });
    const first = await s.startOrder();
    await eventually(async () => (await entries()).some((e) => e.orderId === first.workflowId.replace(/^order-/, '')), 20_000);
    // Packing recovers: the queue retries the first order by itself and goes idle, empty.
    await s.admin.setProvider('packing', { state: 'up' });
    expect((await first.result()).status).toBe('completed');
    await eventually(async () => (await entries()).length === 0, 10_000);
    // The same again, into the idle queue.
    await s.admin.setProvider('packing', { state: 'up', failureRate: 1 });
    const second = await s.startOrder();
    const id = second.workflowId.replace(/^order-/, '');
    const entry = await eventually(async () => (await entries()).find((e) => e.orderId === id), 20_000);
    await s.admin.setProvider('packing', { state: 'up' });
    // Due after 2 health intervals (1 s) per the queue's own schedule; give it 15 s.
    const dueAt = Date.parse(entry.parkedAt) + 1000;
    const done = await eventually(async () => ((await s.status(id)).status === 'completed' ? true : undefined), Math.max(0, dueAt - Date.now()) + 15_000).catch(
      () => false,
    );
    expect(done, `order ${id} still parked ${Math.round((Date.now() - dueAt) / 1000)} s after its auto-retry was due: ${JSON.stringify(await entries())}`).toBe(true);
  });
});
