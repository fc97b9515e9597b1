/**
 * Orders as the load generator sends them, and `client.workflow.start` with exactly the options
 * `POST /orders` uses (src/api/routes/orders.ts), so "raw" and "API" start the same workflow.
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { orderStartOptions } from '../../src/order-start';
import type { Config } from '../../src/config';
import {
  type OrderRequest,
  WORKFLOW_TYPES,
} from '../../src/workflows/definitions';

/** The baseline workflow of the throughput benchmark (bench/baseline-workflows.ts). */
export const BASELINE_WORKFLOW_TYPE = 'baselineFourNoops';

const runTag = randomUUID().slice(0, 6);
let seq = 0;

/** A unique orderId per call: `b<run>-<prefix>-<n>`. */
export function nextOrderId(prefix: string): string {
  return `b${runTag}-${prefix}-${++seq}`;
}

export function sampleOrder(orderId: string, withBox: boolean): OrderRequest {
  const order: OrderRequest = {
    orderId,
    customer: { id: `c-${seq % 1000}`, email: 'ann@example.com', name: 'Ann Lee' },
    courseId: 'phonics-101',
  };
  if (withBox) {
    order.box = { sku: 'BOX-PHONICS', quantity: 1 };
    order.shippingAddress = { name: 'Ann Lee', line1: '1 Main St', line2: 'Apt 2', city: 'Springfield', region: 'IL', postalCode: '62701', country: 'US' };
  }
  return order;
}

/** Starts `orderFulfillment` the way the API does. */
export function startOrder(client: Client, config: Config, order: OrderRequest): Promise<WorkflowHandle> {
  return client.workflow.start(WORKFLOW_TYPES.order, orderStartOptions(config, order));
}

/** Starts the baseline with the same input and options (its own workflow ID prefix). */
export function startBaseline(client: Client, config: Config, order: OrderRequest): Promise<WorkflowHandle> {
  const options = orderStartOptions(config, order);
  return client.workflow.start(BASELINE_WORKFLOW_TYPE, { ...options, workflowId: `baseline-${order.orderId}` });
}

/**
 * Runs `count` tasks with at most `concurrency` in flight; resolves with each task's result in order.
 * A failed task rejects the whole run (after the tasks in flight settle).
 */
export async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  let failure: unknown;
  const lane = async (): Promise<void> => {
    while (failure === undefined) {
      const i = next++;
      if (i >= count) return;
      try {
        results[i] = await task(i);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  if (failure !== undefined) throw failure;
  return results;
}
