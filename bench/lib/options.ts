/**
 * Benchmark options: `--name=value` on the command line or `BENCH_NAME` in the environment (the
 * command line wins). `BENCH_QUICK=1` (or `--quick`) shrinks every size for a smoke run.
 */

export const BENCHMARKS = ['apiOverhead', 'throughput', 'redrive', 'redriveSharded', 'worker'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

export interface BenchOptions {
  quick: boolean;
  /** Benchmarks to run (`--only=a,b`); `worker` is measured during `throughput`. */
  only: Set<BenchmarkName>;
  /** apiOverhead: concurrent requests in flight, per side. */
  apiConcurrency: number;
  /** apiOverhead: measured requests per side (API and raw client). */
  apiRequests: number;
  /** apiOverhead: the sides alternate in time slices of this many ms. */
  apiSliceMs: number;
  /** apiOverhead: requests per side of the extra one-at-a-time comparison (in the details). */
  apiSerialRequests: number;
  /** throughput: orders (and baseline workflows) per measured batch. */
  orders: number;
  /** throughput: batches per kind, run as baseline, orders, orders, baseline… to cancel drift. */
  throughputRounds: number;
  /** How many workflow starts the load generator keeps in flight (throughput, redrive). */
  startConcurrency: number;
  /** redrive: orders parked before logistics comes back. */
  parked: number;
  /** redrive: wait until every order completes, however long (default: 1.2× the drain target, then extrapolate). */
  fullDrain: boolean;
  /** DLQ shards of the sharded redrive run. */
  shards: number;
  /** REDRIVE_RATE_PER_SECOND of the worker. */
  redriveRate: number;
  /** HEALTH_CHECK_INTERVAL_MS of the worker. */
  healthIntervalMs: number;
  /** LOG_LEVEL of the worker and API child processes. */
  logLevel: string;
  /** Extra worker options (JSON), e.g. `{"maxCachedWorkflows":500}`: for trying variants. */
  workerOptions: Record<string, unknown>;
  /** Extra activity dependencies (JSON), e.g. `{"healthCacheMs":60000}`: for trying variants. */
  activityDeps: Record<string, unknown>;
  /** The workflows barrel the worker bundles (default bench/workflows.ts): for trying workflow variants. */
  workflows: string | undefined;
  /** Extra `--dynamic-config-value` pairs for the dev server (JSON). */
  devServerConfig: Record<string, unknown>;
  /** Child processes to run under `--cpu-prof` (`api`, `worker`). */
  profile: Set<'api' | 'worker'>;
  /** Keep the temp dir (SQLite file, logs, profiles). */
  keep: boolean;
  /** Where the JSON goes. */
  out: string;
}

export class OptionError extends Error {
  override name = 'OptionError';
}

type Source = Record<string, string | undefined>;

function toEnvName(flag: string): string {
  return `BENCH_${flag.replace(/[A-Z]/g, (c) => `_${c}`).replace(/-/g, '_').toUpperCase()}`;
}

/** `--orders=50` → { ORDERS: '50' }-style lookup by BENCH_ name; flags without a value are "1". */
function parseArgv(argv: string[]): Source {
  const out: Source = {};
  for (const arg of argv) {
    const match = /^--([A-Za-z][\w-]*)(?:=(.*))?$/.exec(arg);
    if (!match?.[1]) throw new OptionError(`unknown argument "${arg}" (options are --name=value; see bench/README.md)`);
    out[toEnvName(match[1])] = match[2] ?? '1';
  }
  return out;
}

export function parseOptions(argv: string[] = process.argv.slice(2), env: Source = process.env): BenchOptions {
  const src: Source = { ...env, ...parseArgv(argv) };
  const quick = flag(src, 'BENCH_QUICK', false);
  const int = (name: string, normal: number, small: number, min = 1): number => {
    const raw = src[name];
    if (raw === undefined || raw === '') return quick ? small : normal;
    if (!/^\d+$/.test(raw.trim()) || Number(raw) < min) throw new OptionError(`${name} must be a whole number ≥ ${min}, got "${raw}"`);
    return Number(raw);
  };
  const json = (name: string): Record<string, unknown> => {
    const raw = src[name];
    if (raw === undefined || raw === '') return {};
    try {
      const value: unknown = JSON.parse(raw);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
      return value as Record<string, unknown>;
    } catch {
      throw new OptionError(`${name} must be a JSON object, got "${raw}"`);
    }
  };

  const onlyRaw = src.BENCH_ONLY ?? '';
  const only = new Set<BenchmarkName>();
  for (const name of onlyRaw.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(BENCHMARKS as readonly string[]).includes(name)) throw new OptionError(`--only: unknown benchmark "${name}" (one of ${BENCHMARKS.join(', ')})`);
    only.add(name as BenchmarkName);
  }
  if (only.size === 0) for (const name of BENCHMARKS) only.add(name);

  const profile = new Set<'api' | 'worker'>();
  for (const name of (src.BENCH_PROFILE ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    if (name !== 'api' && name !== 'worker') throw new OptionError(`BENCH_PROFILE: one of api, worker; got "${name}"`);
    profile.add(name);
  }

  return {
    quick,
    only,
    apiConcurrency: int('BENCH_CONCURRENCY', 16, 8),
    apiRequests: int('BENCH_API_REQUESTS', 2000, 200),
    apiSliceMs: int('BENCH_API_SLICE_MS', 500, 500, 50),
    apiSerialRequests: int('BENCH_API_SERIAL_REQUESTS', 100, 40),
    orders: int('BENCH_ORDERS', 300, 40),
    throughputRounds: int('BENCH_THROUGHPUT_ROUNDS', 2, 1),
    startConcurrency: int('BENCH_START_CONCURRENCY', 32, 16),
    parked: int('BENCH_PARKED', 1000, 60),
    fullDrain: flag(src, 'BENCH_FULL_DRAIN', false),
    shards: int('BENCH_SHARDS', 4, 4),
    redriveRate: int('BENCH_REDRIVE_RATE', 20, 20),
    healthIntervalMs: int('BENCH_HEALTH_INTERVAL_MS', 5000, 2000, 100),
    logLevel: src.BENCH_LOG_LEVEL ?? 'info',
    workerOptions: json('BENCH_WORKER_OPTIONS'),
    activityDeps: json('BENCH_ACTIVITY_DEPS'),
    workflows: src.BENCH_WORKFLOWS || undefined,
    devServerConfig: json('BENCH_DEV_SERVER_CONFIG'),
    profile,
    keep: flag(src, 'BENCH_KEEP', false),
    out: src.BENCH_OUT ?? 'bench/results/latest.json',
  };
}

function flag(src: Source, name: string, fallback: boolean): boolean {
  const raw = src[name];
  if (raw === undefined || raw === '') return fallback;
  return ['1', 'true', 'yes'].includes(raw.trim().toLowerCase());
}
