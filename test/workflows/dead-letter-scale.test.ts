/**
 * Sharded dead-letter queues, continue-as-new with every entry intact, and the redrive rate limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type TestStack, startTestStack } from '../support/stack';
import { deadLetterQueueWorkflowIds, entriesQuery, healthWorkflowId, providerStatusQuery, shardOf } from '../../src/workflows/definitions';

const SHARDS = 3;
const RATE = 10;
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack(__filename, {
    env: { DLQ_SHARDS: String(SHARDS), REDRIVE_RATE_PER_SECOND: String(RATE), STEP_MAX_ATTEMPTS: '2', HEALTH_CHECK_INTERVAL_MS: '500' },
    // Far below Temporal's limits, so this test crosses continue-as-new several times.
    activityDeps: { dlqLimits: { maxSignalsPerRun: 5 } },
  });
});
afterAll(async () => {
  await stack?.stop();
});

async function allRuns(workflowId: string) {
  const runs = [];
  for await (const wf of stack.client.workflow.list({ query: `WorkflowId="${workflowId}"` })) runs.push(wf);
  return runs;
}

describe('dead-letter queues at scale', () => {
  it(`spreads a provider's entries over ${SHARDS} shards, crosses continue-as-new with none lost, and redrives at most ${RATE}/s`, async () => {
    await stack.admin.setProvider('logistics', { state: 'down' });
    await eventually(async () => (await stack.client.workflow.getHandle(healthWorkflowId('logistics')).query(providerStatusQuery)).status === 'down', 15_000);
    const handles = await Promise.all(Array.from({ length: 30 }, () => stack.startOrder()));
    const ids = handles.map((h) => h.workflowId.replace(/^order-/, ''));
    const queues = deadLetterQueueWorkflowIds('logistics', SHARDS);
    expect(queues).toEqual(['dlq-logistics-0', 'dlq-logistics-1', 'dlq-logistics-2']);

    const byShard = await eventually(async () => {
      const lists = await Promise.all(queues.map((id) => stack.client.workflow.getHandle(id).query(entriesQuery).catch(() => [])));
      return lists.reduce((n, l) => n + l.length, 0) === ids.length ? lists : undefined;
    }, 60_000);
    // Each order sits in the shard its ID hashes to.
    byShard.forEach((list, shard) => {
      for (const e of list) expect(shardOf(e.orderId, SHARDS)).toBe(shard);
    });
    expect(byShard.flat().map((e) => e.orderId).sort()).toEqual([...ids].sort());

    // Every shard continued as new at least once (5 signals per run), with its entries carried over.
    for (const id of queues) {
      const runs = await eventually(async () => {
        const r = await allRuns(id);
        return r.length > 1 ? r : undefined;
      });
      expect(runs.some((r) => r.status.name === 'CONTINUED_AS_NEW')).toBe(true);
    }

    // Recovery: every order completes; resumes are paced.
    await stack.admin.setProvider('logistics', { state: 'up' });
    for (const h of handles) expect((await h.result()).status).toBe('completed');
    expect(await stack.admin.duplicateEffects()).toBe(0);

    const resumeTimes: number[] = [];
    for (const id of queues) {
      for (const run of await allRuns(id)) {
        const history = await stack.client.workflow.getHandle(id, run.runId).fetchHistory();
        // The queue paces by workflow time: the start time of the workflow task that decided each
        // resume (server event times of the signals themselves jitter with task processing).
        let decidedAt = 0;
        for (const e of history.events ?? []) {
          if (e.workflowTaskStartedEventAttributes) decidedAt = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
          if (e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'resume') resumeTimes.push(decidedAt);
        }
      }
    }
    expect(resumeTimes).toHaveLength(ids.length);
    resumeTimes.sort((a, b) => a - b);
    let maxInWindow = 0;
    for (let i = 0; i < resumeTimes.length; i++) {
      let j = i;
      while (j < resumeTimes.length && (resumeTimes[j] as number) < (resumeTimes[i] as number) + 1000) j++;
      maxInWindow = Math.max(maxInWindow, j - i);
    }
    expect(maxInWindow).toBeLessThanOrEqual(RATE + 1); // within 10% of the configured rate
    const spanMs = (resumeTimes.at(-1) as number) - (resumeTimes[0] as number);
    expect(spanMs).toBeGreaterThanOrEqual(((ids.length - RATE) / RATE) * 1000 * 0.9);
  }, 120_000);
});
