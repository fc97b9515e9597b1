/**
 * The bench's own stack: a Temporal dev server (fresh SQLite file in WAL mode in a temp dir, free
 * ports), the sandbox providers (in this process), the workflows bundled once, and the worker and API
 * as child processes with the service's configuration in their environment.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { type Config, loadConfig } from '../../src/config';
import { startProviders, type RunningProviders } from '../../src/providers/server';
import { resolveTemporalCli } from '../../src/temporal/cli';
import { connectClient } from '../../src/temporal/connection';
import { type DevServer, freePort, startDevServer } from '../../src/temporal/dev-server';
import { PROVIDERS, type ProviderName } from '../../src/workflows/definitions';
import type { BenchOptions } from './options';

const ROOT = join(__dirname, '..', '..');

export type Env = Record<string, string>;

export interface BenchStack {
  dir: string;
  cliPath: string;
  server: DevServer;
  providers: RunningProviders;
  admin: SandboxAdmin;
  bundlePath: string;
  /** The service's environment for one namespace (and optional overrides). */
  env(namespace: string, overrides?: Env): Env;
  config(env: Env): Config;
  client(config: Config): Promise<Client>;
  startWorker(env: Env, label: string): Promise<Child>;
  startApi(env: Env, label: string): Promise<Child & { url: string }>;
  stop(): Promise<void>;
}

export interface Child {
  process: ChildProcess;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

export class SandboxAdmin {
  constructor(readonly url: string) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`sandbox ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  setProvider(name: ProviderName, state: 'up' | 'down'): Promise<unknown> {
    return this.call('PUT', `/admin/providers/${name}`, { state });
  }

  stats(): Promise<Record<ProviderName, { state: string; requests: number; effects: number; duplicateEffects: number }>> {
    return this.call('GET', '/admin/providers');
  }

  async duplicateEffects(): Promise<number> {
    return Object.values(await this.stats()).reduce((sum, s) => sum + s.duplicateEffects, 0);
  }

  reset(): Promise<unknown> {
    return this.call('POST', '/admin/reset', {});
  }
}

const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };
function noop(): void {}

export async function startBenchStack(opts: BenchOptions, namespaces: string[], say: (line: string) => void): Promise<BenchStack> {
  const dir = mkdtempSync(join(tmpdir(), 'order-fulfillment-bench-'));
  mkdirSync(join(dir, 'data'), { recursive: true });
  const key = randomBytes(32).toString('base64');
  const cliPath = await resolveTemporalCli(say);
  const address = `127.0.0.1:${await freePort()}`;

  say(`temp dir ${dir}; starting the Temporal dev server at ${address} and bundling the workflows…`);
  const started = await Promise.allSettled([
    startDevServer({
      cliPath,
      address,
      namespace: 'default',
      extraNamespaces: namespaces,
      uiPort: 0,
      headless: true,
      dbFile: join(dir, 'temporal.db'),
      dynamicConfig: opts.devServerConfig,
    }),
    bundleWorkflowCode({ workflowsPath: opts.workflows ? resolve(opts.workflows) : join(__dirname, '..', 'workflows.ts'), logger: quietLogger }),
    startProviders({ host: '127.0.0.1', port: 0 }),
  ] as const);
  const [serverResult, bundleResult, providersResult] = started;
  if (serverResult.status === 'rejected' || bundleResult.status === 'rejected' || providersResult.status === 'rejected') {
    // Leave nothing running behind us.
    if (serverResult.status === 'fulfilled') await serverResult.value.stop();
    if (providersResult.status === 'fulfilled') await providersResult.value.close();
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    throw failed?.reason instanceof Error ? failed.reason : new Error(String(failed?.reason));
  }
  const server = serverResult.value;
  const bundle = bundleResult.value;
  const providers = providersResult.value;
  const bundlePath = join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  const children = new Set<Child>();
  const clients = new Set<Client>();

  const env = (namespace: string, overrides: Env = {}): Env => ({
    HOST: '127.0.0.1',
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    TEMPORAL_TASK_QUEUE: 'order-fulfillment',
    EMBEDDED_TEMPORAL: 'false',
    DATA_DIR: join(dir, 'data'),
    PAYLOAD_ENCRYPTION_KEY: key,
    API_TOKENS: '',
    LOG_LEVEL: opts.logLevel,
    HEALTH_CHECK_INTERVAL_MS: String(opts.healthIntervalMs),
    REDRIVE_RATE_PER_SECOND: String(opts.redriveRate),
    DLQ_SHARDS: '1',
    ...Object.fromEntries(PROVIDERS.map((p) => [`PROVIDER_${p.toUpperCase()}_URL`, `${providers.url}/${p}`])),
    ...overrides,
  });

  let seq = 0;
  async function spawnChild(entry: string, childEnv: Env, label: string, profiled: boolean): Promise<{ child: Child; ready: { url?: string } }> {
    const logFile = join(dir, `${++seq}-${label}.log`);
    const fd = openSync(logFile, 'a');
    const execArgv = ['--import', 'tsx'];
    // One directory per child: Node writes a profile per thread (the main one is the biggest).
    if (profiled) execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(dir, 'profiles', `${seq}-${label}`)}`);
    const proc = fork(join(__dirname, '..', 'processes', entry), [], {
      cwd: ROOT,
      env: { ...process.env, ...childEnv },
      execArgv,
      stdio: ['ignore', fd, fd, 'ipc'],
    });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const ready = await new Promise<{ url?: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label} did not start within 120 s; see ${logFile}`)), 120_000);
      proc.on('message', (msg: { type?: string; url?: string }) => {
        if (msg?.type === 'ready') {
          clearTimeout(timer);
          resolve(msg);
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${label} exited (${signal ?? `code ${code}`}) before it was ready:\n${tail(logFile)}`));
      });
    });
    const child: Child = {
      process: proc,
      pid: proc.pid ?? 0,
      logFile,
      async stop() {
        children.delete(child);
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        if (proc.connected) proc.send({ type: 'stop' });
        else proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      },
    };
    children.add(child);
    return { child, ready };
  }

  return {
    dir,
    cliPath,
    server,
    providers,
    admin: new SandboxAdmin(providers.url),
    bundlePath,
    env,
    config: (e) => loadConfig(e),
    async client(config) {
      const client = await connectClient(config);
      clients.add(client);
      return client;
    },
    async startWorker(childEnv, label) {
      const { child } = await spawnChild('worker.ts', { ...childEnv, METRICS_PORT: String(await freePort()), BENCH_WORKFLOW_BUNDLE: bundlePath, BENCH_WORKER_OPTIONS: JSON.stringify(opts.workerOptions), BENCH_ACTIVITY_DEPS: JSON.stringify(opts.activityDeps) }, label, opts.profile.has('worker'));
      return child;
    },
    async startApi(childEnv, label) {
      const { child, ready } = await spawnChild('api.ts', { ...childEnv, PORT: String(await freePort()) }, label, opts.profile.has('api'));
      if (!ready.url) throw new Error('the API child did not say its URL');
      return { ...child, url: ready.url };
    },
    async stop() {
      await Promise.allSettled([...children].map((c) => c.stop()));
      await Promise.allSettled([...clients].map((c) => c.connection.close()));
      await providers.close();
      await server.stop();
      if (!opts.keep && opts.profile.size === 0) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Resident set size of a process, from /proc (Linux). `hwm`: its peak so far. */
export function rssMb(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `intervalMs` until stopped; returns the peak seen. */
export function sampleRss(pid: number, intervalMs = 200): { stop(): { peakMb: number; samples: number } } {
  let peak = 0;
  let samples = 0;
  const take = () => {
    const r = rssMb(pid);
    if (r && Number.isFinite(r.rss)) {
      peak = Math.max(peak, r.rss);
      samples++;
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakMb: peak, samples };
    },
  };
}
