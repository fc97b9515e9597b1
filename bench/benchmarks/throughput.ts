/**
 * throughput: orders with a box fulfilled end to end per second (start N via the client at bounded
 * concurrency, wait until all have completed), against the baseline workflow of four sequential
 * no-op activities on the same server and worker. Batches alternate baseline, orders, orders,
 * baseline… so drift cancels; a small unmeasured warm-up of each kind goes first.
 */
import { performance } from 'node:perf_hooks';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Config } from '../../src/config';
import type { OrderView } from '../../src/workflows/definitions';
import { type CpuReport, cpuMeter } from '../lib/cpu';
import { nextOrderId, pool, sampleOrder, startBaseline, startOrder } from '../lib/orders';
import { percentile, round } from '../lib/stats';

export interface ThroughputResult {
  orders: number;
  ordersPerSecond: number;
  baselinePerSecond: number;
  ratio: number;
}

export interface BatchDetail {
  kind: 'orders' | 'baseline';
  workflows: number;
  seconds: number;
  perSecond: number;
  /** Start → result, per workflow. */
  p50LatencyMs: number;
  p99LatencyMs: number;
  cpu: CpuReport;
  /** CPU milliseconds per workflow, per process of ours. */
  cpuMsPerWorkflow: Record<string, number>;
}

export interface ThroughputDetails {
  startConcurrency: number;
  rounds: number;
  /**
   * CPU milliseconds per workflow by process (and by thread of the worker), averaged over the batches
   * of each kind. On a saturated machine throughput follows CPU per workflow, and unlike the rate this
   * barely depends on what else runs on the machine.
   */
  cpuMsPerWorkflow: Record<Kind, Record<string, number>>;
  workerThreadCpuMsPerWorkflow: Record<Kind, Record<string, number>>;
  /** Baseline CPU per workflow over orders CPU per workflow (our processes together). */
  cpuRatio: number;
  /** Busy share of the machine taken by processes not ours during the measured batches, percent. */
  othersPct: number;
  batches: BatchDetail[];
}

type Kind = BatchDetail['kind'];

async function batch(client: Client, config: Config, kind: Kind, n: number, concurrency: number, pids: Record<string, number>): Promise<BatchDetail> {
  const latencies: number[] = [];
  const meter = cpuMeter(pids, ['worker']);
  const t0 = performance.now();
  const waits = await pool(n, concurrency, async () => {
    const order = sampleOrder(nextOrderId(kind === 'orders' ? 'tp' : 'bl'), true);
    const started = performance.now();
    const handle: WorkflowHandle = kind === 'orders' ? await startOrder(client, config, order) : await startBaseline(client, config, order);
    // Wait for the result without holding a start slot (wrapped, so the pool doesn't await it).
    const done = handle.result().then((result: unknown) => {
      latencies.push(performance.now() - started);
      if (kind === 'orders' && (result as OrderView).status !== 'completed') {
        throw new Error(`order ${order.orderId} ended ${(result as OrderView).status}`);
      }
    });
    done.catch(() => undefined); // observed below; don't let an early failure go unhandled meanwhile
    return { done };
  });
  await Promise.all(waits.map((w) => w.done));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = meter.stop();
  return {
    kind,
    workflows: n,
    seconds: round(seconds, 3),
    perSecond: round(n / seconds, 2),
    p50LatencyMs: round(percentile(latencies, 50)),
    p99LatencyMs: round(percentile(latencies, 99)),
    cpu,
    cpuMsPerWorkflow: Object.fromEntries(Object.entries(cpu.cpuSeconds).map(([name, s]) => [name, round((s * 1000) / n, 1)])),
  };
}

export async function runThroughput(o: {
  client: Client;
  config: Config;
  orders: number;
  rounds: number;
  concurrency: number;
  /** Our processes, for the CPU accounting of each batch. */
  pids: Record<string, number>;
  say: (line: string) => void;
  /** Called around the measured batches (the worker's RSS is sampled in between). */
  onMeasureStart?: () => void;
  onMeasureEnd?: () => void;
}): Promise<{ result: ThroughputResult; details: ThroughputDetails }> {
  const warm = Math.min(30, o.orders);
  await batch(o.client, o.config, 'baseline', warm, o.concurrency, o.pids);
  await batch(o.client, o.config, 'orders', warm, o.concurrency, o.pids);

  o.onMeasureStart?.();
  const batches: BatchDetail[] = [];
  try {
    for (let r = 0; r < o.rounds; r++) {
      const kinds: Kind[] = r % 2 === 0 ? ['baseline', 'orders'] : ['orders', 'baseline'];
      for (const kind of kinds) {
        const b = await batch(o.client, o.config, kind, o.orders, o.concurrency, o.pids);
        batches.push(b);
        o.say(`  ${kind}: ${b.workflows} in ${b.seconds} s = ${b.perSecond}/s (CPU ms per workflow ${Object.entries(b.cpuMsPerWorkflow).map(([k, v]) => `${k} ${v}`).join(', ')}; other processes ${b.cpu.othersPct}% of the machine)`);
      }
    }
  } finally {
    o.onMeasureEnd?.();
  }

  const rate = (kind: Kind) => {
    const bs = batches.filter((b) => b.kind === kind);
    return bs.reduce((n, b) => n + b.workflows, 0) / bs.reduce((s, b) => s + b.seconds, 0);
  };
  const ordersPerSecond = rate('orders');
  const baselinePerSecond = rate('baseline');
  const perWorkflow = (kind: Kind, pick: (b: BatchDetail) => Record<string, number>) => {
    const bs = batches.filter((b) => b.kind === kind);
    const sum: Record<string, number> = {};
    for (const b of bs) for (const [name, sec] of Object.entries(pick(b))) sum[name] = (sum[name] ?? 0) + sec;
    const n = bs.reduce((k, b) => k + b.workflows, 0);
    return Object.fromEntries(Object.entries(sum).map(([name, sec]) => [name, round((sec * 1000) / n, 1)]));
  };
  const cpu = { orders: perWorkflow('orders', (b) => b.cpu.cpuSeconds), baseline: perWorkflow('baseline', (b) => b.cpu.cpuSeconds) };
  const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  const seconds = batches.reduce((s, b) => s + b.seconds, 0);
  return {
    result: {
      orders: o.orders * o.rounds,
      ordersPerSecond: round(ordersPerSecond, 2),
      baselinePerSecond: round(baselinePerSecond, 2),
      ratio: round(ordersPerSecond / baselinePerSecond, 3),
    },
    details: {
      startConcurrency: o.concurrency,
      rounds: o.rounds,
      cpuMsPerWorkflow: cpu,
      workerThreadCpuMsPerWorkflow: {
        orders: perWorkflow('orders', (b) => b.cpu.threads?.worker ?? {}),
        baseline: perWorkflow('baseline', (b) => b.cpu.threads?.worker ?? {}),
      },
      cpuRatio: round(total(cpu.baseline) / total(cpu.orders), 3),
      othersPct: round(batches.reduce((s, b) => s + b.cpu.othersPct * b.seconds, 0) / seconds, 1),
      batches,
    },
  };
}
