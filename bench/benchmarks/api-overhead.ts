/**
 * apiOverhead: `POST /orders` against a raw `client.workflow.start` of the same workflow with the same
 * options (bench/lib/orders.ts mirrors src/api/routes/orders.ts), at the same concurrency, in time
 * slices that alternate every half second or so, so drift (SQLite growth, other load on the machine)
 * hits both alike.
 * Course-only orders with a unique orderId per request: the server work behind each is the start.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import type { Config } from '../../src/config';
import { cpuMeter } from '../lib/cpu';
import { nextOrderId, pool, sampleOrder, startOrder } from '../lib/orders';
import { percentile, round } from '../lib/stats';

export interface ApiOverheadResult {
  concurrency: number;
  requests: number;
  apiP50Ms: number;
  apiP99Ms: number;
  rawP50Ms: number;
  rawP99Ms: number;
  p50Ratio: number;
  p99Ratio: number;
}

export interface ApiOverheadDetails {
  /** The sides alternate every this many ms (all lanes switch together). */
  sliceMs: number;
  rawRequests: number;
  warmupPerSide: number;
  apiRequestsPerSecond: number;
  rawStartsPerSecond: number;
  apiMeanMs: number;
  rawMeanMs: number;
  apiP90Ms: number;
  rawP90Ms: number;
  apiMaxMs: number;
  rawMaxMs: number;
  /** Medians per tenth of the run, in run order: shows drift. */
  segments: { fromSeconds: number; apiP50Ms: number; rawP50Ms: number }[];
  apiStatusCodes: Record<string, number>;
  /** CPU milliseconds per request, per process of ours, by side. */
  cpuMsPerRequest: { api: Record<string, number>; raw: Record<string, number> };
  /** Busy share of the machine taken by processes not ours during the measured segments, percent. */
  othersPct: number;
  /**
   * The same comparison one request at a time (alternating API, raw): the API's own cost in ms,
   * without the server queueing that dominates latency at the benchmark's concurrency.
   */
  serial: { requests: number; apiP50Ms: number; rawP50Ms: number; apiP99Ms: number; rawP99Ms: number; p50DeltaMs: number };
}

type Side = 'api' | 'raw';

/** Median of the samples started in the last 10 s. */
function recentP50(xs: { at: number; ms: number }[], now: number): number {
  return percentile(xs.filter((x) => x.at > now - 10_000).map((x) => x.ms), 50);
}

interface HttpAnswer {
  status: number;
  body: string;
}

function post(agent: Agent, url: URL, body: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function runApiOverhead(o: {
  apiUrl: string;
  client: Client;
  config: Config;
  concurrency: number;
  requests: number;
  /** Length of one API or raw time slice, ms. */
  sliceMs: number;
  /** Requests per side of the serial (concurrency 1) comparison. */
  serialRequests: number;
  /** Our processes, for the CPU accounting of each side. */
  pids: Record<string, number>;
  say: (line: string) => void;
}): Promise<{ result: ApiOverheadResult; details: ApiOverheadDetails }> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const ordersUrl = new URL('/orders', o.apiUrl);
  const statusCodes: Record<string, number> = {};

  const apiOnce = async (): Promise<number> => {
    const body = JSON.stringify(sampleOrder(nextOrderId('api'), false));
    const t0 = performance.now();
    const res = await post(agent, ordersUrl, body);
    const ms = performance.now() - t0;
    statusCodes[res.status] = (statusCodes[res.status] ?? 0) + 1;
    if (res.status !== 202) throw new Error(`POST /orders answered ${res.status}: ${res.body.slice(0, 300)}`);
    return ms;
  };
  const rawOnce = async (): Promise<number> => {
    const order = sampleOrder(nextOrderId('raw'), false);
    const t0 = performance.now();
    await startOrder(o.client, o.config, order);
    return performance.now() - t0;
  };
  const once = (side: Side) => (side === 'api' ? apiOnce() : rawOnce());

  // Warm up both paths (connections, JIT, the API's lazy Temporal connection and schema compilation).
  const warmup = Math.max(o.concurrency * 4, Math.round(o.requests / 20));
  await pool(warmup, o.concurrency, () => apiOnce());
  await pool(warmup, o.concurrency, () => rawOnce());
  for (const k of Object.keys(statusCodes)) delete statusCodes[k];

  // `concurrency` lanes, always full; every lane sends to the side of the current time slice, and the
  // slices alternate API, raw, API… until each side has its requests. Both sides thus see the same
  // machine, second by second (other processes' bursts included), at the same concurrency.
  const samples: Record<Side, { at: number; ms: number }[]> = { api: [], raw: [] };
  const cpu: Record<Side, Record<string, number>> = { api: {}, raw: {} };
  const busy: Record<Side, number> = { api: 0, raw: 0 };
  let othersWeighted = 0;
  const t0 = performance.now();
  const sideAt = (t: number): Side => (Math.floor((t - t0) / o.sliceMs) % 2 === 0 ? 'api' : 'raw');
  const done = () => samples.api.length >= o.requests && samples.raw.length >= o.requests;
  let slice = { side: sideAt(t0), meter: cpuMeter(o.pids), start: t0 };
  const closeSlice = (now: number) => {
    const used = slice.meter.stop();
    for (const [name, seconds] of Object.entries(used.cpuSeconds)) cpu[slice.side][name] = (cpu[slice.side][name] ?? 0) + seconds;
    busy[slice.side] += now - slice.start;
    othersWeighted += used.othersPct * (now - slice.start);
  };
  const ticker = setInterval(() => {
    const now = performance.now();
    if (sideAt(now) === slice.side) return;
    closeSlice(now);
    slice = { side: sideAt(now), meter: cpuMeter(o.pids), start: now };
  }, Math.max(10, o.sliceMs / 10));
  let lastReport = t0;
  let failure: unknown;
  try {
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        while (!done() && failure === undefined) {
          const side = sideAt(performance.now());
          if (samples[side].length >= o.requests) {
            // This side has enough: wait for the other side's slice.
            await new Promise((r) => setTimeout(r, 5));
            continue;
          }
          const at = performance.now();
          let ms: number;
          try {
            ms = await once(side);
          } catch (err) {
            failure ??= err;
            return;
          }
          samples[side].push({ at: at - t0, ms });
          if (performance.now() - lastReport > 10_000) {
            lastReport = performance.now();
            o.say(`  ${samples.api.length}/${o.requests} api, ${samples.raw.length}/${o.requests} raw; last 10 s p50 api ${round(recentP50(samples.api, at - t0))} ms, raw ${round(recentP50(samples.raw, at - t0))} ms`);
          }
        }
      }),
    );
  } finally {
    clearInterval(ticker);
    closeSlice(performance.now());
  }
  if (failure !== undefined) throw failure;
  const api = samples.api.map((x) => x.ms);
  const raw = samples.raw.map((x) => x.ms);
  const elapsed = performance.now() - t0;
  const segments: ApiOverheadDetails['segments'] = [];
  for (let i = 0; i < 10; i++) {
    const inWindow = (xs: { at: number; ms: number }[]) => xs.filter((x) => x.at >= (elapsed * i) / 10 && x.at < (elapsed * (i + 1)) / 10).map((x) => x.ms);
    segments.push({ fromSeconds: round((elapsed * i) / 10000, 1), apiP50Ms: round(percentile(inWindow(samples.api), 50)), rawP50Ms: round(percentile(inWindow(samples.raw), 50)) });
  }

  // One at a time, alternating: what the API adds to a start when nothing queues.
  const serialApi: number[] = [];
  const serialRaw: number[] = [];
  for (let i = 0; i < o.serialRequests; i++) {
    if (i % 2 === 0) {
      serialApi.push(await apiOnce());
      serialRaw.push(await rawOnce());
    } else {
      serialRaw.push(await rawOnce());
      serialApi.push(await apiOnce());
    }
  }
  agent.destroy();

  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const apiP50 = percentile(api, 50);
  const apiP99 = percentile(api, 99);
  const rawP50 = percentile(raw, 50);
  const rawP99 = percentile(raw, 99);
  return {
    result: {
      concurrency: o.concurrency,
      requests: api.length,
      apiP50Ms: round(apiP50),
      apiP99Ms: round(apiP99),
      rawP50Ms: round(rawP50),
      rawP99Ms: round(rawP99),
      p50Ratio: round(apiP50 / rawP50, 3),
      p99Ratio: round(apiP99 / rawP99, 3),
    },
    details: {
      sliceMs: o.sliceMs,
      rawRequests: raw.length,
      warmupPerSide: warmup,
      apiRequestsPerSecond: round(api.length / (busy.api / 1000), 1),
      rawStartsPerSecond: round(raw.length / (busy.raw / 1000), 1),
      apiMeanMs: round(mean(api)),
      rawMeanMs: round(mean(raw)),
      apiP90Ms: round(percentile(api, 90)),
      rawP90Ms: round(percentile(raw, 90)),
      apiMaxMs: round(Math.max(...api)),
      rawMaxMs: round(Math.max(...raw)),
      segments,
      apiStatusCodes: statusCodes,
      cpuMsPerRequest: {
        api: Object.fromEntries(Object.entries(cpu.api).map(([name, sec]) => [name, round((sec * 1000) / api.length, 2)])),
        raw: Object.fromEntries(Object.entries(cpu.raw).map(([name, sec]) => [name, round((sec * 1000) / raw.length, 2)])),
      },
      othersPct: round(othersWeighted / (busy.api + busy.raw), 1),
      serial: {
        requests: o.serialRequests,
        apiP50Ms: round(percentile(serialApi, 50)),
        rawP50Ms: round(percentile(serialRaw, 50)),
        apiP99Ms: round(percentile(serialApi, 99)),
        rawP99Ms: round(percentile(serialRaw, 99)),
        p50DeltaMs: round(percentile(serialApi, 50) - percentile(serialRaw, 50)),
      },
    },
  };
}
