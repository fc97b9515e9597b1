/**
 * Activities in a MockActivityEnvironment against the real sandbox providers: the error taxonomy
 * (transient vs refusal, by type), idempotency keys, the health gate and compensation.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createActivities } from '../../src/activities';
import { createHttpProviders } from '../../src/activities/providers';
import { buildSandboxApp } from '../../src/providers/sandbox';
import { ErrorTypes, PROVIDERS, type ProviderName } from '../../src/workflows/definitions';
import { SandboxAdmin } from '../support/stack';
import { freePort } from '../../src/temporal/dev-server';

let sandbox: FastifyInstance;
let url: string;
let admin: SandboxAdmin;

/** A Temporal client stand-in that answers only the health query the gate makes. */
function healthClient(status: Partial<Record<ProviderName, 'up' | 'down'>>): Client {
  return {
    workflow: {
      getHandle: (id: string) => ({
        query: async () => {
          const provider = id.replace(/^health-/, '') as ProviderName;
          const s = status[provider];
          if (!s) throw new Error('workflow not found');
          return { name: provider, status: s };
        },
      }),
    },
  } as unknown as Client;
}

function activities(opts: { status?: Partial<Record<ProviderName, 'up' | 'down'>>; urls?: Record<ProviderName, string>; timeoutMs?: number } = {}) {
  const urls = opts.urls ?? (Object.fromEntries(PROVIDERS.map((p) => [p, `${url}/${p}`])) as Record<ProviderName, string>);
  return createActivities({
    providers: createHttpProviders(urls, opts.timeoutMs ?? 2000),
    temporalClient: healthClient(opts.status ?? {}),
    taskQueue: 'unused',
    redriveRatePerSecond: 20,
    healthCheckIntervalMs: 5000,
    healthCacheMs: 0,
  });
}

/** Runs one activity in a MockActivityEnvironment at the given attempt, keeping its types. */
const env = (attempt = 1) => ({
  run: <I, R>(fn: (input: I) => Promise<R>, input: I): Promise<R> => new MockActivityEnvironment({ attempt }).run<[I], R, (input: I) => Promise<R>>(fn, input),
});
const base = { workflowId: 'order-A-1', orderId: 'A-1' };

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('expected the activity to fail');
}

beforeAll(async () => {
  sandbox = buildSandboxApp();
  url = (await sandbox.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
  admin = new SandboxAdmin(url);
});
afterAll(async () => {
  await sandbox.close();
});
beforeEach(async () => {
  await admin.reset();
});

describe('provider activities', () => {
  it('grant, reserve, pack and ship return the provider IDs and the attempt that succeeded', async () => {
    const acts = activities();
    const granted = await env(2).run(acts.grantCourseAccess, { ...base, idempotencyKey: 'order-A-1:grantCourseAccess', customerId: 'c-1', courseId: 'phonics-101' });
    expect(granted.attempt).toBe(2);
    expect(granted.enrollmentId).toMatch(/^enr_/);
    const reserved = await env().run(acts.reserveInventory, { ...base, idempotencyKey: 'order-A-1:reserveInventory', sku: 'BOX', quantity: 1 });
    const packed = await env().run(acts.pack, { ...base, idempotencyKey: 'order-A-1:pack', reservationId: reserved.reservationId });
    const shipped = await env().run(acts.ship, {
      ...base,
      idempotencyKey: 'order-A-1:ship',
      packageId: packed.packageId,
      address: { name: 'A', line1: '1 St', city: 'C', postalCode: '1', country: 'US' },
    });
    expect(shipped.trackingNumber).toMatch(/^TRK\d{10}$/);
  });

  it('the same idempotency key again returns the first answer and creates no second effect', async () => {
    const acts = activities();
    const input = { ...base, idempotencyKey: 'order-A-1:reserveInventory', sku: 'BOX', quantity: 1 };
    const first = await env(1).run(acts.reserveInventory, input);
    const again = await env(2).run(acts.reserveInventory, input);
    expect(again.reservationId).toBe(first.reservationId);
    const stats = await admin.stats();
    expect(stats.inventory.effects).toBe(1);
    expect(stats.inventory.duplicateEffects).toBe(0);
  });

  it('a lost answer (effect created, 503 returned) retried with the same key is not a duplicate', async () => {
    const acts = activities();
    // failureRate 1 with the sandbox's split: some failures happen after the effect is recorded.
    await admin.setProvider('logistics', { state: 'up', failureRate: 1 });
    const input = { ...base, idempotencyKey: 'order-A-1:ship', packageId: 'pkg', address: { name: 'A', line1: '1', city: 'C', postalCode: '1', country: 'US' } };
    for (let attempt = 1; attempt <= 6; attempt++) await failureOf(env(attempt).run(acts.ship, input));
    await admin.setProvider('logistics', { state: 'up' });
    const shipped = await env(7).run(acts.ship, input);
    expect(shipped.trackingNumber).toMatch(/^TRK/);
    const stats = await admin.stats();
    expect(stats.logistics.effects).toBe(1);
    expect(stats.logistics.duplicateEffects).toBe(0);
  });

  it('a 5xx is a retryable ProviderUnavailable with the reason and attempt', async () => {
    await admin.setProvider('packing', { state: 'down' });
    const failure = await failureOf(env(3).run(activities().pack, { ...base, idempotencyKey: 'k', reservationId: 'r' }));
    expect(failure.type).toBe(ErrorTypes.ProviderUnavailable);
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toBe('packing unavailable: HTTP 503');
    expect(failure.details?.[0]).toMatchObject({ provider: 'packing', attempt: 3, httpStatus: 503, reason: 'HTTP 503' });
  });

  it('a refused connection and a timeout are retryable ProviderUnavailable too', async () => {
    const port = await freePort(); // nothing listens there
    const dead = Object.fromEntries(PROVIDERS.map((p) => [p, `http://127.0.0.1:${port}/${p}`])) as Record<ProviderName, string>;
    const refused = await failureOf(env().run(activities({ urls: dead }).pack, { ...base, idempotencyKey: 'k', reservationId: 'r' }));
    expect(refused.type).toBe(ErrorTypes.ProviderUnavailable);
    expect(refused.message).toBe('packing unavailable: connection refused');

    await admin.setProvider('packing', { state: 'up', latencyMs: 500 });
    const slow = await failureOf(env().run(activities({ timeoutMs: 100 }).pack, { ...base, idempotencyKey: 'k', reservationId: 'r' }));
    expect(slow.type).toBe(ErrorTypes.ProviderUnavailable);
    expect(slow.message).toBe('packing unavailable: timeout after 100 ms');
  });

  it('out of stock is a non-retryable OutOfStock; other refusals are non-retryable ProviderRejected', async () => {
    await admin.setStock('BOX', 0);
    const oos = await failureOf(env().run(activities().reserveInventory, { ...base, idempotencyKey: 'k1', sku: 'BOX', quantity: 1 }));
    expect(oos.type).toBe(ErrorTypes.OutOfStock);
    expect(oos.nonRetryable).toBe(true);
    expect(oos.details?.[0]).toMatchObject({ code: 'OUT_OF_STOCK', httpStatus: 409, reason: 'OUT_OF_STOCK' });

    const unknown = await failureOf(env().run(activities().pack, { ...base, idempotencyKey: 'k2', reservationId: 'res_nope' }));
    expect(unknown.type).toBe(ErrorTypes.ProviderRejected);
    expect(unknown.nonRetryable).toBe(true);
  });

  it('a provider known down by its health check fails at once with ProviderDown, without calling it; a resumed order bypasses the gate', async () => {
    const acts = activities({ status: { packing: 'down' } });
    const before = (await admin.stats()).packing.requests;
    const failure = await failureOf(env().run(acts.pack, { ...base, idempotencyKey: 'k', reservationId: 'r' }));
    expect(failure.type).toBe(ErrorTypes.ProviderDown);
    expect(failure.nonRetryable).toBe(true);
    expect((await admin.stats()).packing.requests).toBe(before);

    const reserved = await env().run(acts.reserveInventory, { ...base, idempotencyKey: 'kr', sku: 'BOX', quantity: 1 });
    const packed = await env().run(acts.pack, { ...base, idempotencyKey: 'kp', reservationId: reserved.reservationId, bypassHealthGate: true });
    expect(packed.packageId).toBeTruthy();
  });

  it('compensation releases a reservation and revokes access, and treats "already gone" as done', async () => {
    const acts = activities();
    const reserved = await env().run(acts.reserveInventory, { ...base, idempotencyKey: 'r', sku: 'BOX', quantity: 1 });
    await env().run(acts.releaseInventory, { orderId: 'A-1', reservationId: reserved.reservationId, idempotencyKey: 'order-A-1:releaseInventory' });
    await env().run(acts.releaseInventory, { orderId: 'A-1', reservationId: 'res_unknown', idempotencyKey: 'order-A-1:releaseInventory-2' });
    const granted = await env().run(acts.grantCourseAccess, { ...base, idempotencyKey: 'g', customerId: 'c', courseId: 'x' });
    await env().run(acts.revokeCourseAccess, { orderId: 'A-1', enrollmentId: granted.enrollmentId, idempotencyKey: 'order-A-1:revokeCourseAccess' });
    const stats = await admin.stats();
    expect(stats.inventory.effects).toBe(2); // reserve + release
    expect(stats.courses.effects).toBe(2); // enroll + revoke
  });

  it('probeProvider reports health without throwing', async () => {
    const acts = activities();
    expect(await env().run(acts.probeProvider, { provider: 'logistics', timeoutMs: 1000 })).toEqual({ ok: true });
    await admin.setProvider('logistics', { state: 'down' });
    const down = await env().run(acts.probeProvider, { provider: 'logistics', timeoutMs: 1000 });
    expect(down.ok).toBe(false);
    expect(down.error).toContain('HTTP 503');
  });
});
