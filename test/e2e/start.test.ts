/**
 * `npm start` end to end: the real launcher as a child process (its own embedded dev server, SQLite file
 * in a temp DATA_DIR), orders over HTTP, a clean Ctrl-C that leaves no dev server behind, and a second
 * start on the same DATA_DIR that still knows the first run's orders. Plus the one-line failures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/temporal/dev-server';

const ROOT = join(__dirname, '../..');
const BANNER = 'Press Ctrl-C to stop.';

interface Launched {
  child: ChildProcess;
  output(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(text: string, timeoutMs: number): Promise<void>;
}

const launched: Launched[] = [];
const devServerPids: number[] = [];
const tmpDirs: string[] = [];

/**
 * `node --import tsx src/start.ts`, or with `via: 'npm'` the real `npm start` in its own process group
 * (as in a terminal, where Ctrl-C reaches npm, tsx, the launcher and the dev server alike).
 * Only what the launcher needs in the environment: no stray PAYLOAD_ENCRYPTION_KEY or API_TOKENS.
 */
function launch(env: Record<string, string>, via: 'node' | 'npm' = 'node'): Launched {
  const [command, args] = via === 'npm' ? ['npm', ['start']] : [process.execPath, ['--import', 'tsx', 'src/start.ts']];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TMPDIR: tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: via === 'npm',
  });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    for (const w of waiters) w();
  });
  child.stderr.on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve({ code, signal });
      for (const w of waiters) w();
    });
  });
  const run: Launched = {
    child,
    output: () => `--- stdout\n${out}\n--- stderr\n${err}`,
    stderr: () => err,
    exited,
    waitFor(text, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms\n${run.output()}`)), timeoutMs);
        const check = (): void => {
          if (out.includes(text)) {
            clearTimeout(timer);
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            reject(new Error(`the launcher exited (${child.exitCode ?? child.signalCode}) before "${text}"\n${run.output()}`));
          }
        };
        waiters.push(check);
        check();
      });
    },
  };
  launched.push(run);
  return run;
}

/**
 * SIGINT to the launcher, or with `group` to its whole process group, as a terminal's Ctrl-C does.
 * `echo`: the same SIGINT again 50 ms later, as tsx relays it when the launcher is slow to confirm it.
 */
async function stopWithCtrlC(
  run: Launched,
  o: { group?: boolean; echo?: boolean; timeoutMs?: number } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  if (o.group && run.child.pid) process.kill(-run.child.pid, 'SIGINT');
  else run.child.kill('SIGINT');
  if (o.echo) {
    await new Promise((r) => setTimeout(r, 50));
    run.child.kill('SIGINT');
  }
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    run.exited,
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (result === 'timeout') throw new Error(`the launcher did not exit within ${timeoutMs} ms of SIGINT\n${run.output()}`);
  return result;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function poll<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      last = `: ${err instanceof Error ? err.message : JSON.stringify(err)}`;
    }
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms${last}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function json<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T };
}

interface OrderView {
  orderId: string;
  status: string;
  trackingNumber: string | null;
  steps: Array<{ name: string; status: string }>;
}

function order(orderId: string, withBox: boolean): Record<string, unknown> {
  return {
    orderId,
    customer: { id: 'c-42', email: 'ann@example.com', name: 'Ann Lee' },
    courseId: 'phonics-101',
    ...(withBox
      ? {
          box: { sku: 'BOX-PHONICS', quantity: 1 },
          shippingAddress: { name: 'Ann Lee', line1: '1 Main St', city: 'Springfield', region: 'IL', postalCode: '62701', country: 'US' },
        }
      : {}),
  };
}

afterAll(async () => {
  for (const run of launched) {
    if (run.child.exitCode !== null || run.child.signalCode !== null || !run.child.pid) continue;
    try {
      process.kill(-run.child.pid, 'SIGKILL'); // npm start: its whole group
    } catch {
      run.child.kill('SIGKILL');
    }
  }
  for (const pid of devServerPids) {
    if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  }
  if (!process.env.KEEP_TEST_DATA) for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('runs everything, fulfils orders, stops cleanly on Ctrl-C and keeps its state for the next start', { timeout: 150_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'order-fulfillment-e2e-'));
    tmpDirs.push(dataDir);
    const [port, providersPort, metricsPort, temporalPort, uiPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const env = {
      PORT: String(port),
      PROVIDERS_PORT: String(providersPort),
      METRICS_PORT: String(metricsPort),
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      TEMPORAL_UI_PORT: String(uiPort),
      DATA_DIR: dataDir,
      HEALTH_CHECK_INTERVAL_MS: '500',
      LOG_LEVEL: 'warn',
      TEMPORAL_CLI: inject('temporalCli'),
    };
    const api = `http://127.0.0.1:${port}`;

    // First run: everything up, the banner names every URL.
    const first = launch(env);
    await first.waitFor(BANNER, 90_000);
    const banner = first.output();
    for (const url of [api, `${api}/docs`, `http://127.0.0.1:${uiPort}`, `http://127.0.0.1:${providersPort}`, `http://127.0.0.1:${metricsPort}/metrics`]) {
      expect(banner, `banner names ${url}`).toContain(url);
    }
    const devServerPid = Number(readFileSync(join(dataDir, 'temporal.db.pid'), 'utf8'));
    devServerPids.push(devServerPid);
    expect(isRunning(devServerPid)).toBe(true);

    // Five orders: two course-only, three with a box.
    const run = randomUUID().slice(0, 8);
    const orders = [
      { id: `E-${run}-1`, box: false },
      { id: `E-${run}-2`, box: false },
      { id: `E-${run}-3`, box: true },
      { id: `E-${run}-4`, box: true },
      { id: `E-${run}-5`, box: true },
    ];
    for (const o of orders) {
      const res = await json<{ orderId: string; status: string }>(`${api}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(order(o.id, o.box)),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      expect(res.body).toMatchObject({ orderId: o.id, status: 'accepted' });
    }
    const views = await Promise.all(
      orders.map((o) =>
        poll(
          async () => {
            const { status, body } = await json<OrderView>(`${api}/orders/${o.id}`);
            return status === 200 && body.status === 'completed' ? body : undefined;
          },
          45_000,
          `order ${o.id} completed`,
        ),
      ),
    );
    for (const [i, view] of views.entries()) {
      if (orders[i]?.box) expect(view.trackingNumber, view.orderId).toMatch(/\S/);
      else {
        expect(view.trackingNumber, view.orderId).toBeNull();
        expect(view.steps.filter((s) => s.status === 'done').map((s) => s.name)).toEqual(['grantCourseAccess']);
      }
    }

    // No provider did anything twice.
    const stats = await json<Record<string, { effects: number; duplicateEffects: number }>>(`http://127.0.0.1:${providersPort}/admin/providers`);
    expect(Object.keys(stats.body).sort()).toEqual(['courses', 'inventory', 'logistics', 'packing']);
    for (const [name, s] of Object.entries(stats.body)) expect(s.duplicateEffects, name).toBe(0);
    expect(stats.body.courses?.effects).toBe(5);
    expect(stats.body.logistics?.effects).toBe(3);

    // The Web UI answers.
    await poll(
      async () => ((await fetch(`http://127.0.0.1:${uiPort}/`)).status === 200 ? true : undefined),
      15_000,
      'Web UI answering 200',
    );

    // Ctrl-C (delivered twice in quick succession, as npm and tsx can): exit 0 in time, not a forced
    // exit, the components stopped in reverse order and the dev server gone with them.
    const exit = await stopWithCtrlC(first, { echo: true });
    expect(exit, first.output()).toEqual({ code: 0, signal: null });
    expect(isRunning(devServerPid), 'the dev server outlived the launcher').toBe(false);
    expect(first.output()).toMatch(/API stopped[\s\S]*worker stopped[\s\S]*providers stopped[\s\S]*Temporal dev server stopped/);

    // Second run, as `npm start`, on the same DATA_DIR: the first run's orders are still there.
    const second = launch(env, 'npm');
    await second.waitFor(BANNER, 90_000);
    const secondPid = Number(readFileSync(join(dataDir, 'temporal.db.pid'), 'utf8'));
    devServerPids.push(secondPid);
    for (const o of orders) {
      const { status, body } = await json<OrderView>(`${api}/orders/${o.id}`);
      expect(status, o.id).toBe(200);
      expect(body.status, o.id).toBe('completed');
    }
    // A terminal's Ctrl-C reaches the launcher more than once (directly, and relayed by npm and tsx):
    // still one clean stop (the launcher prints "stopped" only when it exits 0), not a forced exit.
    // npm itself may end by re-raising the SIGINT, as it does in a terminal.
    const again = await stopWithCtrlC(second, { group: true });
    expect([0, 'SIGINT'], second.output()).toContain(again.code ?? again.signal);
    expect(second.output()).not.toContain('exiting now');
    expect(second.output()).toMatch(/Temporal dev server stopped\nstopped\n/);
    expect(isRunning(secondPid), 'the dev server outlived npm start').toBe(false);
  });

  it('stops at once with one line naming the variable on bad configuration', { timeout: 30_000 }, async () => {
    const run = launch({ PORT: 'abc', DATA_DIR: join(tmpdir(), `order-fulfillment-unused-${randomUUID()}`) });
    const exit = await run.exited;
    expect(exit.code, run.output()).toBe(1);
    const lines = run.stderr().trim().split('\n');
    expect(lines, run.output()).toHaveLength(1);
    expect(lines[0]).toContain('PORT');
  });

  it('stops at once with one line naming the variable when a port is taken', { timeout: 30_000 }, async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    const takenPort = typeof address === 'object' && address ? address.port : 0;
    const dataDir = mkdtempSync(join(tmpdir(), 'order-fulfillment-e2e-'));
    tmpDirs.push(dataDir);
    try {
      const [port, metricsPort, temporalPort, uiPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
      const run = launch({
        PORT: String(port),
        PROVIDERS_PORT: String(takenPort),
        METRICS_PORT: String(metricsPort),
        TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
        TEMPORAL_UI_PORT: String(uiPort),
        DATA_DIR: dataDir,
        TEMPORAL_CLI: inject('temporalCli'),
      });
      const exit = await run.exited;
      expect(exit.code, run.output()).toBe(1);
      const lines = run.stderr().trim().split('\n');
      expect(lines, run.output()).toHaveLength(1);
      expect(lines[0]).toMatch(/PROVIDERS_PORT.*in use/);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
