/**
 * Probes and metrics: `/health/live`, `/health/ready` (Temporal answers within a short deadline) and
 * `/metrics` (Prometheus text).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorBody, isTemporalUnavailable, TEMPORAL_UNAVAILABLE } from '../errors';
import type { ApiMetrics } from '../metrics';
import { ErrorSchema, HealthSchema } from '../schemas';

export interface SystemRouteOptions {
  metrics: ApiMetrics;
  probeTimeoutMs: number;
}

export const systemRoutes: FastifyPluginAsyncTypebox<SystemRouteOptions> = async (fastify, opts) => {
  const connection = fastify.temporal.connection;

  fastify.get(
    '/health/live',
    {
      config: { rateLimit: false },
      logLevel: 'warn',
      schema: { tags: ['health'], summary: 'The process is up', response: { 200: HealthSchema } },
    },
    async () => ({ status: 'ok' as const }),
  );

  fastify.get(
    '/health/ready',
    {
      config: { rateLimit: false },
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        summary: 'The process is up and Temporal answers',
        response: { 200: HealthSchema, 503: ErrorSchema },
      },
    },
    async (request, reply) => {
      try {
        await connection.withDeadline(Date.now() + opts.probeTimeoutMs, () => connection.workflowService.getSystemInfo({}));
        return { status: 'ok' as const };
      } catch (err) {
        request.log.warn({ unreachable: isTemporalUnavailable(err), reason: (err as Error).message }, 'not ready: Temporal does not answer');
        return reply.status(503).header('Retry-After', '5').send(errorBody(503, TEMPORAL_UNAVAILABLE));
      }
    },
  );

  fastify.get(
    '/metrics',
    {
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics',
        description:
          'Requests, orders accepted and rejected, dead-letter depth and oldest age per provider, provider up (1), down (0) or unknown (-1), process metrics.',
        produces: ['text/plain'],
      },
    },
    async (_request, reply) => {
      const registry = opts.metrics.registry;
      const body = await registry.metrics();
      return reply.type(registry.contentType).send(body);
    },
  );
};
