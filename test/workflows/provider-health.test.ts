import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type TestStack, startTestStack } from '../support/stack';
import { temporalCli } from '../support/cli';
import { healthWorkflowId, type ProviderHealthView, providerStatusQuery, WORKFLOW_TYPES } from '../../src/workflows/definitions';

let stack: TestStack;

beforeAll(async () => {
  // A long interval: only checkNow makes this fast.
  stack = await startTestStack(__filename, { env: { HEALTH_CHECK_INTERVAL_MS: '60000' } });
});
afterAll(async () => {
  await stack?.stop();
});

const health = (provider: string) => stack.client.workflow.getHandle(healthWorkflowId(provider as 'packing'));

describe('providerHealth', () => {
  it('is started by the worker for every provider and answers the status query', async () => {
    for (const p of ['courses', 'inventory', 'packing', 'logistics']) {
      const view = await eventually(async () => {
        const v = await health(p).query(providerStatusQuery);
        return v.status === 'up' ? v : undefined;
      });
      expect(view).toMatchObject({ name: p, status: 'up', lastError: null });
      expect(view.since).not.toBeNull();
    }
  });

  it('checkNow (from the temporal CLI) probes at once and records a down provider with its error', async () => {
    await stack.admin.setProvider('packing', { state: 'down' });
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', 'health-packing', '--name', 'checkNow']);
    const view = await eventually(async () => {
      const v = await health('packing').query(providerStatusQuery);
      return v.status === 'down' ? v : undefined;
    }, 10_000);
    expect(view.lastError).toContain('HTTP 503');
    await stack.admin.setProvider('packing', { state: 'up' });
    await health('packing').signal('checkNow');
    await eventually(async () => (await health('packing').query(providerStatusQuery)).status === 'up', 10_000);
  });

  it('continues as new after its check budget with its state carried over', async () => {
    const workflowId = `health-cycle-${Date.now()}`;
    const handle = await stack.client.workflow.start(WORKFLOW_TYPES.providerHealth, {
      workflowId,
      taskQueue: stack.config.temporal.taskQueue,
      args: [{ provider: 'courses', intervalMs: 100, dlqShards: 1, maxChecksPerRun: 3 }],
    });
    const firstRun = handle.firstExecutionRunId;
    const view = await eventually(async () => {
      const d = await stack.client.workflow.getHandle(workflowId).describe();
      if (d.runId === firstRun) return undefined;
      return stack.client.workflow.getHandle(workflowId).query<ProviderHealthView>('status');
    }, 20_000);
    expect(view.status).toBe('up');
    expect(view.since).not.toBeNull();
    await stack.client.workflow.getHandle(workflowId).terminate();
  });
});
