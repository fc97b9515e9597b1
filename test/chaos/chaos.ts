/**
 * The chaos scenario, as a function with parameters (`runChaos`): every component a separate process
 * (`node --import tsx src/temporal/main.ts`, `src/workers/main.ts`, `src/api/server.ts`,
 * `src/providers/server.ts`), a load of orders over HTTP at bounded concurrency, and while it runs:
 * providers flapping (down/up, failure rates, latency above PROVIDER_TIMEOUT_MS), the worker killed -9
 * and restarted, the Temporal dev server killed -9 and restarted on the same SQLite file and ports, the
 * API stopped with SIGTERM and with SIGKILL. Then everything heals, an operator settles the orders that
 * were refused for lack of stock (half restocked and redriven, half discarded, through the API), and
 * the run waits (bounded) until every accepted order is terminal.
 *
 * What "accepted" means: an order that ever got a 2xx to its POST. A client that got no answer (API
 * down, connection reset) retries the same orderId with the same body, and the API answers 200 for one
 * that exists. Orders the load never got accepted are posted once more after healing.
 *
 * The plan (which orders, which SKU, which get cancelled, the fault sequence, the chaos event times)
 * comes from one seed; the interleaving with real processes does not, and need not.
 *
 * Every child runs in its own process group (the dev server in its own too) and is killed with it:
 * `killAllChaosProcesses()` is safe to call from `afterAll` and also runs on process exit.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { freePort } from '../../src/temporal/dev-server';
import { type DeadLetterEntry, type OrderStatus, type OrderView, PROVIDERS, type ProviderName, TERMINAL_ORDER_STATUSES } from '../../src/workflows/definitions';

const ROOT = join(__dirname, '../..');
const TASK_QUEUE = 'order-fulfillment';
const NAMESPACE = 'default';
const LIMITED_SKU = 'BOX-LIMITED';
const HEALTH_CHECK_INTERVAL_MS = 1000;
const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------------
// Options and report
// ---------------------------------------------------------------------------------------------------

export interface ChaosOptions {
  /** Names the work directory and the order IDs. */
  name: string;
  /** The Temporal CLI (carries the dev server). */
  temporalCli: string;
  seed: number;
  /** Orders to submit. */
  orders: number;
  /** Submissions are spread evenly over this window; the chaos happens inside it too. */
  loadDurationMs: number;
  /** Most POSTs in flight at once. */
  concurrency: number;
  /** Share of course-only orders (no box). */
  courseOnlyShare: number;
  /** Share of box orders on the SKU whose stock is limited. */
  limitedShare: number;
  /** Stock of that SKU, as a share of the orders planned on it. */
  limitedStockShare: number;
  /** Share of orders an operator cancels through the API shortly after acceptance. */
  cancelShare: number;
  workerKills: number;
  serverKills: number;
  /** API restarts, in any order: each kind once in the full run. */
  apiRestarts: Array<'SIGTERM' | 'SIGKILL'>;
  /** Mean time between two provider fault changes. */
  flapIntervalMs: number;
  /** The most the heal-and-settle phase may take. */
  settleTimeoutMs: number;
  /**
   * From this long into the settle phase, the operator redrives `unavailable` entries that are overdue:
   * 20 s past the time their queue should have retried them by itself, their provider up. Each one is
   * reported in `rescued`, with the dead-letter queue's history kept as evidence.
   */
  rescueAfterMs: number;
  /** Rescued orders are not a violation (the short run, while the bug behind them is open). */
  tolerateRescues?: boolean;
  /** Keep the work directory (logs, SQLite file, evidence) even when all went well. */
  keepData?: boolean;
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  submitted: number;
  accepted: number;
  /** Accepted only by a retry that found the order already there (the first answer was lost). */
  acceptedOnRetry: number;
  postAttempts: number;
  completed: number;
  failed: number;
  cancelled: number;
  completedWithBox: number;
  /** Accepted orders whose workflow does not exist. */
  missing: string[];
  /** Accepted orders not terminal when the wait ended, with their last status. */
  notTerminal: Array<{ orderId: string; status: string }>;
  /** Order workflows that no submitted orderId explains. */
  unknownWorkflows: string[];
  /** Answers that should never happen (a 400 or 409 to a well-formed, unchanged body, a 404 for an accepted order, …). */
  anomalies: string[];
  workerKills: number;
  serverKills: number;
  apiRestarts: number;
  /** Exits nobody asked for, per component (the harness restarts them, as a supervisor would). */
  unexpectedExits: Record<string, number>;
  providerFaultChanges: number;
  cancelRequested: number;
  cancelTooLate: number;
  /** Orders parked at least once (from their histories), and parks in total. */
  parkedAtSomePoint: number;
  parks: number;
  /** Out-of-stock orders settled by the operator. */
  operatorRedrives: number;
  operatorDiscards: number;
  /** `unavailable` entries that did not come back on their own with every provider healthy (see `rescueAfterMs`). */
  rescued: Array<{ orderId: string; provider: ProviderName; step: string; parkCount: number; parkedAt: string }>;
  tolerateRescues: boolean;
  /** Workflow task failures in order histories, by cause. Benign: UNHANDLED_COMMAND. */
  workflowTaskFailures: Record<string, number>;
  /** Workflows whose latest workflow task is failing (stuck), with the failure. */
  stuckWorkflows: Array<{ workflowId: string; attempt: number }>;
  /** Dead-letter entries left when every order was terminal. */
  deadLettersLeft: number;
  sandbox: Record<ProviderName, { requests: number; effects: number; duplicateEffects: number }>;
  /** Effects of logistics (one shipment per order) against completed box orders: equal when exactly-once. */
  shipments: number;
  loadMs: number;
  settleMs: number;
  elapsedMs: number;
  workDir: string;
  /** Files with evidence about orders that went wrong. */
  evidence: string[];
}

// ---------------------------------------------------------------------------------------------------
// Small tools
// ---------------------------------------------------------------------------------------------------

/** mulberry32: a tiny seeded PRNG, in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

const isTerminal = (status: string | undefined): boolean => TERMINAL_ORDER_STATUSES.includes(status as OrderStatus);

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i] as T, i);
  });
  await Promise.all(lanes);
}

type HttpResult = { status: number; body: unknown } | { status: 0; error: string };

async function http(method: string, url: string, body?: unknown, timeoutMs = 15_000): Promise<HttpResult> {
  try {
    const res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed };
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string }; message?: string };
    return { status: 0, error: e.cause?.code ?? e.name ?? e.message ?? String(err) };
  }
}

// ---------------------------------------------------------------------------------------------------
// Child processes, each in its own process group
// ---------------------------------------------------------------------------------------------------

/** Process groups and dev server pids started by this module (for the last-resort cleanup). */
const liveGroups = new Set<number>();
const devServers = new Map<number, string>();

function procCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** SIGKILL every process group and dev server this module started. Synchronous; safe to call twice. */
export function killAllChaosProcesses(): void {
  for (const pgid of liveGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  liveGroups.clear();
  for (const [pid, dbFile] of devServers) {
    // Only if it is still the dev server on our file (a pid may have been reused).
    if (!procCmdline(pid).includes(dbFile)) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  devServers.clear();
}
process.once('exit', killAllChaosProcesses);

type ComponentName = 'temporal' | 'worker' | 'api' | 'providers';

const SCRIPTS: Record<ComponentName, string> = {
  temporal: 'src/temporal/main.ts',
  worker: 'src/workers/main.ts',
  api: 'src/api/server.ts',
  providers: 'src/providers/server.ts',
};

const READY_LINE: Partial<Record<ComponentName, string>> = {
  temporal: 'temporal ready at',
  api: 'api ready at',
  providers: 'providers ready at',
};

interface ComponentContext {
  env: Record<string, string>;
  logDir: string;
  log: (line: string) => void;
  /** Extra readiness (the worker: its poller shows on the task queue). */
  readyCheck?: (pid: number) => Promise<boolean>;
  /** Called after each start with the child's pid. */
  onStarted?: (pid: number) => void;
  onUnexpectedExit: (name: ComponentName) => void;
}

class Component {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private expectingExit = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly logStream: WriteStream;
  starts = 0;

  constructor(
    readonly name: ComponentName,
    private readonly ctx: ComponentContext,
  ) {
    this.logStream = createWriteStream(join(ctx.logDir, `${name}.log`), { flags: 'a' });
    this.logStream.on('error', () => undefined);
  }

  get logFile(): string {
    return join(this.ctx.logDir, `${this.name}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Operations on one component never overlap (a chaos event and the supervisor, say). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  start(): Promise<void> {
    return this.serial(() => this.startNow());
  }

  ensureRunning(): Promise<void> {
    return this.serial(async () => {
      if (!this.running()) await this.startNow();
    });
  }

  /** Kill (signal to the whole group), wait for the exit, pause, start again and wait until ready. */
  restart(signal: NodeJS.Signals, pauseMs: number, beforeKill?: () => void): Promise<void> {
    return this.serial(async () => {
      // Set before `beforeKill`: killing what the child watches (the dev server) may end it first.
      if (this.running()) this.expectingExit = true;
      beforeKill?.();
      await this.killNow(signal);
      await sleep(pauseMs);
      await this.startNow();
    });
  }

  stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return this.serial(() => this.killNow(signal));
  }

  private async killNow(signal: NodeJS.Signals, graceMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child?.pid || !this.running()) return;
    this.expectingExit = true;
    this.stamp(`--- harness: ${signal} to process group ${child.pid}`);
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) {
      this.ctx.log(`${this.name} did not exit within ${graceMs} ms of ${signal}: SIGKILL`);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
      await this.exited;
    }
  }

  private stamp(line: string): void {
    this.logStream.write(`${new Date().toISOString()} ${line}\n`);
  }

  private async startNow(attempts = 3): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.spawnAndWait();
        return;
      } catch (err) {
        this.ctx.log(`${this.name} failed to start (attempt ${attempt}): ${(err as Error).message}`);
        if (this.child?.pid && this.running()) {
          this.expectingExit = true;
          try {
            process.kill(-this.child.pid, 'SIGKILL');
          } catch {
            // gone
          }
          await this.exited;
        }
        if (attempt >= attempts) throw err;
        await sleep(1000 * attempt);
      }
    }
  }

  private async spawnAndWait(timeoutMs = 90_000): Promise<void> {
    this.starts++;
    this.expectingExit = false;
    this.stamp(`--- harness: start #${this.starts}`);
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPTS[this.name]], {
      cwd: ROOT,
      env: this.ctx.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    if (child.pid) liveGroups.add(child.pid);
    let out = '';
    let failed: string | undefined;
    const readyLine = READY_LINE[this.name];
    child.stdout?.on('data', (chunk: Buffer) => {
      this.logStream.write(chunk);
      if (readyLine && !out.includes(readyLine)) out = (out + chunk.toString('utf8')).slice(-10_000);
    });
    child.stderr?.on('data', (chunk: Buffer) => this.logStream.write(chunk));
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        if (child.pid) liveGroups.delete(child.pid);
        failed = `exited (${signal ?? `code ${code}`})`;
        this.stamp(`--- harness: exited (${signal ?? `code ${code}`})`);
        if (!this.expectingExit) {
          this.ctx.log(`${this.name} exited unexpectedly (${signal ?? `code ${code}`}); see ${this.logFile}`);
          this.ctx.onUnexpectedExit(this.name);
        }
        resolve();
      });
      child.once('error', (err) => {
        failed = err.message;
      });
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (failed) throw new Error(`${this.name} ${failed} before it was ready; see ${this.logFile}`);
      const lineSeen = readyLine === undefined || out.includes(readyLine);
      if (lineSeen && child.pid && (!this.ctx.readyCheck || (await this.ctx.readyCheck(child.pid)))) break;
      if (Date.now() > deadline) throw new Error(`${this.name} not ready within ${timeoutMs} ms; see ${this.logFile}`);
      await sleep(200);
    }
    if (child.pid) this.ctx.onStarted?.(child.pid);
  }
}

// ---------------------------------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------------------------------

interface PlannedOrder {
  index: number;
  orderId: string;
  body: Record<string, unknown>;
  kind: 'course' | 'box' | 'limited';
  /** Milliseconds after the load starts. */
  at: number;
  /** Cancel this long after acceptance (undefined: never). */
  cancelAfterMs: number | undefined;
  /** What the operator does if it is refused for lack of stock. */
  ifRejected: 'redrive' | 'discard';
  jitter: () => number;
  // Outcome
  accepted: boolean;
  acceptedVia: number | undefined;
  lastStatus: string | undefined;
  view: OrderView | undefined;
}

function planOrders(o: ChaosOptions, rng: () => number): PlannedOrder[] {
  const tag = `${o.name.replace(/[^A-Za-z0-9]/g, '').slice(0, 12)}-${o.seed.toString(36)}`;
  return Array.from({ length: o.orders }, (_, index) => {
    const r = rng();
    const kind: PlannedOrder['kind'] = r < o.courseOnlyShare ? 'course' : rng() < o.limitedShare ? 'limited' : 'box';
    const orderId = `CH-${tag}-${String(index).padStart(4, '0')}`;
    const body: Record<string, unknown> = {
      orderId,
      customer: { id: `c-${index % 97}`, email: `learner${index}@example.com`, name: `Learner ${index}` },
      courseId: ['phonics-101', 'numbers-201', 'shapes-301'][index % 3],
    };
    if (kind !== 'course') {
      body.box = { sku: kind === 'limited' ? LIMITED_SKU : 'BOX-PHONICS', quantity: 1 };
      body.shippingAddress = { name: `Learner ${index}`, line1: `${index} Main St`, city: 'Springfield', region: 'IL', postalCode: '62701', country: 'US' };
    }
    return {
      index,
      orderId,
      body,
      kind,
      at: Math.round((index * o.loadDurationMs) / o.orders),
      cancelAfterMs: rng() < o.cancelShare ? Math.round(300 + rng() * 4000) : undefined,
      ifRejected: rng() < 0.5 ? 'discard' : 'redrive',
      jitter: seededRandom(o.seed * 7919 + index),
      accepted: false,
      acceptedVia: undefined,
      lastStatus: undefined,
      view: undefined,
    };
  });
}

type ChaosEventKind = 'worker' | 'server' | 'api-SIGTERM' | 'api-SIGKILL';

function planEvents(o: ChaosOptions, rng: () => number): Array<{ at: number; kind: ChaosEventKind; pauseMs: number }> {
  const events: Array<{ at: number; kind: ChaosEventKind; pauseMs: number }> = [];
  const at = () => Math.round(o.loadDurationMs * (0.08 + 0.84 * rng()));
  for (let i = 0; i < o.workerKills; i++) events.push({ at: at(), kind: 'worker', pauseMs: Math.round(300 + rng() * 2500) });
  for (let i = 0; i < o.serverKills; i++) events.push({ at: at(), kind: 'server', pauseMs: Math.round(200 + rng() * 1500) });
  for (const signal of o.apiRestarts) events.push({ at: at(), kind: `api-${signal}`, pauseMs: Math.round(100 + rng() * 1000) });
  return events.sort((a, b) => a.at - b.at);
}

type Fault = { state: 'up' | 'down'; latencyMs?: number; failureRate?: number };

function nextFault(rng: () => number): Fault {
  const r = rng();
  if (r < 0.3) return { state: 'down' };
  if (r < 0.6) return { state: 'up', failureRate: Math.round((0.2 + 0.3 * rng()) * 100) / 100 };
  if (r < 0.8) return { state: 'up', latencyMs: 1500, ...(rng() < 0.5 ? { failureRate: 0.2 } : {}) };
  return { state: 'up' };
}

// ---------------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------------

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const say = (line: string): void => (o.log ?? ((l: string) => process.stdout.write(`${l}\n`)))(`[chaos ${o.name} ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);
  const rng = seededRandom(o.seed);
  const orders = planOrders(o, rng);
  const events = planEvents(o, rng);
  const faultRng = seededRandom(o.seed ^ 0x5bd1e995);

  const workDir = mkdtempSync(join(tmpdir(), `order-fulfillment-chaos-${o.name}-`));
  const dataDir = join(workDir, 'data');
  const logDir = join(workDir, 'logs');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const dbFile = join(dataDir, 'temporal.db');

  const [apiPort, providersPort, metricsPort, temporalPort, uiPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const temporalAddress = `127.0.0.1:${temporalPort}`;
  const api = `http://127.0.0.1:${apiPort}`;
  const providers = `http://127.0.0.1:${providersPort}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    TMPDIR: tmpdir(),
    HOST: '127.0.0.1',
    PORT: String(apiPort),
    PROVIDERS_PORT: String(providersPort),
    METRICS_PORT: String(metricsPort),
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_UI_PORT: String(uiPort),
    TEMPORAL_NAMESPACE: NAMESPACE,
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    TEMPORAL_CLI: o.temporalCli,
    DATA_DIR: dataDir,
    PAYLOAD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    HEALTH_CHECK_INTERVAL_MS: String(HEALTH_CHECK_INTERVAL_MS),
    PROVIDER_TIMEOUT_MS: '1000',
    STEP_MAX_ATTEMPTS: '3',
    LOG_LEVEL: 'warn',
  };
  writeFileSync(join(workDir, 'env.json'), JSON.stringify({ ...env, PAYLOAD_ENCRYPTION_KEY: '(set)' }, null, 2));
  say(`work dir ${workDir}; API ${api}, providers ${providers}, Temporal ${temporalAddress}`);

  // The harness's own view of Temporal (describe, list, histories): raw gRPC, no payload decoding needed.
  const connection = Connection.lazy({ address: temporalAddress, connectTimeout: 2000 });
  const service = connection.workflowService;
  const withDeadline = <T>(fn: () => Promise<T>, ms = 5000): Promise<T> => connection.withDeadline(Date.now() + ms, fn);

  const workerPolling = async (pid: number): Promise<boolean> => {
    try {
      const res = await withDeadline(() =>
        service.describeTaskQueue({
          namespace: NAMESPACE,
          taskQueue: { name: TASK_QUEUE, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        }),
      );
      return (res.pollers ?? []).some((p) => (p.identity ?? '').startsWith(`${pid}@`));
    } catch {
      return false;
    }
  };

  let finishing = false;
  const unexpectedExits: Record<string, number> = {};
  const components: Record<ComponentName, Component> = {} as Record<ComponentName, Component>;
  const onUnexpectedExit = (name: ComponentName): void => {
    unexpectedExits[name] = (unexpectedExits[name] ?? 0) + 1;
    if (finishing) return;
    // As a supervisor would: start it again after a moment.
    void sleep(1000).then(() => (finishing ? undefined : components[name].ensureRunning().catch((err: Error) => say(`restart of ${name} failed: ${err.message}`))));
  };
  const ctx = (extra: Partial<ComponentContext> = {}): ComponentContext => ({ env, logDir, log: say, onUnexpectedExit, ...extra });
  components.temporal = new Component(
    'temporal',
    ctx({
      onStarted: () => {
        try {
          const pid = Number(readFileSync(`${dbFile}.pid`, 'utf8').trim());
          if (pid > 0) devServers.set(pid, dbFile);
        } catch {
          // no pid file: nothing to record
        }
      },
    }),
  );
  components.providers = new Component('providers', ctx());
  components.api = new Component('api', ctx());
  components.worker = new Component('worker', ctx({ readyCheck: workerPolling }));

  const anomalies: string[] = [];
  const counters = { postAttempts: 0, acceptedOnRetry: 0, workerKills: 0, serverKills: 0, apiRestarts: 0, faults: 0, cancelRequested: 0, cancelTooLate: 0, redrives: 0, discards: 0 };
  const evidence: string[] = [];
  let loadMs = 0;
  let settleMs = 0;
  let problems = true;

  try {
    // ----- start: Temporal first, then the rest ------------------------------------------------------
    await Promise.all([components.temporal.start(), components.providers.start()]);
    await Promise.all([components.api.start(), components.worker.start()]);
    say(`all components up (${((Date.now() - started) / 1000).toFixed(1)} s)`);

    const limited = orders.filter((x) => x.kind === 'limited').length;
    const stock = Math.floor(limited * o.limitedStockShare);
    const stocked = await http('PUT', `${providers}/admin/inventory/${LIMITED_SKU}`, { stock });
    if (stocked.status !== 200) throw new Error(`cannot set the stock of ${LIMITED_SKU}: ${JSON.stringify(stocked)}`);
    say(`plan: ${orders.length} orders (${orders.filter((x) => x.kind === 'course').length} course-only, ${limited} on ${LIMITED_SKU} with stock ${stock}), ` +
      `${orders.filter((x) => x.cancelAfterMs !== undefined).length} to cancel; events: ${events.map((e) => `${e.kind}@${(e.at / 1000).toFixed(0)}s`).join(', ')}`);

    // ----- load, chaos and faults, together --------------------------------------------------------------
    const loadStart = Date.now();
    const background: Array<Promise<void>> = [];

    const cancel = async (order: PlannedOrder): Promise<void> => {
      await sleep(order.cancelAfterMs ?? 0);
      for (let attempt = 0; attempt < 20; attempt++) {
        const res = await http('POST', `${api}/orders/${order.orderId}/cancel`, { reason: 'chaos: customer changed their mind' });
        if (res.status === 202) {
          counters.cancelRequested++;
          return;
        }
        if (res.status === 409) {
          counters.cancelTooLate++;
          return;
        }
        if (res.status === 404 || res.status === 400) {
          anomalies.push(`cancel ${order.orderId}: HTTP ${res.status} ${JSON.stringify('body' in res ? res.body : '')}`);
          return;
        }
        await sleep(500 + order.jitter() * 1000);
      }
    };

    /** POST until a 2xx (or a final answer), retrying the same body when there is no answer. */
    const submit = async (order: PlannedOrder, deadline: number): Promise<void> => {
      let backoff = 200;
      for (let attempt = 1; ; attempt++) {
        counters.postAttempts++;
        const res = await http('POST', `${api}/orders`, order.body);
        if (res.status === 202 || res.status === 200) {
          order.accepted = true;
          order.acceptedVia = res.status;
          if (res.status === 200) counters.acceptedOnRetry++;
          if (attempt === 1 && res.status === 200) anomalies.push(`POST ${order.orderId}: first attempt answered 200 (already exists)`);
          if (order.cancelAfterMs !== undefined) background.push(cancel(order));
          return;
        }
        if (res.status >= 400 && res.status < 500 && res.status !== 429) {
          anomalies.push(`POST ${order.orderId}: HTTP ${res.status} ${JSON.stringify('body' in res ? res.body : '')}`);
          return;
        }
        if (Date.now() > deadline) return;
        await sleep(backoff * (0.5 + order.jitter()));
        backoff = Math.min(backoff * 2, 2000);
      }
    };

    let loadDone = false;
    const progress = setInterval(() => {
      const accepted = orders.filter((x) => x.accepted).length;
      say(`accepted ${accepted}/${orders.length}; kills: worker ${counters.workerKills}, server ${counters.serverKills}, api ${counters.apiRestarts}; faults ${counters.faults}`);
    }, 10_000);

    const load = pool(orders, o.concurrency, async (order) => {
      await sleep(loadStart + order.at - Date.now());
      await submit(order, Date.now() + 60_000);
    }).then(() => {
      loadDone = true;
    });

    const flapper = (async () => {
      while (!loadDone) {
        await sleep(o.flapIntervalMs * (0.5 + faultRng()));
        if (loadDone) break;
        const provider = PROVIDERS[Math.floor(faultRng() * PROVIDERS.length)] as ProviderName;
        const fault = nextFault(faultRng);
        const res = await http('PUT', `${providers}/admin/providers/${provider}`, fault);
        if (res.status === 200) counters.faults++;
        else say(`fault on ${provider} not applied: ${JSON.stringify(res)}`);
      }
    })();

    const chaos = (async () => {
      for (const event of events) {
        await sleep(loadStart + event.at - Date.now());
        if (event.kind === 'worker') {
          say(`kill -9 the worker (pid ${components.worker.pid})`);
          counters.workerKills++;
          await components.worker.restart('SIGKILL', event.pauseMs);
          say(`worker back (pid ${components.worker.pid})`);
        } else if (event.kind === 'server') {
          const devPid = Number(readFileSync(`${dbFile}.pid`, 'utf8').trim());
          say(`kill -9 the Temporal dev server (pid ${devPid}) and its launcher (pid ${components.temporal.pid})`);
          counters.serverKills++;
          await components.temporal.restart('SIGKILL', event.pauseMs, () => {
            try {
              process.kill(devPid, 'SIGKILL');
            } catch {
              // already gone
            }
          });
          say('Temporal dev server back on the same database file');
        } else {
          const signal = event.kind === 'api-SIGTERM' ? 'SIGTERM' : 'SIGKILL';
          say(`${signal} to the API (pid ${components.api.pid})`);
          counters.apiRestarts++;
          await components.api.restart(signal, event.pauseMs);
          say('API back');
        }
      }
    })();

    try {
      await Promise.all([load, chaos, flapper]);
      await Promise.all(background);
    } finally {
      clearInterval(progress);
    }
    loadMs = Date.now() - loadStart;
    say(`load done in ${(loadMs / 1000).toFixed(1)} s: ${orders.filter((x) => x.accepted).length}/${orders.length} accepted`);

    // ----- heal, settle ----------------------------------------------------------------------------------
    const settleStart = Date.now();
    const settleDeadline = settleStart + o.settleTimeoutMs;
    for (const p of PROVIDERS) {
      const res = await http('PUT', `${providers}/admin/providers/${p}`, { state: 'up' });
      if (res.status !== 200) throw new Error(`cannot heal ${p}: ${JSON.stringify(res)}`);
    }
    await Promise.all(Object.values(components).map((c) => c.ensureRunning()));
    // Orders whose POST never got an answer: the client posts them once more, same body.
    const stragglers = orders.filter((x) => !x.accepted);
    if (stragglers.length > 0) {
      say(`posting ${stragglers.length} never-accepted orders again`);
      await pool(stragglers, o.concurrency, (order) => submit(order, Date.now() + 60_000));
      await Promise.all(background);
    }
    const accepted = orders.filter((x) => x.accepted);
    const byId = new Map(accepted.map((x) => [x.orderId, x]));
    const actedOn = new Map<string, number>();
    const rescued: ChaosReport['rescued'] = [];
    const rescueEvidence = new Set<ProviderName>();
    let restocked = false;

    /**
     * The operator: out-of-stock entries are redriven (after a restock) or discarded, as planned; any
     * other refusal is discarded. Late in the phase, `unavailable` entries that should have come back
     * by themselves are redriven too, and reported.
     */
    const operate = async (): Promise<void> => {
      const res = await http('GET', `${api}/dead-letters`);
      if (res.status !== 200) return;
      const all = res.body as { providers: Record<ProviderName, { entries: DeadLetterEntry[] }> };
      const health = await http('GET', `${api}/providers`);
      const healthUp = new Set(
        health.status === 200 ? (health.body as { providers: Array<{ name: ProviderName; status: string }> }).providers.filter((p) => p.status === 'up').map((p) => p.name) : [],
      );
      for (const provider of PROVIDERS) {
        for (const entry of all.providers[provider]?.entries ?? []) {
          if (entry.kind !== 'rejected') {
            // Overdue: past the queue's own auto-retry time (2 health intervals, doubling per park, capped
            // at 64 times) by 20 s, with the provider healthy as its health workflow sees it.
            const dueAt = Date.parse(entry.parkedAt) + 2 * HEALTH_CHECK_INTERVAL_MS * 2 ** Math.min(Math.max(entry.parkCount - 1, 0), 6);
            const overdue = Date.now() - settleStart >= o.rescueAfterMs && Date.now() > dueAt + 20_000 && healthUp.has(provider);
            if (!overdue || rescued.some((x) => x.orderId === entry.orderId && x.parkCount === entry.parkCount)) continue;
            if (!rescueEvidence.has(provider)) {
              rescueEvidence.add(provider);
              mkdirSync(join(workDir, 'evidence'), { recursive: true });
              const file = join(workDir, 'evidence', `stuck-in-dlq-${provider}.txt`);
              const providersNow = await http('GET', `${api}/providers`);
              writeFileSync(
                file,
                [`# ${provider}: unavailable entries not redriven on their own, ${((Date.now() - settleStart) / 1000).toFixed(0)} s after healing`, JSON.stringify(all.providers[provider], null, 2), '## GET /providers', JSON.stringify(providersNow, null, 2), await cliExcerpt(o.temporalCli, temporalAddress, `dlq-${provider}`)].join('\n\n'),
              );
              evidence.push(file);
            }
            const r = await http('POST', `${api}/dead-letters/${provider}/${entry.orderId}/redrive`);
            if (r.status === 202) {
              rescued.push({ orderId: entry.orderId, provider, step: entry.step, parkCount: entry.parkCount, parkedAt: entry.parkedAt });
              say(`rescued ${entry.orderId} (${provider}, parked unavailable since ${entry.parkedAt}, parkCount ${entry.parkCount})`);
            }
            continue;
          }
          const last = actedOn.get(entry.orderId);
          if (last !== undefined && Date.now() - last < 15_000) continue;
          const order = byId.get(entry.orderId);
          if (!order) anomalies.push(`dead letter for an order nobody accepted: ${entry.orderId}`);
          if (provider !== 'inventory' || !/OUT_OF_STOCK/.test(entry.error)) anomalies.push(`unexpected refusal: ${JSON.stringify(entry)}`);
          const discard = order?.ifRejected !== 'redrive' || provider !== 'inventory';
          if (!discard && !restocked) {
            await http('PUT', `${providers}/admin/inventory/${LIMITED_SKU}`, { stock: 1_000_000 });
            restocked = true;
          }
          const r = discard
            ? await http('DELETE', `${api}/dead-letters/${provider}/${entry.orderId}?reason=${encodeURIComponent('chaos: no stock, given up')}`)
            : await http('POST', `${api}/dead-letters/${provider}/${entry.orderId}/redrive`);
          if (r.status === 202) {
            actedOn.set(entry.orderId, Date.now());
            if (discard) counters.discards++;
            else counters.redrives++;
          }
        }
      }
    };

    const refresh = async (order: PlannedOrder): Promise<void> => {
      const res = await http('GET', `${api}/orders/${order.orderId}`, undefined, 12_000);
      if (res.status === 200) {
        order.view = res.body as OrderView;
        order.lastStatus = order.view.status;
      } else if (res.status === 404) {
        order.lastStatus = 'missing (404)';
      } else {
        order.lastStatus ??= `HTTP ${res.status}`;
      }
    };

    for (let round = 0; ; round++) {
      await operate();
      const open = accepted.filter((x) => !isTerminal(x.lastStatus));
      await pool(open, 8, refresh);
      const stillOpen = accepted.filter((x) => !isTerminal(x.lastStatus));
      if (round % 5 === 0 || stillOpen.length === 0) {
        const counts: Record<string, number> = {};
        for (const x of accepted) counts[x.lastStatus ?? '?'] = (counts[x.lastStatus ?? '?'] ?? 0) + 1;
        say(`settling: ${JSON.stringify(counts)}`);
      }
      if (stillOpen.length === 0 || Date.now() > settleDeadline) break;
      await sleep(2000);
    }
    settleMs = Date.now() - settleStart;

    // ----- what happened ---------------------------------------------------------------------------------
    let deadLettersLeft = -1;
    for (const until = Date.now() + 30_000; ; ) {
      const res = await http('GET', `${api}/dead-letters`);
      if (res.status === 200) deadLettersLeft = (res.body as { total: number }).total;
      if (deadLettersLeft === 0 || Date.now() > until) break;
      await sleep(1000);
    }

    const stats = await http('GET', `${providers}/admin/providers`);
    const sandbox = (stats.status === 200 ? stats.body : {}) as ChaosReport['sandbox'];

    // Every order workflow in the namespace (visibility), to find the missing and the unexplained.
    const listed = new Set<string>();
    let pageToken: Uint8Array | undefined;
    do {
      const page = await withDeadline(() =>
        service.listWorkflowExecutions({ namespace: NAMESPACE, query: 'WorkflowType="orderFulfillment"', pageSize: 1000, nextPageToken: pageToken }),
      );
      for (const e of page.executions ?? []) if (e.execution?.workflowId) listed.add(e.execution.workflowId);
      pageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
    } while (pageToken);
    const submittedIds = new Set(orders.map((x) => `order-${x.orderId}`));
    const unknownWorkflows = [...listed].filter((id) => !submittedIds.has(id));
    const missing: string[] = [];
    for (const order of accepted) {
      if (listed.has(`order-${order.orderId}`)) continue;
      try {
        await withDeadline(() => service.describeWorkflowExecution({ namespace: NAMESPACE, execution: { workflowId: `order-${order.orderId}` } }));
      } catch {
        missing.push(order.orderId);
      }
    }

    // Histories: parks, and workflow task failures by cause.
    const EventType = temporal.api.enums.v1.EventType;
    const Cause = temporal.api.enums.v1.WorkflowTaskFailedCause;
    const workflowTaskFailures: Record<string, number> = {};
    const failuresByOrder = new Map<string, string[]>();
    let parkedAtSomePoint = 0;
    let parks = 0;
    await pool(accepted, 8, async (order) => {
      let token: Uint8Array | undefined;
      let orderParks = 0;
      do {
        const page = await withDeadline(() =>
          service.getWorkflowExecutionHistory({ namespace: NAMESPACE, execution: { workflowId: `order-${order.orderId}` }, maximumPageSize: 1000, nextPageToken: token }),
        ).catch(() => undefined);
        if (!page) break;
        for (const event of page.history?.events ?? []) {
          if (event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && event.activityTaskScheduledEventAttributes?.activityType?.name === 'parkInDeadLetterQueue') orderParks++;
          if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) {
            const attrs = event.workflowTaskFailedEventAttributes;
            const cause = Cause[attrs?.cause ?? 0] ?? String(attrs?.cause);
            workflowTaskFailures[cause] = (workflowTaskFailures[cause] ?? 0) + 1;
            const list = failuresByOrder.get(order.orderId) ?? [];
            list.push(`${cause}: ${attrs?.failure?.message ?? ''}`.slice(0, 300));
            failuresByOrder.set(order.orderId, list);
          }
        }
        token = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
      } while (token);
      if (orderParks > 0) parkedAtSomePoint++;
      parks += orderParks;
    });

    // Stuck: a workflow task that keeps failing (dead-letter queues and health checks included).
    const stuckWorkflows: ChaosReport['stuckWorkflows'] = [];
    const watched = [
      ...accepted.filter((x) => !isTerminal(x.lastStatus)).map((x) => `order-${x.orderId}`),
      ...PROVIDERS.flatMap((p) => [`dlq-${p}`, `health-${p}`]),
    ];
    for (const workflowId of watched) {
      try {
        const d = await withDeadline(() => service.describeWorkflowExecution({ namespace: NAMESPACE, execution: { workflowId } }));
        const attempt = d.pendingWorkflowTask?.attempt ?? 0;
        if (attempt > 2) stuckWorkflows.push({ workflowId, attempt });
      } catch {
        // not there (a queue never needed): nothing stuck
      }
    }

    const notTerminal = accepted.filter((x) => !isTerminal(x.lastStatus)).map((x) => ({ orderId: x.orderId, status: x.lastStatus ?? '?' }));
    const count = (status: OrderStatus) => accepted.filter((x) => x.lastStatus === status).length;
    const completedWithBox = accepted.filter((x) => x.lastStatus === 'completed' && x.kind !== 'course').length;
    for (const x of accepted) {
      if (x.lastStatus === 'completed' && x.kind !== 'course' && !x.view?.trackingNumber) anomalies.push(`${x.orderId}: completed with a box but no tracking number`);
      if (x.lastStatus === 'completed' && x.kind === 'course' && x.view?.trackingNumber) anomalies.push(`${x.orderId}: course-only but shipped`);
    }

    // Evidence for whatever went wrong: the order's view, describe, the end of its history, log lines.
    const suspects = [...new Set([...missing, ...notTerminal.map((x) => x.orderId), ...failuresByOrder.keys()])];
    const suspicious = (id: string) => missing.includes(id) || notTerminal.some((x) => x.orderId === id) || (failuresByOrder.get(id) ?? []).some((f) => !f.startsWith('WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND'));
    const evidenceDir = join(workDir, 'evidence');
    for (const orderId of suspects.filter(suspicious).slice(0, 8)) {
      mkdirSync(evidenceDir, { recursive: true });
      const file = join(evidenceDir, `${orderId}.txt`);
      writeFileSync(file, await collectEvidence(o.temporalCli, temporalAddress, api, orderId, logDir, failuresByOrder.get(orderId) ?? []));
      evidence.push(file);
    }
    for (const stuck of stuckWorkflows.filter((s) => !s.workflowId.startsWith('order-'))) {
      mkdirSync(evidenceDir, { recursive: true });
      const file = join(evidenceDir, `${stuck.workflowId}.txt`);
      writeFileSync(file, await cliExcerpt(o.temporalCli, temporalAddress, stuck.workflowId));
      evidence.push(file);
    }

    const report: ChaosReport = {
      seed: o.seed,
      submitted: orders.length,
      accepted: accepted.length,
      acceptedOnRetry: counters.acceptedOnRetry,
      postAttempts: counters.postAttempts,
      completed: count('completed'),
      failed: count('failed'),
      cancelled: count('cancelled'),
      completedWithBox,
      missing,
      notTerminal,
      unknownWorkflows,
      anomalies,
      workerKills: counters.workerKills,
      serverKills: counters.serverKills,
      apiRestarts: counters.apiRestarts,
      unexpectedExits,
      providerFaultChanges: counters.faults,
      cancelRequested: counters.cancelRequested,
      cancelTooLate: counters.cancelTooLate,
      parkedAtSomePoint,
      parks,
      operatorRedrives: counters.redrives,
      operatorDiscards: counters.discards,
      rescued,
      tolerateRescues: o.tolerateRescues ?? false,
      workflowTaskFailures,
      stuckWorkflows,
      deadLettersLeft,
      sandbox,
      shipments: sandbox.logistics?.effects ?? -1,
      loadMs,
      settleMs,
      elapsedMs: Date.now() - started,
      workDir,
      evidence,
    };
    problems =
      missing.length > 0 ||
      notTerminal.length > 0 ||
      unknownWorkflows.length > 0 ||
      stuckWorkflows.length > 0 ||
      anomalies.length > 0 ||
      evidence.some((f) => !o.tolerateRescues || !/stuck-in-dlq-/.test(f)) ||
      (rescued.length > 0 && !o.tolerateRescues) ||
      deadLettersLeft !== 0 ||
      PROVIDERS.some((p) => (sandbox[p]?.duplicateEffects ?? 1) !== 0) ||
      report.shipments !== completedWithBox;
    writeFileSync(join(workDir, 'report.json'), JSON.stringify(report, null, 2));
    return report;
  } finally {
    finishing = true;
    // Stop everything: the API and the worker first, then Temporal (gracefully, so the SQLite file
    // is closed), then the providers; anything slow is killed with its group.
    await Promise.all([components.api?.stop('SIGTERM'), components.worker?.stop('SIGTERM')].filter(Boolean));
    await components.temporal?.stop('SIGTERM');
    await components.providers?.stop('SIGTERM');
    killAllChaosProcesses();
    await connection.close().catch(() => undefined);
    if (!problems && !o.keepData && !process.env.KEEP_TEST_DATA) rmSync(workDir, { recursive: true, force: true });
    else say(`kept ${workDir} (logs, SQLite file, report.json, evidence)`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Evidence
// ---------------------------------------------------------------------------------------------------

async function cliExcerpt(cli: string, address: string, workflowId: string): Promise<string> {
  const parts: string[] = [];
  const cmd = async (args: string[]): Promise<string> => {
    try {
      const { stdout } = await run(cli, [...args, '--address', address, '--namespace', NAMESPACE], { timeout: 30_000, maxBuffer: 256 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      return `(failed: ${(err as Error).message.split('\n')[0] ?? ''})`;
    }
  };
  const describe = await cmd(['workflow', 'describe', '--workflow-id', workflowId, '-o', 'json']);
  try {
    const d = JSON.parse(describe) as Record<string, unknown>;
    const info = d.workflowExecutionInfo as Record<string, unknown> | undefined;
    parts.push(
      `## temporal workflow describe --workflow-id ${workflowId} -o json (excerpt)`,
      JSON.stringify({ status: info?.status, historyLength: info?.historyLength, pendingWorkflowTask: d.pendingWorkflowTask, pendingActivities: d.pendingActivities }, null, 2),
    );
  } catch {
    parts.push(`## temporal workflow describe --workflow-id ${workflowId}`, describe.slice(0, 4000));
  }
  // The end of the history, one line per event, with what matters: timers, signals, activities, failures.
  const show = await cmd(['workflow', 'show', '--workflow-id', workflowId, '-o', 'json']);
  try {
    const events = (JSON.parse(show) as { events: Array<Record<string, unknown>> }).events;
    const lines = events.slice(-60).map((e) => {
      const attrs = Object.entries(e).find(([k]) => k.endsWith('Attributes'))?.[1] as Record<string, unknown> | undefined;
      const detail = {
        timer: attrs?.startToFireTimeout,
        signal: attrs?.signalName,
        activity: (attrs?.activityType as { name?: string } | undefined)?.name,
        to: (attrs?.workflowExecution as { workflowId?: string } | undefined)?.workflowId,
        cause: attrs?.cause,
        failure: (attrs?.failure as { message?: string } | undefined)?.message?.slice(0, 200),
        attempt: attrs?.attempt,
      };
      const shown = Object.entries(detail).filter(([, v]) => v !== undefined && v !== null);
      return `${String(e.eventId).padStart(6)}  ${String(e.eventTime)}  ${String(e.eventType).replace(/^EVENT_TYPE_/, '')}${shown.length ? `  ${JSON.stringify(Object.fromEntries(shown))}` : ''}`;
    });
    parts.push(`## temporal workflow show --workflow-id ${workflowId} -o json (last ${lines.length} of ${events.length} events)`, lines.join('\n'));
  } catch {
    parts.push(`## temporal workflow show --workflow-id ${workflowId}`, show.slice(-6000));
  }
  return parts.join('\n\n');
}

async function collectEvidence(cli: string, address: string, api: string, orderId: string, logDir: string, failures: string[]): Promise<string> {
  const view = await http('GET', `${api}/orders/${orderId}`);
  const parts = [`# order ${orderId}`, `## GET /orders/${orderId}`, JSON.stringify(view, null, 2)];
  if (failures.length > 0) parts.push('## workflow task failures in its history', failures.join('\n'));
  parts.push(await cliExcerpt(cli, address, `order-${orderId}`));
  const parked = 'body' in view ? (view.body as { parked?: { provider?: string } | null } | undefined)?.parked : undefined;
  if (parked?.provider) parts.push(await cliExcerpt(cli, address, `dlq-${parked.provider}`));
  for (const name of ['worker', 'api', 'temporal']) {
    let lines: string[] = [];
    try {
      lines = readFileSync(join(logDir, `${name}.log`), 'utf8').split('\n').filter((l) => l.includes(orderId));
    } catch {
      // no log
    }
    parts.push(`## ${name}.log lines naming ${orderId} (last 20 of ${lines.length})`, lines.slice(-20).join('\n'));
  }
  return parts.join('\n\n');
}

// ---------------------------------------------------------------------------------------------------
// Reading the report
// ---------------------------------------------------------------------------------------------------

/** The counts, as one block for the test output. */
export function formatReport(r: ChaosReport): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const rows: Array<[string, string | number]> = [
    ['seed', r.seed],
    ['submitted', r.submitted],
    ['accepted', `${r.accepted} (${r.acceptedOnRetry} only on a retry that found the order there; ${r.postAttempts} POSTs in all)`],
    ['completed', `${r.completed} (${r.completedWithBox} with a box; logistics shipments: ${r.shipments})`],
    ['failed', `${r.failed} (operator discards: ${r.operatorDiscards})`],
    ['cancelled', `${r.cancelled} (cancels requested: ${r.cancelRequested}, refused as too late: ${r.cancelTooLate})`],
    ['not terminal', r.notTerminal.length],
    ['missing', r.missing.length],
    ['parked at some point', `${r.parkedAtSomePoint} orders, ${r.parks} parks; operator redrives: ${r.operatorRedrives}`],
    ['rescued by the operator', r.rescued.length === 0 ? 0 : `${r.rescued.length}: ${r.rescued.slice(0, 5).map((x) => `${x.orderId} (${x.provider})`).join(', ')}`],
    ['worker kills (-9)', r.workerKills],
    ['server kills (-9)', r.serverKills],
    ['API restarts', r.apiRestarts],
    ['unexpected exits', JSON.stringify(r.unexpectedExits)],
    ['provider fault changes', r.providerFaultChanges],
    ['workflow task failures', JSON.stringify(r.workflowTaskFailures)],
    ['stuck workflows', JSON.stringify(r.stuckWorkflows)],
    ['dead letters left', r.deadLettersLeft],
    ['duplicate effects', PROVIDERS.map((p) => `${p} ${r.sandbox[p]?.duplicateEffects ?? '?'}/${r.sandbox[p]?.effects ?? '?'} effects`).join(', ')],
    ['anomalies', r.anomalies.length === 0 ? 'none' : r.anomalies.slice(0, 10).join(' | ')],
    ['elapsed', `${s(r.elapsedMs)} (load ${s(r.loadMs)}, settle ${s(r.settleMs)})`],
  ];
  if (r.evidence.length > 0) rows.push(['evidence', r.evidence.join(', ')]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

/** What a chaos run must show, whatever its size: the failed expectations, empty when all is well. */
export function chaosViolations(r: ChaosReport): string[] {
  const out: string[] = [];
  if (r.rescued.length > 0 && !r.tolerateRescues) {
    out.push(
      `${r.rescued.length} orders parked "unavailable" did not come back on their own with every provider healthy and needed an operator redrive: ` +
        r.rescued.slice(0, 10).map((x) => `${x.orderId} (${x.provider}, parkCount ${x.parkCount}, parked ${x.parkedAt})`).join(', '),
    );
  }
  if (r.accepted !== r.submitted) out.push(`${r.submitted - r.accepted} orders never accepted, even after healing`);
  if (r.missing.length > 0) out.push(`accepted orders without a workflow: ${r.missing.join(', ')}`);
  if (r.notTerminal.length > 0) out.push(`orders not terminal: ${r.notTerminal.slice(0, 20).map((x) => `${x.orderId} (${x.status})`).join(', ')}`);
  if (r.unknownWorkflows.length > 0) out.push(`order workflows nobody submitted: ${r.unknownWorkflows.slice(0, 20).join(', ')}`);
  for (const p of PROVIDERS) {
    const dup = r.sandbox[p]?.duplicateEffects;
    if (dup !== 0) out.push(`${p}: duplicateEffects ${dup ?? 'unknown'}`);
  }
  if (r.shipments !== r.completedWithBox) out.push(`${r.shipments} shipments for ${r.completedWithBox} completed box orders`);
  if (r.completed + r.failed + r.cancelled !== r.accepted) out.push(`terminal counts ${r.completed}+${r.failed}+${r.cancelled} ≠ accepted ${r.accepted}`);
  if (r.stuckWorkflows.length > 0) out.push(`workflows with a failing workflow task: ${JSON.stringify(r.stuckWorkflows)}`);
  const badFailures = Object.entries(r.workflowTaskFailures).filter(([cause]) => cause !== 'WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND');
  if (badFailures.length > 0) out.push(`workflow task failures in order histories: ${JSON.stringify(Object.fromEntries(badFailures))}`);
  if (r.deadLettersLeft !== 0) out.push(`${r.deadLettersLeft} dead-letter entries left with every order terminal`);
  if (r.anomalies.length > 0) out.push(`anomalies: ${r.anomalies.slice(0, 20).join(' | ')}`);
  const evidence = r.tolerateRescues ? r.evidence.filter((f) => !/stuck-in-dlq-/.test(f)) : r.evidence;
  if (evidence.length > 0) out.push(`evidence kept in ${evidence.join(', ')}`);
  return out;
}
