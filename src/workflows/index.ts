// The worker's workflowsPath: every workflow type of the service.
export { orderFulfillment } from './order-fulfillment';
export { deadLetterQueue } from './dead-letter-queue';
export { providerHealth } from './provider-health';
