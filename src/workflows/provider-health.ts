/**
 * `providerHealth` (`health-<provider>`): probes the provider every interval (or at once on
 * `checkNow`), answers the `status` query, and tells the provider's dead-letter queues about every
 * transition; on down→up they redrive their `unavailable` entries. Continues as new to keep its
 * history short.
 */
import { allHandlersFinished, condition, continueAsNew, log, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { checkNowSignal, configureHealthSignal, type ProviderHealthInput, type ProviderHealthView, providerStatusQuery } from './definitions';

export const HEALTH_DEFAULTS = { maxChecksPerRun: 250 };

export async function providerHealth(input: ProviderHealthInput): Promise<void> {
  const settings = { intervalMs: input.intervalMs, dlqShards: input.dlqShards };
  const view: ProviderHealthView = input.state ?? { name: input.provider, status: 'unknown', since: null, lastCheckAt: null, lastError: null };
  let checkNow = false;

  const probeTimeoutMs = Math.max(500, Math.min(5000, settings.intervalMs));
  const { probeProvider } = proxyActivities<Activities>({
    startToCloseTimeout: probeTimeoutMs + 2000,
    scheduleToCloseTimeout: probeTimeoutMs + 5000,
    retry: { maximumAttempts: 1 },
  });
  const { notifyDeadLetterQueues } = proxyActivities<Activities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', maximumInterval: '30s' },
  });

  setHandler(providerStatusQuery, () => view);
  setHandler(checkNowSignal, () => {
    checkNow = true;
  });
  setHandler(configureHealthSignal, (cfg) => {
    // Untrusted input (anyone with the CLI): whole numbers within the configuration's own bounds only.
    const { intervalMs, dlqShards } = (typeof cfg === 'object' && cfg !== null ? cfg : {}) as { intervalMs?: unknown; dlqShards?: unknown };
    if (Number.isInteger(intervalMs) && (intervalMs as number) >= 100 && (intervalMs as number) <= 86_400_000) settings.intervalMs = intervalMs as number;
    if (Number.isInteger(dlqShards) && (dlqShards as number) >= 1 && (dlqShards as number) <= 64) settings.dlqShards = dlqShards as number;
  });

  const maxChecks = input.maxChecksPerRun ?? HEALTH_DEFAULTS.maxChecksPerRun;
  for (let check = 0; check < maxChecks && !workflowInfo().continueAsNewSuggested; check++) {
    checkNow = false;
    let result: { ok: boolean; error?: string };
    try {
      result = await probeProvider({ provider: input.provider, timeoutMs: probeTimeoutMs });
    } catch (err) {
      result = { ok: false, error: `probe did not complete: ${String(err)}` };
    }
    const now = new Date().toISOString();
    view.lastCheckAt = now;
    view.lastError = result.ok ? null : (result.error ?? 'unhealthy');
    const status = result.ok ? 'up' : 'down';
    if (status !== view.status) {
      log.info('provider status changed', { provider: input.provider, from: view.status, to: status });
      view.status = status;
      view.since = now;
      setCurrentDetails(`**${input.provider}** is **${status}** since ${now}${view.lastError ? `\n\n**Last error:** ${view.lastError}` : ''}`);
      await notifyDeadLetterQueues({ provider: input.provider, status, shards: settings.dlqShards });
    }
    await condition(() => checkNow, settings.intervalMs);
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof providerHealth>({ ...input, ...settings, state: view });
}
