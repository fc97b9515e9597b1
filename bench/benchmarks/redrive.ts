/**
 * redrive: park orders by taking logistics down (the sandbox's admin API), wait until the health
 * workflow sees it, start the orders and wait until every one sits in a logistics dead-letter queue
 * (the `entries` query of each shard); then bring logistics back and time until all have completed.
 * The completion times come from Temporal visibility (each order's close time), so the rate is the
 * server's view, not the poller's.
 */
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import type { Config } from '../../src/config';
import {
  deadLetterQueueWorkflowIds,
  entriesQuery,
  healthWorkflowId,
  providerStatusQuery,
  type ProviderStatus,
  WORKFLOW_TYPES,
} from '../../src/workflows/definitions';
import { type CpuReport, cpuMeter } from '../lib/cpu';
import { nextOrderId, pool, sampleOrder, startOrder } from '../lib/orders';
import type { SandboxAdmin } from '../lib/stack';
import { peakInWindow, round } from '../lib/stats';

export interface RedriveResult {
  parked: number;
  configuredRatePerSecond: number;
  drainSeconds: number;
  observedRatePerSecond: number;
  duplicateEffects: number;
  shards: number;
}

export interface RedriveDetails {
  healthIntervalMs: number;
  /** Logistics down → the health workflow reports it down. */
  downDetectedSeconds: number;
  /** First start → every order in a dead-letter queue. */
  parkSeconds: number;
  /** Logistics up → the health workflow reports it up. */
  upDetectedSeconds: number;
  /** Logistics up → first order completed. */
  firstCompletionSeconds: number;
  /** Most completions in any one second. */
  peakCompletionsPerSecond: number;
  /** CPU during the drain (logistics up → measurement stopped). */
  drainCpu: CpuReport;
  /** Orders completed when the measurement stopped. */
  completed: number;
  /** False: the drain did not finish within the wait, and drainSeconds is extrapolated. */
  drained: boolean;
  entriesPerShard: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutMs: number, intervalMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s${last instanceof Error ? ` (${last.message})` : ''}`);
    await sleep(intervalMs);
  }
}

export async function runRedrive(o: {
  client: Client;
  config: Config;
  admin: SandboxAdmin;
  parked: number;
  startConcurrency: number;
  /** Our processes, for the CPU accounting of the drain. */
  pids: Record<string, number>;
  /** Wait for every order however long it takes (default: up to 1.2× the drain target, then extrapolate). */
  fullDrain: boolean;
  say: (line: string) => void;
}): Promise<{ result: RedriveResult; details: RedriveDetails }> {
  const { client, config, admin } = o;
  const shards = config.dlqShards;
  const rate = config.redriveRatePerSecond;
  const interval = config.healthCheckIntervalMs;
  const health = client.workflow.getHandle(healthWorkflowId('logistics'));
  const healthIs = (status: ProviderStatus) => async () => ((await health.query(providerStatusQuery)).status === status ? true : undefined);
  const queues = deadLetterQueueWorkflowIds('logistics', shards);
  const entryCounts = () => Promise.all(queues.map((id) => client.workflow.getHandle(id).query(entriesQuery).then((e) => e.length, () => 0)));

  await admin.reset();
  await waitFor('logistics reported up by its health workflow', interval * 3 + 30_000, 250, healthIs('up'));

  // 1. Logistics down, and the health workflow knows it.
  let t = performance.now();
  await admin.setProvider('logistics', 'down');
  await waitFor('logistics reported down', interval * 3 + 30_000, 100, healthIs('down'));
  const downDetectedSeconds = (performance.now() - t) / 1000;
  o.say(`  logistics down, seen after ${round(downDetectedSeconds, 1)} s; starting ${o.parked} orders…`);

  // 2. The orders, until every one is parked.
  t = performance.now();
  await pool(o.parked, o.startConcurrency, async () => {
    await startOrder(client, config, sampleOrder(nextOrderId('rd'), true));
  });
  let lastReport = 0;
  const entriesPerShard = await waitFor('every order parked', o.parked * 500 + 120_000, 1000, async () => {
    const counts = await entryCounts();
    const total = counts.reduce((a, b) => a + b, 0);
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      o.say(`    parked ${total}/${o.parked}`);
    }
    return total >= o.parked ? counts : undefined;
  });
  const parkSeconds = (performance.now() - t) / 1000;
  o.say(`  ${o.parked} parked in ${round(parkSeconds, 1)} s (per shard: ${entriesPerShard.join(', ')}); logistics up, draining at ${rate}/s…`);

  // 3. Logistics up: time until all completed.
  const meter = cpuMeter(o.pids);
  const upAt = Date.now();
  await admin.setProvider('logistics', 'up');
  const upSeen = waitFor('logistics reported up', interval * 3 + 30_000, 100, healthIs('up')).then(() => (Date.now() - upAt) / 1000);
  const completedQuery = `WorkflowType="${WORKFLOW_TYPES.order}" AND ExecutionStatus="Completed"`;
  // Wait for the whole drain up to well past its target; beyond that the rate is known and the rest
  // is extrapolated (a slow drain would otherwise take the run far past its time budget).
  const targetSeconds = (o.parked / rate) * 1.3 + interval / 1000;
  const waitMs = o.fullDrain ? (o.parked / rate) * 10 * 1000 + interval * 3 + 120_000 : Math.max(45, targetSeconds * 1.2) * 1000;
  const deadline = upAt + waitMs;
  lastReport = 0;
  let completed = 0;
  for (;;) {
    completed = (await client.workflow.count(completedQuery)).count;
    if (completed >= o.parked || Date.now() > deadline) break;
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      o.say(`    completed ${completed}/${o.parked} after ${Math.round((Date.now() - upAt) / 1000)} s`);
    }
    await sleep(500);
  }
  const stoppedAt = Date.now();
  const drainCpu = meter.stop();
  const upDetectedSeconds = await Promise.race([upSeen, sleep(1000).then(() => NaN)]);

  const closeTimes: number[] = [];
  for await (const wf of client.workflow.list({ query: completedQuery, pageSize: 1000 })) {
    if (wf.closeTime) closeTimes.push(wf.closeTime.getTime());
  }
  closeTimes.sort((a, b) => a - b);
  const first = closeTimes[0] ?? NaN;
  const last = closeTimes.at(-1) ?? NaN;
  const observed = closeTimes.length > 1 ? (closeTimes.length - 1) / ((last - first) / 1000) : NaN;
  const drained = closeTimes.length >= o.parked;
  // Not drained within the wait: the time so far plus the rest at the rate observed.
  const drainSeconds = drained ? (last - upAt) / 1000 : (stoppedAt - upAt) / 1000 + (o.parked - closeTimes.length) / observed;
  if (!drained) o.say(`  stopped waiting after ${Math.round((stoppedAt - upAt) / 1000)} s with ${closeTimes.length}/${o.parked} completed; drain extrapolated at ${round(observed, 2)}/s`);
  const duplicateEffects = await admin.duplicateEffects();

  return {
    result: {
      parked: o.parked,
      configuredRatePerSecond: rate,
      drainSeconds: round(drainSeconds, 2),
      observedRatePerSecond: round(observed, 2),
      duplicateEffects,
      shards,
    },
    details: {
      healthIntervalMs: interval,
      downDetectedSeconds: round(downDetectedSeconds, 2),
      parkSeconds: round(parkSeconds, 2),
      upDetectedSeconds: round(upDetectedSeconds, 2),
      firstCompletionSeconds: round((first - upAt) / 1000, 2),
      peakCompletionsPerSecond: peakInWindow(closeTimes, 1000),
      drainCpu,
      completed: closeTimes.length,
      drained,
      entriesPerShard,
    },
  };
}
