/**
 * Prometheus metrics of one app instance (its own registry, never prom-client's global one, so two
 * apps in one process, as in tests, don't share counters). Dead-letter depth and provider health are
 * read from Temporal at scrape time, under a short deadline; a provider that can't be read is skipped.
 */
import type { Client } from '@temporalio/client';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Config } from '../config';
import { PROVIDERS, type ProviderName, type ProviderStatus } from '../workflows/definitions';
import { queryProviderDeadLetters, queryProviderHealth } from './temporal';

export interface ApiMetrics {
  registry: Registry;
  httpDuration: Histogram<'route' | 'method' | 'status'>;
  ordersAccepted: Counter;
  ordersRejected: Counter<'reason'>;
}

interface QueueSnapshot {
  depth: number;
  oldestAgeSeconds: number;
}

const PROVIDER_UP: Record<ProviderStatus, number> = { up: 1, down: 0, unknown: -1 };

export function createMetrics(opts: {
  client: Client;
  config: Pick<Config, 'dlqShards'>;
  scrapeTimeoutMs: number;
  /** Collect Node process metrics (on by default). */
  processMetrics?: boolean;
}): ApiMetrics {
  const registry = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });

  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const ordersAccepted = new Counter({
    name: 'orders_accepted_total',
    help: 'Orders accepted (a new fulfillment workflow started)',
    registers: [registry],
  });
  const ordersRejected = new Counter({
    name: 'orders_rejected_total',
    help: 'POST /orders answered 4xx, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });

  const deadline = <T>(fn: () => Promise<T>): Promise<T> => opts.client.withDeadline(Date.now() + opts.scrapeTimeoutMs, fn);

  // One Temporal read per scrape, shared by the gauges below (each gauge's collect runs in turn).
  let queues: Promise<Map<ProviderName, QueueSnapshot>> | undefined;
  let health: Promise<Map<ProviderName, ProviderStatus>> | undefined;
  const readQueues = (): Promise<Map<ProviderName, QueueSnapshot>> =>
    (queues ??= settle(PROVIDERS, async (provider) => {
      const entries = await deadline(() => queryProviderDeadLetters(opts.client, provider, opts.config.dlqShards));
      const oldest = entries[0] ? Date.parse(entries[0].parkedAt) : NaN;
      return { depth: entries.length, oldestAgeSeconds: Number.isNaN(oldest) ? 0 : Math.max(0, (Date.now() - oldest) / 1000) };
    }).finally(() => setTimeout(() => (queues = undefined), 250).unref()));
  const readHealth = (): Promise<Map<ProviderName, ProviderStatus>> =>
    (health ??= settle(PROVIDERS, async (provider) => (await deadline(() => queryProviderHealth(opts.client, provider))).status).finally(
      () => setTimeout(() => (health = undefined), 250).unref(),
    ));

  new Gauge({
    name: 'dead_letter_depth',
    help: 'Orders parked in the dead-letter queue of a provider',
    labelNames: ['provider'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [provider, q] of await readQueues()) this.set({ provider }, q.depth);
    },
  });
  new Gauge({
    name: 'dead_letter_oldest_age_seconds',
    help: 'Age of the oldest entry in the dead-letter queue of a provider (0 when empty)',
    labelNames: ['provider'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [provider, q] of await readQueues()) this.set({ provider }, q.oldestAgeSeconds);
    },
  });
  new Gauge({
    name: 'provider_up',
    help: 'Provider health as seen by its health workflow: 1 up, 0 down, -1 unknown',
    labelNames: ['provider'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [provider, status] of await readHealth()) this.set({ provider }, PROVIDER_UP[status]);
    },
  });

  return { registry, httpDuration, ordersAccepted, ordersRejected };
}

/** Runs `fn` for every key; keys whose call fails are left out. */
async function settle<K, V>(keys: readonly K[], fn: (key: K) => Promise<V>): Promise<Map<K, V>> {
  const results = await Promise.allSettled(keys.map(fn));
  const out = new Map<K, V>();
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') out.set(keys[i] as K, r.value);
  });
  return out;
}

/** The `reason` label of a rejected order, from the status code. */
export function rejectionReason(statusCode: number): string {
  switch (statusCode) {
    case 400:
      return 'invalid';
    case 401:
      return 'unauthorized';
    case 409:
      return 'conflict';
    case 413:
      return 'too_large';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'rate_limited';
    default:
      return `http_${statusCode}`;
  }
}
