/**
 * The sandbox providers (contract: "Sandbox providers"), through `app.inject`: idempotency, effect
 * accounting, stock, fault injection, the admin API, validation and logging.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type SandboxProviderStats, type SandboxStats, type ShipmentRequest, buildSandboxApp } from '../src/providers/sandbox';
import { startProviders } from '../src/providers/server';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function sandbox(opts: Parameters<typeof buildSandboxApp>[0] = {}): FastifyInstance {
  const app = buildSandboxApp(opts);
  apps.push(app);
  return app;
}

/** A random source that answers the given values in turn, then fails the test if asked again. */
function sequence(...values: number[]): () => number {
  return () => {
    const next = values.shift();
    if (next === undefined) throw new Error('random() called more often than the test expected');
    return next;
  };
}

const enrollment = (orderId = 'A-1') => ({ orderId, customerId: 'c-42', courseId: 'phonics-101' });
const reservation = (orderId = 'A-1', quantity = 1) => ({ orderId, sku: 'BOX-PHONICS', quantity });
const address: ShipmentRequest['address'] = {
  name: 'Ann Secretname',
  line1: '1 Main St',
  line2: 'Apt 2',
  city: 'Springfield',
  region: 'IL',
  postalCode: '62701',
  country: 'US',
};
const shipment = (orderId = 'A-1') => ({ orderId, packageId: 'pkg_1', address });

function post(app: FastifyInstance, url: string, body: object, key?: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url, payload: body, headers: key === undefined ? {} : { 'idempotency-key': key } });
}
function del(app: FastifyInstance, url: string, key?: string, extra: Partial<InjectOptions> = {}): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'DELETE', url, headers: key === undefined ? {} : { 'idempotency-key': key }, ...extra });
}
async function stats(app: FastifyInstance): Promise<SandboxStats> {
  const res = await app.inject({ method: 'GET', url: '/admin/providers' });
  expect(res.statusCode).toBe(200);
  return res.json<SandboxStats>();
}
async function setFaults(app: FastifyInstance, name: string, body: object): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'PUT', url: `/admin/providers/${name}`, payload: body });
}
async function setStock(app: FastifyInstance, sku: string, stock: number): Promise<void> {
  const res = await app.inject({ method: 'PUT', url: `/admin/inventory/${sku}`, payload: { stock } });
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual({ sku, stock });
}

describe('provider calls', () => {
  it('answers health with 200 {status:"ok"} for each of the four providers', async () => {
    const app = sandbox();
    for (const name of ['courses', 'inventory', 'packing', 'logistics']) {
      const res = await app.inject({ method: 'GET', url: `/${name}/health` });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 'ok' });
    }
  });

  it('creates enrollments, reservations, packages and shipments with readable, unique IDs', async () => {
    const app = sandbox();
    const e1 = await post(app, '/courses/enrollments', enrollment('A-1'), 'e1');
    const e2 = await post(app, '/courses/enrollments', enrollment('A-2'), 'e2');
    expect(e1.statusCode).toBe(201);
    expect(e1.json()).toEqual({ enrollmentId: expect.stringMatching(/^enr_\d+$/) as string });
    expect(e2.json<{ enrollmentId: string }>().enrollmentId).not.toBe(e1.json<{ enrollmentId: string }>().enrollmentId);

    const r = await post(app, '/inventory/reservations', reservation(), 'r1');
    expect(r.statusCode).toBe(201);
    const { reservationId } = r.json<{ reservationId: string }>();
    expect(reservationId).toMatch(/^res_\d+$/);

    const p = await post(app, '/packing/jobs', { orderId: 'A-1', reservationId }, 'p1');
    expect(p.statusCode).toBe(201);
    expect(p.json<{ packageId: string }>().packageId).toMatch(/^pkg_\d+$/);

    const s1 = await post(app, '/logistics/shipments', shipment('A-1'), 's1');
    const s2 = await post(app, '/logistics/shipments', shipment('A-2'), 's2');
    expect(s1.statusCode).toBe(201);
    const t1 = s1.json<{ trackingNumber: string }>().trackingNumber;
    expect(t1).toMatch(/^TRK\d{10}$/);
    expect(s2.json<{ trackingNumber: string }>().trackingNumber).not.toBe(t1);

    const s = await stats(app);
    expect([s.courses.effects, s.inventory.effects, s.packing.effects, s.logistics.effects]).toEqual([2, 1, 1, 2]);
  });

  it('refuses to pack a reservation it does not know (or one already released) with 409 UNKNOWN_RESERVATION', async () => {
    const app = sandbox();
    const unknown = await post(app, '/packing/jobs', { orderId: 'A-1', reservationId: 'res_999' }, 'p1');
    expect(unknown.statusCode).toBe(409);
    expect(unknown.json()).toEqual({ code: 'UNKNOWN_RESERVATION' });

    const { reservationId } = (await post(app, '/inventory/reservations', reservation(), 'r1')).json<{ reservationId: string }>();
    expect((await del(app, `/inventory/reservations/${reservationId}`, 'rel1')).statusCode).toBe(200);
    const released = await post(app, '/packing/jobs', { orderId: 'A-1', reservationId }, 'p2');
    expect(released.statusCode).toBe(409);
    expect(released.json()).toEqual({ code: 'UNKNOWN_RESERVATION' });
    expect((await stats(app)).packing.effects).toBe(0);
  });
});

describe('idempotency', () => {
  it('requires an Idempotency-Key on every mutating call (400 IDEMPOTENCY_KEY_REQUIRED) and creates nothing without one', async () => {
    const app = sandbox();
    const calls = [
      post(app, '/courses/enrollments', enrollment()),
      post(app, '/inventory/reservations', reservation()),
      post(app, '/packing/jobs', { orderId: 'A-1', reservationId: 'res_1' }),
      post(app, '/logistics/shipments', shipment()),
      del(app, '/courses/enrollments/enr_1'),
      del(app, '/inventory/reservations/res_1'),
      app.inject({ method: 'POST', url: '/courses/enrollments', payload: enrollment(), headers: { 'idempotency-key': '  ' } }),
    ];
    for (const res of await Promise.all(calls)) {
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ code: 'IDEMPOTENCY_KEY_REQUIRED' });
    }
    const s = await stats(app);
    for (const p of Object.values(s)) expect(p.effects).toBe(0);
  });

  it('replays the first answer for a repeated key: same status, same ID, one effect', async () => {
    const app = sandbox();
    const first = await post(app, '/courses/enrollments', enrollment(), 'order-A-1:enroll');
    const again = await post(app, '/courses/enrollments', enrollment(), 'order-A-1:enroll');
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first.json());

    const ship1 = await post(app, '/logistics/shipments', shipment(), 'order-A-1:ship');
    // Same body with its keys in another order is the same request.
    const reordered = { address: { ...address }, packageId: 'pkg_1', orderId: 'A-1' };
    const ship2 = await post(app, '/logistics/shipments', reordered, 'order-A-1:ship');
    expect(ship2.statusCode).toBe(201);
    expect(ship2.json()).toEqual(ship1.json());

    const s = await stats(app);
    expect(s.courses).toMatchObject({ requests: 2, effects: 1, duplicateEffects: 0 });
    expect(s.logistics).toMatchObject({ requests: 2, effects: 1, duplicateEffects: 0 });
  });

  it('counts a second effect for the same order and operation under another key as a duplicate', async () => {
    const app = sandbox();
    const first = await post(app, '/inventory/reservations', reservation('A-1'), 'key-1');
    const second = await post(app, '/inventory/reservations', reservation('A-1'), 'key-2');
    expect(second.statusCode).toBe(201);
    expect(second.json()).not.toEqual(first.json());
    expect((await stats(app)).inventory).toMatchObject({ effects: 1, duplicateEffects: 1 });

    // Another order is a new effect, not a duplicate.
    await post(app, '/inventory/reservations', reservation('A-2'), 'key-3');
    expect((await stats(app)).inventory).toMatchObject({ effects: 2, duplicateEffects: 1 });
  });

  it('answers 422 IDEMPOTENCY_KEY_REUSED when a key comes back with another body, and creates nothing', async () => {
    const app = sandbox();
    await post(app, '/courses/enrollments', enrollment('A-1'), 'k');
    const other = await post(app, '/courses/enrollments', enrollment('A-2'), 'k');
    expect(other.statusCode).toBe(422);
    expect(other.json()).toEqual({ code: 'IDEMPOTENCY_KEY_REUSED' });

    // For a DELETE, the ID in the path is part of the request.
    const { enrollmentId } = (await post(app, '/courses/enrollments', enrollment('A-3'), 'k3')).json<{ enrollmentId: string }>();
    expect((await del(app, `/courses/enrollments/${enrollmentId}`, 'd')).statusCode).toBe(200);
    const otherId = await del(app, '/courses/enrollments/enr_1', 'd');
    expect(otherId.statusCode).toBe(422);
    expect(otherId.json()).toEqual({ code: 'IDEMPOTENCY_KEY_REUSED' });

    expect((await stats(app)).courses).toMatchObject({ effects: 3, duplicateEffects: 0 });
  });

  it('scopes keys per provider and route', async () => {
    const app = sandbox();
    const enroll = await post(app, '/courses/enrollments', enrollment(), 'same-key');
    const reserve = await post(app, '/inventory/reservations', reservation(), 'same-key');
    expect(enroll.statusCode).toBe(201);
    expect(reserve.statusCode).toBe(201);
    expect(reserve.json()).toHaveProperty('reservationId');
    const revoke = await del(app, `/courses/enrollments/${enroll.json<{ enrollmentId: string }>().enrollmentId}`, 'same-key');
    expect(revoke.statusCode).toBe(200);
    expect(revoke.json()).toEqual({ ok: true });
    const s = await stats(app);
    expect(s.courses.effects).toBe(2); // enroll + revoke
    expect(s.inventory.effects).toBe(1);
  });

  it('creates one effect when concurrent calls carry the same key', async () => {
    const app = sandbox();
    await setFaults(app, 'packing', { state: 'up', latencyMs: 30 });
    const { reservationId } = (await post(app, '/inventory/reservations', reservation(), 'r')).json<{ reservationId: string }>();
    const answers = await Promise.all([1, 2, 3].map(() => post(app, '/packing/jobs', { orderId: 'A-1', reservationId }, 'order-A-1:pack')));
    expect(answers.map((a) => a.statusCode)).toEqual([201, 201, 201]);
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect((await stats(app)).packing).toMatchObject({ requests: 3, effects: 1, duplicateEffects: 0 });
  });
});

describe('revoke and release', () => {
  it('revokes an enrollment once: the effect is attributed to its order, a new key on a revoked one is 200 with no new effect', async () => {
    const app = sandbox();
    const { enrollmentId } = (await post(app, '/courses/enrollments', enrollment('A-7'), 'e')).json<{ enrollmentId: string }>();
    const revoke = await del(app, `/courses/enrollments/${enrollmentId}`, 'order-A-7:revoke');
    expect(revoke.statusCode).toBe(200);
    expect(revoke.json()).toEqual({ ok: true });
    expect((await stats(app)).courses).toMatchObject({ effects: 2, duplicateEffects: 0 });

    const again = await del(app, `/courses/enrollments/${enrollmentId}`, 'another-key');
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ ok: true });
    expect((await stats(app)).courses).toMatchObject({ effects: 2, duplicateEffects: 0 });
  });

  it('revoking a second enrollment of the same order is a duplicate revoke', async () => {
    const app = sandbox();
    const a = (await post(app, '/courses/enrollments', enrollment('A-1'), 'k1')).json<{ enrollmentId: string }>();
    const b = (await post(app, '/courses/enrollments', enrollment('A-1'), 'k2')).json<{ enrollmentId: string }>();
    await del(app, `/courses/enrollments/${a.enrollmentId}`, 'd1');
    await del(app, `/courses/enrollments/${b.enrollmentId}`, 'd2');
    expect((await stats(app)).courses).toMatchObject({ effects: 2, duplicateEffects: 2 });
  });

  it('answers 404 NOT_FOUND for an unknown enrollment or reservation', async () => {
    const app = sandbox();
    for (const url of ['/courses/enrollments/enr_404', '/inventory/reservations/res_404']) {
      const res = await del(app, url, 'k');
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ code: 'NOT_FOUND' });
    }
    const s = await stats(app);
    expect(s.courses.effects + s.inventory.effects).toBe(0);
  });

  it('accepts a DELETE sent with a JSON content type and no body', async () => {
    const app = sandbox();
    const { reservationId } = (await post(app, '/inventory/reservations', reservation(), 'r')).json<{ reservationId: string }>();
    const res = await del(app, `/inventory/reservations/${reservationId}`, 'rel', { headers: { 'idempotency-key': 'rel', 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(200);
  });
});

describe('stock', () => {
  it('is unlimited until set, then reserve takes and release gives back; too much is 409 OUT_OF_STOCK', async () => {
    const app = sandbox();
    expect((await post(app, '/inventory/reservations', reservation('U-1', 1000), 'u1')).statusCode).toBe(201);

    await setStock(app, 'BOX-PHONICS', 3);
    const r1 = await post(app, '/inventory/reservations', reservation('A-1', 2), 'a1');
    expect(r1.statusCode).toBe(201);
    const refused = await post(app, '/inventory/reservations', reservation('A-2', 2), 'a2');
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toEqual({ code: 'OUT_OF_STOCK' });
    expect((await app.inject({ method: 'GET', url: '/admin/inventory/BOX-PHONICS' })).json()).toEqual({ sku: 'BOX-PHONICS', stock: 1 });

    // Releasing A-1 puts its 2 back: A-2 now fits.
    const released = await del(app, `/inventory/reservations/${r1.json<{ reservationId: string }>().reservationId}`, 'rel-a1');
    expect(released.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/admin/inventory/BOX-PHONICS' })).json()).toEqual({ sku: 'BOX-PHONICS', stock: 3 });
    // Releasing it again gives nothing back.
    await del(app, `/inventory/reservations/${r1.json<{ reservationId: string }>().reservationId}`, 'rel-a1-again');
    expect((await app.inject({ method: 'GET', url: '/admin/inventory/BOX-PHONICS' })).json()).toEqual({ sku: 'BOX-PHONICS', stock: 3 });

    // Stock is per SKU.
    expect((await post(app, '/inventory/reservations', { orderId: 'O-1', sku: 'OTHER', quantity: 50 }, 'o1')).statusCode).toBe(201);
  });

  it('does not record a refusal against the key: the same key succeeds once stock is added', async () => {
    const app = sandbox();
    await setStock(app, 'BOX-PHONICS', 0);
    const refused = await post(app, '/inventory/reservations', reservation('A-1'), 'order-A-1:reserve');
    expect(refused.statusCode).toBe(409);
    expect((await stats(app)).inventory.effects).toBe(0);

    await setStock(app, 'BOX-PHONICS', 5);
    const retried = await post(app, '/inventory/reservations', reservation('A-1'), 'order-A-1:reserve');
    expect(retried.statusCode).toBe(201);
    expect((await stats(app)).inventory).toMatchObject({ effects: 1, duplicateEffects: 0 });
  });

  it('validates the stock: a whole number >= 0', async () => {
    const app = sandbox();
    for (const stock of [-1, 1.5, '3', null]) {
      const res = await app.inject({ method: 'PUT', url: '/admin/inventory/BOX', payload: { stock } });
      expect(res.statusCode).toBe(400);
      expect(res.json<{ message: string }>().message).toContain('stock');
    }
  });
});

describe('fault injection', () => {
  it('down: every call answers 503 UNAVAILABLE, health included, nothing is created; up again answers', async () => {
    const app = sandbox();
    const put = await setFaults(app, 'courses', { state: 'down' });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toEqual({ state: 'down', latencyMs: 0, failureRate: 0, requests: 0, effects: 0, duplicateEffects: 0 });

    const health = await app.inject({ method: 'GET', url: '/courses/health' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toEqual({ code: 'UNAVAILABLE' });
    const enroll = await post(app, '/courses/enrollments', enrollment(), 'order-A-1:enroll');
    expect(enroll.statusCode).toBe(503);
    expect(enroll.json()).toEqual({ code: 'UNAVAILABLE' });
    // Even a malformed call gets the 503: the provider is not there to read it.
    expect((await post(app, '/courses/enrollments', {}, 'bad')).statusCode).toBe(503);
    // Other providers are unaffected.
    expect((await app.inject({ method: 'GET', url: '/inventory/health' })).statusCode).toBe(200);
    expect((await stats(app)).courses).toMatchObject({ state: 'down', requests: 3, effects: 0 });

    await setFaults(app, 'courses', { state: 'up' });
    expect((await app.inject({ method: 'GET', url: '/courses/health' })).statusCode).toBe(200);
    // The 503 was not recorded against the key: the retry creates the enrollment.
    const retried = await post(app, '/courses/enrollments', enrollment(), 'order-A-1:enroll');
    expect(retried.statusCode).toBe(201);
    expect((await stats(app)).courses).toMatchObject({ state: 'up', effects: 1, duplicateEffects: 0 });
  });

  it('latencyMs delays every call of that provider, health included, and no other provider', async () => {
    const app = sandbox();
    const put = await setFaults(app, 'logistics', { state: 'up', latencyMs: 200 });
    expect(put.json<SandboxProviderStats>().latencyMs).toBe(200);

    const timed = async (run: () => Promise<LightMyRequestResponse>) => {
      const start = performance.now();
      const res = await run();
      return { res, ms: performance.now() - start };
    };
    const health = await timed(() => app.inject({ method: 'GET', url: '/logistics/health' }));
    expect(health.res.statusCode).toBe(200);
    expect(health.ms).toBeGreaterThanOrEqual(190);
    const ship = await timed(() => post(app, '/logistics/shipments', shipment(), 's'));
    expect(ship.res.statusCode).toBe(201);
    expect(ship.ms).toBeGreaterThanOrEqual(190);
    const other = await timed(() => app.inject({ method: 'GET', url: '/packing/health' }));
    expect(other.ms).toBeLessThan(150);

    // Down after the latency.
    await setFaults(app, 'logistics', { state: 'down', latencyMs: 200 });
    const down = await timed(() => app.inject({ method: 'GET', url: '/logistics/health' }));
    expect(down.res.statusCode).toBe(503);
    expect(down.ms).toBeGreaterThanOrEqual(190);
  });

  it('failureRate: a failure before the effect creates nothing; the same key later creates it', async () => {
    // roll < failureRate / 2: fails before the effect.
    const app = sandbox({ random: sequence(0.1) });
    await setFaults(app, 'courses', { state: 'up', failureRate: 1 });
    const failed = await post(app, '/courses/enrollments', enrollment(), 'order-A-1:enroll');
    expect(failed.statusCode).toBe(503);
    expect(failed.json()).toEqual({ code: 'UNAVAILABLE' });
    expect((await stats(app)).courses.effects).toBe(0);

    await setFaults(app, 'courses', { state: 'up', failureRate: 0 });
    const retried = await post(app, '/courses/enrollments', enrollment(), 'order-A-1:enroll');
    expect(retried.statusCode).toBe(201);
    expect((await stats(app)).courses).toMatchObject({ effects: 1, duplicateEffects: 0 });
  });

  it('failureRate: a failure after the effect loses the answer; the same key gets the recorded 201, nothing new', async () => {
    // failureRate / 2 <= roll < failureRate: the effect is created and recorded, the client sees 503.
    const app = sandbox({ random: sequence(0.9) });
    await setFaults(app, 'courses', { state: 'up', failureRate: 1 });
    const lost = await post(app, '/courses/enrollments', enrollment('A-1'), 'order-A-1:enroll');
    expect(lost.statusCode).toBe(503);
    expect(lost.json()).toEqual({ code: 'UNAVAILABLE' });
    expect((await stats(app)).courses.effects).toBe(1);

    await setFaults(app, 'courses', { state: 'up', failureRate: 0 });
    // The enrollment created during the lost call is enr_1; the next new one would be enr_2.
    const retried = await post(app, '/courses/enrollments', enrollment('A-1'), 'order-A-1:enroll');
    expect(retried.statusCode).toBe(201);
    expect(retried.json()).toEqual({ enrollmentId: 'enr_1' });
    expect((await post(app, '/courses/enrollments', enrollment('A-2'), 'order-A-2:enroll')).json()).toEqual({ enrollmentId: 'enr_2' });
    expect((await stats(app)).courses).toMatchObject({ effects: 2, duplicateEffects: 0 });
  });

  it('failureRate splits its failures at half the rate: before, after, then success', async () => {
    const app = sandbox({ random: sequence(0.2, 0.4, 0.6) });
    await setFaults(app, 'inventory', { state: 'up', failureRate: 0.5 });
    const before = await post(app, '/inventory/reservations', reservation('A-1'), 'k1'); // 0.2 < 0.25
    expect(before.statusCode).toBe(503);
    expect((await stats(app)).inventory.effects).toBe(0);
    const after = await post(app, '/inventory/reservations', reservation('A-2'), 'k2'); // 0.25 <= 0.4 < 0.5
    expect(after.statusCode).toBe(503);
    expect((await stats(app)).inventory.effects).toBe(1);
    const ok = await post(app, '/inventory/reservations', reservation('A-3'), 'k3'); // 0.6 >= 0.5
    expect(ok.statusCode).toBe(201);
    expect((await stats(app)).inventory).toMatchObject({ effects: 2, duplicateEffects: 0, failureRate: 0.5 });
  });

  it('failureRate leaves health alone', async () => {
    const app = sandbox({ random: sequence() });
    await setFaults(app, 'packing', { state: 'up', failureRate: 1 });
    const health = await app.inject({ method: 'GET', url: '/packing/health' });
    expect(health.statusCode).toBe(200);
  });

  it('a call waiting out its latency ends with 503 when the app closes, rather than holding the close', async () => {
    const app = buildSandboxApp();
    await setFaults(app, 'courses', { state: 'up', latencyMs: 20_000 });
    const start = performance.now();
    const pending = app.inject({ method: 'GET', url: '/courses/health' });
    await new Promise((r) => setTimeout(r, 50));
    await app.close();
    const res = await pending;
    expect(res.statusCode).toBe(503);
    expect(performance.now() - start).toBeLessThan(5_000);
  });
});

describe('admin API', () => {
  it('GET /admin/providers lists the four providers with state, faults and counters', async () => {
    const app = sandbox();
    const zero = { state: 'up', latencyMs: 0, failureRate: 0, requests: 0, effects: 0, duplicateEffects: 0 };
    expect(await stats(app)).toEqual({ courses: zero, inventory: zero, packing: zero, logistics: zero });
  });

  it('counts every provider call, health and refusals included, and no admin call', async () => {
    const app = sandbox();
    await app.inject({ method: 'GET', url: '/inventory/health' });
    await post(app, '/inventory/reservations', reservation(), 'k');
    await post(app, '/inventory/reservations', reservation()); // 400: no key
    await post(app, '/inventory/reservations', { orderId: 'A-1' }, 'k2'); // 400: bad body
    await setStock(app, 'BOX-PHONICS', 0);
    await post(app, '/inventory/reservations', reservation('A-9'), 'k3'); // 409
    await setFaults(app, 'inventory', { state: 'up', latencyMs: 0 });
    await app.inject({ method: 'GET', url: '/admin/providers/inventory' });
    await app.inject({ method: 'GET', url: '/admin/inventory/BOX-PHONICS' });
    const s = await stats(app);
    expect(s.inventory.requests).toBe(5);
    expect(s.courses.requests + s.packing.requests + s.logistics.requests).toBe(0);
  });

  it('PUT /admin/providers/<name> answers that provider\'s stats; omitted faults go back to 0', async () => {
    const app = sandbox();
    await app.inject({ method: 'GET', url: '/packing/health' });
    const set = await setFaults(app, 'packing', { state: 'up', latencyMs: 5, failureRate: 0.25 });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toEqual({ state: 'up', latencyMs: 5, failureRate: 0.25, requests: 1, effects: 0, duplicateEffects: 0 });
    const replaced = await setFaults(app, 'packing', { state: 'down' });
    expect(replaced.json()).toMatchObject({ state: 'down', latencyMs: 0, failureRate: 0 });
    expect((await app.inject({ method: 'GET', url: '/admin/providers/packing' })).json()).toEqual(replaced.json());
  });

  it('PUT /admin/providers/<name>: 404 for an unknown provider, 400 naming the field for a bad body', async () => {
    const app = sandbox();
    const unknown = await setFaults(app, 'payments', { state: 'down' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ code: 'NOT_FOUND' });

    const bad: [object, string][] = [
      [{}, 'state'],
      [{ state: 'sideways' }, 'state'],
      [{ state: 'up', latencyMs: -1 }, 'latencyMs'],
      [{ state: 'up', latencyMs: '10' }, 'latencyMs'],
      [{ state: 'up', failureRate: 1.5 }, 'failureRate'],
      [{ state: 'up', failureRate: -0.1 }, 'failureRate'],
    ];
    for (const [body, field] of bad) {
      const res = await setFaults(app, 'courses', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json<{ message: string }>().message).toContain(field);
    }
    expect((await stats(app)).courses.state).toBe('up');
  });

  it('POST /admin/reset puts everything back: up, no faults, counters, keys, records and stock cleared', async () => {
    const app = sandbox();
    const { enrollmentId } = (await post(app, '/courses/enrollments', enrollment(), 'order-A-1:enroll')).json<{ enrollmentId: string }>();
    await post(app, '/courses/enrollments', enrollment(), 'other-key'); // a duplicate
    await setStock(app, 'BOX-PHONICS', 0);
    await setFaults(app, 'logistics', { state: 'down', latencyMs: 10, failureRate: 0.5 });

    const reset = await app.inject({ method: 'POST', url: '/admin/reset' });
    expect(reset.statusCode).toBe(200);

    const zero = { state: 'up', latencyMs: 0, failureRate: 0, requests: 0, effects: 0, duplicateEffects: 0 };
    expect(await stats(app)).toEqual({ courses: zero, inventory: zero, packing: zero, logistics: zero });
    // Stock unlimited again.
    expect((await post(app, '/inventory/reservations', reservation('A-1', 10), 'r')).statusCode).toBe(201);
    // The key is forgotten: a new enrollment (a new ID, never the one handed out before the reset).
    const after = await post(app, '/courses/enrollments', enrollment(), 'order-A-1:enroll');
    expect(after.statusCode).toBe(201);
    expect(after.json<{ enrollmentId: string }>().enrollmentId).not.toBe(enrollmentId);
    // Records are gone.
    expect((await del(app, `/courses/enrollments/${enrollmentId}`, 'd')).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/logistics/health' })).statusCode).toBe(200);
    expect((await stats(app)).courses).toMatchObject({ effects: 1, duplicateEffects: 0 });
  });
});

describe('validation and errors', () => {
  const cases: [string, string, object, string][] = [
    ['enrollment without courseId', '/courses/enrollments', { orderId: 'A-1', customerId: 'c' }, 'courseId'],
    ['enrollment with an empty orderId', '/courses/enrollments', { orderId: '', customerId: 'c', courseId: 'x' }, 'orderId'],
    ['reservation with quantity 0', '/inventory/reservations', { orderId: 'A-1', sku: 'S', quantity: 0 }, 'quantity'],
    ['reservation with a fractional quantity', '/inventory/reservations', { orderId: 'A-1', sku: 'S', quantity: 1.5 }, 'quantity'],
    ['reservation with a string quantity', '/inventory/reservations', { orderId: 'A-1', sku: 'S', quantity: '2' }, 'quantity'],
    ['packing job without reservationId', '/packing/jobs', { orderId: 'A-1' }, 'reservationId'],
    ['shipment without address', '/logistics/shipments', { orderId: 'A-1', packageId: 'pkg_1' }, 'address'],
    [
      'shipment whose address has no city',
      '/logistics/shipments',
      { orderId: 'A-1', packageId: 'pkg_1', address: { name: 'N', line1: 'L', postalCode: 'P', country: 'US' } },
      'city',
    ],
  ];
  it.each(cases)('answers 400 { statusCode, error, message } naming the field: %s', async (_name, url, body, field) => {
    const app = sandbox();
    const res = await post(app, url, body, 'k');
    expect(res.statusCode).toBe(400);
    const json = res.json<Record<string, unknown>>();
    expect(json).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining(field) as string });
    expect(res.body).not.toMatch(/stack|at .*\.ts/);
    const s = await stats(app);
    for (const p of Object.values(s)) expect(p.effects).toBe(0);
  });

  it('accepts an address without its optional line2 and region', async () => {
    const app = sandbox();
    const { line2: _l, region: _r, ...minimal } = address;
    expect((await post(app, '/logistics/shipments', { orderId: 'A-1', packageId: 'pkg_1', address: minimal }, 'k')).statusCode).toBe(201);
  });

  it('answers 400 for a body that is not JSON, 404 for an unknown route, in the same shape', async () => {
    const app = sandbox();
    const notJson = await app.inject({
      method: 'POST',
      url: '/courses/enrollments',
      payload: '{"orderId":',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k' },
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.any(String) as string });
    const missing = await app.inject({ method: 'GET', url: '/warehouse/health' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
  });
});

describe('logging', () => {
  it('logs method, url and status of each call, never the customer data in its body', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const app = sandbox({ logger: { level: 'trace', stream } });
    expect((await post(app, '/logistics/shipments', shipment(), 'k')).statusCode).toBe(201);
    expect((await post(app, '/logistics/shipments', { ...shipment(), address: { ...address, city: 7 } }, 'k2')).statusCode).toBe(400);
    const log = lines.join('');
    expect(log).toContain('"url":"/logistics/shipments"');
    expect(log).toContain('"method":"POST"');
    expect(log).toContain('"statusCode":201');
    expect(log).toContain('"statusCode":400');
    for (const secret of ['Secretname', '1 Main St', 'Springfield', '62701']) expect(log).not.toContain(secret);
  });
});

describe('startProviders', () => {
  it('listens on port 0 and returns the real URL; close() stops it', async () => {
    const running = await startProviders({ host: '127.0.0.1', port: 0 });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(running.url).not.toMatch(/:0$/);
      const res = await fetch(`${running.url}/courses/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    } finally {
      await running.close();
    }
    await expect(fetch(`${running.url}/courses/health`)).rejects.toThrow();
  });
});
