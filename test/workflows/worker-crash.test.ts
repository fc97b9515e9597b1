/**
 * The idempotency key holds across a worker crash: the worker is killed (SIGKILL) while the carrier is
 * creating the shipment; the provider finishes the shipment anyway; after the attempt times out a new
 * worker retries with the same key and gets the first answer. One shipment, no duplicate effect.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/temporal/dev-server';
import { eventually, TEST_KEY, type TestStack, startTestStack } from '../support/stack';

let stack: TestStack;
const children: ChildProcess[] = [];

async function spawnWorker(): Promise<ChildProcess> {
  const c = stack.config;
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '../../src/workers/main.ts')], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: c.temporal.address,
      TEMPORAL_NAMESPACE: c.temporal.namespace,
      TEMPORAL_TASK_QUEUE: c.temporal.taskQueue,
      PAYLOAD_ENCRYPTION_KEY: TEST_KEY,
      PROVIDER_COURSES_URL: c.providerUrls.courses,
      PROVIDER_INVENTORY_URL: c.providerUrls.inventory,
      PROVIDER_PACKING_URL: c.providerUrls.packing,
      PROVIDER_LOGISTICS_URL: c.providerUrls.logistics,
      PROVIDER_TIMEOUT_MS: '10000',
      METRICS_PORT: String(await freePort()),
      DATA_DIR: c.dataDir,
      LOG_LEVEL: 'info', // 'worker ready' is an info line
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(async () => out.includes('worker ready') || child.exitCode !== null, 60_000);
  if (child.exitCode !== null) throw new Error(`worker exited: ${out}`);
  return child;
}

beforeAll(async () => {
  stack = await startTestStack(__filename, { worker: false });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await stack?.stop();
});

describe('a worker crash mid-call', () => {
  it('creates no duplicate effect: the retry reuses the idempotency key', async () => {
    const first = await spawnWorker();
    await stack.admin.setProvider('logistics', { state: 'up', latencyMs: 3000 });
    const handle = await stack.startOrder({}, { policy: { stepMaxAttempts: 5, stepRetryInitialMs: 200, activityTimeoutMs: 6000 } });
    // The shipment request is in flight at the carrier: kill the worker hard.
    const orderId = handle.workflowId.replace(/^order-/, '');
    await eventually(async () => (await stack.status(orderId)).steps.find((st) => st.name === 'ship')?.status === 'running', 30_000, 50);
    await new Promise((r) => setTimeout(r, 500)); // well inside the carrier's 3 s
    first.kill('SIGKILL');
    // The carrier completes the shipment although nobody is there to hear the answer.
    await eventually(async () => (await stack.admin.stats()).logistics.effects === 1, 10_000);
    await stack.admin.setProvider('logistics', { state: 'up', latencyMs: 0 });

    await spawnWorker();
    const view = await handle.result();
    expect(view.status).toBe('completed');
    expect(view.steps.find((s) => s.name === 'ship')?.attempts).toBeGreaterThanOrEqual(2);
    const stats = await stack.admin.stats();
    expect(stats.logistics.effects).toBe(1);
    expect(stats.logistics.duplicateEffects).toBe(0);
  }, 90_000);
});
