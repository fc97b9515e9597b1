/**
 * Orders: accept (start `orderFulfillment`, idempotently per orderId), read, list, cancel, retry.
 */
import { randomUUID } from 'node:crypto';
import { type WorkflowHandle, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { WorkflowExecutionDescription } from '@temporalio/client';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config';
import {
  cancelSignal,
  FulfillmentStatusKey,
  type OrderRequest,
  type OrderStatus,
  OrderIdKey,
  orderWorkflowId,
  ORDER_STATUSES,
  ParkedProviderKey,
  retryNowSignal,
  statusQuery,
  WORKFLOW_TYPES,
} from '../../workflows/definitions';
import { badRequest, conflict, notFound } from '../errors';
import type { ApiMetrics } from '../metrics';
import {
  CancelAcceptedSchema,
  CancelBodySchema,
  commonErrors,
  ErrorSchema,
  ListOrdersQuerySchema,
  OrderAcceptedSchema,
  OrderExistingSchema,
  OrderListSchema,
  OrderParamsSchema,
  OrderRequestSchema,
  OrderViewSchema,
  RetryAcceptedSchema,
} from '../schemas';
import { queryOrder } from '../temporal';
import { orderStartOptions } from '../../order-start';

export interface RouteOptions {
  config: Config;
  metrics: ApiMetrics;
  /** Deadline of a best-effort status lookup (the order's current status on a repeated POST), ms. */
  probeTimeoutMs: number;
}


/** Every log line about an order carries its ID. */
function tagOrder(request: FastifyRequest, reply: FastifyReply, orderId: string): void {
  const log = request.log.child({ orderId });
  request.log = log;
  reply.log = log;
}

const isOrderStatus = (value: unknown): value is OrderStatus =>
  typeof value === 'string' && (ORDER_STATUSES as readonly string[]).includes(value);

export const orderRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (fastify, opts) => {
  const { config, metrics } = opts;
  const client = fastify.temporal;

  fastify.addHook('preHandler', async (request, reply) => {
    const orderId = (request.params as { orderId?: unknown } | undefined)?.orderId;
    if (typeof orderId === 'string') tagOrder(request, reply, orderId);
  });

  /** The status of an order that exists: its `status` query, else its search attribute. */
  async function currentStatus(handle: WorkflowHandle, description: WorkflowExecutionDescription): Promise<OrderStatus> {
    try {
      const view = await fastify.withTemporalDeadline(() => handle.query(statusQuery), opts.probeTimeoutMs);
      if (isOrderStatus(view.status)) return view.status;
    } catch {
      // No worker answering right now: fall back on what visibility knows.
    }
    const fromSearch = description.typedSearchAttributes.get(FulfillmentStatusKey);
    return isOrderStatus(fromSearch) ? fromSearch : 'accepted';
  }

  fastify.post(
    '/orders',
    {
      schema: {
        tags: ['orders'],
        summary: 'Accept an order',
        description:
          'Starts the order\'s fulfillment workflow `order-<orderId>`. The same orderId with the same body again answers 200 ' +
          'with the current status and starts nothing; with a different body, 409.',
        body: OrderRequestSchema,
        response: {
          202: OrderAcceptedSchema,
          200: OrderExistingSchema,
          409: ErrorSchema,
          413: ErrorSchema,
          ...commonErrors,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (body.box && !body.shippingAddress) throw badRequest('body/shippingAddress is required when body/box is present');
      const orderId = body.orderId ?? randomUUID();
      tagOrder(request, reply, orderId);
      const order: OrderRequest = { ...body, orderId };
      const options = orderStartOptions(config, order);
      const workflowId = options.workflowId;
      const requestHash = options.memo?.requestHash;
      try {
        await fastify.withTemporalDeadline(() => client.workflow.start(WORKFLOW_TYPES.order, options));
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        const handle = client.workflow.getHandle(workflowId);
        const description = await fastify.withTemporalDeadline(() => handle.describe());
        if (description.memo?.requestHash !== requestHash) {
          request.log.info({ workflowId }, 'order rejected: the orderId exists with a different body');
          throw conflict(`order ${orderId} already exists with a different body`);
        }
        const status = await currentStatus(handle, description);
        request.log.info({ workflowId, status }, 'order already accepted: same body, nothing started');
        return reply.status(200).header('Location', `/orders/${orderId}`).send({ orderId, workflowId, status });
      }
      metrics.ordersAccepted.inc();
      request.log.info({ workflowId }, 'order accepted');
      return reply.status(202).header('Location', `/orders/${orderId}`).send({ orderId, workflowId, status: 'accepted' });
    },
  );

  fastify.get(
    '/orders/:orderId',
    {
      schema: {
        tags: ['orders'],
        summary: 'An order\'s status, steps and parking',
        params: OrderParamsSchema,
        response: { 200: OrderViewSchema, 404: ErrorSchema, ...commonErrors },
      },
    },
    async (request) => {
      const { orderId } = request.params;
      const view = await fastify.withTemporalDeadline(() => queryOrder(client.workflow.getHandle(orderWorkflowId(orderId))));
      if (!view) throw notFound(`order ${orderId} not found`);
      return view;
    },
  );

  fastify.get(
    '/orders',
    {
      schema: {
        tags: ['orders'],
        summary: 'List orders (from Temporal visibility)',
        description: 'Filter by `status` and by `provider` (the provider an order is parked on); at most `limit` (default 50).',
        querystring: ListOrdersQuerySchema,
        response: { 200: OrderListSchema, ...commonErrors },
      },
    },
    async (request) => {
      const { status, provider } = request.query;
      const limit = request.query.limit ?? 50;
      // status and provider are validated against closed enums, so nothing can be injected here.
      const clauses = [`WorkflowType="${WORKFLOW_TYPES.order}"`];
      if (status) clauses.push(`${FulfillmentStatusKey.name}="${status}"`);
      if (provider) clauses.push(`${ParkedProviderKey.name}="${provider}"`);
      const query = clauses.join(' AND ');
      const orders = await fastify.withTemporalDeadline(async () => {
        const found = [];
        for await (const wf of client.workflow.list({ query, pageSize: Math.min(limit, 1000) })) {
          found.push({
            orderId: wf.typedSearchAttributes.get(OrderIdKey) ?? wf.workflowId.replace(/^order-/, ''),
            workflowId: wf.workflowId,
            status: wf.typedSearchAttributes.get(FulfillmentStatusKey) ?? null,
            parkedProvider: wf.typedSearchAttributes.get(ParkedProviderKey) ?? null,
            startTime: wf.startTime.toISOString(),
          });
          if (found.length >= limit) break;
        }
        return found;
      });
      return { orders };
    },
  );

  fastify.post(
    '/orders/:orderId/cancel',
    {
      schema: {
        tags: ['orders'],
        summary: 'Cancel an order',
        description:
          'Compensates what was done (inventory released, course access revoked) and removes the order from any ' +
          'dead-letter queue. 409 once the shipment exists or the order has ended.',
        params: OrderParamsSchema,
        body: CancelBodySchema,
        response: { 202: CancelAcceptedSchema, 404: ErrorSchema, 409: ErrorSchema, ...commonErrors },
      },
      // The body is optional: no body means no reason.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const { orderId } = request.params;
      const handle = client.workflow.getHandle(orderWorkflowId(orderId));
      const view = await fastify.withTemporalDeadline(() => queryOrder(handle));
      if (!view) throw notFound(`order ${orderId} not found`);
      if (view.status !== 'cancelled') {
        if (view.status === 'completed' || view.status === 'failed') {
          throw conflict(`order ${orderId} is ${view.status} and can no longer be cancelled`);
        }
        const ship = view.steps.find((s) => s.name === 'ship');
        if (view.trackingNumber || ship?.status === 'running' || ship?.status === 'done') {
          throw conflict(`order ${orderId} can no longer be cancelled: the shipment exists`);
        }
        const reason = request.body.reason;
        await fastify.withTemporalDeadline(() => handle.signal(cancelSignal, reason === undefined ? {} : { reason }));
        request.log.info('order cancellation requested');
      }
      return reply.status(202).send({ orderId, status: 'cancelling' });
    },
  );

  fastify.post(
    '/orders/:orderId/retry',
    {
      schema: {
        tags: ['orders'],
        summary: 'Retry a parked order now',
        params: OrderParamsSchema,
        response: { 202: RetryAcceptedSchema, 404: ErrorSchema, 409: ErrorSchema, ...commonErrors },
      },
    },
    async (request, reply) => {
      const { orderId } = request.params;
      const handle = client.workflow.getHandle(orderWorkflowId(orderId));
      const view = await fastify.withTemporalDeadline(() => queryOrder(handle));
      if (!view) throw notFound(`order ${orderId} not found`);
      if (view.status !== 'parked') throw conflict(`order ${orderId} is not parked (status: ${view.status})`);
      await fastify.withTemporalDeadline(() => handle.signal(retryNowSignal));
      request.log.info('order retry requested');
      return reply.status(202).send({ orderId, requested: true as const });
    },
  );
};
