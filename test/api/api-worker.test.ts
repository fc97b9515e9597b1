/**
 * The API over a running stack (worker, health checks, sandbox providers): order status views,
 * cancel and retry rules, listing from visibility, dead-letter operations, provider health, metrics.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import {
  AllDeadLettersSchema,
  type ErrorBody,
  type OrderList,
  OrderViewSchema,
  type OrderViewBody,
  type ProviderDeadLetters,
  type ProvidersBody,
} from '../../src/api/schemas';
import { eventually, startTestStack, type TestStack } from '../support/stack';
import { buildTestApp, orderBody, type TestApp } from './helpers';

let stack: TestStack;
let t: TestApp;

beforeAll(async () => {
  stack = await startTestStack(__filename);
  t = await buildTestApp(stack.config, { probeTimeoutMs: 2000 }, stack.client);
});
afterAll(async () => {
  await t?.close();
  await stack?.stop();
});

const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) =>
  t.app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });

async function view(orderId: string): Promise<OrderViewBody> {
  const res = await inject('GET', `/orders/${orderId}`);
  expect(res.statusCode).toBe(200);
  return res.json<OrderViewBody>();
}

const untilStatus = (orderId: string, status: string, timeoutMs = 30_000) =>
  eventually(async () => {
    const v = await view(orderId);
    return v.status === status ? v : undefined;
  }, timeoutMs);

/** An order that parks at once on inventory, refused: its SKU has no stock. */
async function parkedOrder(): Promise<string> {
  const sku = `BOX-NONE-${randomUUID().slice(0, 6)}`;
  await stack.admin.setStock(sku, 0);
  const body = orderBody({ box: { sku, quantity: 1 } });
  expect((await inject('POST', '/orders', body)).statusCode).toBe(202);
  await untilStatus(body.orderId!, 'parked');
  return body.orderId!;
}

async function deadLetters(provider: string): Promise<ProviderDeadLetters> {
  const res = await inject('GET', `/dead-letters/${provider}`);
  expect(res.statusCode).toBe(200);
  return res.json<ProviderDeadLetters>();
}

describe('orders with a worker', () => {
  it('GET /orders/:orderId is the status query: the contract\'s view, through to completed', async () => {
    const body = orderBody();
    expect((await inject('POST', '/orders', body)).statusCode).toBe(202);
    const done = await untilStatus(body.orderId!, 'completed');
    expect(Value.Check(OrderViewSchema, done)).toBe(true);
    expect(done).toMatchObject({ orderId: body.orderId, courseAccess: 'granted', parked: null, trackingNumber: expect.any(String) as string });
    expect(done.steps.map((s) => [s.name, s.provider, s.status])).toEqual([
      ['grantCourseAccess', 'courses', 'done'],
      ['reserveInventory', 'inventory', 'done'],
      ['pack', 'packing', 'done'],
      ['ship', 'logistics', 'done'],
    ]);
    // The same body again: 200 with the live status from the query.
    const again = await inject('POST', '/orders', body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ orderId: body.orderId, workflowId: `order-${body.orderId!}`, status: 'completed' });
  });

  it('cancel is 409 once the shipment exists (completed, tracking number), retry is 409 when not parked', async () => {
    const body = orderBody();
    expect((await inject('POST', '/orders', body)).statusCode).toBe(202);
    await untilStatus(body.orderId!, 'completed');
    const cancel = await inject('POST', `/orders/${body.orderId!}/cancel`, { reason: 'too late' });
    expect(cancel.statusCode).toBe(409);
    expect(cancel.json<ErrorBody>()).toMatchObject({ statusCode: 409, error: 'Conflict' });
    const retry = await inject('POST', `/orders/${body.orderId!}/retry`);
    expect(retry.statusCode).toBe(409);
    expect(retry.json<ErrorBody>().message).toBe(`order ${body.orderId!} is not parked (status: completed)`);
  });

  it('a parked order: listed by status and provider, retried (202), then cancelled (202) and compensated', async () => {
    const orderId = await parkedOrder();
    const v = await view(orderId);
    expect(v.parked).toMatchObject({ provider: 'inventory', step: 'reserveInventory', kind: 'rejected' });

    const listed = await eventually(async () => {
      const res = await inject('GET', '/orders?status=parked&provider=inventory&limit=1000');
      expect(res.statusCode).toBe(200);
      return res.json<OrderList>().orders.find((o) => o.orderId === orderId);
    });
    expect(listed).toMatchObject({ workflowId: `order-${orderId}`, status: 'parked', parkedProvider: 'inventory' });
    expect(Number.isNaN(Date.parse(listed.startTime))).toBe(false);
    const other = await inject('GET', '/orders?status=parked&provider=logistics&limit=1000');
    expect(other.json<OrderList>().orders.some((o) => o.orderId === orderId)).toBe(false);

    const retry = await inject('POST', `/orders/${orderId}/retry`);
    expect(retry.statusCode).toBe(202);
    expect(retry.json()).toEqual({ orderId, requested: true });

    const cancel = await inject('POST', `/orders/${orderId}/cancel`, { reason: 'customer asked' });
    expect(cancel.statusCode).toBe(202);
    expect(cancel.json()).toEqual({ orderId, status: 'cancelling' });
    const cancelled = await untilStatus(orderId, 'cancelled');
    expect(cancelled.courseAccess).toBe('revoked');
    // Cancelling a cancelled order is still 202, and sends nothing new.
    expect((await inject('POST', `/orders/${orderId}/cancel`)).statusCode).toBe(202);
    await eventually(async () => !(await deadLetters('inventory')).entries.some((e) => e.orderId === orderId));
  });

  it('GET /orders?status=completed lists completed orders from visibility, at most `limit`', async () => {
    const body = orderBody({ box: undefined, shippingAddress: undefined });
    expect((await inject('POST', '/orders', body)).statusCode).toBe(202);
    await untilStatus(body.orderId!, 'completed');
    await eventually(async () => {
      const res = await inject('GET', '/orders?status=completed&limit=1000');
      return res.json<OrderList>().orders.some((o) => o.orderId === body.orderId && o.status === 'completed' && o.parkedProvider === null);
    });
    const one = await inject('GET', '/orders?limit=1');
    expect(one.json<OrderList>().orders).toHaveLength(1);
  });
});

describe('dead letters with a worker', () => {
  it('lists a parked order in its provider\'s queue, sorted by parkedAt, and in the totals and metrics', async () => {
    const first = await parkedOrder();
    const second = await parkedOrder();
    const queue = await eventually(async () => {
      const q = await deadLetters('inventory');
      return q.entries.some((e) => e.orderId === first) && q.entries.some((e) => e.orderId === second) ? q : undefined;
    });
    expect(queue.count).toBe(queue.entries.length);
    const entry = queue.entries.find((e) => e.orderId === first);
    expect(entry).toMatchObject({ workflowId: `order-${first}`, provider: 'inventory', step: 'reserveInventory', kind: 'rejected', parkCount: 1 });
    const times = queue.entries.map((e) => e.parkedAt);
    expect(times).toEqual([...times].sort());

    const all = await inject('GET', '/dead-letters');
    const body = all.json<{ total: number; providers: Record<string, { count: number }> }>();
    expect(Value.Check(AllDeadLettersSchema, body)).toBe(true);
    expect(body.providers.inventory?.count).toBeGreaterThanOrEqual(2);
    expect(body.total).toBe(Object.values(body.providers).reduce((n, p) => n + p.count, 0));

    const metrics = (await inject('GET', '/metrics')).body;
    const depth = /dead_letter_depth\{provider="inventory"\} (\d+)/.exec(metrics);
    expect(Number(depth?.[1])).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(/dead_letter_oldest_age_seconds\{provider="inventory"\} [0-9.e+-]+/);

    // Clean up: discard both.
    for (const orderId of [first, second]) expect((await inject('DELETE', `/dead-letters/inventory/${orderId}`)).statusCode).toBe(202);
  });

  it('DELETE discards: 202, the order ends failed with course access kept, and leaves the queue', async () => {
    const orderId = await parkedOrder();
    await eventually(async () => (await deadLetters('inventory')).entries.some((e) => e.orderId === orderId));
    expect((await inject('DELETE', `/dead-letters/logistics/${orderId}`)).statusCode).toBe(404);
    const res = await inject('DELETE', `/dead-letters/inventory/${orderId}?reason=no%20stock%20coming`);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ provider: 'inventory', orderId, requested: true });
    const failed = await untilStatus(orderId, 'failed');
    expect(failed.courseAccess).toBe('granted');
    await eventually(async () => !(await deadLetters('inventory')).entries.some((e) => e.orderId === orderId));
    expect((await inject('DELETE', `/dead-letters/inventory/${orderId}`)).statusCode).toBe(404);
  });

  it('redrive of one order and of the whole queue are 202; the order resumes and completes once stock is back', async () => {
    const sku = `BOX-LATER-${randomUUID().slice(0, 6)}`;
    await stack.admin.setStock(sku, 0);
    const a = orderBody({ box: { sku, quantity: 1 } });
    const b = orderBody({ box: { sku, quantity: 1 } });
    for (const body of [a, b]) expect((await inject('POST', '/orders', body)).statusCode).toBe(202);
    await untilStatus(a.orderId!, 'parked');
    await untilStatus(b.orderId!, 'parked');
    await eventually(async () => {
      const q = await deadLetters('inventory');
      return q.entries.some((e) => e.orderId === a.orderId) && q.entries.some((e) => e.orderId === b.orderId);
    });
    await stack.admin.setStock(sku, 10);

    const one = await inject('POST', `/dead-letters/inventory/${a.orderId!}/redrive`);
    expect(one.statusCode).toBe(202);
    expect(one.json()).toEqual({ provider: 'inventory', orderId: a.orderId, requested: true });
    await untilStatus(a.orderId!, 'completed');

    const all = await inject('POST', '/dead-letters/inventory/redrive');
    expect(all.statusCode).toBe(202);
    expect(all.json<{ provider: string; requested: number }>().requested).toBeGreaterThanOrEqual(1);
    await untilStatus(b.orderId!, 'completed');
    expect((await inject('POST', `/dead-letters/inventory/${b.orderId!}/redrive`)).statusCode).toBe(404);
  });
});

describe('providers with health checks running', () => {
  it('GET /providers shows each provider\'s health workflow status; /metrics shows provider_up', async () => {
    const providers = await eventually(async () => {
      const res = await inject('GET', '/providers');
      const body = res.json<ProvidersBody>();
      return body.providers.every((p) => p.status === 'up') ? body.providers : undefined;
    });
    expect(providers.map((p) => p.name)).toEqual(['courses', 'inventory', 'packing', 'logistics']);
    for (const p of providers) expect(p.lastCheckAt).toEqual(expect.any(String));
    const metrics = (await inject('GET', '/metrics')).body;
    for (const p of ['courses', 'inventory', 'packing', 'logistics']) expect(metrics).toContain(`provider_up{provider="${p}"} 1`);
  });
});
