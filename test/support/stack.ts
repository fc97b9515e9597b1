/**
 * A real stack for one test file: the sandbox providers on a free port, a Temporal client and a worker
 * on the run's dev server, in the test file's own namespace.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { inject } from 'vitest';
import { type Client, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { type Config, loadConfig } from '../../src/config';
import { buildSandboxApp } from '../../src/providers/sandbox';
import { connectClient } from '../../src/temporal/connection';
import { createWorker, type CreateWorkerOptions, startHealthChecks } from '../../src/workers/worker';
import {
  type OrderFulfillmentInput,
  type OrderRequest,
  type OrderView,
  orderWorkflowId,
  type ProviderName,
  statusQuery,
  WORKFLOW_TYPES,
} from '../../src/workflows/definitions';
import type { orderFulfillment } from '../../src/workflows';
import { testNamespace } from './namespaces';
import { orderStartOptions } from '../../src/order-start';

export const TEST_KEY = randomBytes(32).toString('base64');

export interface TestStack {
  config: Config;
  client: Client;
  worker: Worker;
  providersUrl: string;
  sandbox: FastifyInstance;
  admin: SandboxAdmin;
  startOrder(order?: Partial<OrderRequest>, input?: Partial<OrderFulfillmentInput>): Promise<WorkflowHandle<typeof orderFulfillment>>;
  status(orderId: string): Promise<OrderView>;
  /** A new worker takes over, then the old one stops (a rolling restart). */
  restartWorker(): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  activityDeps?: CreateWorkerOptions['activityDeps'];
  workerOptions?: CreateWorkerOptions['workerOptions'];
  /** Start the health-check workflows (default true). */
  healthChecks?: boolean;
  /** Run a worker (default true). */
  worker?: boolean;
}

export function testConfig(testFile: string, env: Record<string, string> = {}, providersUrl = 'http://127.0.0.1:9'): Config {
  return loadConfig({
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: testNamespace(testFile),
    TEMPORAL_TASK_QUEUE: `tq-${randomUUID()}`,
    PAYLOAD_ENCRYPTION_KEY: TEST_KEY,
    DATA_DIR: join(inject('tmpRoot'), 'data'),
    PROVIDER_COURSES_URL: `${providersUrl}/courses`,
    PROVIDER_INVENTORY_URL: `${providersUrl}/inventory`,
    PROVIDER_PACKING_URL: `${providersUrl}/packing`,
    PROVIDER_LOGISTICS_URL: `${providersUrl}/logistics`,
    HEALTH_CHECK_INTERVAL_MS: '500',
    STEP_MAX_ATTEMPTS: '3',
    PROVIDER_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'warn',
    ...env,
  });
}

export function sampleOrder(overrides: Partial<OrderRequest> = {}): OrderRequest {
  return {
    orderId: `T-${randomUUID().slice(0, 8)}`,
    customer: { id: 'c-42', email: 'ann@example.com', name: 'Ann Lee' },
    courseId: 'phonics-101',
    box: { sku: 'BOX-PHONICS', quantity: 1 },
    shippingAddress: { name: 'Ann Lee', line1: '1 Main St', city: 'Springfield', region: 'IL', postalCode: '62701', country: 'US' },
    ...overrides,
  };
}

export class SandboxAdmin {
  constructor(private readonly url: string) {}
  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  }
  setProvider(name: ProviderName, state: { state: 'up' | 'down'; latencyMs?: number; failureRate?: number }) {
    return this.call('PUT', `/admin/providers/${name}`, state);
  }
  async stats(): Promise<Record<ProviderName, { state: string; requests: number; effects: number; duplicateEffects: number }>> {
    return (await this.call('GET', '/admin/providers')) as Record<ProviderName, { state: string; requests: number; effects: number; duplicateEffects: number }>;
  }
  async duplicateEffects(): Promise<number> {
    return Object.values(await this.stats()).reduce((sum, s) => sum + s.duplicateEffects, 0);
  }
  setStock(sku: string, stock: number) {
    return this.call('PUT', `/admin/inventory/${encodeURIComponent(sku)}`, { stock });
  }
  reset() {
    return this.call('POST', '/admin/reset', {});
  }
}

let runtimeInstalled = false;
/** The SDK logs warnings and errors only, so test output stays readable (LOG_LEVEL=INFO for more). */
export function installTestRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (process.env.TEST_SDK_LOG_LEVEL ?? 'WARN') as 'WARN';
  Runtime.install({ logger: new DefaultLogger(level), telemetryOptions: { logging: { forward: {}, filter: level } } });
}

export async function startTestStack(testFile: string, o: StackOptions = {}): Promise<TestStack> {
  installTestRuntime();
  const sandbox = buildSandboxApp();
  const providersUrl = (await sandbox.listen({ host: '127.0.0.1', port: 0 })).replace('localhost', '127.0.0.1');
  const config = testConfig(testFile, o.env, providersUrl);
  const client = await connectClient(config);
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let connection: NativeConnection | undefined;
  const newWorker = async () => {
    const conn = await NativeConnection.connect({ address: config.temporal.address });
    const w = await createWorker({
      config,
      connection: conn,
      client,
      workflowBundlePath: inject('workflowBundlePath'),
      activityDeps: o.activityDeps,
      workerOptions: o.workerOptions,
    });
    return { conn, w, run: w.run() };
  };
  if (o.worker !== false) {
    const first = await newWorker();
    [connection, worker, running] = [first.conn, first.w, first.run];
    if (o.healthChecks !== false) await startHealthChecks(client, config);
  }
  return {
    config,
    client,
    get worker() {
      if (!worker) throw new Error('no worker in this stack');
      return worker;
    },
    providersUrl,
    sandbox,
    admin: new SandboxAdmin(providersUrl),
    async startOrder(partial = {}, input = {}) {
      const order = sampleOrder(partial);
      // As the API starts it, with a short first retry so tests don't wait on backoff.
      return client.workflow.start<typeof orderFulfillment>(
        WORKFLOW_TYPES.order,
        orderStartOptions(config, order, { policy: { stepRetryInitialMs: 200, ...input.policy } }),
      );
    },
    async status(orderId) {
      return client.workflow.getHandle(orderWorkflowId(orderId)).query(statusQuery);
    },
    async restartWorker() {
      const next = await newWorker();
      if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection?.close();
      [connection, worker, running] = [next.conn, next.w, next.run];
    },
    async stop() {
      if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection?.close();
      await client.connection.close();
      await sandbox.close();
    },
  };
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(fn: () => Promise<T | undefined | false | null>, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
