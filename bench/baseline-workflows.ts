/**
 * The throughput baseline: what Temporal itself costs for a workflow of four sequential activities,
 * on the same server, worker and options as `orderFulfillment`, with activities that do nothing. It
 * takes the same input as an order (so payload encryption costs the same) and uses the same activity
 * options as the order's provider steps.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { OrderFulfillmentInput } from '../src/workflows/definitions';
import type { NoopActivities } from './noop-activities';

const { noopGrantCourseAccess, noopReserveInventory, noopPack, noopShip } = proxyActivities<NoopActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: 1000, backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 3 },
});

export async function baselineFourNoops(input: OrderFulfillmentInput): Promise<{ orderId: string; attempts: number }> {
  const orderId = input.order.orderId;
  let attempts = 0;
  attempts += (await noopGrantCourseAccess({ orderId })).attempt;
  attempts += (await noopReserveInventory({ orderId })).attempt;
  attempts += (await noopPack({ orderId })).attempt;
  attempts += (await noopShip({ orderId })).attempt;
  return { orderId, attempts };
}
