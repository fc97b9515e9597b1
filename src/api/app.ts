/**
 * The HTTP API as a fastify app. Builds, never listens: `server.ts` owns the logger, `listen` and a
 * graceful close; tests build it and call `app.inject(...)`.
 *
 * Request lifecycle: under-pressure (503 when the event loop lags) → rate limit (429) → bearer token
 * (401, before the body is even read) → body limit (413) → TypeBox validation (400) → route. Every
 * error leaves through one handler (`errors.ts`) as `{ statusCode, error, message }`.
 */
import fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import underPressure from '@fastify/under-pressure';
import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { Config } from '../config';
import { authPlugin } from './auth';
import { errorBody, errorHandler, formatValidationErrors } from './errors';
import { type ApiMetrics, createMetrics, rejectionReason } from './metrics';
import { codecRoutes } from './routes/codec';
import { deadLetterRoutes } from './routes/dead-letters';
import { orderRoutes } from './routes/orders';
import { systemRoutes } from './routes/system';
import { temporalPlugin } from './temporal';

export const BODY_LIMIT = 1024 * 1024;

export interface AppOptions {
  config: Config;
  /** The Temporal client; its connection belongs to the caller, who closes it. */
  client: Client;
  /** The payload codec the remote codec endpoints use (the same one as the client's data converter). */
  codec: PayloadCodec;
  /** Requests per IP per window (default 1000 per second). */
  rateLimit?: { max: number; timeWindowMs: number };
  /** @fastify/under-pressure thresholds (default: event loop delay above 1000 ms answers 503). */
  underPressure?: { maxEventLoopDelay?: number; sampleInterval?: number; retryAfter?: number };
  /** Deadline of the Temporal calls behind one request, ms (default 10 s). */
  temporalTimeoutMs?: number;
  /** Deadline of the readiness probe, metric scrapes and best-effort status lookups, ms (default 2 s). */
  probeTimeoutMs?: number;
  /** Node process metrics in `/metrics` (default true). */
  processMetrics?: boolean;
}

export interface BuildAppOptions extends AppOptions {
  /** A pino logger, `true` for fastify's own, `false`/absent for none. */
  logger?: FastifyBaseLogger | boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ApiMetrics;
  }
}

/** The whole API as one plugin (not encapsulated, so its error handler and hooks are the app's). */
export const apiPlugin = fp<AppOptions>(
  async (instance, opts) => {
    const app = instance.withTypeProvider<TypeBoxTypeProvider>();
    const { config } = opts;
    const probeTimeoutMs = opts.probeTimeoutMs ?? 2_000;

    app.setValidatorCompiler(TypeBoxValidatorCompiler);
    app.setSchemaErrorFormatter(formatValidationErrors);
    app.setErrorHandler(errorHandler);
    app.setNotFoundHandler((request, reply) => {
      void reply.status(404).send(errorBody(404, `Route ${request.method} ${request.url.split('?')[0] ?? ''} not found`));
    });

    // JSON as fastify parses it, except that an empty body is no body (a POST with a JSON content type
    // and nothing in it, as many clients send for the action routes).
    const defaultJsonParser = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') {
        done(null, undefined);
        return;
      }
      void defaultJsonParser(request, text, done);
    });

    await app.register(temporalPlugin, { client: opts.client, timeoutMs: opts.temporalTimeoutMs ?? 10_000 });

    const metrics = createMetrics({
      client: opts.client,
      config,
      scrapeTimeoutMs: probeTimeoutMs,
      ...(opts.processMetrics === undefined ? {} : { processMetrics: opts.processMetrics }),
    });
    app.decorate('metrics', metrics);
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const status = reply.statusCode;
      metrics.httpDuration.observe({ route, method: request.method, status: String(status) }, reply.elapsedTime / 1000);
      request.log.info({ method: request.method, route, statusCode: status, responseTimeMs: Math.round(reply.elapsedTime) }, 'request completed');
      if (request.method === 'POST' && route === '/orders' && status >= 400 && status < 500) {
        metrics.ordersRejected.inc({ reason: rejectionReason(status) });
      }
    });

    await app.register(underPressure, {
      maxEventLoopDelay: opts.underPressure?.maxEventLoopDelay ?? 1_000,
      retryAfter: opts.underPressure?.retryAfter ?? 10,
      ...(opts.underPressure?.sampleInterval === undefined ? {} : { sampleInterval: opts.underPressure.sampleInterval }),
      exposeStatusRoute: false,
    });
    await app.register(rateLimit, {
      global: true,
      max: opts.rateLimit?.max ?? 1_000,
      timeWindow: opts.rateLimit?.timeWindowMs ?? 1_000,
    });
    await app.register(authPlugin, { tokens: config.apiTokens });

    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'order-fulfillment',
          version: '0.1.0',
          description:
            'Durable order fulfillment on Temporal: accept orders, follow them, and operate the dead-letter queues ' +
            'where orders wait for a provider. Errors are `{ statusCode, error, message }`.',
        },
        components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
        ...(config.apiTokens.length > 0 ? { security: [{ bearerAuth: [] }] } : {}),
        tags: [
          { name: 'orders' },
          { name: 'dead letters' },
          { name: 'providers' },
          { name: 'health' },
          { name: 'codec', description: 'The Temporal remote codec protocol, for the Web UI and the CLI.' },
        ],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => app.swagger());

    const routeOptions = { config, metrics, probeTimeoutMs };
    await app.register(orderRoutes, routeOptions);
    await app.register(deadLetterRoutes, routeOptions);
    await app.register(systemRoutes, { metrics, probeTimeoutMs });
    await app.register(codecRoutes, { prefix: '/codec', codec: opts.codec });
  },
  { name: 'order-fulfillment-api', fastify: '5.x' },
);

/** Builds the app (never listens). Routes are ready after `await app.ready()` (which `inject` and `listen` do). */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const { logger, ...appOptions } = opts;
  const serverOptions: FastifyServerOptions = {
    // Every route but the remote codec's (CODEC_BODY_LIMIT: histories are big).
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    // One line per request, written in onResponse (fastify's own two lines cost CPU on the hot path).
    disableRequestLogging: true,
    // Errors fastify's router raises before any route (a malformed percent-encoding, an over-long
    // path parameter) answer in the same { statusCode, error, message } shape as everything else.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      const statusCode = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
      void reply.code(statusCode).send(errorBody(statusCode, error.message));
    },
    // The body limit must not hang on connections that keep sending: close them when the app closes.
    forceCloseConnections: true,
  };
  const app =
    typeof logger === 'object'
      ? fastify({ ...serverOptions, loggerInstance: logger })
      : fastify({ ...serverOptions, logger: logger ?? false });
  await app.register(apiPlugin, appOptions);
  return app;
}
