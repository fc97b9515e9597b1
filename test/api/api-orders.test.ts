/**
 * POST /orders against a real Temporal dev server, with no worker: what is started, and that an
 * orderId never gets a second workflow.
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPayloadConverter, METADATA_ENCODING_KEY } from '@temporalio/common';
import type { OrderAccepted, OrderExisting, ErrorBody, OrderRequestBody } from '../../src/api/schemas';
import { createEncryptionCodec } from '../../src/temporal/connection';
import {
  CustomerIdKey,
  FulfillmentStatusKey,
  type OrderFulfillmentInput,
  OrderIdKey,
  ParkedProviderKey,
} from '../../src/workflows/definitions';
import { eventually, testConfig } from '../support/stack';
import { buildTestApp, capturingLogger, orderBody, type TestApp } from './helpers';

const config = testConfig(__filename);
const log = capturingLogger();

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp(config, { logger: log.logger });
});
afterAll(async () => {
  await t?.close();
});

/** Sorted-keys JSON, written independently of the API's own. */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

const post = (payload: unknown) => t.app.inject({ method: 'POST', url: '/orders', payload: payload as Record<string, unknown> });
const handleOf = (orderId: string) => t.client.workflow.getHandle(`order-${orderId}`);
const runsOf = (orderId: string) => t.client.workflow.count(`WorkflowId="order-${orderId}"`);

/** Same keys, reversed order, at every level. */
function reversedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reversedKeys) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversedKeys(v)])) as T;
  }
  return value;
}

describe('POST /orders', () => {
  it('starts orderFulfillment as order-<orderId>: 202, Location, search attributes, memo, summary', async () => {
    const body = orderBody();
    const orderId = body.orderId!;
    const res = await post(body);
    expect(res.statusCode).toBe(202);
    expect(res.headers.location).toBe(`/orders/${orderId}`);
    expect(res.json<OrderAccepted>()).toEqual({ orderId, workflowId: `order-${orderId}`, status: 'accepted' });

    const d = await handleOf(orderId).describe();
    expect(d.type).toBe('orderFulfillment');
    expect(d.taskQueue).toBe(config.temporal.taskQueue);
    expect(d.status.name).toBe('RUNNING');
    expect(d.typedSearchAttributes.get(OrderIdKey)).toBe(orderId);
    expect(d.typedSearchAttributes.get(CustomerIdKey)).toBe('c-42');
    expect(d.typedSearchAttributes.get(FulfillmentStatusKey)).toBe('accepted');
    expect(d.typedSearchAttributes.get(ParkedProviderKey)).toBeUndefined();
    expect(d.memo).toEqual({ requestHash: sha256(sortedJson(body)) });
    expect(await d.staticSummary()).toBe(`Order ${orderId} · course phonics-101 · box BOX-PHONICS ×1`);
    // No personal data where it is indexed or shown unencrypted.
    const visible = JSON.stringify([d.searchAttributes, await d.staticSummary()]);
    for (const secret of ['ann@example.com', 'Ann Lee', '1 Main St', 'Springfield']) expect(visible).not.toContain(secret);
  });

  it('passes the order, acceptance time and policy as the input, encrypted on the wire', async () => {
    const body = orderBody();
    const before = Date.now();
    expect((await post(body)).statusCode).toBe(202);
    const history = await handleOf(body.orderId!).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    expect(payload).toBeDefined();
    expect(Buffer.from(payload!.metadata![METADATA_ENCODING_KEY]!).toString()).toBe('binary/encrypted');
    expect(Buffer.from(payload!.data!).toString('latin1')).not.toContain('ann@example.com');
    const [decoded] = await createEncryptionCodec(config).decode([payload!]);
    const input = defaultPayloadConverter.fromPayload<OrderFulfillmentInput>(decoded!);
    expect(input.order).toEqual(body);
    expect(Date.parse(input.acceptedAt!)).toBeGreaterThanOrEqual(before - 1000);
    expect(input.policy).toEqual({ stepMaxAttempts: config.stepMaxAttempts, parkBackstopMs: config.parkBackstopMs, dlqShards: config.dlqShards });
  });

  it('generates an orderId when absent', async () => {
    const { orderId: _, ...body } = orderBody();
    const res = await post(body);
    expect(res.statusCode).toBe(202);
    const { orderId, workflowId } = res.json<OrderAccepted>();
    expect(orderId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(workflowId).toBe(`order-${orderId}`);
    expect(res.headers.location).toBe(`/orders/${orderId}`);
    expect((await handleOf(orderId).describe()).typedSearchAttributes.get(OrderIdKey)).toBe(orderId);
  });

  it('accepts a course-only order (no box, no address); its summary has no box', async () => {
    const { box: _b, shippingAddress: _a, ...body } = orderBody();
    const res = await post(body);
    expect(res.statusCode).toBe(202);
    const d = await handleOf(body.orderId!).describe();
    expect(await d.staticSummary()).toBe(`Order ${body.orderId!} · course phonics-101`);
  });

  it('the same orderId with the same body (any key order) answers 200 with the current status and starts nothing', async () => {
    const body = orderBody();
    const orderId = body.orderId!;
    expect((await post(body)).statusCode).toBe(202);
    const firstRun = (await handleOf(orderId).describe()).runId;

    for (const again of [body, reversedKeys(body)]) {
      const res = await post(again);
      expect(res.statusCode).toBe(200);
      expect(res.headers.location).toBe(`/orders/${orderId}`);
      // No worker runs here, so the status comes from the FulfillmentStatus search attribute.
      expect(res.json<OrderExisting>()).toEqual({ orderId, workflowId: `order-${orderId}`, status: 'accepted' });
    }
    expect((await handleOf(orderId).describe()).runId).toBe(firstRun);
    await eventually(async () => (await runsOf(orderId)).count === 1, 10_000);
  });

  it('the same orderId with a different body is 409, and changes nothing', async () => {
    const body = orderBody();
    const orderId = body.orderId!;
    expect((await post(body)).statusCode).toBe(202);
    const firstRun = (await handleOf(orderId).describe()).runId;
    for (const changed of [
      { ...body, courseId: 'maths-201' },
      { ...body, box: { sku: 'BOX-PHONICS', quantity: 2 } },
      { ...body, customer: { ...body.customer, email: 'other@example.com' } },
    ] satisfies OrderRequestBody[]) {
      const res = await post(changed);
      expect(res.statusCode).toBe(409);
      expect(res.json<ErrorBody>()).toEqual({ statusCode: 409, error: 'Conflict', message: `order ${orderId} already exists with a different body` });
    }
    const d = await handleOf(orderId).describe();
    expect(d.runId).toBe(firstRun);
    expect(d.memo).toEqual({ requestHash: sha256(sortedJson(body)) });
  });

  it('never starts a second workflow for an orderId, even after the first one closed', async () => {
    const body = orderBody();
    const orderId = body.orderId!;
    expect((await post(body)).statusCode).toBe(202);
    const handle = handleOf(orderId);
    const firstRun = (await handle.describe()).runId;
    await handle.terminate('test: the order ended');

    const same = await post(body);
    expect(same.statusCode).toBe(200);
    expect(same.json<OrderExisting>().orderId).toBe(orderId);
    expect((await post({ ...body, courseId: 'maths-201' })).statusCode).toBe(409);

    const d = await handle.describe();
    expect(d.runId).toBe(firstRun);
    expect(d.status.name).toBe('TERMINATED');
    await eventually(async () => (await runsOf(orderId)).count === 1, 10_000);
  });

  it('counts accepted and rejected orders in /metrics', async () => {
    const m = await buildTestApp(config);
    try {
      const body = orderBody();
      await m.app.inject({ method: 'POST', url: '/orders', payload: body }); // 202
      await m.app.inject({ method: 'POST', url: '/orders', payload: body }); // 200: not a new acceptance
      await m.app.inject({ method: 'POST', url: '/orders', payload: { ...body, courseId: 'x' } }); // 409
      await m.app.inject({ method: 'POST', url: '/orders', payload: { ...body, orderId: randomUUID(), extra: 1 } }); // 400
      const text = (await m.app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(text).toContain('orders_accepted_total 1');
      expect(text).toContain('orders_rejected_total{reason="conflict"} 1');
      expect(text).toContain('orders_rejected_total{reason="invalid"} 1');
      expect(text).toMatch(/http_request_duration_seconds_count\{route="\/orders",method="POST",status="202"\} 1/);
    } finally {
      await m.close();
    }
  });

  it('logs carry the orderId on every order line and never the customer\'s email, name or address', async () => {
    const body = orderBody({ customer: { id: 'c-77', email: 'zed.secret@example.com', name: 'Zed Secretname' } });
    body.shippingAddress = { ...body.shippingAddress!, name: 'Zed Secretname', line1: '99 Hidden Lane' };
    const orderId = body.orderId!;
    expect((await post(body)).statusCode).toBe(202);
    expect((await post(body)).statusCode).toBe(200);
    expect((await post({ ...body, courseId: 'maths-201' })).statusCode).toBe(409);

    const text = log.text();
    for (const secret of ['zed.secret@example.com', 'Zed Secretname', '99 Hidden Lane']) expect(text).not.toContain(secret);
    const mine = log.lines().filter((l) => l.orderId === orderId);
    const messages = mine.map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['order accepted', 'request completed']));
    expect(messages.filter((m) => m === 'request completed')).toHaveLength(3);
    // Every line the app writes about orders carries the ID.
    const orderLines = log.lines().filter((l) => typeof l.msg === 'string' && /^order /.test(l.msg));
    for (const line of orderLines) expect(line.orderId, String(line.msg)).toEqual(expect.any(String));
  });
});
