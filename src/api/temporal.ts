/**
 * The Temporal client as a decorated plugin (`fastify.temporal`), plus the few reads and writes the
 * routes share. Every call runs under a deadline: without one a call to an unreachable server retries
 * for many seconds, and a query to a workflow no worker serves waits forever.
 *
 * The caller owns the connection: `server.ts` closes it in `onClose`; tests close their own.
 */
import fp from 'fastify-plugin';
import { type Client, type WorkflowHandle, WorkflowNotFoundError } from '@temporalio/client';
import {
  type DeadLetterEntry,
  deadLetterQueueWorkflowIds,
  entriesQuery,
  healthWorkflowId,
  type OrderView,
  type ProviderHealthView,
  type ProviderName,
  providerStatusQuery,
  statusQuery,
} from '../workflows/definitions';

declare module 'fastify' {
  interface FastifyInstance {
    temporal: Client;
    /** Runs `fn` with a gRPC deadline of `ms` (default: the app's Temporal timeout). */
    withTemporalDeadline<T>(fn: () => Promise<T>, ms?: number): Promise<T>;
  }
}

export interface TemporalPluginOptions {
  client: Client;
  /** Deadline of one request's Temporal calls, ms. */
  timeoutMs: number;
}

export const temporalPlugin = fp<TemporalPluginOptions>(
  async (fastify, opts) => {
    fastify.decorate('temporal', opts.client);
    fastify.decorate('withTemporalDeadline', function <T>(fn: () => Promise<T>, ms = opts.timeoutMs): Promise<T> {
      return opts.client.withDeadline(Date.now() + ms, fn);
    });
  },
  { name: 'temporal', fastify: '5.x' },
);

/**
 * Like `Promise.all`, but settles every call before failing with the first error: no Temporal call
 * (or its gRPC retry timer) outlives the request that made it, so closing the connection right after
 * a response is safe.
 */
export async function allSettledOrThrow<T>(promises: Iterable<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** `undefined` when the workflow does not exist. */
export async function ifExists<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

export async function queryOrder(handle: WorkflowHandle): Promise<OrderView | undefined> {
  return ifExists(() => handle.query(statusQuery));
}

/** A dead-letter queue that does not exist yet is empty. */
export async function queryDeadLetters(client: Client, workflowId: string): Promise<DeadLetterEntry[]> {
  return (await ifExists(() => client.workflow.getHandle(workflowId).query(entriesQuery))) ?? [];
}

export async function queryProviderDeadLetters(
  client: Client,
  provider: ProviderName,
  shards: number,
): Promise<DeadLetterEntry[]> {
  const perShard = await allSettledOrThrow(deadLetterQueueWorkflowIds(provider, shards).map((id) => queryDeadLetters(client, id)));
  return sortByParkedAt(perShard.flat());
}

export function sortByParkedAt(entries: DeadLetterEntry[]): DeadLetterEntry[] {
  return [...entries].sort((a, b) => a.parkedAt.localeCompare(b.parkedAt) || a.orderId.localeCompare(b.orderId));
}

export async function queryProviderHealth(client: Client, provider: ProviderName): Promise<ProviderHealthView> {
  const view = await ifExists(() => client.workflow.getHandle(healthWorkflowId(provider)).query(providerStatusQuery));
  return view ?? { name: provider, status: 'unknown', since: null, lastCheckAt: null, lastError: null };
}
