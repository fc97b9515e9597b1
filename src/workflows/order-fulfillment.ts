/**
 * `orderFulfillment` (`order-<orderId>`): grants course access first, so the learner never waits on
 * shipping, then reserves inventory, packs and ships the box. A provider step that still fails after a
 * short bounded retry parks the order in that provider's dead-letter queue, where it waits durably for
 * a `resume` (from the queue's redrive), a `retryNow` or `cancel` from an operator, or its own backstop
 * timer. Nothing is lost: the order's state lives in this workflow's history.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  type CancelInput,
  cancelSignal,
  CustomerIdKey,
  type DeadLetterEntry,
  deadLetterQueueWorkflowId,
  discardSignal,
  type DiscardInput,
  ErrorTypes,
  FulfillmentStatusKey,
  idempotencyKey,
  type OrderFulfillmentInput,
  OrderIdKey,
  type OrderStatus,
  type OrderView,
  type ParkKind,
  ParkedProviderKey,
  REJECTION_ERROR_TYPES,
  type ResumeInput,
  resumeSignal,
  retryNowSignal,
  shardOf,
  STEP_PROVIDER,
  type StepName,
  type StepView,
  STEPS,
  statusQuery,
  unparkSignal,
} from './definitions';

const RUNNING_STATUS: Record<StepName, OrderStatus> = {
  grantCourseAccess: 'granting_access',
  reserveInventory: 'reserving_inventory',
  pack: 'packing',
  ship: 'shipping',
};

/** Search attributes change only when an order parks, leaves its queue or ends. */
export const PATCH_FEWER_VISIBILITY_UPDATES = 'order-fewer-visibility-updates';

/** A discarded order also removes itself from its queue (idempotent when the queue discarded it). */
export const PATCH_UNPARK_ON_DISCARD = 'order-unpark-on-discard';

export const DEFAULT_POLICY = {
  stepMaxAttempts: 3,
  stepRetryInitialMs: 1000,
  parkBackstopMs: 60 * 60 * 1000,
  dlqShards: 1,
  activityTimeoutMs: 30_000,
};

/** How an order left a parked step. */
type Outcome = 'retry' | 'stop';

export async function orderFulfillment(input: OrderFulfillmentInput): Promise<OrderView> {
  const { order } = input;
  const policy = { ...DEFAULT_POLICY, ...stripUndefined(input.policy ?? {}) };
  const workflowId = workflowInfo().workflowId;
  const nowIso = (): string => new Date().toISOString();

  // Provider steps: a short bounded retry, then the order parks. Refusals and "known down" don't retry.
  const providerCalls = proxyActivities<Activities>({
    startToCloseTimeout: policy.activityTimeoutMs,
    retry: {
      initialInterval: policy.stepRetryInitialMs,
      backoffCoefficient: 2,
      maximumInterval: '30s',
      maximumAttempts: policy.stepMaxAttempts,
      nonRetryableErrorTypes: [...REJECTION_ERROR_TYPES, ErrorTypes.ProviderDown],
    },
  });
  // Compensation and bookkeeping must happen eventually: retried until they succeed.
  const persistent = proxyActivities<Activities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
  });

  const view: OrderView = {
    orderId: order.orderId,
    status: 'accepted',
    courseAccess: 'pending',
    steps: STEPS.map((name) => ({
      name,
      provider: STEP_PROVIDER[name],
      status: name === 'grantCourseAccess' || order.box ? 'pending' : 'skipped',
      attempts: 0,
    })),
    parked: null,
    trackingNumber: null,
    createdAt: input.acceptedAt ?? new Date(workflowInfo().startTime).toISOString(),
    updatedAt: nowIso(),
  };
  const stepView = (name: StepName): StepView => view.steps.find((s) => s.name === name) as StepView;

  let cancelRequest: CancelInput | undefined;
  let discardRequest: DiscardInput | undefined;
  let wake: ResumeInput | undefined;

  setHandler(statusQuery, () => view);
  setHandler(cancelSignal, (req) => {
    const ship = stepView('ship');
    if (ship.status === 'running' || ship.status === 'done' || isTerminal(view.status)) {
      log.warn('cancel refused: the shipment exists or the order has ended', { orderId: order.orderId, status: view.status });
      return;
    }
    cancelRequest ??= { reason: reasonOf(req) };
  });
  setHandler(resumeSignal, (req) => {
    if (view.status === 'parked') wake = { source: req?.source === 'dlq' ? 'dlq' : 'operator' };
  });
  setHandler(retryNowSignal, () => {
    if (view.status === 'parked') wake = { source: 'operator' };
  });
  setHandler(discardSignal, (req) => {
    if (view.status === 'parked') discardRequest ??= { reason: reasonOf(req) };
  });

  function setStatus(status: OrderStatus): void {
    const previous = view.status;
    view.status = status;
    view.updatedAt = nowIso();
    // Visibility follows what operators filter on: parking, leaving the queue, and the end. The steps
    // in between are in the `status` query and the Web UI's current details; upserting each of them
    // cost five history events and visibility writes per order (npm run bench).
    const meaningful = status === 'parked' || previous === 'parked' || isTerminal(status);
    if (meaningful || !patched(PATCH_FEWER_VISIBILITY_UPDATES)) {
      upsertSearchAttributes([
        { key: FulfillmentStatusKey, value: status },
        { key: ParkedProviderKey, value: status === 'parked' && view.parked ? view.parked.provider : null },
      ]);
    }
    setCurrentDetails(describe(view));
  }

  if (workflowInfo().typedSearchAttributes.get(OrderIdKey) === undefined) {
    upsertSearchAttributes([
      { key: OrderIdKey, value: order.orderId },
      { key: CustomerIdKey, value: order.customer.id },
    ]);
  }

  // Results of done steps, for the next step and for compensation.
  const done: { enrollmentId?: string; reservationId?: string; packageId?: string } = {};

  /**
   * Runs one provider step until it succeeds, parking between rounds. Returns undefined when the
   * order was cancelled or discarded while the step was pending or parked.
   */
  async function runStep<T extends { attempt: number }>(
    name: StepName,
    call: (key: string, bypassHealthGate: boolean) => Promise<T>,
  ): Promise<T | undefined> {
    const step = stepView(name);
    const provider = STEP_PROVIDER[name];
    let bypassHealthGate = false;
    let parkCount = 0;
    let rejections = 0;
    for (;;) {
      if (cancelRequest) return undefined;
      step.status = 'running';
      setStatus(RUNNING_STATUS[name]);
      // After a refusal nothing was created, so a fresh key lets the provider decide anew.
      const key = idempotencyKey(workflowId, rejections === 0 ? name : `${name}:r${rejections}`);
      try {
        const result = await call(key, bypassHealthGate);
        step.attempts += result.attempt;
        step.status = 'done';
        delete step.lastError;
        return result;
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        const failure = classify(err, provider, policy.stepMaxAttempts);
        step.attempts += failure.attempts;
        step.lastError = failure.message;
        if (failure.kind === 'rejected') rejections++;
        if (cancelRequest) return undefined;
        parkCount++;
        const outcome = await park(name, failure, parkCount);
        if (outcome === 'stop') return undefined;
        bypassHealthGate = wake !== undefined;
        wake = undefined;
      }
    }
  }

  /** Parks the order in its provider's dead-letter queue and waits for a way out. */
  async function park(name: StepName, failure: Failure, parkCount: number): Promise<Outcome> {
    const provider = STEP_PROVIDER[name];
    const step = stepView(name);
    wake = undefined;
    step.status = 'parked';
    const since = nowIso();
    view.parked = { provider, step: name, kind: failure.kind, reason: failure.reason, since };
    setStatus('parked');
    const entry: DeadLetterEntry = {
      orderId: order.orderId,
      workflowId,
      provider,
      step: name,
      kind: failure.kind,
      error: failure.message,
      attempts: step.attempts,
      parkCount,
      parkedAt: since,
    };
    log.warn('order parked', { orderId: order.orderId, provider, step: name, kind: failure.kind, reason: failure.reason, parkCount });
    await persistent.parkInDeadLetterQueue({ entry, shards: policy.dlqShards });

    const dlq = getExternalWorkflowHandle(deadLetterQueueWorkflowId(provider, shardOf(order.orderId, policy.dlqShards), policy.dlqShards));
    const leaveQueue = async (): Promise<void> => {
      try {
        await dlq.signal(unparkSignal, { orderId: order.orderId, parkCount });
      } catch (err) {
        log.warn('could not remove the order from its dead-letter queue', { orderId: order.orderId, error: String(err) });
      }
    };

    for (;;) {
      const woke = await condition(
        () => wake !== undefined || cancelRequest !== undefined || discardRequest !== undefined,
        policy.parkBackstopMs,
      );
      if (cancelRequest) {
        await leaveQueue();
        return 'stop';
      }
      if (discardRequest) {
        // A discard sent to the order directly (not through its queue) must not leave a stale entry.
        if (patched(PATCH_UNPARK_ON_DISCARD)) await leaveQueue();
        return 'stop';
      }
      if (woke) {
        const by = (wake as ResumeInput | undefined)?.source;
        if (by !== 'dlq') await leaveQueue();
        view.parked = null;
        log.info('order resumed', { orderId: order.orderId, provider, by });
        return 'retry';
      }
      // Backstop: no signal for a long while. A provider outage is re-checked by trying again (the
      // health gate parks it at once if the provider is still down); a refusal stays with the
      // operator, but its queue entry is re-asserted in case a signal was lost.
      if (failure.kind === 'unavailable') {
        await leaveQueue();
        view.parked = null;
        log.info('order re-checks after its backstop timer', { orderId: order.orderId, provider });
        return 'retry';
      }
      await persistent.parkInDeadLetterQueue({ entry, shards: policy.dlqShards });
    }
  }

  async function compensate(options: { revokeCourse: boolean }): Promise<void> {
    if (done.reservationId) {
      try {
        await persistent.releaseInventory({ orderId: order.orderId, reservationId: done.reservationId, idempotencyKey: idempotencyKey(workflowId, 'releaseInventory') });
        stepView('reserveInventory').status = 'compensated';
      } catch (err) {
        log.error('releasing the reservation failed', { orderId: order.orderId, error: String(err) });
        stepView('reserveInventory').lastError = 'release failed';
      }
    }
    if (options.revokeCourse && done.enrollmentId) {
      try {
        await persistent.revokeCourseAccess({ orderId: order.orderId, enrollmentId: done.enrollmentId, idempotencyKey: idempotencyKey(workflowId, 'revokeCourseAccess') });
        stepView('grantCourseAccess').status = 'compensated';
        view.courseAccess = 'revoked';
      } catch (err) {
        log.error('revoking course access failed', { orderId: order.orderId, error: String(err) });
        stepView('grantCourseAccess').lastError = 'revoke failed';
      }
    }
    for (const step of view.steps) {
      if (step.status === 'pending' || step.status === 'running' || step.status === 'parked') step.status = 'skipped';
    }
    view.parked = null;
  }

  /** Ends the order after a cancel or discard; returns its final view. */
  async function stop(): Promise<OrderView> {
    if (cancelRequest) {
      await compensate({ revokeCourse: true });
      if (cancelRequest.reason) view.cancelReason = cancelRequest.reason;
      setStatus('cancelled');
      log.info('order cancelled', { orderId: order.orderId });
    } else {
      const parkedStep = view.parked?.step;
      await compensate({ revokeCourse: false });
      if (parkedStep) stepView(parkedStep).status = 'failed';
      view.failureReason = discardRequest?.reason ?? 'discarded by an operator';
      setStatus('failed');
      log.info('order discarded', { orderId: order.orderId });
    }
    return view;
  }

  // 1. Course access, at once.
  const granted = await runStep('grantCourseAccess', (key, bypassHealthGate) =>
    providerCalls.grantCourseAccess({
      workflowId,
      orderId: order.orderId,
      idempotencyKey: key,
      bypassHealthGate,
      customerId: order.customer.id,
      courseId: order.courseId,
    }),
  );
  if (!granted) return stop();
  done.enrollmentId = granted.enrollmentId;
  view.courseAccess = 'granted';
  if (cancelRequest) return stop();

  // 2. The box, when there is one: inventory, packing, carrier.
  const box = order.box;
  if (box) {
    const reserved = await runStep('reserveInventory', (key, bypassHealthGate) =>
      providerCalls.reserveInventory({ workflowId, orderId: order.orderId, idempotencyKey: key, bypassHealthGate, sku: box.sku, quantity: box.quantity }),
    );
    if (!reserved) return stop();
    done.reservationId = reserved.reservationId;

    const packed = await runStep('pack', (key, bypassHealthGate) =>
      providerCalls.pack({ workflowId, orderId: order.orderId, idempotencyKey: key, bypassHealthGate, reservationId: reserved.reservationId }),
    );
    if (!packed) return stop();
    done.packageId = packed.packageId;

    const address = order.shippingAddress;
    if (!address) throw ApplicationFailure.create({ type: 'InvalidOrder', message: 'an order with a box needs a shipping address', nonRetryable: true });
    const shipped = await runStep('ship', (key, bypassHealthGate) =>
      providerCalls.ship({ workflowId, orderId: order.orderId, idempotencyKey: key, bypassHealthGate, packageId: packed.packageId, address }),
    );
    if (!shipped) return stop();
    view.trackingNumber = shipped.trackingNumber;
  }

  setStatus('completed');
  log.info('order completed', { orderId: order.orderId });
  return view;
}

interface Failure {
  kind: ParkKind;
  /** The step's lastError: "logistics unavailable: HTTP 503". */
  message: string;
  /** The parked reason: "HTTP 503". */
  reason: string;
  attempts: number;
}

/** Decides by failure type, never by message text. */
function classify(err: ActivityFailure, provider: string, maxAttempts: number): Failure {
  const cause = err.cause;
  if (cause instanceof ApplicationFailure) {
    const details = (cause.details?.[0] ?? {}) as { attempt?: number; reason?: string };
    const kind: ParkKind = cause.type && REJECTION_ERROR_TYPES.includes(cause.type) ? 'rejected' : 'unavailable';
    return { kind, message: cause.message, reason: details.reason ?? cause.message, attempts: details.attempt ?? 1 };
  }
  if (cause instanceof TimeoutFailure) {
    return { kind: 'unavailable', message: `${provider} unavailable: timeout`, reason: 'timeout', attempts: maxAttempts };
  }
  return { kind: 'unavailable', message: `${provider} unavailable: ${cause?.message ?? err.message}`, reason: cause?.message ?? err.message, attempts: maxAttempts };
}

/** A signal's optional `reason`, from untrusted input: a short string or nothing. */
function reasonOf(input: unknown): string | undefined {
  const reason = typeof input === 'object' && input !== null ? (input as { reason?: unknown }).reason : undefined;
  return typeof reason === 'string' && reason.length > 0 ? reason.slice(0, 500) : undefined;
}

function isTerminal(status: OrderStatus): boolean {
  return status === 'completed' || status === 'cancelled' || status === 'failed';
}

function stripUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Current details shown in the Web UI (markdown). */
function describe(view: OrderView): string {
  const lines = [`**Status:** ${view.status}`, `**Course access:** ${view.courseAccess}`];
  if (view.parked) {
    lines.push(`**Parked at:** ${view.parked.step} (${view.parked.provider}), ${view.parked.kind}: ${view.parked.reason}, since ${view.parked.since}`);
  }
  const current = view.steps.find((s) => s.status === 'running');
  if (current) lines.push(`**Current step:** ${current.name} (${current.provider})`);
  if (view.trackingNumber) lines.push(`**Tracking number:** ${view.trackingNumber}`);
  return lines.join('\n\n');
}
