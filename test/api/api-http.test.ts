/**
 * The HTTP shell of the API, against a real Temporal dev server but no worker: validation, limits,
 * auth, errors, probes, docs, metrics and the remote codec.
 */
import type * as nodeCrypto from 'node:crypto';
import { timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WorkflowNotFoundError } from '@temporalio/client';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import type { Static } from 'typebox';
import { startApi } from '../../src/api/server';
import type { CodecBodySchema, ErrorBody } from '../../src/api/schemas';
import { freePort } from '../../src/temporal/dev-server';
import { testConfig } from '../support/stack';
import { buildTestApp, capturingLogger, lazyClient, orderBody, type TestApp } from './helpers';

// Count the constant-time comparisons the auth makes (still the real function underneath).
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof nodeCrypto>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const config = testConfig(__filename);

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp(config);
});
afterAll(async () => {
  await t?.close();
});

async function expectNoWorkflow(orderId: string): Promise<void> {
  await expect(t.client.workflow.getHandle(`order-${orderId}`).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
}

describe('POST /orders validation', () => {
  it.each([
    ['a bad email', { customer: { id: 'c-1', email: 'not-an-email', name: 'Ann' } }, 'body/customer/email must match format "email"'],
    ['a bad orderId', { orderId: 'A 1001!' }, 'body/orderId must match pattern "^[A-Za-z0-9_-]{1,64}$"'],
    ['a too long orderId', { orderId: 'A'.repeat(65) }, 'body/orderId'],
    ['quantity 0', { box: { sku: 'B', quantity: 0 } }, 'body/box/quantity must be >= 1'],
    ['quantity 101', { box: { sku: 'B', quantity: 101 } }, 'body/box/quantity must be <= 100'],
    ['a fractional quantity', { box: { sku: 'B', quantity: 1.5 } }, 'body/box/quantity must be integer'],
    ['a quantity as a string', { box: { sku: 'B', quantity: '1' } }, 'body/box/quantity must be integer'],
    ['an empty courseId', { courseId: '' }, 'body/courseId must not have fewer than 1 characters'],
    ['a 201-character customer name', { customer: { id: 'c-1', email: 'a@b.co', name: 'x'.repeat(201) } }, 'body/customer/name must not have more than 200 characters'],
    ['a 201-character city', { shippingAddress: { ...orderBody().shippingAddress!, city: 'x'.repeat(201) } }, 'body/shippingAddress/city'],
  ])('rejects %s with a 400 naming the field, and starts nothing', async (_name, patch, message) => {
    const body = { ...orderBody(), ...patch } as Record<string, unknown>;
    const res = await t.app.inject({ method: 'POST', url: '/orders', payload: body });
    expect(res.statusCode).toBe(400);
    const err = res.json<ErrorBody>();
    expect(err).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining(message) as string });
    if (typeof body.orderId === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(body.orderId)) await expectNoWorkflow(body.orderId);
  });

  it('answers exactly the contract\'s message for a bad email', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/orders', payload: orderBody({ customer: { id: 'c', email: 'nope', name: 'A' } }) });
    expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message: 'body/customer/email must match format "email"' });
  });

  it('rejects unknown fields, top-level and nested, naming them', async () => {
    const top = orderBody();
    const res = await t.app.inject({ method: 'POST', url: '/orders', payload: { ...top, coupon: 'FREE' } });
    expect(res.statusCode).toBe(400);
    expect(res.json<ErrorBody>().message).toContain('coupon');
    await expectNoWorkflow(top.orderId!);

    const nested = orderBody();
    const res2 = await t.app.inject({
      method: 'POST',
      url: '/orders',
      payload: { ...nested, customer: { ...nested.customer, vip: true } },
    });
    expect(res2.statusCode).toBe(400);
    expect(res2.json<ErrorBody>().message).toMatch(/body\/customer must NOT have additional properties: vip/);
    await expectNoWorkflow(nested.orderId!);
  });

  it('requires shippingAddress when box is present (400 naming body/shippingAddress)', async () => {
    const { shippingAddress: _, ...body } = orderBody();
    const res = await t.app.inject({ method: 'POST', url: '/orders', payload: body });
    expect(res.statusCode).toBe(400);
    expect(res.json<ErrorBody>().message).toContain('body/shippingAddress');
    await expectNoWorkflow(body.orderId!);
  });

  it('rejects a body that is not JSON, and an empty body', async () => {
    const bad = await t.app.inject({ method: 'POST', url: '/orders', payload: '{"orderId":', headers: { 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<ErrorBody>().error).toBe('Bad Request');
    const empty = await t.app.inject({ method: 'POST', url: '/orders', payload: '', headers: { 'content-type': 'application/json' } });
    expect(empty.statusCode).toBe(400);
    expect(empty.json<ErrorBody>().message).toMatch(/^body /);
  });

  it('answers 413 JSON for a body over 1 MiB, and starts nothing', async () => {
    const body = orderBody({ courseId: 'x'.repeat(1024 * 1024) });
    const res = await t.app.inject({ method: 'POST', url: '/orders', payload: body });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ statusCode: 413, error: 'Payload Too Large', message: expect.any(String) as string });
    await expectNoWorkflow(body.orderId!);
  });
});

describe('params and querystrings', () => {
  it('GET /orders/:orderId validates the orderId (400) and answers 404 for an unknown order', async () => {
    const bad = await t.app.inject({ method: 'GET', url: '/orders/bad%20id' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<ErrorBody>().message).toContain('params/orderId');
    const missing = await t.app.inject({ method: 'GET', url: '/orders/NO-SUCH-ORDER-1' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ statusCode: 404, error: 'Not Found', message: 'order NO-SUCH-ORDER-1 not found' });
  });

  it('cancel and retry of an unknown order are 404', async () => {
    for (const action of ['cancel', 'retry']) {
      const res = await t.app.inject({ method: 'POST', url: `/orders/NO-SUCH-ORDER-2/${action}` });
      expect(res.statusCode, action).toBe(404);
    }
    // A JSON content type with nothing in it is no body, not a parse error.
    const res = await t.app.inject({ method: 'POST', url: '/orders/NO-SUCH-ORDER-2/cancel', headers: { 'content-type': 'application/json' }, payload: '' });
    expect(res.statusCode).toBe(404);
  });

  it('GET /orders validates status, provider and limit against closed sets (nothing reaches the visibility query)', async () => {
    for (const query of ['status=parked"%20OR%20WorkflowType="x', 'provider=nobody', 'limit=0', 'limit=1001', 'limit=abc', 'color=red']) {
      const res = await t.app.inject({ method: 'GET', url: `/orders?${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json<ErrorBody>().message, query).toMatch(/^querystring/);
    }
    const ok = await t.app.inject({ method: 'GET', url: '/orders?status=parked&provider=logistics&limit=5' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ orders: [] });
  });

  it('an unknown route is a JSON 404', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.json()).toEqual({ statusCode: 404, error: 'Not Found', message: 'Route GET /nope not found' });
  });
});

describe('dead letters and providers with nothing running', () => {
  it('GET /dead-letters on empty queues is all zeros', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/dead-letters' });
    expect(res.statusCode).toBe(200);
    const empty = { count: 0, entries: [] };
    expect(res.json()).toEqual({ total: 0, providers: { courses: empty, inventory: empty, packing: empty, logistics: empty } });
    const one = await t.app.inject({ method: 'GET', url: '/dead-letters/logistics' });
    expect(one.json()).toEqual({ provider: 'logistics', count: 0, entries: [] });
  });

  it('an unknown provider is 404 on every dead-letter route', async () => {
    for (const [method, url] of [
      ['GET', '/dead-letters/nobody'],
      ['POST', '/dead-letters/nobody/redrive'],
      ['POST', '/dead-letters/nobody/A-1/redrive'],
      ['DELETE', '/dead-letters/nobody/A-1'],
    ] as const) {
      const res = await t.app.inject({ method, url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json<ErrorBody>().message, url).toContain('unknown provider "nobody"');
    }
  });

  it('redrive and discard of an order not in the queue are 404; redrive-all of an empty queue requests 0', async () => {
    expect((await t.app.inject({ method: 'POST', url: '/dead-letters/logistics/A-1/redrive' })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'DELETE', url: '/dead-letters/logistics/A-1' })).statusCode).toBe(404);
    const all = await t.app.inject({ method: 'POST', url: '/dead-letters/logistics/redrive' });
    expect(all.statusCode).toBe(202);
    expect(all.json()).toEqual({ provider: 'logistics', requested: 0 });
  });

  it('GET /providers reports unknown for providers without a health workflow', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/providers' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      providers: ['courses', 'inventory', 'packing', 'logistics'].map((name) => ({
        name,
        status: 'unknown',
        since: null,
        lastCheckAt: null,
        lastError: null,
      })),
    });
  });
});

describe('auth', () => {
  let authed: TestApp;
  beforeAll(async () => {
    authed = await buildTestApp({ ...config, apiTokens: ['token-alpha', 'token-beta-longer'] });
  });
  afterAll(async () => {
    await authed?.close();
  });

  it('requires a bearer token on every route but /health/*, /docs and /openapi.json', async () => {
    for (const [method, url] of [
      ['GET', '/dead-letters'],
      ['GET', '/orders/A-1'],
      ['GET', '/orders'],
      ['POST', '/orders'],
      ['GET', '/providers'],
      ['GET', '/metrics'],
      ['POST', '/codec/decode'],
      ['GET', '/no-such-route'],
    ] as const) {
      const res = await authed.app.inject({ method, url, payload: method === 'POST' ? {} : undefined });
      expect(res.statusCode, url).toBe(401);
      expect(res.json(), url).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'missing bearer token' });
    }
    for (const url of ['/health/live', '/openapi.json', '/docs', '/docs/static/index.html']) {
      const res = await authed.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBeLessThan(400);
    }
    expect((await authed.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });

  it('accepts any configured token, rejects others (wrong, prefix, other scheme)', async () => {
    const call = (authorization: string) => authed.app.inject({ method: 'GET', url: '/dead-letters', headers: { authorization } });
    expect((await call('Bearer token-alpha')).statusCode).toBe(200);
    expect((await call('bearer token-beta-longer')).statusCode).toBe(200);
    for (const bad of ['Bearer token-alph', 'Bearer token-alpha2', 'Bearer token-beta', 'Basic token-alpha', 'token-alpha', 'Bearer ']) {
      const res = await call(bad);
      expect(res.statusCode, bad).toBe(401);
      expect(res.json<ErrorBody>().message, bad).toBe('invalid bearer token');
    }
  });

  it('compares in constant time: equal-length SHA-256 digests, against every configured token', async () => {
    const spy = vi.mocked(timingSafeEqual);
    spy.mockClear();
    {
      const res = await authed.app.inject({ method: 'GET', url: '/dead-letters', headers: { authorization: 'Bearer x' } });
      expect(res.statusCode).toBe(401);
      expect(spy).toHaveBeenCalledTimes(2);
      for (const [a, b] of spy.mock.calls) {
        expect((a as Buffer).length).toBe(32);
        expect((b as Buffer).length).toBe(32);
      }
      spy.mockClear();
      // A match on the first token still compares with the second.
      expect((await authed.app.inject({ method: 'GET', url: '/dead-letters', headers: { authorization: 'Bearer token-alpha' } })).statusCode).toBe(200);
      expect(spy).toHaveBeenCalledTimes(2);
    }
  });

  it('checks the token before reading the body: no 400 or 413 leaks to the unauthenticated', async () => {
    const invalid = await authed.app.inject({ method: 'POST', url: '/orders', payload: { nonsense: true } });
    expect(invalid.statusCode).toBe(401);
    const huge = await authed.app.inject({ method: 'POST', url: '/orders', payload: orderBody({ courseId: 'x'.repeat(2 * 1024 * 1024) }) });
    expect(huge.statusCode).toBe(401);
  });

  it('rate limits unauthenticated calls too (no unlimited token guessing)', async () => {
    const limited = await buildTestApp({ ...config, apiTokens: ['token-alpha'] }, { rateLimit: { max: 2, timeWindowMs: 60_000 } });
    try {
      const codes = [];
      for (let i = 0; i < 3; i++) {
        codes.push((await limited.app.inject({ method: 'GET', url: '/dead-letters', headers: { authorization: `Bearer guess-${i}` } })).statusCode);
      }
      expect(codes).toEqual([401, 401, 429]);
    } finally {
      await limited.close();
    }
  });

  it('lets CORS preflights of the codec through without a token', async () => {
    const res = await authed.app.inject({
      method: 'OPTIONS',
      url: '/codec/decode',
      headers: { origin: 'http://localhost:8233', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(res.statusCode).toBe(204);
  });
});

describe('errors', () => {
  it('hides 5xx details from the response and logs them server-side', async () => {
    const { logger, text } = capturingLogger();
    const broken = await buildTestApp(config, { logger });
    try {
      vi.spyOn(broken.client.workflow, 'start').mockRejectedValue(new Error('secret: db password hunter2 at /srv/app.ts:42'));
      const res = await broken.app.inject({ method: 'POST', url: '/orders', payload: orderBody() });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'Internal Server Error' });
      expect(res.body).not.toContain('hunter2');
      expect(res.body).not.toContain('.ts');
      expect(text()).toContain('hunter2');
    } finally {
      await broken.close();
    }
  });

  it('Temporal unreachable: /health/ready is 503, order calls are 503 "Temporal is unavailable", /health/live stays 200', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const down = await buildTestApp(config, { temporalTimeoutMs: 1000 }, lazyClient(address, config));
    try {
      const ready = await down.app.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'Temporal is unavailable' });
      const live = await down.app.inject({ method: 'GET', url: '/health/live' });
      expect(live.statusCode).toBe(200);
      expect(live.json()).toEqual({ status: 'ok' });
      const post = await down.app.inject({ method: 'POST', url: '/orders', payload: orderBody() });
      expect(post.statusCode).toBe(503);
      expect(post.json()).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'Temporal is unavailable' });
      const get = await down.app.inject({ method: 'GET', url: '/dead-letters' });
      expect(get.statusCode).toBe(503);
    } finally {
      await down.close();
      await down.client.connection.close();
    }
  });

  it('/health/ready is 200 when Temporal answers', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('rate limits (429 JSON) but never the health probes', async () => {
    const limited = await buildTestApp(config, { rateLimit: { max: 2, timeWindowMs: 60_000 } });
    try {
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await limited.app.inject({ method: 'GET', url: '/orders/NO-SUCH' })).statusCode);
      expect(codes).toEqual([404, 404, 429]);
      const res = await limited.app.inject({ method: 'GET', url: '/orders/NO-SUCH' });
      expect(res.json()).toEqual({ statusCode: 429, error: 'Too Many Requests', message: expect.stringMatching(/rate limit/i) as string });
      for (let i = 0; i < 5; i++) expect((await limited.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('under event-loop pressure answers 503 JSON with Retry-After', async () => {
    const pressured = await buildTestApp(config, { underPressure: { maxEventLoopDelay: 50, sampleInterval: 10, retryAfter: 7 } });
    try {
      const until = Date.now() + 300;
      while (Date.now() < until) {
        // block the event loop
      }
      await new Promise((r) => setTimeout(r, 20));
      const res = await pressured.app.inject({ method: 'GET', url: '/dead-letters' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('7');
      expect(res.json<ErrorBody>()).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
    } finally {
      await pressured.close();
    }
  });
});

describe('startApi', () => {
  it('starts on port 0 even when Temporal is unreachable; ready says 503 until it is', async () => {
    const unreachable = { ...config, port: 0, temporal: { ...config.temporal, address: `127.0.0.1:${await freePort()}` } };
    const api = await startApi({ config: unreachable, logger: false, app: { probeTimeoutMs: 500 } });
    try {
      expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(api.url).not.toMatch(/:0$/);
      const live = await fetch(`${api.url}/health/live`);
      expect(live.status).toBe(200);
      const ready = await fetch(`${api.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'Temporal is unavailable' });
    } finally {
      await api.close();
    }
  });

  it('serves the real Temporal when reachable', async () => {
    const api = await startApi({ config: { ...config, port: 0 }, logger: false });
    try {
      expect((await fetch(`${api.url}/health/ready`)).status).toBe(200);
    } finally {
      await api.close();
    }
  });
});

describe('docs', () => {
  it('GET /openapi.json is the OpenAPI document generated from the TypeBox schemas', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<{
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Record<string, unknown> }> }; responses: Record<string, unknown> }>>;
    }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/orders',
        '/orders/{orderId}',
        '/orders/{orderId}/cancel',
        '/orders/{orderId}/retry',
        '/dead-letters',
        '/dead-letters/{provider}',
        '/dead-letters/{provider}/redrive',
        '/dead-letters/{provider}/{orderId}/redrive',
        '/dead-letters/{provider}/{orderId}',
        '/providers',
        '/health/live',
        '/health/ready',
        '/metrics',
        '/codec/encode',
        '/codec/decode',
      ]),
    );
    const post = doc.paths['/orders']?.post;
    const schema = post?.requestBody?.content['application/json']?.schema;
    expect(schema).toMatchObject({ additionalProperties: false, required: ['customer', 'courseId'] });
    expect(schema?.properties).toMatchObject({ customer: { properties: { email: { format: 'email' } } } });
    expect(Object.keys(post?.responses ?? {})).toEqual(expect.arrayContaining(['200', '202', '400', '409', '413', '503']));
  });

  it('GET /docs serves the Swagger UI', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toMatch(/swagger/i);
  });
});

describe('metrics', () => {
  it('exposes request durations, orders rejected by reason, dead-letter depth and provider status, per app instance', async () => {
    const m = await buildTestApp(config, { processMetrics: true });
    try {
      await m.app.inject({ method: 'POST', url: '/orders', payload: { bad: true } });
      await m.app.inject({ method: 'GET', url: '/health/live' });
      const res = await m.app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/plain/);
      const text = res.body;
      expect(text).toContain('orders_rejected_total{reason="invalid"} 1');
      expect(text).toContain('orders_accepted_total 0');
      expect(text).toMatch(/http_request_duration_seconds_count\{route="\/orders",method="POST",status="400"\} 1/);
      expect(text).toMatch(/http_request_duration_seconds_count\{route="\/health\/live",method="GET",status="200"\} 1/);
      for (const p of ['courses', 'inventory', 'packing', 'logistics']) {
        expect(text).toContain(`dead_letter_depth{provider="${p}"} 0`);
        expect(text).toContain(`dead_letter_oldest_age_seconds{provider="${p}"} 0`);
        expect(text).toContain(`provider_up{provider="${p}"} -1`);
      }
      expect(text).toContain('process_cpu_user_seconds_total');
      // Another app in the same process has its own registry.
      const other = await buildTestApp(config);
      try {
        const body = (await other.app.inject({ method: 'GET', url: '/metrics' })).body;
        expect(body).not.toContain('orders_rejected_total{');
        expect(body).not.toContain('process_cpu_user_seconds_total');
      } finally {
        await other.close();
      }
    } finally {
      await m.close();
    }
  });

  it('skips the Temporal-backed gauges when Temporal is unreachable, but still answers', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const down = await buildTestApp(config, {}, lazyClient(address, config));
    try {
      const res = await down.app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toMatch(/dead_letter_depth\{/);
      expect(res.body).toContain('# TYPE http_request_duration_seconds histogram');
    } finally {
      await down.close();
      await down.client.connection.close();
    }
  });
});

describe('remote codec', () => {
  type CodecBody = Required<Static<typeof CodecBodySchema>>;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const plain: CodecBody = {
    payloads: [
      { metadata: { [METADATA_ENCODING_KEY]: b64('json/plain') }, data: b64('{"customer":"Ann Lee"}') },
      { metadata: { [METADATA_ENCODING_KEY]: b64('binary/null') } },
    ],
  };

  it('encodes (encrypts) and decodes back to the same payloads', async () => {
    const enc = await t.app.inject({ method: 'POST', url: '/codec/encode', payload: plain });
    expect(enc.statusCode).toBe(200);
    const encoded = enc.json<CodecBody>();
    expect(encoded.payloads).toHaveLength(2);
    for (const p of encoded.payloads) {
      expect(Buffer.from(p.metadata![METADATA_ENCODING_KEY]!, 'base64').toString()).toBe('binary/encrypted');
      expect(Buffer.from(p.data!, 'base64').toString()).not.toContain('Ann Lee');
    }
    const dec = await t.app.inject({ method: 'POST', url: '/codec/decode', payload: encoded, headers: { 'x-namespace': config.temporal.namespace } });
    expect(dec.statusCode).toBe(200);
    expect(dec.json()).toEqual({ payloads: [plain.payloads[0], { ...plain.payloads[1], data: '' }] });
  });

  it('decodes payloads that are not encrypted as they are, and rejects a malformed body', async () => {
    const dec = await t.app.inject({ method: 'POST', url: '/codec/decode', payload: { payloads: [plain.payloads[0]] } });
    expect(dec.json()).toEqual({ payloads: [plain.payloads[0]] });
    const bad = await t.app.inject({ method: 'POST', url: '/codec/decode', payload: { payload: [] } });
    expect(bad.statusCode).toBe(400);
  });

  it('accepts an empty Payloads as protobuf JSON writes it, `{}` (the CLI sends it for a query without arguments)', async () => {
    for (const url of ['/codec/decode', '/codec/encode']) {
      const res = await t.app.inject({ method: 'POST', url, payload: {} });
      expect(res.statusCode, url).toBe(200);
      expect(res.json()).toEqual({ payloads: [] });
    }
  });

  it('answers CORS preflights from any origin for POST with the Web UI headers', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/codec/decode',
      headers: {
        origin: 'http://localhost:8233',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace,authorization',
      },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('http://localhost:8233');
    expect(String(res.headers['access-control-allow-methods'])).toContain('POST');
    const allowed = String(res.headers['access-control-allow-headers']).toLowerCase();
    for (const h of ['content-type', 'x-namespace', 'authorization']) expect(allowed).toContain(h);
    const post = await t.app.inject({ method: 'POST', url: '/codec/encode', payload: plain, headers: { origin: 'https://ui.example' } });
    expect(post.headers['access-control-allow-origin']).toBe('https://ui.example');
  });
});
