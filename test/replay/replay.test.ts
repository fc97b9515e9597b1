/**
 * Replay tests: recorded histories of every workflow type (in test/replay/histories) must replay
 * against the current workflow code. A change that breaks replay of running workflows fails here and
 * needs `patched()`. Re-record (only after such a deliberate, patched change) with
 * `RECORD_HISTORIES=1 npx vitest run test/replay`.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { eventually, type TestStack, startTestStack } from '../support/stack';
import { temporalCli } from '../support/cli';
import { createDataConverter } from '../../src/temporal/connection';
import { cancelSignal, deadLetterQueueWorkflowId, healthWorkflowId, WORKFLOW_TYPES } from '../../src/workflows/definitions';

const HISTORIES = join(__dirname, 'histories');
/** A fixed test-only key: recorded payloads are encrypted with it. Not a secret. */
const REPLAY_KEY = Buffer.alloc(32, 7).toString('base64');
const dataConverter = createDataConverter({ payloadEncryptionKey: REPLAY_KEY, dataDir: '/nonexistent' });
const recording = process.env.RECORD_HISTORIES === '1';

function recorded(): { file: string; workflowId: string; history: unknown }[] {
  return readdirSync(HISTORIES)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, workflowId: file.replace(/\.json$/, ''), history: historyFromJSON(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8'))) }));
}

describe.skipIf(recording)('replay of recorded histories', () => {
  beforeAll(() => {
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
    } catch {
      // already installed in this process
    }
  });

  it('has a recorded history of every workflow type', () => {
    const files = recorded().map((r) => r.file).join(' ');
    expect(files).toMatch(/order-completed-box\.json/); // before the order-fewer-visibility-updates patch
    expect(files).toMatch(/order-completed-box-fewer-visibility-updates/); // after it
    expect(files).toMatch(/order-parked-resumed/);
    expect(files).toMatch(/order-cancelled/);
    expect(files).toMatch(/order-discarded/);
    expect(files).toMatch(/dlq-logistics\.json/); // before the dlq-redrive-without-waiting patch
    expect(files).toMatch(/dlq-logistics-redrive-without-waiting/); // after it
    expect(files).toMatch(/health-/);
  });

  it('replays every recorded history against the current workflow code', async () => {
    for (const { file, workflowId, history } of recorded()) {
      await expect(
        Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter }, history, workflowId),
        file,
      ).resolves.toBeUndefined();
    }
  }, 120_000);

  it('catches a deliberately non-deterministic change', async () => {
    const bundle = await bundleWorkflowCode({ workflowsPath: join(__dirname, 'fixtures/nondeterministic-workflows.ts'), logger: new DefaultLogger('ERROR') });
    const orderHistories = recorded().filter((r) => r.file.startsWith('order-completed'));
    expect(orderHistories.length).toBeGreaterThan(0);
    for (const { workflowId, history } of orderHistories) {
      await expect(Worker.runReplayHistory({ workflowBundle: bundle, dataConverter }, history, workflowId)).rejects.toThrow(/[Nn]ondetermin/);
    }
  }, 120_000);
});

describe.runIf(recording)('record histories', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack(__filename, { env: { PAYLOAD_ENCRYPTION_KEY: REPLAY_KEY, STEP_MAX_ATTEMPTS: '2', HEALTH_CHECK_INTERVAL_MS: '500' } });
  });
  afterAll(async () => {
    await stack?.stop();
  });
  // Order histories recorded before the order-fewer-visibility-updates patch keep their plain names.
  const ORDER_SUFFIX = '-fewer-visibility-updates';
  const save = async (name: string, workflowId: string, runId?: string) => {
    const history = await stack.client.workflow.getHandle(workflowId, runId).fetchHistory();
    writeFileSync(join(HISTORIES, `${name}.json`), `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 1)}\n`);
  };

  it('records', async () => {
    const box = await stack.startOrder({ orderId: 'R-box' });
    await box.result();
    await save('order-completed-box' + ORDER_SUFFIX, box.workflowId);
    const course = await stack.startOrder({ orderId: 'R-course', box: undefined, shippingAddress: undefined });
    await course.result();
    await save('order-completed-course-only' + ORDER_SUFFIX, course.workflowId);

    await stack.admin.setProvider('logistics', { state: 'down' });
    await eventually(async () => (await stack.client.workflow.getHandle(healthWorkflowId('logistics')).query<{ status: string }>('status')).status === 'down');
    const parked = await stack.startOrder({ orderId: 'R-parked' });
    const cancelled = await stack.startOrder({ orderId: 'R-cancel' });
    const discarded = await stack.startOrder({ orderId: 'R-discard' });
    for (const id of ['R-parked', 'R-cancel', 'R-discard']) await eventually(async () => (await stack.status(id)).status === 'parked');
    await eventually(async () => (await stack.client.workflow.getHandle('dlq-logistics').query<unknown[]>('entries')).length === 3);
    await cancelled.signal(cancelSignal, { reason: 'recorded' });
    await cancelled.result();
    await temporalCli(stack.config, ['workflow', 'signal', '--workflow-id', 'dlq-logistics', '--name', 'discardOrder', '--input', '{"orderId":"R-discard"}']);
    await discarded.result();
    await stack.admin.setProvider('logistics', { state: 'up' });
    await parked.result();
    await save('order-parked-resumed' + ORDER_SUFFIX, parked.workflowId);
    await save('order-cancelled' + ORDER_SUFFIX, cancelled.workflowId);
    await save('order-discarded' + ORDER_SUFFIX, discarded.workflowId);
    // dlq-logistics.json was recorded before the dlq-redrive-without-waiting patch; keep it to replay the old path.
    await save('dlq-logistics-redrive-without-waiting', deadLetterQueueWorkflowId('logistics', 0, 1));
    await save('health-logistics', healthWorkflowId('logistics'));
    expect(WORKFLOW_TYPES.order).toBe('orderFulfillment');
  }, 120_000);
});
