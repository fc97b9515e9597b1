/**
 * Parking and self-healing redrive, against the real dev server, the real worker and the sandbox.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import { eventually, type TestStack, startTestStack } from '../support/stack';
import { temporalCli } from '../support/cli';
import {
  cancelSignal,
  type DeadLetterEntry,
  deadLetterQueueWorkflowId,
  entriesQuery,
  healthWorkflowId,
  type OrderView,
  type ProviderName,
  providerStatusQuery,
  WORKFLOW_TYPES,
} from '../../src/workflows/definitions';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack(__filename, {
    env: { REDRIVE_RATE_PER_SECOND: '50', STEP_MAX_ATTEMPTS: '2', HEALTH_CHECK_INTERVAL_MS: '500' },
  });
});
afterAll(async () => {
  await stack?.stop();
});
beforeEach(async () => {
  for (const p of ['courses', 'inventory', 'packing', 'logistics'] as const) await stack.admin.setProvider(p, { state: 'up', latencyMs: 0, failureRate: 0 });
});

const dlq = (provider: ProviderName) => stack.client.workflow.getHandle(deadLetterQueueWorkflowId(provider, 0, 1));
const entries = async (provider: ProviderName): Promise<DeadLetterEntry[]> => {
  try {
    return await dlq(provider).query(entriesQuery);
  } catch {
    return [];
  }
};
const idOf = (h: WorkflowHandle) => h.workflowId.replace(/^order-/, '');
const waitStatus = (orderId: string, status: OrderView['status'], timeoutMs = 30_000) =>
  eventually(async () => {
    const v = await stack.status(orderId);
    return v.status === status ? v : undefined;
  }, timeoutMs);
/** Parked, and its entry is in the queue (the status turns parked just before the park signal lands). */
const waitParked = async (orderId: string): Promise<OrderView> => {
  const view = await waitStatus(orderId, 'parked');
  const provider = view.parked?.provider as ProviderName;
  await eventually(async () => (await entries(provider)).some((e) => e.orderId === orderId));
  return view;
};
const waitHealth = (provider: ProviderName, status: 'up' | 'down') =>
  eventually(async () => (await stack.client.workflow.getHandle(healthWorkflowId(provider)).query(providerStatusQuery)).status === status, 15_000);

describe('dead-letter parking and redrive', () => {
  it('an outage of each shipping provider parks its orders; recovery completes them all with no duplicate effect', async () => {
    for (const provider of ['inventory', 'packing', 'logistics'] as const) {
      await stack.admin.setProvider(provider, { state: 'down' });
      await waitHealth(provider, 'down');
      const handles = await Promise.all(Array.from({ length: 5 }, () => stack.startOrder()));
      const ids = handles.map(idOf);
      for (const id of ids) {
        const view = await waitParked(id);
        expect(view.parked).toMatchObject({ provider, kind: 'unavailable' });
        expect(view.courseAccess).toBe('granted'); // the learner never waits on the box
      }
      // The status turns parked just before the park signal lands in the queue.
      await eventually(async () => (await entries(provider)).length === ids.length);
      expect((await entries(provider)).map((e) => e.orderId).sort()).toEqual([...ids].sort());

      // Visible through the CLI's visibility query, as an operator would filter it.
      const listed = await eventually(async () => {
        const out = await temporalCli(stack.config, [
          'workflow', 'list', '--query', `FulfillmentStatus="parked" AND ParkedProvider="${provider}"`, '-o', 'json',
        ]);
        const found = ids.filter((id) => out.includes(`order-${id}`));
        return found.length === ids.length ? found : undefined;
      });
      expect(listed).toHaveLength(5);

      // Recovery, without anyone touching anything.
      await stack.admin.setProvider(provider, { state: 'up' });
      for (const h of handles) expect((await h.result()).status).toBe('completed');
      expect(await entries(provider)).toEqual([]);
    }
    expect(await stack.admin.duplicateEffects()).toBe(0);
  });

  it('parks at once, without spending retries, while the health check knows the provider is down', async () => {
    await stack.admin.setProvider('packing', { state: 'down' });
    await waitHealth('packing', 'down');
    await new Promise((r) => setTimeout(r, 1100)); // the activities' health cache
    const before = (await stack.admin.stats()).packing.requests;
    const h = await stack.startOrder();
    const view = await waitStatus(idOf(h), 'parked');
    expect(view.parked?.reason).toBe('health check reports it down');
    await new Promise((r) => setTimeout(r, 300));
    // Only health probes reached packing, no pack call.
    const probes = (await stack.admin.stats()).packing.requests - before;
    expect(probes).toBeLessThanOrEqual(4);
    await stack.admin.setProvider('packing', { state: 'up' });
    expect((await h.result()).status).toBe('completed');
  });

  it('keeps rejected entries until an operator acts, also when the provider is healthy', async () => {
    await stack.admin.setStock('BOX-SOLDOUT', 0);
    const h = await stack.startOrder({ box: { sku: 'BOX-SOLDOUT', quantity: 1 } });
    const id = idOf(h);
    await waitParked(id);
    const entry = await eventually(async () => (await entries('inventory')).find((e) => e.orderId === id));
    expect(entry).toMatchObject({ kind: 'rejected', step: 'reserveInventory', parkCount: 1, workflowId: `order-${id}` });
    // An up signal (as the health check sends on recovery) redrives unavailable entries only.
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', 'dlq-inventory', '--name', 'providerStatus', '--input', '{"status":"up"}']);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await stack.status(id)).status).toBe('parked');
    expect((await entries('inventory')).some((e) => e.orderId === id)).toBe(true);

    // The operator restocks and redrives this one order through the real CLI, as the README shows.
    await stack.admin.setStock('BOX-SOLDOUT', 5);
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', 'dlq-inventory', '--name', 'redriveOrder', '--input', JSON.stringify({ orderId: id })]);
    expect((await h.result()).status).toBe('completed');
    expect((await entries('inventory')).some((e) => e.orderId === id)).toBe(false);
  });

  it('redriveAll and retryNow through the temporal CLI resume parked orders', async () => {
    await stack.admin.setStock('BOX-FEW', 0);
    const a = await stack.startOrder({ box: { sku: 'BOX-FEW', quantity: 1 } });
    const b = await stack.startOrder({ box: { sku: 'BOX-FEW', quantity: 1 } });
    await waitParked(idOf(a));
    await waitParked(idOf(b));
    await stack.admin.setStock('BOX-FEW', 10);
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', 'dlq-inventory', '--name', 'redriveAll']);
    expect((await a.result()).status).toBe('completed');
    expect((await b.result()).status).toBe('completed');

    await stack.admin.setStock('BOX-FEW', 0);
    const c = await stack.startOrder({ box: { sku: 'BOX-FEW', quantity: 1 } });
    await waitParked(idOf(c));
    await stack.admin.setStock('BOX-FEW', 1);
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', c.workflowId, '--name', 'retryNow']);
    expect((await c.result()).status).toBe('completed');
    // retryNow bypasses the queue, so the order also left it.
    await eventually(async () => !(await entries('inventory')).some((e) => e.orderId === idOf(c)));
  });

  it('discardOrder through the CLI ends the order failed, releases its reservation, keeps course access', async () => {
    await stack.admin.setProvider('logistics', { state: 'down' });
    const h = await stack.startOrder();
    const id = idOf(h);
    await waitParked(id);
    const before = (await stack.admin.stats()).inventory.effects;
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', 'dlq-logistics', '--name', 'discardOrder', '--input', JSON.stringify({ orderId: id, reason: 'address unreachable' })]);
    const view = await h.result();
    expect(view.status).toBe('failed');
    expect(view.failureReason).toBe('address unreachable');
    expect(view.courseAccess).toBe('granted');
    expect(view.steps.find((s) => s.name === 'reserveInventory')?.status).toBe('compensated');
    expect(view.steps.find((s) => s.name === 'ship')?.status).toBe('failed');
    expect((await stack.admin.stats()).inventory.effects).toBe(before + 1);
    expect((await entries('logistics')).some((e) => e.orderId === id)).toBe(false);
  });

  it('cancel while parked leaves the queue and compensates', async () => {
    await stack.admin.setProvider('logistics', { state: 'down' });
    const h = await stack.startOrder();
    const id = idOf(h);
    await waitParked(id);
    await eventually(async () => (await entries('logistics')).some((e) => e.orderId === id));
    await h.signal(cancelSignal, { reason: 'no longer needed' });
    const view = await h.result();
    expect(view.status).toBe('cancelled');
    expect(view.courseAccess).toBe('revoked');
    await eventually(async () => !(await entries('logistics')).some((e) => e.orderId === id));
  });

  it('a redrive while the provider is still down parks the order again, with parkCount increased', async () => {
    await stack.admin.setProvider('logistics', { state: 'down' });
    await waitHealth('logistics', 'down');
    const h = await stack.startOrder();
    const id = idOf(h);
    await waitParked(id);
    await eventually(async () => (await entries('logistics')).some((e) => e.orderId === id));
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', 'dlq-logistics', '--name', 'redriveOrder', '--input', JSON.stringify({ orderId: id })]);
    const again = await eventually(async () => (await entries('logistics')).find((e) => e.orderId === id && e.parkCount === 2));
    expect(again.kind).toBe('unavailable');
    expect((await stack.status(id)).status).toBe('parked');
    await stack.admin.setProvider('logistics', { state: 'up' });
    expect((await h.result()).status).toBe('completed');
    expect(await stack.admin.duplicateEffects()).toBe(0);
  });

  it('nothing is lost when the worker stops with orders parked and a new one takes over', async () => {
    await stack.admin.setProvider('logistics', { state: 'down' });
    await waitHealth('logistics', 'down');
    const handles = await Promise.all(Array.from({ length: 4 }, () => stack.startOrder()));
    for (const h of handles) await waitStatus(idOf(h), 'parked');
    // A new worker takes over and the old one stops, as in a rolling restart.
    await stack.restartWorker();
    await stack.admin.setProvider('logistics', { state: 'up' });
    for (const h of handles) expect((await h.result()).status).toBe('completed');
    expect(await stack.admin.duplicateEffects()).toBe(0);
  });
});

describe('dead-letter queue workflow', () => {
  it('is idempotent: a duplicate park changes nothing', async () => {
    const handle = await stack.client.workflow.start(WORKFLOW_TYPES.deadLetterQueue, {
      workflowId: `dlq-test-${Date.now()}`,
      taskQueue: stack.config.temporal.taskQueue,
      args: [{ provider: 'logistics', shard: 0, redriveRatePerSecond: 10 }],
    });
    const entry: DeadLetterEntry = {
      orderId: 'X-1', workflowId: 'order-X-1', provider: 'logistics', step: 'ship', kind: 'rejected',
      error: 'logistics refused: HTTP 422', attempts: 1, parkCount: 1, parkedAt: new Date().toISOString(),
    };
    await handle.signal('park', entry);
    await handle.signal('park', entry);
    await handle.signal('park', { ...entry, parkCount: 1, error: 'a late duplicate' });
    const list = await handle.query(entriesQuery);
    expect(list).toEqual([entry]);

    // Malformed signals (anyone with the CLI can send them) are ignored; the queue keeps running.
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', handle.workflowId, '--name', 'park', '--input', '{"orderId":5}']);
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', handle.workflowId, '--name', 'park', '--input', 'null']);
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', handle.workflowId, '--name', 'unpark', '--input', '{"orderId":"X-1"}']);
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', handle.workflowId, '--name', 'providerStatus', '--input', '{"status":"sideways"}']);
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', handle.workflowId, '--name', 'redriveOrder', '--input', '[1,2]']);
    expect(await handle.query(entriesQuery)).toEqual([entry]);
    // …and still processes what comes next (a handler that threw would have stalled its workflow task).
    const next = { ...entry, orderId: 'X-2', workflowId: 'order-X-2' };
    await handle.signal('park', next);
    await eventually(async () => (await handle.query(entriesQuery)).length === 2);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await handle.terminate();
  });
});
