/**
 * Bad input, property-based (fast-check): thousands of random and hostile bodies, headers, paths,
 * params and querystrings against every endpoint through `app.inject`, and malformed signal inputs sent
 * through the real `temporal` CLI to each workflow type.
 *
 * The HTTP API must never answer 5xx (Temporal is reachable here), never leak a stack trace or an
 * internal path, always answer errors as `{ statusCode, error, message }`, and never start a workflow
 * for a body it rejected. A workflow must shrug off a malformed signal: no failing workflow task, its
 * state still the contract's shape, and the next valid signal still taking effect.
 *
 * `FUZZ_SEED=<n>` replays another sequence; `FUZZ_RUNS=<factor>` scales the number of runs.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import fc from 'fast-check';
import type { Response as InjectResponse } from 'light-my-request';
import { Value } from 'typebox/value';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ORDER_ID_PATTERN, OrderViewSchema } from '../../src/api/schemas';
import {
  type DeadLetterEntry,
  deadLetterQueueWorkflowId,
  entriesQuery,
  type OrderView,
  orderWorkflowId,
  providerStatusQuery,
  WORKFLOW_TYPES,
} from '../../src/workflows/definitions';
import type { orderFulfillment } from '../../src/workflows';
import { temporalCli } from '../support/cli';
import { eventually, startTestStack, type TestStack } from '../support/stack';
import { buildTestApp, orderBody, type TestApp } from './helpers';

const SEED = Number(process.env.FUZZ_SEED ?? 424242);
const RUNS = Number(process.env.FUZZ_RUNS ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * RUNS));
const fcParams = (numRuns: number) => ({ seed: SEED, numRuns: runs(numRuns), endOnFailure: true });

const TOKEN = 'fuzz-token-1';
const LOTS = { max: 1_000_000_000, timeWindowMs: 1000 };
const orderIdRe = new RegExp(ORDER_ID_PATTERN);

let stack: TestStack;
let open: TestApp;
let authed: TestApp;
/** Orders that exist, so some fuzzed paths reach real workflows. */
const realOrderIds: string[] = [];
const protoKeysBefore = Object.getOwnPropertyNames(Object.prototype).sort();

beforeAll(async () => {
  stack = await startTestStack(__filename, { env: { HEALTH_CHECK_INTERVAL_MS: '500' } });
  // Orders the fuzzing gets accepted wait on a task queue no worker polls: they stay `accepted`, call
  // no provider, and still count as started workflows. A few real orders (on the worker's queue) give
  // the fuzzed paths something that exists.
  const unpolled = { ...stack.config, temporal: { ...stack.config.temporal, taskQueue: `fuzz-unpolled-${randomUUID().slice(0, 8)}` } };
  open = await buildTestApp(unpolled, { rateLimit: LOTS, probeTimeoutMs: 2000 }, stack.client);
  authed = await buildTestApp({ ...unpolled, apiTokens: [TOKEN] }, { rateLimit: LOTS, probeTimeoutMs: 2000 }, stack.client);
  for (let i = 0; i < 3; i++) realOrderIds.push((await stack.startOrder()).workflowId.replace(/^order-/, ''));
});
afterAll(async () => {
  await authed?.close();
  await open?.close();
  await stack?.stop();
});

// ---------------------------------------------------------------------------------------------------
// What every answer must look like
// ---------------------------------------------------------------------------------------------------

/** A stack frame, or where the code lives. (Inputs are generated without these, so an echo can't match.) */
const LEAK = /\n\s+at\s|\bat\s+(?:async\s+)?[\w$.<>[\]]+\s+\(|\bat\s+(?:file:\/\/|node:|\/)|node_modules|\/work\/|\.ts:\d+/;
const LEAK_SAFE = (s: string): boolean => !/node_modules|\/work\/|\bat\s|\.ts:\d/.test(s);

const statusSeen = new Map<number, number>();
/** Answers whose error carries fastify's own shape (see the KNOWN BUG test below), by code. */
const frameworkShapes = new Map<string, number>();

/** encodeURIComponent, for strings with lone surrogates too. */
const enc = (text: string): string => encodeURIComponent(text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'));

function describeRequest(req: { method: string; url: string; headers?: Record<string, string>; payload?: string }): string {
  const payload = req.payload === undefined ? '' : ` body ${req.payload.length > 300 ? `${req.payload.slice(0, 300)}… (${req.payload.length} chars)` : req.payload}`;
  return `${req.method} ${req.url.length > 300 ? `${req.url.slice(0, 300)}…` : req.url} ${JSON.stringify(req.headers ?? {})}${payload}`;
}

/** Throws (with the request) when an answer breaks the rules. */
function checkAnswer(res: InjectResponse, req: { method: string; url: string; headers?: Record<string, string>; payload?: string }): void {
  statusSeen.set(res.statusCode, (statusSeen.get(res.statusCode) ?? 0) + 1);
  const where = describeRequest(req);
  if (res.statusCode >= 500) throw new Error(`HTTP ${res.statusCode} for ${where}: ${res.body.slice(0, 500)}`);
  if (LEAK.test(res.body)) throw new Error(`internals leaked for ${where}: ${res.body.slice(0, 500)}`);
  if (req.method === 'HEAD' || res.statusCode === 204) return;
  if (req.method === 'OPTIONS' && res.statusCode === 400 && res.body === 'Invalid Preflight Request') {
    // @fastify/cors answers an OPTIONS under /codec that is no preflight in plain text (reported; pinned below).
    frameworkShapes.set('CORS_INVALID_PREFLIGHT', (frameworkShapes.get('CORS_INVALID_PREFLIGHT') ?? 0) + 1);
    return;
  }
  if (res.statusCode >= 400) {
    if (!/^application\/json/.test(String(res.headers['content-type']))) throw new Error(`non-JSON error for ${where}: ${String(res.headers['content-type'])}`);
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      throw new Error(`unparsable error body for ${where}: ${res.body.slice(0, 300)}`);
    }
    const b = body as Record<string, unknown>;
    if ((b.code === 'FST_ERR_BAD_URL' || b.code === 'FST_ERR_MAX_PARAM_LENGTH') && b.statusCode === res.statusCode) {
      // fastify's router answers these itself, with an extra `code` (reported; pinned below).
      frameworkShapes.set(b.code, (frameworkShapes.get(b.code) ?? 0) + 1);
      return;
    }
    const keys = Object.keys(b).sort().join(',');
    if (keys !== 'error,message,statusCode' || b.statusCode !== res.statusCode || typeof b.error !== 'string' || typeof b.message !== 'string') {
      throw new Error(`error shape ${res.body.slice(0, 300)} for ${where}`);
    }
  }
}

async function send(app: TestApp, req: { method: string; url: string; headers?: Record<string, string>; payload?: string }): Promise<InjectResponse> {
  const res = await app.app.inject({
    method: req.method as 'GET',
    url: req.url,
    headers: req.headers ?? {},
    ...(req.payload === undefined ? {} : { payload: req.payload }),
  });
  checkAnswer(res, req);
  return res;
}

// ---------------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------------

const HOSTILE_STRINGS = [
  '',
  ' ',
  '\u0000',
  '%00',
  '../../../etc/passwd',
  '..%2f..%2f',
  '..\\..\\',
  'x" OR WorkflowType="orderFulfillment',
  "x' OR '1'='1",
  'A-1" OR OrderId!="',
  '${jndi:ldap://127.0.0.1/x}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '1e309',
  '0x1F',
  ' 1',
  'null',
  'undefined',
  'true',
  '__proto__',
  'constructor',
  'prototype',
  '\uD800',
  '\uFEFF',
  '\u202Eevil',
  '🦄'.repeat(60),
  'Ω≈ç√∫˜µ≤≥÷',
  '１２３',
  'e\u0301',
  '\r\nX-Injected: 1',
  'a'.repeat(201),
  'b'.repeat(65),
  'c'.repeat(10_000),
];

const hostileString = fc.constantFrom(...HOSTILE_STRINGS);
const anyString = fc
  .oneof(
    hostileString,
    fc.string({ maxLength: 80 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'binary-ascii', maxLength: 300 }),
  )
  .filter(LEAK_SAFE);
const anyJson: fc.Arbitrary<unknown> = fc
  .oneof(
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    anyString,
    fc.constantFrom(0, -1, 1.5, 1e308, -1e-308, 2 ** 53 + 1, 100, 101, [], {}, null, true, false, [1, 2], { a: 1 }),
  )
  .filter((v) => LEAK_SAFE(JSON.stringify(v) ?? ''));

/** Where a field lives in an order body. */
const FIELD_PATHS = [
  ['orderId'],
  ['customer'],
  ['customer', 'id'],
  ['customer', 'email'],
  ['customer', 'name'],
  ['courseId'],
  ['box'],
  ['box', 'sku'],
  ['box', 'quantity'],
  ['shippingAddress'],
  ['shippingAddress', 'name'],
  ['shippingAddress', 'line1'],
  ['shippingAddress', 'line2'],
  ['shippingAddress', 'city'],
  ['shippingAddress', 'region'],
  ['shippingAddress', 'postalCode'],
  ['shippingAddress', 'country'],
] as const;
const OBJECT_PATHS: ReadonlyArray<readonly string[]> = [[], ['customer'], ['box'], ['shippingAddress']];

type Body = Record<string, unknown>;
function at(body: Body, path: readonly string[]): Body | undefined {
  let node: unknown = body;
  for (const key of path) node = typeof node === 'object' && node !== null ? (node as Body)[key] : undefined;
  return typeof node === 'object' && node !== null && !Array.isArray(node) ? (node as Body) : undefined;
}

/** A textual edit, for what an object literal can't say (a `__proto__` key, deep nesting, odd numbers). */
type TextEdit = { kind: 'text'; apply: (json: string) => string };
type Mutation =
  | { kind: 'set'; path: readonly string[]; value: unknown }
  | { kind: 'delete'; path: readonly string[] }
  | { kind: 'extra'; path: readonly string[]; key: string; value: unknown }
  | TextEdit;

const insertKey = (objectKey: string | null, raw: string) => (json: string): string =>
  objectKey === null ? json.replace(/^\{/, `{${raw},`) : json.replace(`"${objectKey}":{`, `"${objectKey}":{${raw},`);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // wrong types, hostile strings, numbers as strings, NaN-ish values
  fc.record({ kind: fc.constant('set' as const), path: fc.constantFrom(...FIELD_PATHS), value: anyJson }),
  fc.record({ kind: fc.constant('set' as const), path: fc.constantFrom(...FIELD_PATHS), value: anyString }),
  fc.record({
    kind: fc.constant('set' as const),
    path: fc.constant(['box', 'quantity'] as const),
    value: fc.constantFrom('1', '1e0', ' 1', 'NaN', 'Infinity', -0, 0, 0.5, 1.0000001, 100, 101, 2 ** 31, 2 ** 53, -1, '0x1', [1], { value: 1 }, null, true),
  }),
  fc.record({
    kind: fc.constant('set' as const),
    path: fc.constant(['customer', 'email'] as const),
    value: fc.constantFrom('a@b', '@b.co', 'a@', 'a b@c.de', 'a@b.co\n', `${'a'.repeat(250)}@b.co`, 'ann@example.com"', 'ann@[127.0.0.1]', 'ünï@cödé.de', 'a@b.co,c@d.ef'),
  }),
  // missing fields
  fc.record({ kind: fc.constant('delete' as const), path: fc.constantFrom(...FIELD_PATHS) }),
  // extra fields
  fc.record({
    kind: fc.constant('extra' as const),
    path: fc.constantFrom(...OBJECT_PATHS),
    key: fc.oneof(fc.constantFrom('coupon', 'isAdmin', 'workflowId', 'status', 'toString', 'valueOf', 'hasOwnProperty', 'constructor'), anyString),
    value: anyJson,
  }),
  // prototype pollution keys, written as JSON text
  fc
    .record({
      where: fc.constantFrom(null, 'customer', 'box', 'shippingAddress'),
      raw: fc.constantFrom(
        '"__proto__":{"polluted":"yes"}',
        '"__proto__":{"isAdmin":true,"status":"completed"}',
        '"constructor":{"prototype":{"polluted":"yes"}}',
        '"__proto__":null',
        '"\\u005f_proto__":{"polluted":"yes"}',
      ),
    })
    .map(({ where, raw }) => ({ kind: 'text' as const, apply: insertKey(where, raw) })),
  // deep nesting in a field
  fc
    .record({ field: fc.constantFrom('customer', 'box', 'courseId', 'shippingAddress'), depth: fc.constantFrom(64, 1000, 20_000, 200_000), open: fc.constantFrom('[', '{"a":') })
    .map(({ field, depth, open: o }) => ({
      kind: 'text' as const,
      apply: (json: string) => {
        const close = o === '[' ? ']' : '}';
        return json.replace(/^\{/, `{"${field}":${o.repeat(depth)}1${close.repeat(depth)},`).replace(new RegExp(`,"${field}":(\\{[^{}]*\\}|"[^"]*")`), '');
      },
    })),
  // odd JSON texts: duplicate keys, numbers JSON.parse turns into Infinity or -0, trailing garbage
  fc.constantFrom<TextEdit>(
    { kind: 'text', apply: (j) => j.replace(/^\{/, '{"courseId":"first",') },
    { kind: 'text', apply: (j) => j.replace(/"quantity":1/, '"quantity":1e400') },
    { kind: 'text', apply: (j) => j.replace(/"quantity":1/, '"quantity":-0') },
    { kind: 'text', apply: (j) => j.replace(/"quantity":1/, '"quantity":1.0') },
    { kind: 'text', apply: (j) => `${j} trailing` },
    { kind: 'text', apply: (j) => `${j}${j}` },
    { kind: 'text', apply: (j) => j.slice(0, Math.max(1, Math.floor(j.length / 2))) },
    { kind: 'text', apply: (j) => `\uFEFF${j}` },
    { kind: 'text', apply: (j) => j.replace(/"/g, "'") },
    { kind: 'text', apply: (j) => j.replace(/:/, ': /* comment */') },
  ),
);

function applyMutations(base: Body, mutations: Mutation[]): string {
  const body = structuredClone(base);
  const edits: TextEdit[] = [];
  for (const m of mutations) {
    if (m.kind === 'text') {
      edits.push(m);
      continue;
    }
    const parent = at(body, m.kind === 'extra' ? m.path : m.path.slice(0, -1));
    const key = m.kind === 'extra' ? m.key : m.path[m.path.length - 1];
    if (!parent || key === undefined) continue;
    if (m.kind === 'delete') delete parent[key];
    else Object.defineProperty(parent, key, { value: m.value, enumerable: true, writable: true, configurable: true });
  }
  return edits.reduce((json, e) => e.apply(json), JSON.stringify(body));
}

const orderIdArb = fc.oneof(
  { weight: 3, arbitrary: fc.uuid().map((u) => `FZ-${u.slice(0, 18)}`) },
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/).map((s) => `FZ${s}`.slice(0, 64)),
  anyString,
);

const baseOrder = fc.record({ orderId: orderIdArb, withBox: fc.boolean(), omitId: fc.boolean() }).map(({ orderId, withBox, omitId }) => {
  const body: Body = { ...orderBody(), orderId };
  if (omitId) delete body.orderId;
  if (!withBox) {
    delete body.box;
    if (Math.abs(orderId.length % 2) === 0) delete body.shippingAddress;
  }
  return body;
});

const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8'];
const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...JSON_TYPES) },
  fc.constantFrom(
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/json; charset="utf-8"',
    'application/json; boundary="',
    'text/plain',
    'text/json',
    'text/html',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'application/xml',
    'application/vnd.api+json',
    'application/json-patch+json',
    'application/octet-stream',
    '*/*',
    'application/',
    ';;;',
    'application/json, text/plain',
    ' application/json',
  ),
  fc.string({ unit: 'binary-ascii', maxLength: 60 }).filter((s) => /^[\x20-\x7e]*$/.test(s) && s.trim() !== '' && LEAK_SAFE(s)),
);
const authorization = fc.oneof(
  fc.constantFrom(
    `Bearer ${TOKEN}`,
    `bearer ${TOKEN}`,
    `Bearer  ${TOKEN}  `,
    `Bearer ${TOKEN}x`,
    `Bearer ${TOKEN.slice(0, -1)}`,
    `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`,
    TOKEN,
    'Bearer',
    'Bearer ',
    'Bearer null',
    'Bearer undefined',
    `Bearer ${TOKEN},Bearer ${TOKEN}`,
    `Bearer ${'x'.repeat(8000)}`,
    'Digest username="x"',
  ),
  fc.string({ unit: 'binary-ascii', maxLength: 100 }).filter((s) => /^[\x20-\x7e]*$/.test(s) && LEAK_SAFE(s)),
);
const tokenAccepted = (header: string | undefined): boolean => header !== undefined && new RegExp(`^Bearer\\s+${TOKEN}\\s*$`, 'i').test(header);

// ---------------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------------

async function countOrderWorkflows(): Promise<number> {
  return (await stack.client.workflow.count(`WorkflowType="${WORKFLOW_TYPES.order}"`)).count;
}

describe('POST /orders with random and hostile bodies', () => {
  it('never answers 5xx or leaks internals, answers errors as {statusCode,error,message}, and starts a workflow only for what it accepts', { timeout: 120_000 }, async () => {
    const before = await countOrderWorkflows();
    let started = 0;
    const acceptedIds = new Set<string>();
    const rejectedIds = new Set<string>();

    const countAnswer = (res: InjectResponse, payload: string): void => {
      if (res.statusCode === 202) {
        started++;
        acceptedIds.add(res.json<{ orderId: string }>().orderId);
      } else if (res.statusCode !== 200) {
        const id = /"orderId":"([A-Za-z0-9_-]{1,64})"/.exec(payload)?.[1];
        if (id) rejectedIds.add(id);
      }
    };

    // Mutated orders: mostly invalid, some valid.
    await fc.assert(
      fc.asyncProperty(baseOrder, fc.array(mutation, { minLength: 0, maxLength: 3 }), contentType, async (base, mutations, ct) => {
        const payload = applyMutations(base, mutations);
        const res = await send(open, { method: 'POST', url: '/orders', headers: { 'content-type': ct }, payload });
        if (res.statusCode === 202 || res.statusCode === 200) {
          // Accepted: then it really was a well-formed order, without pollution keys.
          expect(payload, payload).not.toMatch(/"(?:__proto__|\\u005f_proto__|constructor)"\s*:/);
          const parsed = JSON.parse(payload.replace(/^\uFEFF/, '')) as Body; // a leading BOM is allowed
          expect(Object.keys(parsed).every((k) => ['orderId', 'customer', 'courseId', 'box', 'shippingAddress'].includes(k)), payload).toBe(true);
          if (parsed.orderId !== undefined) expect(typeof parsed.orderId === 'string' && orderIdRe.test(parsed.orderId), payload).toBe(true);
        }
        countAnswer(res, payload);
      }),
      fcParams(1500),
    );

    // Anything at all as a body, with any content type.
    await fc.assert(
      fc.asyncProperty(anyJson, contentType, async (value, ct) => {
        const payload = JSON.stringify(value) ?? 'null';
        const res = await send(open, { method: 'POST', url: '/orders', headers: { 'content-type': ct }, payload });
        expect(res.statusCode, payload).not.toBe(202);
        countAnswer(res, payload);
      }),
      fcParams(400),
    );

    // Bodies over the limit, and raw text that is not JSON.
    for (const payload of [applyMutations(orderBody(), [{ kind: 'set', path: ['courseId'], value: 'x'.repeat(1024 * 1024 + 10) }]), '{"orderId":', '{', '[', '"', 'nul', '\u0000', '{"a":1}}']) {
      const res = await send(open, { method: 'POST', url: '/orders', headers: { 'content-type': 'application/json' }, payload });
      expect([400, 413]).toContain(res.statusCode);
      countAnswer(res, payload);
    }

    // Nothing but the accepted ones started a workflow (visibility catches up within a moment).
    await eventually(async () => (await countOrderWorkflows()) === before + started, 15_000);
    expect(await countOrderWorkflows()).toBe(before + started);
    const neverAccepted = [...rejectedIds].filter((id) => !acceptedIds.has(id));
    for (const id of neverAccepted.slice(0, 100)) {
      await expect(stack.client.workflow.getHandle(orderWorkflowId(id)).describe(), id).rejects.toThrow(/not found/i);
    }
    expect(started).toBeGreaterThan(0); // some valid orders got through, so the count means something
    expect(rejectedIds.size).toBeGreaterThan(100);
  });
});

/** Path segments: some real, most hostile, raw or percent-encoded. */
const segment = fc.oneof(
  fc.constantFrom('A-1', 'NO-SUCH-ORDER', 'courses', 'inventory', 'packing', 'logistics', 'nobody'),
  fc.constantFrom(...HOSTILE_STRINGS.filter((s) => s.length < 500)).map(enc),
  fc.constantFrom('..', '.', '%2e%2e', '..%2f', '%2f', '%00', '%', '%zz', '%E0%A4%A', '%C0%AE', 'a%2Fb', '?', '#', ';', 'x;y=1', 'x%3Fstatus%3Dparked', 'x%22%20OR%20WorkflowType%3D%22orderFulfillment'),
  fc.string({ unit: 'grapheme', maxLength: 30 }).filter(LEAK_SAFE).map(enc),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,80}$/),
  fc.constantFrom('x'.repeat(5000), 'y'.repeat(70_000)),
);
const realSegment = fc.nat().map((i) => realOrderIds[i % Math.max(1, realOrderIds.length)] ?? 'A-1');
const orderSegment = fc.oneof({ weight: 4, arbitrary: segment }, realSegment);

const route = fc.oneof(
  orderSegment.map((id) => ({ method: 'GET', url: `/orders/${id}` })),
  fc.tuple(orderSegment, fc.constantFrom('cancel', 'retry')).map(([id, action]) => ({ method: 'POST', url: `/orders/${id}/${action}` })),
  segment.map((p) => ({ method: 'GET', url: `/dead-letters/${p}` })),
  segment.map((p) => ({ method: 'POST', url: `/dead-letters/${p}/redrive` })),
  fc.tuple(segment, orderSegment).map(([p, id]) => ({ method: 'POST', url: `/dead-letters/${p}/${id}/redrive` })),
  fc.tuple(segment, orderSegment).map(([p, id]) => ({ method: 'DELETE', url: `/dead-letters/${p}/${id}` })),
  fc.tuple(segment, segment).map(([a, b]) => ({ method: 'GET', url: `/${a}/${b}` })),
  fc.tuple(fc.constantFrom('PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'GET', 'POST'), fc.constantFrom('/orders', '/orders/A-1', '/dead-letters', '/providers', '/health/ready', '/metrics', '/codec/decode', '/openapi.json', '/docs/json', '//orders', '/orders/', '/ORDERS', '/orders/A-1/cancel/', '/./orders', '/orders/../providers', '/%2e%2e/providers'), segment).map(
    ([method, path, junk]) => ({ method, url: Math.abs(junk.length % 3) === 0 ? `${path}/${junk}` : path }),
  ),
);

const queryValue = fc.oneof(
  fc.constantFrom('parked', 'completed', 'logistics', 'inventory', '50', '1', '1000'),
  fc.constantFrom('0', '1001', '-1', '1e3', '0x10', ' 5', '5 ', 'NaN', 'Infinity', '', '1.5', '99999999999999999999'),
  fc.constantFrom(...HOSTILE_STRINGS.filter((s) => s.length < 500)),
  anyString,
);
const queryKey = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('status', 'provider', 'limit', 'reason') },
  fc.constantFrom('__proto__', '__proto__[polluted]', 'constructor[prototype][polluted]', 'status[]', 'status[0]', 'limit[$gt]', 'query', 'pageSize', ''),
  anyString,
);
const querystring = fc.array(fc.tuple(queryKey, queryValue), { maxLength: 5 }).map((pairs) => pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&'));

describe('paths, params and querystrings', () => {
  it('every route with hostile orderIds, providers and paths answers 4xx JSON or its normal answer, never 5xx', { timeout: 90_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(route, fc.option(fc.constantFrom('{}', '{"reason":"x"}', '{"reason":5}', 'null', '[]', '"x"', '{"reason":"' + 'r'.repeat(600) + '"}')), async (r, payload) => {
        const withBody = payload !== null && r.method !== 'GET' && r.method !== 'HEAD';
        await send(open, { ...r, ...(withBody ? { payload, headers: { 'content-type': 'application/json' } } : {}) });
      }),
      fcParams(900),
    );
  });

  it('GET /orders and DELETE /dead-letters with hostile querystrings: validated against closed sets, nothing reaches a visibility query', { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(querystring, fc.constantFrom('/orders', '/dead-letters/logistics/A-1', '/orders/A-1', '/providers'), async (qs, path) => {
        const method = path.startsWith('/dead-letters') ? 'DELETE' : 'GET';
        const res = await send(open, { method, url: `${path}?${qs}` });
        if (path === '/orders' && res.statusCode === 200) {
          // Only well-formed filters get here: each one a member of its closed set.
          const params = new URLSearchParams(qs);
          for (const [k, v] of params) {
            if (k === 'status') expect(['accepted', 'granting_access', 'reserving_inventory', 'packing', 'shipping', 'parked', 'completed', 'cancelled', 'failed']).toContain(v);
            else if (k === 'provider') expect(['courses', 'inventory', 'packing', 'logistics']).toContain(v);
            else if (k === 'limit') expect(Number(v)).toBeGreaterThanOrEqual(1);
            else expect.fail(`unknown query parameter ${k} accepted: ${qs}`);
          }
        }
      }),
      fcParams(500),
    );
  });
});

describe('headers', () => {
  it('bogus authorization: 401 JSON unless it carries a configured token, whatever the route, body or content type', { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.option(authorization, { nil: undefined }),
        fc.constantFrom(
          { method: 'GET', url: '/dead-letters' },
          { method: 'GET', url: '/orders/NO-SUCH' },
          { method: 'POST', url: '/orders' },
          { method: 'POST', url: '/codec/decode' },
          { method: 'GET', url: '/providers' },
          { method: 'GET', url: '/health/live' },
        ),
        contentType,
        anyJson,
        async (auth, r, ct, value) => {
          const headers: Record<string, string> = { 'content-type': ct };
          if (auth !== undefined) headers.authorization = auth;
          const payload = r.method === 'POST' ? (JSON.stringify(value) ?? 'null') : undefined;
          const res = await send(authed, { ...r, headers, ...(payload === undefined ? {} : { payload }) });
          if (r.url.startsWith('/health/')) expect(res.statusCode).toBe(200);
          else if (!tokenAccepted(auth)) expect(res.statusCode, `${auth ?? '(none)'} on ${r.url}`).toBe(401);
          else expect(res.statusCode, `${auth} on ${r.url}`).not.toBe(401);
        },
      ),
      fcParams(500),
    );
  });

  it('odd accept, content-length-free and duplicated headers on the open app change nothing but the answer format', { timeout: 30_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          accept: fc.constantFrom('text/html', 'application/xml', '*/*', 'application/json;q=0', ''),
          'x-forwarded-for': fc.constantFrom('1.2.3.4', '::1', 'evil, 127.0.0.1', ''),
          'x-namespace': fc.constantFrom('default', 'other', '../../x', ''),
          authorization: authorization,
        }),
        fc.constantFrom('/orders/NO-SUCH', '/dead-letters', '/providers', '/health/ready'),
        async (headers, url) => {
          const clean = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ''));
          const res = await send(open, { method: 'GET', url, headers: clean });
          expect([200, 404]).toContain(res.statusCode);
        },
      ),
      fcParams(200),
    );
  });
});

describe('the remote codec with hostile payloads', () => {
  const b64 = fc.oneof(fc.base64String({ maxLength: 200 }), anyString, fc.constantFrom('', '====', 'YQ', '-_-_', 'YmluYXJ5L2VuY3J5cHRlZA=='));
  const payload = fc.record(
    {
      metadata: fc.oneof(
        fc.dictionary(fc.oneof(fc.constantFrom('encoding', 'encryption-key-id', 'constructor', 'toString', 'messageType'), anyString), b64, { maxKeys: 4 }),
        fc.constantFrom(null, { encoding: 'YmluYXJ5L2VuY3J5cHRlZA==' }, { encoding: 'YmluYXJ5L2VuY3J5cHRlZA==', 'encryption-key-id': 'bm9wZQ==' }),
        anyJson,
      ),
      data: fc.oneof(b64, anyJson),
    },
    { requiredKeys: [] },
  );
  it('POST /codec/encode and /codec/decode answer 200 or a 4xx JSON error', { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('encode', 'decode'), fc.oneof({ weight: 3, arbitrary: fc.record({ payloads: fc.array(payload, { maxLength: 4 }) }) }, anyJson), async (op, body) => {
        const res = await send(open, { method: 'POST', url: `/codec/${op}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) ?? 'null' });
        expect([200, 400, 415]).toContain(res.statusCode);
      }),
      fcParams(400),
    );
  });
});

describe('after all that', () => {
  it('Object.prototype is untouched and the API still works', async () => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoKeysBefore);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    const res = await open.app.inject({ method: 'POST', url: '/orders', payload: orderBody() });
    expect(res.statusCode).toBe(202);
    process.stdout.write(
      `fuzz answers by status: ${JSON.stringify(Object.fromEntries([...statusSeen].sort(([a], [b]) => a - b)))}; fastify-shaped errors: ${JSON.stringify(Object.fromEntries(frameworkShapes))}\n`,
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Signals through the real CLI
// ---------------------------------------------------------------------------------------------------

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `temporal workflow signal` with raw inputs (each `--input` one argument). */
async function signal(workflowId: string, name: string, inputs: string[] = [], extra: string[] = []): Promise<void> {
  const args = ['workflow', 'signal', '--workflow-id', workflowId, '--name', name, ...extra];
  for (const input of inputs) args.push('--input', input);
  await temporalCli(stack.config, args);
}

/** Many CLI signals, a few processes at a time. */
async function signalAll(items: Array<[workflowId: string, name: string, inputs: string[]]>, concurrency = 4): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < items.length; i = next++) {
        const [workflowId, name, inputs] = items[i]!;
        await signal(workflowId, name, inputs);
      }
    }),
  );
}

/** `temporal workflow describe`: the pending workflow task's attempt (1 when it is fine) and the status. */
async function describeCli(workflowId: string): Promise<{ status: string; taskAttempt: number }> {
  const out = await temporalCli(stack.config, ['workflow', 'describe', '--workflow-id', workflowId, '-o', 'json']);
  const d = JSON.parse(out) as { workflowExecutionInfo?: { status?: string }; pendingWorkflowTask?: { attempt?: number } };
  return { status: d.workflowExecutionInfo?.status ?? '?', taskAttempt: d.pendingWorkflowTask?.attempt ?? 0 };
}

/** The failure messages of every workflow task that failed in the workflow's history. */
async function workflowTaskFailures(workflowId: string): Promise<string[]> {
  const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).flatMap((e) => (e.workflowTaskFailedEventAttributes ? [e.workflowTaskFailedEventAttributes.failure?.message ?? '(no message)'] : []));
}

/**
 * No workflow task failing: `temporal workflow describe` shows no retried task (a failing one comes
 * back with attempt 2, 3, …) over a moment, and the history holds no failed one.
 */
async function expectNoFailingTask(workflowId: string): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const d = await describeCli(workflowId);
    expect(d.taskAttempt, `${workflowId}: workflow task attempt ${d.taskAttempt}`).toBeLessThanOrEqual(1);
    await sleep(300);
  }
  expect(await workflowTaskFailures(workflowId), workflowId).toEqual([]);
}

/** Malformed inputs of every shape, as the CLI passes them (it checks only that each is JSON). */
const WRONG_SHAPES: string[][] = [
  ['5'],
  ['"text"'],
  ['null'],
  ['true'],
  ['[1,2]'],
  ['{}'],
  ['{"__proto__":{"polluted":true}}'],
  ['{"constructor":{"prototype":{"polluted":true}}}'],
  [JSON.stringify('x'.repeat(100_000))],
  [JSON.stringify(Array.from({ length: 200 }).reduce<unknown>((acc) => [acc], 1))],
  ['1', '2', '3'],
];
const SOME_WRONG_SHAPES = [WRONG_SHAPES[0]!, WRONG_SHAPES[2]!, WRONG_SHAPES[4]!, WRONG_SHAPES[6]!, WRONG_SHAPES[8]!, WRONG_SHAPES[10]!];

const dlqInventory = () => stack.client.workflow.getHandle(deadLetterQueueWorkflowId('inventory', 0, 1));

/** An order parked at inventory, refused for lack of stock (its SKU has none), with its queue entry. */
async function parkedOrder(sku: string): Promise<string> {
  await stack.admin.setStock(sku, 0);
  const handle = await stack.startOrder({ box: { sku, quantity: 1 } });
  const orderId = handle.workflowId.replace(/^order-/, '');
  await eventually(async () => (await stack.status(orderId)).status === 'parked', 20_000);
  await eventually(async () => (await dlqInventory().query(entriesQuery)).some((e) => e.orderId === orderId), 20_000);
  return orderId;
}

const viewIsContractShaped = (view: OrderView): boolean => Value.Check(OrderViewSchema, view);
const orderResult = (orderId: string): Promise<OrderView> => stack.client.workflow.getHandle<typeof orderFulfillment>(orderWorkflowId(orderId)).result();

describe('malformed signals through the temporal CLI', () => {
  it('the CLI itself rejects an --input that is not JSON, with a clear message, and sends nothing', { timeout: 30_000 }, async () => {
    const orderId = realOrderIds[0]!;
    const before = (await stack.client.workflow.getHandle(orderWorkflowId(orderId)).describe()).historyLength;
    for (const extra of [[], ['--input-base64']]) {
      const bad = extra.length ? Buffer.from('{bad').toString('base64') : '{bad';
      const failure = await execFileP(
        inject('temporalCli'),
        ['workflow', 'signal', '--workflow-id', orderWorkflowId(orderId), '--name', 'cancel', '--input', bad, ...extra, '--address', stack.config.temporal.address, '--namespace', stack.config.temporal.namespace],
        { timeout: 30_000 },
      ).then(
        () => undefined,
        (err: { code?: number; stderr?: string }) => err,
      );
      expect(failure, 'the CLI accepted invalid JSON').toBeDefined();
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toMatch(/input #1 is not valid JSON/);
    }
    expect((await stack.client.workflow.getHandle(orderWorkflowId(orderId)).describe()).historyLength).toBe(before);
  });

  it('orderFulfillment: malformed resume and retryNow leave a parked order parked, contract-shaped and responsive', { timeout: 60_000 }, async () => {
    const sku = `FZ-SIG-${randomUUID().slice(0, 6)}`;
    const orderId = await parkedOrder(sku);
    const workflowId = orderWorkflowId(orderId);
    const shapes = [...WRONG_SHAPES, ['{"source":5}'], ['{"source":{"x":1}}'], ['{"source":"dlq","extra":[1]}']];
    await signalAll(['resume', 'retryNow'].flatMap((name) => shapes.map((inputs): [string, string, string[]] => [workflowId, name, inputs])));
    // Every wake retries the refused step and parks the order again: still parked, same step.
    await expectNoFailingTask(workflowId);
    await eventually(async () => {
      const v = await stack.status(orderId);
      return v.status === 'parked' && v.parked?.step === 'reserveInventory' && v.parked.kind === 'rejected';
    }, 20_000);
    const view = await stack.status(orderId);
    expect(viewIsContractShaped(view), JSON.stringify(view)).toBe(true);
    // The next valid signal takes effect: restocked, retried, completed.
    await stack.admin.setStock(sku, 5);
    await signal(workflowId, 'retryNow');
    const done = await orderResult(orderId);
    expect(done.status).toBe('completed');
    expect(viewIsContractShaped(done)).toBe(true);
  });

  it('orderFulfillment: cancel and discard with non-object inputs are either ignored or a plain cancel/discard, never a broken state', { timeout: 60_000 }, async () => {
    const cases = [
      ...WRONG_SHAPES.map((inputs) => ({ name: 'cancel', inputs })),
      ...[['5'], ['"text"'], ['null'], ['[1,2]'], ['{}']].map((inputs) => ({ name: 'discard', inputs })),
    ];
    const orders = await Promise.all(cases.map(async () => parkedOrder(`FZ-C-${randomUUID().slice(0, 6)}`)));
    await signalAll(cases.map((c, i): [string, string, string[]] => [orderWorkflowId(orders[i]!), c.name, c.inputs]));
    await Promise.all(
      cases.map(async (c, i) => {
        const workflowId = orderWorkflowId(orders[i]!);
        await expectNoFailingTask(workflowId); // also gives the signal time to be handled
        // Still responsive: a valid cancel ends it (unless the malformed one already did).
        const before = await stack.status(orders[i]!);
        if (before.status === 'parked') await stack.client.workflow.getHandle(workflowId).signal('cancel', { reason: 'valid' }).catch(() => undefined);
        const end = await orderResult(orders[i]!);
        expect(['cancelled', 'failed'], `${c.name} ${c.inputs.join(' ')}`).toContain(end.status);
        expect(viewIsContractShaped(end), `${c.name} ${c.inputs.join(' ')}: ${JSON.stringify(end)}`).toBe(true);
        if (before.status === 'parked') expect(end).toMatchObject({ status: 'cancelled', cancelReason: 'valid' });
      }),
    );
  });

  it('orderFulfillment: cancel/discard with a reason that is not a string end the order without one, the view contract-shaped', { timeout: 60_000 }, async () => {
    const long = 'r'.repeat(600);
    const cases = [
      { name: 'cancel', input: '{"reason":{"nested":[1,2]}}', status: 'cancelled', cancelReason: undefined, failureReason: undefined },
      { name: 'cancel', input: '{"reason":5}', status: 'cancelled', cancelReason: undefined, failureReason: undefined },
      { name: 'cancel', input: JSON.stringify({ reason: long }), status: 'cancelled', cancelReason: long.slice(0, 500), failureReason: undefined },
      { name: 'discard', input: '{"reason":["x"]}', status: 'failed', cancelReason: undefined, failureReason: 'discarded by an operator' },
      { name: 'discard', input: '{"reason":true}', status: 'failed', cancelReason: undefined, failureReason: 'discarded by an operator' },
    ];
    const orders = await Promise.all(cases.map(async () => parkedOrder(`FZ-R-${randomUUID().slice(0, 6)}`)));
    await signalAll(cases.map((c, i): [string, string, string[]] => [orderWorkflowId(orders[i]!), c.name, [c.input]]));
    const views = await Promise.all(orders.map((id) => orderResult(id)));
    for (const [i, view] of views.entries()) {
      const c = cases[i]!;
      const what = `${c.name} ${c.input.slice(0, 60)}`;
      expect(await workflowTaskFailures(orderWorkflowId(orders[i]!))).toEqual([]);
      expect(view.status, what).toBe(c.status);
      expect(view.cancelReason, what).toEqual(c.cancelReason);
      expect(view.failureReason, what).toEqual(c.failureReason);
      expect(viewIsContractShaped(view), JSON.stringify(view)).toBe(true);
      const res = await open.app.inject({ method: 'GET', url: `/orders/${orders[i]!}` });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(JSON.parse(JSON.stringify(view)));
    }
  });

  it('deadLetterQueue: malformed park, redriveOrder, discardOrder, providerStatus and unpark change no entry; a valid redrive still works', { timeout: 60_000 }, async () => {
    const sku = `FZ-DLQ-${randomUUID().slice(0, 6)}`;
    const orderId = await parkedOrder(sku);
    const dlqId = deadLetterQueueWorkflowId('inventory', 0, 1);
    const dlq = dlqInventory();
    const entry = (await dlq.query(entriesQuery)).find((e) => e.orderId === orderId)!;
    const valid: DeadLetterEntry = { ...entry, orderId: `FZ-GHOST-${randomUUID().slice(0, 6)}`, workflowId: 'order-FZ-GHOST', kind: 'rejected' };
    const bad = (patch: Record<string, unknown>) => [JSON.stringify({ ...valid, ...patch })];
    const malformed: Array<[string, string[]]> = [
      ...WRONG_SHAPES.map((inputs): [string, string[]] => ['park', inputs]),
      ['park', bad({ orderId: 5 })],
      ['park', bad({ orderId: '' })],
      ['park', bad({ provider: 'logistics' })],
      ['park', bad({ provider: 'nobody' })],
      ['park', bad({ step: 'teleport' })],
      ['park', bad({ kind: 'sideways' })],
      ['park', bad({ parkCount: 0 })],
      ['park', bad({ parkCount: 1.5 })],
      ['park', bad({ parkCount: '1' })],
      ['park', bad({ attempts: '3' })],
      ['park', bad({ parkedAt: 'yesterday' })],
      ['park', bad({ error: { message: 'x' } })],
      ['park', [JSON.stringify({ ...valid, workflowId: undefined })]],
      ...WRONG_SHAPES.map((inputs): [string, string[]] => ['redriveOrder', inputs]),
      ['redriveOrder', ['{"orderId":5}']],
      ['redriveOrder', [`{"orderId":["${orderId}"]}`]],
      ['redriveOrder', ['{"orderId":"NO-SUCH"}']],
      ['redriveOrder', [`{"orderId":{"toString":"${orderId}"}}`]],
      ['redriveOrder', ['{"orderId":{"toString":null,"valueOf":null}}']],
      ...WRONG_SHAPES.map((inputs): [string, string[]] => ['discardOrder', inputs]),
      ['discardOrder', ['{"orderId":5,"reason":"x"}']],
      ['discardOrder', [`{"orderId":["${orderId}"]}`]],
      ['discardOrder', ['{"orderId":"NO-SUCH"}']],
      ['discardOrder', [`{"orderId":{"toString":"${orderId}"}}`]],
      ['unpark', ['{"orderId":{"toString":"x"},"parkCount":{"valueOf":1}}']],
      ...WRONG_SHAPES.map((inputs): [string, string[]] => ['providerStatus', inputs]),
      ['providerStatus', ['{"status":"sideways"}']],
      ['providerStatus', ['{"status":5}']],
      ['providerStatus', ['{"status":["up"]}']],
      ['providerStatus', ['"up"']],
      ...WRONG_SHAPES.map((inputs): [string, string[]] => ['unpark', inputs]),
      ['unpark', [`{"orderId":"${orderId}"}`]],
      ['unpark', [`{"orderId":"${orderId}","parkCount":"99"}`]],
      ['unpark', [`{"orderId":"${orderId}","parkCount":0}`]],
      ['unpark', ['{"orderId":5,"parkCount":99}']],
    ];
    const before = await dlq.query(entriesQuery);
    await signalAll(malformed.map(([name, inputs]): [string, string, string[]] => [dlqId, name, inputs]));
    await expectNoFailingTask(dlqId);
    expect((await describeCli(dlqId)).status).toBe('WORKFLOW_EXECUTION_STATUS_RUNNING');
    const strip = (es: DeadLetterEntry[]) => es.map(({ orderId: id, kind, provider, step, parkCount }) => ({ orderId: id, kind, provider, step, parkCount })).sort((a, b) => a.orderId.localeCompare(b.orderId));
    expect(strip(await dlq.query(entriesQuery))).toEqual(strip(before));

    // redriveAll with junk is still a redrive-all: every entry is resumed. The refused order parks again
    // (parkCount + 1); entries of orders that already ended are gone.
    await signal(dlqId, 'redriveAll', ['{"x":1}']);
    await eventually(async () => ((await dlq.query(entriesQuery)).find((e) => e.orderId === orderId)?.parkCount ?? 0) > entry.parkCount, 20_000);
    await expectNoFailingTask(dlqId);
    const after = await dlq.query(entriesQuery);
    expect(after.some((e) => e.orderId.startsWith('FZ-GHOST'))).toBe(false);
    for (const e of after) expect((await stack.status(e.orderId)).status, e.orderId).toBe('parked');
    // A valid signal still takes effect: restock and redrive this one order.
    await stack.admin.setStock(sku, 5);
    await signal(dlqId, 'redriveOrder', [JSON.stringify({ orderId })]);
    expect((await orderResult(orderId)).status).toBe('completed');
    // …and a discard with a reason of the wrong type discards, with the default reason.
    const other = await parkedOrder(`FZ-DLQ2-${randomUUID().slice(0, 6)}`);
    await signal(dlqId, 'discardOrder', [JSON.stringify({ orderId: other, reason: { x: 1 } })]);
    expect(await orderResult(other)).toMatchObject({ status: 'failed', failureReason: 'discarded by an operator' });
    await expectNoFailingTask(dlqId);
  });

  it('providerHealth: malformed checkNow and configure are ignored; a valid checkNow still probes', { timeout: 60_000 }, async () => {
    const workflowId = `health-fuzz-${randomUUID().slice(0, 8)}`;
    const handle = await stack.client.workflow.start(WORKFLOW_TYPES.providerHealth, {
      workflowId,
      taskQueue: stack.config.temporal.taskQueue,
      args: [{ provider: 'courses', intervalMs: 3_600_000, dlqShards: 1 }],
    });
    try {
      await eventually(async () => (await handle.query(providerStatusQuery)).lastCheckAt ?? undefined, 15_000);
      const configureShapes = [
        ...SOME_WRONG_SHAPES,
        ['{"intervalMs":"1000"}'],
        ['{"intervalMs":-5}'],
        ['{"intervalMs":50}'],
        ['{"intervalMs":{"a":1}}'],
        ['{"dlqShards":0}'],
        ['{"dlqShards":"2"}'],
        ['{"dlqShards":-1}'],
        ['[1000,1]'],
      ];
      await signalAll([
        ...SOME_WRONG_SHAPES.map((inputs): [string, string, string[]] => [workflowId, 'checkNow', inputs]),
        ...configureShapes.map((inputs): [string, string, string[]] => [workflowId, 'configure', inputs]),
      ]);
      await expectNoFailingTask(workflowId);
      expect((await describeCli(workflowId)).status).toBe('WORKFLOW_EXECUTION_STATUS_RUNNING');
      const view = await handle.query(providerStatusQuery);
      expect(view).toMatchObject({ name: 'courses', status: 'up', lastError: null });
      // A valid checkNow after all that still probes at once (the interval is an hour).
      await sleep(20);
      await signal(workflowId, 'checkNow');
      await eventually(async () => (await handle.query(providerStatusQuery)).lastCheckAt !== view.lastCheckAt, 15_000);
    } finally {
      await handle.terminate('fuzz test done').catch(() => undefined);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Reported bugs, pinned. src/ is not changed here: each test asserts today's (wrong) behaviour, so it
// fails once the bug is fixed; then flip it into the expectation its comment gives.
// ---------------------------------------------------------------------------------------------------

describe('reported bugs, pinned', () => {
  // Fixed (patched 'order-unpark-on-discard'): an order discarded by a signal sent to it directly also
  // leaves its queue, so GET /dead-letters doesn't list an order that is `failed`.
  it('an order ended by a direct discard signal leaves no dead-letter entry behind', { timeout: 60_000 }, async () => {
    const orderId = await parkedOrder(`FZ-S-${randomUUID().slice(0, 6)}`);
    await signal(orderWorkflowId(orderId), 'discard', ['{"reason":"by hand"}']);
    expect(await orderResult(orderId)).toMatchObject({ status: 'failed', failureReason: 'by hand' });
    await eventually(async () => {
      const res = await open.app.inject({ method: 'GET', url: '/dead-letters/inventory' });
      return res.statusCode === 200 && !res.json<{ entries: DeadLetterEntry[] }>().entries.some((e) => e.orderId === orderId);
    }, 15_000);
  });

  // Not src/ code but the SDK's behaviour, and open to anyone who may signal: a signal whose payload the
  // worker cannot decode (an encoding the payload converter doesn't know, or `binary/encrypted` the
  // codec can't open) fails the workflow task on every attempt. The order is stuck (no cancel, no
  // resume), its `status` query fails and GET /orders/<id> answers 5xx, until someone resets or
  // terminates it; the same works on a dead-letter queue or a health workflow. Fixed (e.g. a codec or
  // payload converter that turns an undecodable payload into a value the handlers ignore): no failed
  // workflow task, and the valid cancel that follows ends the order.
  it('KNOWN BUG: a signal payload with an unknown encoding stalls the order workflow', { timeout: 60_000 }, async () => {
    const orderId = await parkedOrder(`FZ-ENC-${randomUUID().slice(0, 6)}`);
    const workflowId = orderWorkflowId(orderId);
    try {
      await signal(workflowId, 'retryNow', ['{}'], ['--input-meta', 'encoding=json/protobuf']);
      const failures = await eventually(async () => {
        const f = await workflowTaskFailures(workflowId);
        return f.length > 0 ? f : undefined;
      }, 20_000);
      expect(failures[0]).toMatch(/Unknown encoding: json\/protobuf/);
      await signal(workflowId, 'cancel', ['{"reason":"valid"}']);
      await sleep(1000);
      expect((await describeCli(workflowId)).status).toBe('WORKFLOW_EXECUTION_STATUS_RUNNING');
      // The API can't read it: 500 once the server knows the task failed, 503 while the query waits.
      const quick = await buildTestApp(stack.config, { temporalTimeoutMs: 2000 }, stack.client);
      try {
        const res = await quick.app.inject({ method: 'GET', url: `/orders/${orderId}` });
        expect([500, 503]).toContain(res.statusCode);
        expect(Object.keys(res.json<Record<string, unknown>>()).sort()).toEqual(['error', 'message', 'statusCode']);
      } finally {
        await quick.app.close();
      }
    } finally {
      await stack.client.workflow.getHandle(workflowId).terminate('fuzz test done').catch(() => undefined);
    }
  });

  // Fixed: `configure` takes whole numbers within the configuration's bounds only, so
  // `{"dlqShards":1.5}` is ignored and transitions still go to the provider's real queue.
  it('configure {"dlqShards":1.5} is ignored: provider transitions still go to the provider\'s own queue', { timeout: 60_000 }, async () => {
    const workflowId = `health-fuzz-${randomUUID().slice(0, 8)}`;
    const handle = await stack.client.workflow.start(WORKFLOW_TYPES.providerHealth, {
      workflowId,
      taskQueue: stack.config.temporal.taskQueue,
      args: [{ provider: 'packing', intervalMs: 3_600_000, dlqShards: 1 }],
    });
    const wrongQueue = stack.client.workflow.getHandle('dlq-packing-0');
    const rightQueue = stack.client.workflow.getHandle('dlq-packing');
    try {
      await eventually(async () => (await handle.query(providerStatusQuery)).status === 'up', 15_000);
      await signal(workflowId, 'configure', ['{"intervalMs":3600000,"dlqShards":1.5}']);
      await stack.admin.setProvider('packing', { state: 'down' });
      await signal(workflowId, 'checkNow');
      await eventually(async () => (await handle.query(providerStatusQuery)).status === 'down', 15_000);
      const started = await eventually(async () => (await rightQueue.describe().catch(() => undefined)) ?? undefined, 15_000);
      expect(started.type).toBe(WORKFLOW_TYPES.deadLetterQueue);
      expect(await wrongQueue.describe().catch(() => undefined)).toBeUndefined();
      expect(await workflowTaskFailures(workflowId)).toEqual([]);
    } finally {
      await stack.admin.setProvider('packing', { state: 'up' });
      await handle.terminate('fuzz test done').catch(() => undefined);
    }
  });

  // Fixed (fastify's frameworkErrors option in src/api/app.ts): errors fastify's router raises itself
  // (a malformed percent-encoding, a path parameter over 100 characters) answer in the contract's
  // `{statusCode, error, message}` shape like every other error.
  it('malformed percent-encodings and over-long path parameters answer in the contract\'s error shape', async () => {
    const cases = [
      { method: 'GET', url: '/orders/%', status: 400 },
      { method: 'POST', url: '/dead-letters/logistics/%E0%A4%A/redrive', status: 400 },
      { method: 'GET', url: `/orders/${'%F0%9F%A6%84'.repeat(60)}`, status: 414 },
    ] as const;
    for (const c of cases) {
      const res = await open.app.inject({ method: c.method, url: c.url });
      expect(res.statusCode, c.url).toBe(c.status);
      expect(Object.keys(res.json<Record<string, unknown>>()).sort(), c.url).toEqual(['error', 'message', 'statusCode']);
    }
  });

  // src/api/routes/codec.ts: @fastify/cors answers an OPTIONS under /codec that is not a preflight with
  // a text/plain 400 "Invalid Preflight Request". Fixed: JSON with exactly the three keys.
  it('KNOWN BUG: an OPTIONS under /codec that is not a preflight answers text/plain', async () => {
    const options = await open.app.inject({ method: 'OPTIONS', url: '/codec/decode' });
    expect(options.statusCode).toBe(400);
    expect(options.headers['content-type']).toMatch(/^text\/plain/);
    expect(options.body).toBe('Invalid Preflight Request');
  });
});
