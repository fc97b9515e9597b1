/**
 * Overload: a real listening API (startApi on port 0, a rate limit of 50 per second, under-pressure
 * tripping at 30 ms of event-loop delay) hit by a burst well past saturation from another process
 * (50 keep-alive connections, each posting new orders back to back for 3 s: some 50 times the limit).
 *
 * What must hold: rejections are 429 or 503 JSON and come back fast (p99 under 200 ms), the server does
 * not queue (requests in flight never exceed the connections, and drop to 0 as soon as the burst ends;
 * the heap stays put), no workflow exists for a rejected order, and every accepted order (2xx)
 * completes end to end once a worker runs, no provider effect twice.
 *
 * Latencies are measured by the client, so they include any queueing in front of the server. The
 * machine is shared: `OVERLOAD_P99_MS` raises the 200 ms bound where it is busier than it should be.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { type RunningApi, startApi } from '../../src/api/server';
import { createWorker, startHealthChecks } from '../../src/workers/worker';
import type { ErrorBody } from '../../src/api/schemas';
import { orderWorkflowId, WORKFLOW_TYPES } from '../../src/workflows/definitions';
import type { orderFulfillment } from '../../src/workflows';
import { eventually, startTestStack, type TestStack } from '../support/stack';

const RATE = { max: 50, timeWindowMs: 1000 };
const CONNECTIONS = 50;
const BURST_MS = 3000;

let stack: TestStack;
let api: RunningApi;
let worker: { worker: Worker; running: Promise<void>; connection: NativeConnection } | undefined;

/**
 * The worker starts once the burst is over: in production it is another process, and here it would
 * share the API's event loop, so its work would be counted as the API's lag.
 */
async function startWorker(): Promise<void> {
  const connection = await NativeConnection.connect({ address: stack.config.temporal.address });
  const w = await createWorker({ config: stack.config, connection, client: stack.client, workflowBundlePath: inject('workflowBundlePath') });
  worker = { worker: w, running: w.run(), connection };
  await startHealthChecks(stack.client, stack.config);
}

beforeAll(async () => {
  stack = await startTestStack(__filename, { worker: false });
  api = await startApi({
    config: { ...stack.config, port: 0 },
    client: stack.client,
    logger: false,
    app: {
      rateLimit: RATE,
      underPressure: { maxEventLoopDelay: 30, sampleInterval: 5, retryAfter: 1 },
      processMetrics: false,
    },
  });
});
afterAll(async () => {
  await api?.close();
  if (worker) {
    if (worker.worker.getState() === 'RUNNING') worker.worker.shutdown();
    await worker.running;
    await worker.connection.close();
  }
  await stack?.stop();
});

interface BurstResult {
  byStatus: Record<string, number>;
  /** Milliseconds per answer, by status. */
  latencies: Record<string, number[]>;
  accepted: string[];
  /** The first answer of each status: headers and body. */
  samples: Record<string, { headers: Record<string, string | string[] | undefined>; body: string }>;
  errors: number;
  sent: number;
}

/**
 * The load generator, in its own process (so its work doesn't count as the server's event-loop delay):
 * `connections` loops, each posting a new order (half of them course-only) as soon as the last answer
 * came, until `durationMs` has passed. Prints a BurstResult as JSON.
 */
const LOAD_SCRIPT = `
const http = require('node:http');
const { url, connections, durationMs, prefix } = JSON.parse(process.argv[1]);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const result = { byStatus: {}, latencies: {}, accepted: [], samples: {}, errors: 0, sent: 0 };
let seq = 0;
function post(i) {
  const orderId = prefix + '-' + i;
  const order = { orderId, customer: { id: 'c-' + (i % 50), email: 'load' + i + '@example.com', name: 'Load ' + i }, courseId: 'phonics-101' };
  if (i % 2 === 1) {
    order.box = { sku: 'BOX-PHONICS', quantity: 1 };
    order.shippingAddress = { name: 'Load ' + i, line1: '1 Main St', city: 'Springfield', postalCode: '62701', country: 'US' };
  }
  const body = JSON.stringify(order);
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    result.sent++;
    const req = http.request({ agent, host: target.hostname, port: target.port, path: '/orders', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const s = String(res.statusCode);
        result.byStatus[s] = (result.byStatus[s] || 0) + 1;
        (result.latencies[s] = result.latencies[s] || []).push(Math.round(ms * 10) / 10);
        if (!result.samples[s]) result.samples[s] = { headers: res.headers, body: data };
        if (res.statusCode >= 200 && res.statusCode < 300) result.accepted.push(orderId);
        resolve();
      });
    });
    req.on('error', () => { result.errors++; resolve(); });
    req.end(body);
  });
}
(async () => {
  const end = Date.now() + durationMs;
  await Promise.all(Array.from({ length: connections }, async () => { while (Date.now() < end) await post(seq++); }));
  agent.destroy();
  process.stdout.write(JSON.stringify(result));
})();
`;

const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
};

describe('a burst well past saturation', () => {
  it('is shed fast with 429/503, queues nothing, and every accepted order completes', { timeout: 150_000 }, async () => {
    // What the server holds while the burst runs: requests in flight, and the heap.
    let inFlight = 0;
    let maxInFlight = 0;
    api.app.server.on('request', (_req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.once('close', () => inFlight--);
    });
    const heapBefore = process.memoryUsage().heapUsed;
    let heapMax = heapBefore;
    const sampler = setInterval(() => {
      heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
    }, 50);

    const prefix = `OL-${randomUUID().slice(0, 8)}`;
    let burst: BurstResult;
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['-e', LOAD_SCRIPT, JSON.stringify({ url: api.url, connections: CONNECTIONS, durationMs: BURST_MS, prefix })],
        { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      );
      burst = JSON.parse(stdout) as BurstResult;
    } finally {
      clearInterval(sampler);
    }
    const inFlightAtEnd = inFlight;
    await eventually(async () => inFlight === 0, 2000, 20);

    const rejected = [...(burst.latencies['429'] ?? []), ...(burst.latencies['503'] ?? [])];
    const summary = {
      sent: burst.sent,
      byStatus: burst.byStatus,
      errors: burst.errors,
      rejectedP50: percentile(rejected, 50),
      rejectedP99: percentile(rejected, 99),
      rejectedMax: percentile(rejected, 100),
      acceptedP99: percentile(burst.latencies['202'] ?? [], 99),
      maxInFlight,
      inFlightAtEnd,
      heapGrowthMb: Math.round((heapMax - heapBefore) / 1e5) / 10,
    };
    process.stdout.write(`overload: ${JSON.stringify(summary)}\n`);

    // Saturated and shed: only 202, 429 and 503, far more rejected than accepted, no connection errors.
    expect(Object.keys(burst.byStatus).every((s) => ['202', '429', '503'].includes(s)), JSON.stringify(burst.byStatus)).toBe(true);
    expect(burst.errors).toBe(0);
    // (Which of the two rejects depends on the machine: under-pressure answers before the rate limit.)
    expect(rejected.length).toBeGreaterThan(10 * burst.accepted.length);
    // The rate limit holds: at most `max` per window, over the windows the burst spans (+1 for the edges).
    expect(burst.accepted.length).toBeGreaterThan(0);
    expect(burst.accepted.length).toBeLessThanOrEqual(RATE.max * (Math.ceil(BURST_MS / RATE.timeWindowMs) + 1));
    // Rejections are fast.
    expect(summary.rejectedP99).toBeLessThan(Number(process.env.OVERLOAD_P99_MS ?? 200));
    // Rejections are the contract's JSON errors, telling the client when to come back.
    for (const status of ['429', '503'] as const) {
      const sample = burst.samples[status];
      if (!sample) continue;
      const body = JSON.parse(sample.body) as ErrorBody;
      expect(body).toMatchObject({ statusCode: Number(status), error: status === '429' ? 'Too Many Requests' : 'Service Unavailable' });
      expect(Object.keys(body).sort()).toEqual(['error', 'message', 'statusCode']);
      expect(sample.headers['retry-after'], `${status} Retry-After`).toBeDefined();
    }
    // No queue: never more in flight than connections, nothing left once the burst is over, the heap flat.
    expect(maxInFlight).toBeLessThanOrEqual(CONNECTIONS);
    expect(summary.heapGrowthMb).toBeLessThan(150);

    // No workflow for a rejected order: exactly the accepted ones exist (this file has its namespace).
    const query = `WorkflowType="${WORKFLOW_TYPES.order}"`;
    let counted = -1;
    await eventually(async () => (counted = (await stack.client.workflow.count(query)).count) === burst.accepted.length, 15_000).catch(() => undefined);
    expect(counted, `order workflows in the namespace vs accepted ${burst.accepted.length}`).toBe(burst.accepted.length);

    // Every accepted order completes end to end, once a worker runs.
    await startWorker();
    const results = await Promise.all(
      burst.accepted.map((orderId) => stack.client.workflow.getHandle<typeof orderFulfillment>(orderWorkflowId(orderId)).result()),
    );
    expect(results.map((r) => r.status)).toEqual(burst.accepted.map(() => 'completed'));
    expect(await stack.admin.duplicateEffects()).toBe(0);

  });
});
