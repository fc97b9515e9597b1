/**
 * Activities: every side effect of the service. Built by a factory that receives its dependencies
 * (provider clients, the Temporal client), so tests hand in the sandbox or fakes.
 *
 * Error taxonomy, decided here once: a provider that is down, slow or answers 5xx raises a retryable
 * `ProviderUnavailable`; a refusal raises a non-retryable `OutOfStock` / `ProviderRejected`; a
 * provider the health check knows to be down raises a non-retryable `ProviderDown` before any call.
 * Every failure carries `ProviderFailureDetails` (attempt, HTTP status, reason).
 */
import { Context } from '@temporalio/activity';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  type Address,
  type DeadLetterEntry,
  deadLetterQueueWorkflowId,
  deadLetterQueueWorkflowIds,
  ErrorTypes,
  healthWorkflowId,
  parkSignal,
  type ProviderFailureDetails,
  type ProviderName,
  providerStatusQuery,
  providerStatusSignal,
  shardOf,
  WORKFLOW_TYPES,
  type DeadLetterQueueInput,
} from '../workflows/definitions';
import type { Providers } from './providers';
import { ProviderRefusalError, ProviderUnavailableError } from './providers/http';

export interface ActivityDeps {
  providers: Providers;
  temporalClient: Client;
  taskQueue: string;
  /** Per provider, per second: divided over the shards of its dead-letter queue. */
  redriveRatePerSecond: number;
  /** Dead-letter entries of a provider believed up are retried after this long (doubling per park). */
  healthCheckIntervalMs: number;
  /** How long a cached health status is trusted by the provider calls (ms). */
  healthCacheMs?: number;
  /** Overrides of the dead-letter queue's continue-as-new thresholds (tests). */
  dlqLimits?: Pick<DeadLetterQueueInput, 'maxSignalsPerRun' | 'maxHistoryEventsPerRun'>;
}

export interface StepInput {
  workflowId: string;
  orderId: string;
  idempotencyKey: string;
  /** Skip the health gate: the order was just resumed because the provider is believed back. */
  bypassHealthGate?: boolean;
}

export interface StepResult {
  /** The attempt that succeeded (1 = first try). */
  attempt: number;
}

export interface ProbeResult {
  ok: boolean;
  error?: string;
}

/** Turn a provider error into the failure the workflow decides on, by type. */
function toFailure(err: unknown, provider: ProviderName): ApplicationFailure {
  const attempt = Context.current().info.attempt;
  if (err instanceof ProviderRefusalError) {
    const details: ProviderFailureDetails & { reason: string } = { provider, attempt, httpStatus: err.httpStatus, code: err.code, reason: err.reason };
    return ApplicationFailure.create({
      type: err.code === 'OUT_OF_STOCK' ? ErrorTypes.OutOfStock : ErrorTypes.ProviderRejected,
      message: err.message,
      nonRetryable: true,
      details: [details],
    });
  }
  if (err instanceof ProviderUnavailableError) {
    const details: ProviderFailureDetails & { reason: string } = { provider, attempt, httpStatus: err.httpStatus, reason: err.reason };
    return ApplicationFailure.create({ type: ErrorTypes.ProviderUnavailable, message: err.message, details: [details] });
  }
  // Anything else (a malformed answer, a bug) is transient: retried, then parked as unavailable.
  const reason = err instanceof Error ? err.message : String(err);
  return ApplicationFailure.create({
    type: ErrorTypes.ProviderUnavailable,
    message: `${provider} unavailable: ${reason}`,
    details: [{ provider, attempt, reason }],
  });
}

export function createActivities(deps: ActivityDeps) {
  const { providers, temporalClient } = deps;
  const healthCacheMs = deps.healthCacheMs ?? 1000;
  const healthCache = new Map<ProviderName, { down: boolean; at: number }>();
  const healthLookups = new Map<ProviderName, Promise<boolean>>();

  /**
   * Is the provider known down by its health workflow? One lookup at a time per provider, with a
   * one-second deadline; calls that arrive while it runs get the last known answer, so a burst of
   * activities never queues behind queries.
   */
  async function knownDown(provider: ProviderName): Promise<boolean> {
    const cached = healthCache.get(provider);
    if (cached && Date.now() - cached.at < healthCacheMs) return cached.down;
    const inFlight = healthLookups.get(provider);
    if (inFlight) return cached ? cached.down : inFlight;
    const lookup = lookUpHealth(provider).finally(() => healthLookups.delete(provider));
    healthLookups.set(provider, lookup);
    return lookup;
  }

  async function lookUpHealth(provider: ProviderName): Promise<boolean> {
    let down = false;
    try {
      const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('health lookup timed out')), 1000).unref());
      const view = await Promise.race([temporalClient.workflow.getHandle(healthWorkflowId(provider)).query(providerStatusQuery), deadline]);
      down = view.status === 'down';
    } catch {
      down = healthCache.get(provider)?.down ?? false; // no answer: keep what we knew, never block the call on it
    }
    healthCache.set(provider, { down, at: Date.now() });
    return down;
  }

  /** Runs one provider call with the health gate and the error taxonomy. */
  async function step<T>(provider: ProviderName, input: StepInput, call: (signal: AbortSignal) => Promise<T>): Promise<T & StepResult> {
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    if (!input.bypassHealthGate && (await knownDown(provider))) {
      throw ApplicationFailure.create({
        type: ErrorTypes.ProviderDown,
        message: `${provider} unavailable: health check reports it down`,
        nonRetryable: true,
        details: [{ provider, attempt, reason: 'health check reports it down' }],
      });
    }
    try {
      const result = await call(ctx.cancellationSignal);
      ctx.log.info('provider call succeeded', { orderId: input.orderId, provider, attempt });
      return { ...result, attempt };
    } catch (err) {
      const failure = toFailure(err, provider);
      ctx.log.warn('provider call failed', { orderId: input.orderId, provider, attempt, type: failure.type, error: failure.message });
      throw failure;
    }
  }

  return {
    grantCourseAccess: async (input: StepInput & { customerId: string; courseId: string }) => {
      return step('courses', input, (signal) =>
        providers.courses.enroll(
          { orderId: input.orderId, customerId: input.customerId, courseId: input.courseId },
          { idempotencyKey: input.idempotencyKey, signal },
        ),
      );
    },

    reserveInventory: async (input: StepInput & { sku: string; quantity: number }) => {
      return step('inventory', input, (signal) =>
        providers.inventory.reserve(
          { orderId: input.orderId, sku: input.sku, quantity: input.quantity },
          { idempotencyKey: input.idempotencyKey, signal },
        ),
      );
    },

    pack: async (input: StepInput & { reservationId: string }) => {
      return step('packing', input, (signal) =>
        providers.packing.pack({ orderId: input.orderId, reservationId: input.reservationId }, { idempotencyKey: input.idempotencyKey, signal }),
      );
    },

    ship: async (input: StepInput & { packageId: string; address: Address }) => {
      return step('logistics', input, (signal) =>
        providers.logistics.ship(
          { orderId: input.orderId, packageId: input.packageId, address: input.address },
          { idempotencyKey: input.idempotencyKey, signal },
        ),
      );
    },

    /** Compensation: retried until it succeeds (a refusal such as "already gone" counts as done). */
    revokeCourseAccess: async (input: { orderId: string; enrollmentId: string; idempotencyKey: string }): Promise<void> => {
      await compensate('courses', input.orderId, () => providers.courses.revoke(input.enrollmentId, { idempotencyKey: input.idempotencyKey }));
    },

    releaseInventory: async (input: { orderId: string; reservationId: string; idempotencyKey: string }): Promise<void> => {
      await compensate('inventory', input.orderId, () =>
        providers.inventory.release(input.reservationId, { idempotencyKey: input.idempotencyKey }),
      );
    },

    /** Adds the entry to its provider's dead-letter queue, starting the queue if needed (signal-with-start). */
    parkInDeadLetterQueue: async (input: { entry: DeadLetterEntry; shards: number }): Promise<void> => {
      const { entry, shards } = input;
      const shard = shardOf(entry.orderId, shards);
      await temporalClient.workflow.signalWithStart(WORKFLOW_TYPES.deadLetterQueue, {
        workflowId: deadLetterQueueWorkflowId(entry.provider, shard, shards),
        taskQueue: deps.taskQueue,
        args: [dlqInput(entry.provider, shard, shards)],
        signal: parkSignal,
        signalArgs: [entry],
        staticSummary: `Dead letters of ${entry.provider}${shards > 1 ? ` (shard ${shard} of ${shards})` : ''}`,
      });
      Context.current().log.info('order parked', { orderId: entry.orderId, provider: entry.provider, kind: entry.kind, parkCount: entry.parkCount });
    },

    /** `GET /<provider>/health`. Never throws: the health workflow records the answer. */
    probeProvider: async (input: { provider: ProviderName; timeoutMs: number }): Promise<ProbeResult> => {
      const signal = AbortSignal.timeout(input.timeoutMs);
      try {
        await providers.health(input.provider, signal);
        return { ok: true };
      } catch (err) {
        return { ok: false, error: err instanceof Error ? err.message : String(err) };
      }
    },

    /**
     * Tells every dead-letter-queue shard of a provider its new status. `down` starts missing queues
     * (so a queue created later knows); `up` only signals existing ones: a queue that doesn't exist has
     * nothing to redrive.
     */
    notifyDeadLetterQueues: async (input: { provider: ProviderName; status: 'up' | 'down'; shards: number }): Promise<void> => {
      const { provider, status, shards } = input;
      healthCache.set(provider, { down: status === 'down', at: Date.now() });
      await Promise.all(
        deadLetterQueueWorkflowIds(provider, shards).map(async (workflowId, shard) => {
          if (status === 'down') {
            await temporalClient.workflow.signalWithStart(WORKFLOW_TYPES.deadLetterQueue, {
              workflowId,
              taskQueue: deps.taskQueue,
              args: [dlqInput(provider, shard, shards)],
              signal: providerStatusSignal,
              signalArgs: [{ status }],
              staticSummary: `Dead letters of ${provider}${shards > 1 ? ` (shard ${shard} of ${shards})` : ''}`,
            });
            return;
          }
          try {
            await temporalClient.workflow.getHandle(workflowId).signal(providerStatusSignal, { status });
          } catch (err) {
            if (!(err instanceof WorkflowNotFoundError)) throw err;
          }
        }),
      );
    },
  };

  function dlqInput(provider: ProviderName, shard: number, shards: number): DeadLetterQueueInput {
    return {
      provider,
      shard,
      redriveRatePerSecond: Math.max(1, Math.floor(deps.redriveRatePerSecond / Math.max(1, shards))),
      retryWhileUpMs: deps.healthCheckIntervalMs * 2,
      ...deps.dlqLimits,
    };
  }

  async function compensate(provider: ProviderName, orderId: string, call: () => Promise<void>): Promise<void> {
    try {
      await call();
    } catch (err) {
      if (err instanceof ProviderRefusalError && err.httpStatus === 404) return; // nothing left to undo
      throw toFailure(err, provider);
    }
    Context.current().log.info('compensated', { orderId, provider });
  }
}

export type Activities = ReturnType<typeof createActivities>;
