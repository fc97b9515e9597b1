/**
 * `npm run bench`: starts its own stack (a Temporal dev server on a fresh SQLite file, the sandbox
 * providers, the worker and the API as child processes), runs the benchmarks, prints a table with
 * each target and writes bench/results/latest.json. Options: bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import { type ApiOverheadDetails, type ApiOverheadResult, runApiOverhead } from './benchmarks/api-overhead';
import { type RedriveDetails, type RedriveResult, runRedrive } from './benchmarks/redrive';
import { runThroughput, type ThroughputDetails, type ThroughputResult } from './benchmarks/throughput';
import { type BenchmarkName, type BenchOptions, OptionError, parseOptions } from './lib/options';
import { type BenchStack, type Child, rssMb, sampleRss, startBenchStack } from './lib/stack';
import { type Check, formatTable, round } from './lib/stats';

const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const TARGETS = {
  apiP50Ratio: 1.1,
  apiP99Ratio: 1.25,
  throughputRatio: 0.8,
  redriveRateTolerance: 0.1,
  redriveDrainSlack: 1.3,
};

interface Report {
  commit: string;
  dirty: boolean;
  date: string;
  command: string;
  durationSeconds: number;
  machine: Record<string, unknown>;
  temporal: { serverVersion: string; cli: string };
  options: Record<string, unknown>;
  apiOverhead?: ApiOverheadResult;
  throughput?: ThroughputResult;
  redrive?: RedriveResult;
  redriveSharded?: RedriveResult;
  worker?: { peakRssMb: number };
  checks: Check[];
  details: Record<string, unknown>;
  errors: Record<string, string>;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function machine(): Record<string, unknown> {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    freeMemoryGiB: round(freemem() / 2 ** 30, 1),
    node: process.version,
    platform: `${process.platform} ${release()}`,
    loadAverageAtStart: loadavg().map((l) => round(l, 2)),
  };
}

function commandLine(): string {
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v}`);
  return [...env, 'npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');
}

async function main(): Promise<void> {
  let opts: BenchOptions;
  try {
    opts = parseOptions();
  } catch (err) {
    if (err instanceof OptionError) {
      say(`bench: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const wants = (name: BenchmarkName) => opts.only.has(name);
  const startedAt = Date.now();
  const report: Report = {
    commit: git(['rev-parse', '--short', 'HEAD']) || 'unknown',
    dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
    date: new Date().toISOString(),
    command: commandLine(),
    durationSeconds: 0,
    machine: machine(),
    temporal: { serverVersion: 'unknown', cli: 'unknown' },
    options: { ...opts, only: [...opts.only], profile: [...opts.profile] },
    checks: [],
    details: {},
    errors: {},
  };
  say(`bench: ${[...opts.only].join(', ')}${opts.quick ? ' (quick)' : ''} on ${String(report.machine.cpuModel)}, ${String(report.machine.cores)} cores, load ${(report.machine.loadAverageAtStart as number[]).join(' ')}`);

  const namespaces: string[] = [];
  if (wants('redrive')) namespaces.push('bench-redrive');
  if (wants('redriveSharded')) namespaces.push('bench-redrive-sharded');
  const stack = await startBenchStack(opts, namespaces, say);
  let stopping = false;
  process.on('SIGINT', () => {
    if (stopping) process.exit(130);
    stopping = true;
    say('bench: interrupted; stopping the stack…');
    void stack.stop().finally(() => process.exit(130));
  });

  try {
    report.temporal.cli = execFileSync(stack.cliPath, ['--version'], { encoding: 'utf8' }).trim();
    await runAll(opts, stack, report, wants);
  } finally {
    say('bench: stopping the stack…');
    await stack.stop();
    if (opts.keep || opts.profile.size > 0) say(`bench: kept ${stack.dir} (logs${opts.profile.size > 0 ? ', CPU profiles in profiles/' : ''})`);
  }

  report.durationSeconds = round((Date.now() - startedAt) / 1000, 1);
  report.machine.loadAverageAtEnd = loadavg().map((l) => round(l, 2));
  report.machine.temporalServer = report.temporal.serverVersion;
  report.checks = checks(report, opts);
  const out = resolve(opts.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

  process.stdout.write(`\n${formatTable(report.checks)}\n\n`);
  for (const [name, message] of Object.entries(report.errors)) process.stdout.write(`${name} failed: ${message}\n`);
  process.stdout.write(
    `commit ${report.commit}${report.dirty ? ' (uncommitted changes)' : ''} · ${String(report.machine.cpuModel)} × ${String(report.machine.cores)} · ` +
      `${String(report.machine.memoryGiB)} GiB · node ${process.version} · Temporal server ${report.temporal.serverVersion} · ` +
      `load ${(report.machine.loadAverageAtStart as number[]).join(' ')} → ${(report.machine.loadAverageAtEnd as number[]).join(' ')} · ${report.durationSeconds} s\n`,
  );
  process.stdout.write(`results: ${out}\n`);
  if (Object.keys(report.errors).length > 0) process.exitCode = 1;
}

async function runAll(opts: BenchOptions, stack: BenchStack, report: Report, wants: (n: BenchmarkName) => boolean): Promise<void> {
  const attempt = async (name: string, fn: () => Promise<void>) => {
    say(`bench: ${name}…`);
    try {
      await fn();
    } catch (err) {
      report.errors[name] = err instanceof Error ? err.message : String(err);
      say(`bench: ${name} failed: ${report.errors[name]}`);
    }
  };

  const shared = [wants('apiOverhead') && 'apiOverhead', (wants('throughput') || wants('worker')) && 'throughput'].filter((n): n is string => !!n);
  if (shared.length > 0) {
    // apiOverhead and throughput share the default namespace and one worker.
    let worker: Child;
    let client: Client;
    const env = stack.env('default');
    const config = stack.config(env);
    try {
      client = await stack.client(config);
      report.temporal.serverVersion = await serverVersion(client);
      worker = await stack.startWorker(env, 'worker');
    } catch (err) {
      for (const name of shared) report.errors[name] = `the worker did not start: ${err instanceof Error ? err.message : String(err)}`;
      return runRedrives();
    }
    try {
      if (wants('apiOverhead')) {
        await attempt('apiOverhead', async () => {
          const api = await stack.startApi(env, 'api');
          try {
            const { result, details } = await runApiOverhead({
              apiUrl: api.url,
              client,
              config,
              concurrency: opts.apiConcurrency,
              requests: opts.apiRequests,
              sliceMs: opts.apiSliceMs,
              serialRequests: opts.apiSerialRequests,
              pids: { server: stack.server.pid, api: api.pid, bench: process.pid },
              say,
            });
            report.apiOverhead = result;
            report.details.apiOverhead = { ...details, apiProcess: 'child process (bench/processes/api.ts → startApi)', loadGenerator: 'node:http keep-alive, in the bench process' };
          } finally {
            await api.stop();
          }
        });
      }
      if (wants('throughput') || wants('worker')) {
        await attempt('throughput', async () => {
          await measureThroughput(opts, client, stack, worker, report);
        });
      }
    } finally {
      await worker.stop();
    }
  }
  return runRedrives();

  async function runRedrives(): Promise<void> {
    if (wants('redrive')) await redrive('redrive', 'bench-redrive', 1);
    if (wants('redriveSharded')) await redrive('redriveSharded', 'bench-redrive-sharded', opts.shards);
  }

  /** Each redrive run gets its own namespace (fresh health and dead-letter workflows) and worker. */
  async function redrive(name: 'redrive' | 'redriveSharded', namespace: string, shards: number): Promise<void> {
    await attempt(name, async () => {
      const env = stack.env(namespace, { DLQ_SHARDS: String(shards) });
      const config = stack.config(env);
      const client = await stack.client(config);
      if (report.temporal.serverVersion === 'unknown') report.temporal.serverVersion = await serverVersion(client);
      const worker = await stack.startWorker(env, `worker-${name}`);
      try {
        const { result, details } = await runRedrive({
          client,
          config,
          admin: stack.admin,
          parked: opts.parked,
          startConcurrency: opts.startConcurrency,
          pids: { server: stack.server.pid, worker: worker.pid, bench: process.pid },
          fullDrain: opts.fullDrain,
          say,
        });
        report[name] = result;
        report.details[name] = details;
      } finally {
        await worker.stop();
      }
    });
  }
}

async function measureThroughput(opts: BenchOptions, client: Client, stack: BenchStack, worker: Child, report: Report): Promise<void> {
  const env = stack.env('default');
  const idle = rssMb(worker.pid);
  let sampler: ReturnType<typeof sampleRss> | undefined;
  let peak: { peakMb: number; samples: number } | undefined;
  const { result, details } = await runThroughput({
    client,
    config: stack.config(env),
    orders: opts.orders,
    rounds: opts.throughputRounds,
    concurrency: opts.startConcurrency,
    pids: { server: stack.server.pid, worker: worker.pid, bench: process.pid },
    say,
    onMeasureStart: () => (sampler = sampleRss(worker.pid)),
    onMeasureEnd: () => (peak = sampler?.stop()),
  });
  report.throughput = result;
  report.details.throughput = { ...details, workerOptions: opts.workerOptions, activityDeps: opts.activityDeps, workflows: opts.workflows ?? 'bench/workflows.ts', devServerConfig: opts.devServerConfig };
  if (peak && peak.samples > 0) {
    report.worker = { peakRssMb: round(peak.peakMb, 1) };
    report.details.worker = {
      measured: 'the worker alone: a child process (bench/processes/worker.ts), /proc/<pid>/status VmRSS sampled every 200 ms during the measured throughput batches',
      samples: peak.samples,
      rssBeforeMb: idle ? round(idle.rss, 1) : null,
      peakSinceStartMb: round(rssMb(worker.pid)?.hwm ?? NaN, 1),
    };
  }
}

async function serverVersion(client: Client): Promise<string> {
  try {
    const info = await client.workflowService.getSystemInfo({});
    return info.serverVersion ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function checks(report: Report, opts: BenchOptions): Check[] {
  const rows: Check[] = [];
  const info = (benchmark: string, metric: string, value: number | string) => rows.push({ benchmark, metric, value, target: '', pass: undefined });
  const failed = (benchmark: string) => rows.push({ benchmark, metric: 'error', value: 'failed', target: 'runs', pass: false });
  const others = (benchmark: string, pct: number | undefined) => {
    if (pct !== undefined) info(benchmark, 'CPU taken by other processes', `${pct}%`);
  };

  const a = report.apiOverhead;
  if (a) {
    const d = report.details.apiOverhead as ApiOverheadDetails | undefined;
    info('apiOverhead', `p50 api / raw (c=${a.concurrency}, n=${a.requests})`, `${a.apiP50Ms} / ${a.rawP50Ms} ms`);
    rows.push({ benchmark: 'apiOverhead', metric: 'p50Ratio', value: a.p50Ratio, target: `≤ ${TARGETS.apiP50Ratio}`, pass: a.p50Ratio <= TARGETS.apiP50Ratio });
    info('apiOverhead', 'p99 api / raw', `${a.apiP99Ms} / ${a.rawP99Ms} ms`);
    rows.push({ benchmark: 'apiOverhead', metric: 'p99Ratio', value: a.p99Ratio, target: `≤ ${TARGETS.apiP99Ratio}`, pass: a.p99Ratio <= TARGETS.apiP99Ratio });
    if (d) {
      info('apiOverhead', `p50 api / raw one at a time (n=${d.serial.requests})`, `${d.serial.apiP50Ms} / ${d.serial.rawP50Ms} ms`);
      info('apiOverhead', 'API process CPU per request', `${d.cpuMsPerRequest.api.api ?? NaN} ms`);
      others('apiOverhead', d.othersPct);
    }
  } else if (report.errors.apiOverhead) failed('apiOverhead');

  const t = report.throughput;
  if (t) {
    const d = report.details.throughput as ThroughputDetails | undefined;
    info('throughput', `orders/s (n=${t.orders})`, t.ordersPerSecond);
    info('throughput', 'baseline/s (4 no-op activities)', t.baselinePerSecond);
    rows.push({ benchmark: 'throughput', metric: 'ratio', value: t.ratio, target: `≥ ${TARGETS.throughputRatio}`, pass: t.ratio >= TARGETS.throughputRatio });
    if (d) {
      const sum = (r: Record<string, number>) => round(Object.values(r).reduce((x, y) => x + y, 0), 1);
      info('throughput', 'CPU ms per workflow: orders / baseline', `${sum(d.cpuMsPerWorkflow.orders)} / ${sum(d.cpuMsPerWorkflow.baseline)}`);
      info('throughput', 'CPU ratio (baseline / orders)', d.cpuRatio);
      others('throughput', d.othersPct);
    }
  } else if (report.errors.throughput) failed('throughput');

  for (const name of ['redrive', 'redriveSharded'] as const) {
    const r = report[name];
    if (!r) {
      if (report.errors[name]) failed(name);
      continue;
    }
    const d = report.details[name] as RedriveDetails | undefined;
    const tol = TARGETS.redriveRateTolerance;
    const drainTarget = (r.parked / r.configuredRatePerSecond) * TARGETS.redriveDrainSlack + opts.healthIntervalMs / 1000;
    const label = `${name} (${r.shards} shard${r.shards > 1 ? 's' : ''}, ${r.parked} parked)`;
    rows.push({
      benchmark: label,
      metric: 'observedRatePerSecond',
      value: r.observedRatePerSecond,
      target: `${round(r.configuredRatePerSecond * (1 - tol), 1)}–${round(r.configuredRatePerSecond * (1 + tol), 1)}`,
      pass: Math.abs(r.observedRatePerSecond / r.configuredRatePerSecond - 1) <= tol,
    });
    const drainValue = d && !d.drained ? `≈ ${r.drainSeconds} (extrapolated; ${d.completed} done)` : r.drainSeconds;
    rows.push({ benchmark: label, metric: 'drainSeconds', value: drainValue, target: `≤ ${round(drainTarget, 1)}`, pass: r.drainSeconds <= drainTarget });
    rows.push({ benchmark: label, metric: 'duplicateEffects', value: r.duplicateEffects, target: '= 0', pass: r.duplicateEffects === 0 });
    others(label, d?.drainCpu.othersPct);
  }
  if (report.worker) info('worker', 'peakRssMb (child process, during throughput)', report.worker.peakRssMb);
  return rows;
}

main().catch((err: unknown) => {
  say(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
