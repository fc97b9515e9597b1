/**
 * How an order's fulfillment workflow is started: one place for the API, the benchmarks and the tests,
 * so all three start exactly the same workflow.
 */
import { createHash } from 'node:crypto';
import type { WorkflowStartOptions } from '@temporalio/client';
import { canonicalJson } from './canonical-json';
import type { Config } from './config';
import {
  CustomerIdKey,
  type FulfillmentPolicy,
  FulfillmentStatusKey,
  type OrderFulfillmentInput,
  OrderIdKey,
  type OrderRequest,
  orderWorkflowId,
} from './workflows/definitions';

/** SHA-256 of the order's canonical JSON: equal bodies hash equal whatever their key order. */
export const requestHashOf = (order: OrderRequest): string => createHash('sha256').update(canonicalJson(order)).digest('hex');

/** The workflow's one-line summary in the Web UI: no customer data. */
export function orderSummary(order: OrderRequest): string {
  const parts = [`Order ${order.orderId}`, `course ${order.courseId}`];
  if (order.box) parts.push(`box ${order.box.sku} ×${order.box.quantity}`);
  return parts.join(' · ');
}

/**
 * Start options of `orderFulfillment` for one order: `order-<orderId>`, never a second workflow for an
 * orderId (REJECT_DUPLICATE), search attributes without personal data, the request hash in the memo.
 */
export function orderStartOptions(
  config: Pick<Config, 'temporal' | 'stepMaxAttempts' | 'parkBackstopMs' | 'dlqShards'>,
  order: OrderRequest,
  overrides: { policy?: FulfillmentPolicy } = {},
): WorkflowStartOptions & { args: [OrderFulfillmentInput] } {
  const input: OrderFulfillmentInput = {
    order,
    acceptedAt: new Date().toISOString(),
    policy: { stepMaxAttempts: config.stepMaxAttempts, parkBackstopMs: config.parkBackstopMs, dlqShards: config.dlqShards, ...overrides.policy },
  };
  return {
    workflowId: orderWorkflowId(order.orderId),
    taskQueue: config.temporal.taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'FAIL',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: [
      { key: OrderIdKey, value: order.orderId },
      { key: CustomerIdKey, value: order.customer.id },
      { key: FulfillmentStatusKey, value: 'accepted' },
    ],
    memo: { requestHash: requestHashOf(order) },
    staticSummary: orderSummary(order),
  };
}
