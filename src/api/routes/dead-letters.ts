/**
 * Dead letters and providers: read the dead-letter-queue workflows (`dlq-<provider>[-<shard>]`) and
 * the health workflows (`health-<provider>`), and signal them on an operator's behalf.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  type DeadLetterEntry,
  deadLetterQueueWorkflowId,
  deadLetterQueueWorkflowIds,
  discardOrderSignal,
  isProviderName,
  PROVIDERS,
  type ProviderName,
  redriveAllSignal,
  redriveOrderSignal,
  shardOf,
} from '../../workflows/definitions';
import { notFound } from '../errors';
import {
  type AllDeadLetters,
  AllDeadLettersSchema,
  commonErrors,
  DeadLetterActionAcceptedSchema,
  DiscardQuerySchema,
  ErrorSchema,
  ProviderDeadLettersSchema,
  ProviderOrderParamsSchema,
  ProviderParamsSchema,
  ProvidersSchema,
  RedriveAllAcceptedSchema,
} from '../schemas';
import { allSettledOrThrow, ifExists, queryDeadLetters, queryProviderDeadLetters, queryProviderHealth } from '../temporal';
import type { RouteOptions } from './orders';

function knownProvider(provider: string): ProviderName {
  if (!isProviderName(provider)) throw notFound(`unknown provider "${provider}" (one of ${PROVIDERS.join(', ')})`);
  return provider;
}

export const deadLetterRoutes: FastifyPluginAsyncTypebox<RouteOptions> = async (fastify, opts) => {
  const client = fastify.temporal;
  const shards = opts.config.dlqShards;

  const entriesOf = (provider: ProviderName): Promise<DeadLetterEntry[]> =>
    fastify.withTemporalDeadline(() => queryProviderDeadLetters(client, provider, shards));

  fastify.addHook('preHandler', async (request, reply) => {
    const orderId = (request.params as { orderId?: unknown } | undefined)?.orderId;
    if (typeof orderId === 'string') {
      request.log = request.log.child({ orderId });
      reply.log = request.log;
    }
  });

  /** The shard queue holding `orderId`, when its entry is there; else 404. */
  async function shardHolding(provider: ProviderName, orderId: string): Promise<string> {
    const workflowId = deadLetterQueueWorkflowId(provider, shardOf(orderId, shards), shards);
    const entries = await fastify.withTemporalDeadline(() => queryDeadLetters(client, workflowId));
    if (!entries.some((e) => e.orderId === orderId)) {
      throw notFound(`order ${orderId} is not in the ${provider} dead-letter queue`);
    }
    return workflowId;
  }

  fastify.get(
    '/dead-letters',
    {
      schema: {
        tags: ['dead letters'],
        summary: 'Every dead-letter queue',
        response: { 200: AllDeadLettersSchema, ...commonErrors },
      },
    },
    async () => {
      const perProvider = await allSettledOrThrow(PROVIDERS.map(async (provider) => [provider, await entriesOf(provider)] as const));
      const result: AllDeadLetters = { total: 0, providers: {} as AllDeadLetters['providers'] };
      for (const [provider, entries] of perProvider) {
        result.providers[provider] = { count: entries.length, entries };
        result.total += entries.length;
      }
      return result;
    },
  );

  fastify.get(
    '/dead-letters/:provider',
    {
      schema: {
        tags: ['dead letters'],
        summary: 'The dead-letter queue of one provider, oldest first',
        params: ProviderParamsSchema,
        response: { 200: ProviderDeadLettersSchema, 404: ErrorSchema, ...commonErrors },
      },
    },
    async (request) => {
      const provider = knownProvider(request.params.provider);
      const entries = await entriesOf(provider);
      return { provider, count: entries.length, entries };
    },
  );

  fastify.post(
    '/dead-letters/:provider/redrive',
    {
      schema: {
        tags: ['dead letters'],
        summary: 'Resume every parked order of a provider now',
        params: ProviderParamsSchema,
        response: { 202: RedriveAllAcceptedSchema, 404: ErrorSchema, ...commonErrors },
      },
    },
    async (request, reply) => {
      const provider = knownProvider(request.params.provider);
      const entries = await entriesOf(provider);
      await fastify.withTemporalDeadline(() =>
        allSettledOrThrow(
          deadLetterQueueWorkflowIds(provider, shards).map((id) => ifExists(() => client.workflow.getHandle(id).signal(redriveAllSignal))),
        ),
      );
      request.log.info({ provider, requested: entries.length }, 'dead-letter redrive requested');
      return reply.status(202).send({ provider, requested: entries.length });
    },
  );

  fastify.post(
    '/dead-letters/:provider/:orderId/redrive',
    {
      schema: {
        tags: ['dead letters'],
        summary: 'Resume one parked order now',
        params: ProviderOrderParamsSchema,
        response: { 202: DeadLetterActionAcceptedSchema, 404: ErrorSchema, ...commonErrors },
      },
    },
    async (request, reply) => {
      const provider = knownProvider(request.params.provider);
      const { orderId } = request.params;
      const workflowId = await shardHolding(provider, orderId);
      await fastify.withTemporalDeadline(() => client.workflow.getHandle(workflowId).signal(redriveOrderSignal, { orderId }));
      request.log.info({ provider }, 'dead-letter redrive of one order requested');
      return reply.status(202).send({ provider, orderId, requested: true as const });
    },
  );

  fastify.delete(
    '/dead-letters/:provider/:orderId',
    {
      schema: {
        tags: ['dead letters'],
        summary: 'Discard a parked order',
        description: 'The order ends `failed`: its physical part is compensated, course access is kept. Optional `?reason=`.',
        params: ProviderOrderParamsSchema,
        querystring: DiscardQuerySchema,
        response: { 202: DeadLetterActionAcceptedSchema, 404: ErrorSchema, ...commonErrors },
      },
    },
    async (request, reply) => {
      const provider = knownProvider(request.params.provider);
      const { orderId } = request.params;
      const { reason } = request.query;
      const workflowId = await shardHolding(provider, orderId);
      await fastify.withTemporalDeadline(() =>
        client.workflow.getHandle(workflowId).signal(discardOrderSignal, reason === undefined ? { orderId } : { orderId, reason }),
      );
      request.log.info({ provider }, 'dead-letter discard requested');
      return reply.status(202).send({ provider, orderId, requested: true as const });
    },
  );

  fastify.get(
    '/providers',
    {
      schema: {
        tags: ['providers'],
        summary: 'Health of every provider, as its health workflow sees it',
        response: { 200: ProvidersSchema, ...commonErrors },
      },
    },
    async () => {
      const providers = await fastify.withTemporalDeadline(() => allSettledOrThrow(PROVIDERS.map((p) => queryProviderHealth(client, p))));
      return { providers };
    },
  );
};
