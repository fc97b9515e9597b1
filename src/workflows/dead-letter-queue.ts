/**
 * `deadLetterQueue` (`dlq-<provider>`, or `dlq-<provider>-<i>` per shard): the parked orders of one
 * provider. One entry per order (a duplicate park or redrive changes nothing). Resumes orders at a
 * bounded rate so a recovering provider is not stampeded: `unavailable` entries automatically when the
 * provider is back, `rejected` ones only when an operator asks. Continues as new before Temporal's
 * limits, carrying every entry over.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import {
  type DeadLetterEntry,
  type DeadLetterQueueInput,
  type DeadLetterQueueState,
  discardOrderSignal,
  discardSignal,
  entriesQuery,
  isDeadLetterEntry,
  parkSignal,
  providerStatusSignal,
  redriveAllSignal,
  redriveOrderSignal,
  resumeSignal,
  unparkSignal,
} from './definitions';

/** Redrives in one-second rounds that don't wait for their signals' confirmation (see the redrive loop). */
export const PATCH_REDRIVE_WITHOUT_WAITING = 'dlq-redrive-without-waiting';

/** An idle queue wakes on a new park to re-plan its auto-retry timer. */
export const PATCH_WAKE_ON_PARK = 'dlq-wake-on-park';

export const DLQ_DEFAULTS = {
  maxSignalsPerRun: 8000,
  maxHistoryEventsPerRun: 3500,
  retryWhileUpMs: 10_000,
  /** Forget removed orders after this long (guards against late duplicate parks). */
  rememberRemovedMs: 24 * 60 * 60 * 1000,
  /** Most outgoing signals in flight at once (Temporal allows 2,000 pending per run). */
  maxInFlightSignals: 500,
};

/** A loggable description of an untrusted signal field: never throws, whatever it is. */
function describeInput(value: unknown): string {
  if (typeof value === 'string') return value.slice(0, 100);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return value === null ? 'null' : typeof value;
}

/** Doubles with each park of the same order, capped: a flapping provider is not hammered. */
function retryDelayMs(base: number, parkCount: number): number {
  return base * 2 ** Math.min(Math.max(parkCount - 1, 0), 6);
}

export async function deadLetterQueue(input: DeadLetterQueueInput): Promise<void> {
  const maxSignals = input.maxSignalsPerRun ?? DLQ_DEFAULTS.maxSignalsPerRun;
  const maxEvents = input.maxHistoryEventsPerRun ?? DLQ_DEFAULTS.maxHistoryEventsPerRun;
  const retryWhileUpMs = input.retryWhileUpMs ?? DLQ_DEFAULTS.retryWhileUpMs;
  const ratePerSecond = Math.max(1, Math.min(input.redriveRatePerSecond, DLQ_DEFAULTS.maxInFlightSignals));
  const legacyBatchSize = Math.max(1, Math.ceil(ratePerSecond / 5));
  const legacyBatchIntervalMs = (1000 * legacyBatchSize) / ratePerSecond;

  const state: DeadLetterQueueState = input.state ?? { entries: [], providerStatus: 'unknown', redriveQueue: [], removed: {} };
  const entries = new Map<string, DeadLetterEntry>(state.entries.map((e) => [e.orderId, e]));
  const redriveQueue = new Set<string>(state.redriveQueue);
  /** orderId → [parkCount removed, when] */
  const removed = new Map<string, [number, number]>(
    Object.entries(state.removed).map(([orderId, parkCount]) => [orderId, [parkCount, Date.now()]]),
  );
  const discards: { orderId: string; workflowId: string; reason?: string }[] = [];
  let providerStatus = state.providerStatus;
  /** A park arrived since the queue last planned its wait (see the idle wait in the main loop). */
  let parkedSinceWait = false;
  // Runs recorded before this patch slept through new parks until their planned timer (found by the
  // chaos test: an unavailable entry of a provider that stayed up waited for its 1-hour backstop).
  const wakeOnPark = patched(PATCH_WAKE_ON_PARK);
  let signalsThisRun = 0;

  const remove = (entry: DeadLetterEntry): void => {
    entries.delete(entry.orderId);
    redriveQueue.delete(entry.orderId);
    removed.set(entry.orderId, [entry.parkCount, Date.now()]);
  };
  const updateDetails = (): void => {
    const rejected = [...entries.values()].filter((e) => e.kind === 'rejected').length;
    setCurrentDetails(
      `**Provider:** ${input.provider} (${providerStatus})\n\n**Parked:** ${entries.size} (${entries.size - rejected} unavailable, ${rejected} rejected)\n\n**Waiting to resume:** ${redriveQueue.size}`,
    );
  };

  setHandler(entriesQuery, () => [...entries.values()].sort((a, b) => a.parkedAt.localeCompare(b.parkedAt)));

  setHandler(parkSignal, (entry) => {
    signalsThisRun++;
    if (!isDeadLetterEntry(entry) || entry.provider !== input.provider) {
      log.warn('park: ignored a malformed entry', { provider: input.provider });
      return;
    }
    const gone = removed.get(entry.orderId);
    if (gone && entry.parkCount <= gone[0]) return; // a late duplicate of a park already resolved
    const existing = entries.get(entry.orderId);
    if (existing && existing.parkCount >= entry.parkCount) return; // duplicate park
    entries.set(entry.orderId, entry);
    redriveQueue.delete(entry.orderId);
    removed.delete(entry.orderId);
    parkedSinceWait = true;
    updateDetails();
  });
  setHandler(redriveAllSignal, () => {
    signalsThisRun++;
    for (const orderId of entries.keys()) redriveQueue.add(orderId);
    log.info('redrive of every entry requested', { provider: input.provider, count: entries.size });
    updateDetails();
  });
  setHandler(redriveOrderSignal, (req) => {
    signalsThisRun++;
    if (typeof req?.orderId === 'string' && entries.has(req.orderId)) redriveQueue.add(req.orderId);
    else log.warn('redriveOrder: no such entry', { provider: input.provider, orderId: describeInput(req?.orderId) });
    updateDetails();
  });
  setHandler(discardOrderSignal, (req) => {
    signalsThisRun++;
    const entry = typeof req?.orderId === 'string' ? entries.get(req.orderId) : undefined;
    if (!entry) {
      log.warn('discardOrder: no such entry', { provider: input.provider, orderId: describeInput(req?.orderId) });
      return;
    }
    remove(entry);
    discards.push({ orderId: entry.orderId, workflowId: entry.workflowId, reason: typeof req.reason === 'string' ? req.reason : undefined });
    updateDetails();
  });
  setHandler(providerStatusSignal, (req) => {
    signalsThisRun++;
    if (req?.status !== 'up' && req?.status !== 'down') {
      log.warn('providerStatus: status must be "up" or "down"', { provider: input.provider });
      return;
    }
    const previous = providerStatus;
    providerStatus = req.status;
    if (req.status === 'up') {
      let queued = 0;
      for (const entry of entries.values()) {
        if (entry.kind === 'unavailable') {
          redriveQueue.add(entry.orderId);
          queued++;
        }
      }
      log.info('provider is up: redriving unavailable entries', { provider: input.provider, previous, queued });
    }
    updateDetails();
  });
  setHandler(unparkSignal, (req) => {
    signalsThisRun++;
    const entry = typeof req?.orderId === 'string' ? entries.get(req.orderId) : undefined;
    if (entry && typeof req.parkCount === 'number' && entry.parkCount <= req.parkCount) remove(entry);
    updateDetails();
  });

  const shouldContinueAsNew = (): boolean =>
    signalsThisRun >= maxSignals || workflowInfo().historyLength >= maxEvents || workflowInfo().continueAsNewSuggested;

  /** `unavailable` entries of a provider not known down come back on their own after a delay. */
  const nextAutoRetry = (): { due: string[]; waitMs: number | undefined } => {
    if (providerStatus === 'down') return { due: [], waitMs: undefined };
    const now = Date.now();
    const due: string[] = [];
    let waitMs: number | undefined;
    for (const entry of entries.values()) {
      if (entry.kind !== 'unavailable' || redriveQueue.has(entry.orderId)) continue;
      const at = Date.parse(entry.parkedAt) + retryDelayMs(retryWhileUpMs, entry.parkCount);
      if (at <= now) due.push(entry.orderId);
      else waitMs = Math.min(waitMs ?? Infinity, at - now);
    }
    return { due, waitMs };
  };

  /** Takes up to `n` queued entries out of the queue and signals their orders to resume. */
  const resumeNext = (n: number): Promise<void>[] => {
    const batch: DeadLetterEntry[] = [];
    for (const orderId of redriveQueue) {
      if (batch.length >= n) break;
      redriveQueue.delete(orderId);
      const entry = entries.get(orderId);
      if (entry) batch.push(entry);
    }
    for (const entry of batch) remove(entry);
    updateDetails();
    return batch.map(async (entry) => {
      try {
        await getExternalWorkflowHandle(entry.workflowId).signal(resumeSignal, { source: 'dlq' });
      } catch (err) {
        // The order no longer runs (it ended another way): nothing to resume.
        log.warn('could not resume an order', { orderId: entry.orderId, error: String(err) });
      }
    });
  };

  updateDetails();
  let lastBatchAt = state.lastRedriveAt ?? 0;
  /** Resume signals sent and not yet confirmed by the server. */
  const inFlight = new Set<Promise<void>>();
  for (;;) {
    const auto = nextAutoRetry();
    for (const orderId of auto.due) redriveQueue.add(orderId);
    if (redriveQueue.size === 0 && discards.length === 0) {
      if (shouldContinueAsNew()) break;
      parkedSinceWait = false;
      // A new park re-plans the wait (its own auto-retry may be due sooner than anything known now).
      await condition(
        () => redriveQueue.size > 0 || discards.length > 0 || shouldContinueAsNew() || (wakeOnPark && parkedSinceWait),
        auto.waitMs ?? '1 day',
      );
      continue;
    }

    // Discards: tell each order to end (bounded batches).
    if (discards.length > 0) {
      const batch = discards.splice(0, DLQ_DEFAULTS.maxInFlightSignals);
      await Promise.all(
        batch.map(async (d) => {
          try {
            await getExternalWorkflowHandle(d.workflowId).signal(discardSignal, { reason: d.reason });
          } catch (err) {
            log.warn('could not signal a discarded order', { orderId: d.orderId, error: String(err) });
          }
        }),
      );
    }

    // Redrives: at most `ratePerSecond`.
    if (redriveQueue.size > 0) {
      if (patched(PATCH_REDRIVE_WITHOUT_WAITING)) {
        // One-second rounds of `ratePerSecond` resumes, each round's signals sent without waiting for
        // their confirmation, so the next round's timer starts in the same workflow task. (Waiting for
        // confirmations, and timers under a second, which the server fires after about a second, held
        // the rate near 4/s whatever was configured.) In-flight signals stay bounded.
        if (inFlight.size + ratePerSecond > DLQ_DEFAULTS.maxInFlightSignals) {
          await condition(() => inFlight.size + ratePerSecond <= DLQ_DEFAULTS.maxInFlightSignals);
        }
        const wait = lastBatchAt + 1000 - Date.now();
        if (wait > 0) await sleep(wait);
        lastBatchAt = Date.now();
        for (const resume of resumeNext(ratePerSecond)) {
          const tracked: Promise<void> = resume.finally(() => inFlight.delete(tracked));
          inFlight.add(tracked);
        }
      } else {
        // Before the patch: small batches, each waiting for its signals (kept for replay).
        const wait = lastBatchAt + legacyBatchIntervalMs - Date.now();
        if (wait > 0) await sleep(wait);
        lastBatchAt = Date.now();
        await Promise.all(resumeNext(legacyBatchSize));
      }
    }
    if (shouldContinueAsNew()) break;
  }

  await Promise.all(inFlight);
  await condition(allHandlersFinished);
  const now = Date.now();
  const remember = Object.fromEntries(
    [...removed.entries()].filter(([, [, at]]) => now - at < DLQ_DEFAULTS.rememberRemovedMs).map(([orderId, [parkCount]]) => [orderId, parkCount]),
  );
  log.info('continuing as new', { provider: input.provider, entries: entries.size, signalsThisRun });
  await continueAsNew<typeof deadLetterQueue>({
    ...input,
    state: { entries: [...entries.values()], providerStatus, redriveQueue: [...redriveQueue], removed: remember, lastRedriveAt: lastBatchAt },
  });
}
