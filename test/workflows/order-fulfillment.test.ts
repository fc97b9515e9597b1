import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type TestStack, startTestStack } from '../support/stack';
import { temporal } from '@temporalio/proto';
import { cancelSignal, type OrderView } from '../../src/workflows/definitions';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack(__filename, { healthChecks: false });
});
afterAll(async () => {
  await stack?.stop();
});

const stepStatus = (view: OrderView, name: string) => view.steps.find((s) => s.name === name);

describe('orderFulfillment', () => {
  it('fulfils an order with a box: course access, inventory, packing, shipping, tracking number', async () => {
    const handle = await stack.startOrder();
    const view = await handle.result();
    expect(view.status).toBe('completed');
    expect(view.courseAccess).toBe('granted');
    expect(view.trackingNumber).toMatch(/^TRK/);
    expect(view.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['grantCourseAccess', 'done', 1],
      ['reserveInventory', 'done', 1],
      ['pack', 'done', 1],
      ['ship', 'done', 1],
    ]);
    expect(await stack.admin.duplicateEffects()).toBe(0);
  });

  it('fulfils a course-only order without any shipping step', async () => {
    const before = await stack.admin.stats();
    const handle = await stack.startOrder({ box: undefined, shippingAddress: undefined });
    const view = await handle.result();
    expect(view.status).toBe('completed');
    expect(view.trackingNumber).toBeNull();
    expect(view.steps.filter((s) => s.status === 'skipped').map((s) => s.name)).toEqual(['reserveInventory', 'pack', 'ship']);
    const after = await stack.admin.stats();
    expect(after.inventory.effects).toBe(before.inventory.effects);
    expect(after.logistics.effects).toBe(before.logistics.effects);
  });

  it('retries a transient failure and succeeds without parking', async () => {
    await stack.admin.setProvider('packing', { state: 'down' });
    const before = (await stack.admin.stats()).packing.requests; // counters add up across tests
    const handle = await stack.startOrder();
    await eventually(async () => {
      const v = await stack.status(handle.workflowId.replace(/^order-/, ''));
      return stepStatus(v, 'pack')?.status === 'running' && (await stack.admin.stats()).packing.requests > before;
    });
    await stack.admin.setProvider('packing', { state: 'up' });
    const view = await handle.result();
    expect(view.status).toBe('completed');
    expect(stepStatus(view, 'pack')?.attempts).toBeGreaterThan(1);
    expect(await stack.admin.duplicateEffects()).toBe(0);
  });

  it('parks an out-of-stock order as rejected, with a typed failure, and does not ship it', async () => {
    await stack.admin.setStock('BOX-RARE', 0);
    const handle = await stack.startOrder({ box: { sku: 'BOX-RARE', quantity: 1 } });
    const orderId = handle.workflowId.replace(/^order-/, '');
    const view = await eventually(async () => {
      const v = await stack.status(orderId);
      return v.status === 'parked' ? v : undefined;
    });
    expect(view.parked).toMatchObject({ provider: 'inventory', step: 'reserveInventory', kind: 'rejected', reason: 'OUT_OF_STOCK' });
    // A refusal is not retried: one attempt only.
    expect(stepStatus(view, 'reserveInventory')).toMatchObject({ status: 'parked', attempts: 1 });
    expect(view.courseAccess).toBe('granted');
    expect(view.trackingNumber).toBeNull();
    await handle.signal(cancelSignal, { reason: 'test done' });
    expect((await handle.result()).status).toBe('cancelled');
  });

  it('cancel before shipping compensates: reservation released, course access revoked', async () => {
    await stack.admin.setProvider('packing', { state: 'down' });
    try {
      const handle = await stack.startOrder();
      const orderId = handle.workflowId.replace(/^order-/, '');
      await eventually(async () => (await stack.status(orderId)).status === 'parked');
      const before = await stack.admin.stats();
      await handle.signal(cancelSignal, { reason: 'customer changed their mind' });
      const view = await handle.result();
      expect(view.status).toBe('cancelled');
      expect(view.cancelReason).toBe('customer changed their mind');
      expect(view.courseAccess).toBe('revoked');
      expect(stepStatus(view, 'grantCourseAccess')?.status).toBe('compensated');
      expect(stepStatus(view, 'reserveInventory')?.status).toBe('compensated');
      expect(stepStatus(view, 'pack')?.status).toBe('skipped');
      expect(stepStatus(view, 'ship')?.status).toBe('skipped');
      const after = await stack.admin.stats();
      expect(after.inventory.effects).toBe(before.inventory.effects + 1); // the release
      expect(after.courses.effects).toBe(before.courses.effects + 1); // the revoke
    } finally {
      await stack.admin.setProvider('packing', { state: 'up' });
    }
  });

  it('refuses cancel once the shipment exists', async () => {
    const handle = await stack.startOrder();
    const done = await handle.result();
    expect(done.status).toBe('completed');
    // A signal to a closed workflow fails; the order stays completed with its tracking number.
    await expect(handle.signal(cancelSignal, {})).rejects.toThrow();
    const view = await stack.status(done.orderId);
    expect(view.status).toBe('completed');
    expect(view.courseAccess).toBe('granted');
  });

  it('ignores cancel while the shipment is being created', async () => {
    await stack.admin.setProvider('logistics', { state: 'up', latencyMs: 1500 });
    try {
      const handle = await stack.startOrder();
      const orderId = handle.workflowId.replace(/^order-/, '');
      await eventually(async () => stepStatus(await stack.status(orderId), 'ship')?.status === 'running', 30_000, 50);
      await handle.signal(cancelSignal, {});
      const view = await handle.result();
      expect(view.status).toBe('completed');
      expect(view.trackingNumber).toMatch(/^TRK/);
      expect(view.courseAccess).toBe('granted');
    } finally {
      await stack.admin.setProvider('logistics', { state: 'up', latencyMs: 0 });
    }
  });

  it('keeps customer data out of the history in clear (payload codec)', async () => {
    const handle = await stack.startOrder({ shippingAddress: { name: 'Canary Person', line1: '77 Canary Lane', city: 'Birdtown', postalCode: '00000', country: 'US' } });
    await handle.result();
    const history = await handle.fetchHistory();
    const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
    expect(raw).toContain('binary/encrypted');
    expect(raw).not.toContain('Canary');
    expect(raw).not.toContain('ann@example.com');
  });
});
