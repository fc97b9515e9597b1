/**
 * One place that decides what an error looks like to a caller: `{ statusCode, error, message }`.
 * 4xx messages pass through (they describe the caller's request); Temporal being unreachable is a 503;
 * anything else is a bare 500 whose details stay in the server log.
 */
import { STATUS_CODES } from 'node:http';
import { isGrpcServiceError } from '@temporalio/client';
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import type { ErrorBody } from './schemas';

/** An error the API raises on purpose; its message is safe to show. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (message: string): HttpError => new HttpError(404, message);
export const conflict = (message: string): HttpError => new HttpError(409, message);
export const badRequest = (message: string): HttpError => new HttpError(400, message);

export function errorBody(statusCode: number, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

export const TEMPORAL_UNAVAILABLE = 'Temporal is unavailable';

/** gRPC codes that mean "could not reach Temporal in time", not "Temporal said no". */
const UNREACHABLE_CODES = new Set([
  1, // CANCELLED: our deadline cut a call short
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  14, // UNAVAILABLE
]);

/** True when the error (or one of its causes) says Temporal could not be reached or did not answer in time. */
export function isTemporalUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (isGrpcServiceError(e) && UNREACHABLE_CODES.has(e.code)) return true;
    if ((e as { code?: unknown }).code === 'ECONNREFUSED') return true;
  }
  return false;
}

/**
 * Validation messages in the contract's style, e.g. `body/customer/email must match format "email"`,
 * naming the offending field for unknown properties too.
 */
export function formatValidationErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const messages: string[] = [];
  for (const e of errors) {
    const params = e.params as Record<string, unknown> | undefined;
    const path = `${dataVar}${e.instancePath}`;
    let text: string;
    if (e.keyword === 'additionalProperties') {
      const extra = params?.additionalProperties ?? params?.additionalProperty;
      const names = Array.isArray(extra) ? extra.map((n) => `${n as string}`) : typeof extra === 'string' ? [extra] : [];
      text = names.length > 0 ? `${path} must NOT have additional properties: ${names.join(', ')}` : `${path} must NOT have additional properties`;
    } else if (e.keyword === 'boolean' && e.message === 'schema is false') {
      // TypeBox reports each unknown property twice: once as `additionalProperties`, once as `false`.
      continue;
    } else if (e.keyword === 'required') {
      const missing = params?.requiredProperties ?? params?.missingProperty;
      const names = Array.isArray(missing) ? missing.map((n) => `${n as string}`) : typeof missing === 'string' ? [missing] : [];
      text = names.length > 0 ? names.map((n) => `${path}/${n} is required`).join(', ') : `${path} ${e.message ?? 'is invalid'}`;
    } else {
      text = `${path} ${e.message ?? 'is invalid'}`;
    }
    if (!messages.includes(text)) messages.push(text);
  }
  const error = new Error(messages.join(', ') || `${dataVar} is invalid`) as FastifyError;
  error.statusCode = 400;
  return error;
}

export function errorHandler(this: unknown, err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (isTemporalUnavailable(err)) {
    request.log.warn({ error: err.message, cause: describeCause(err) }, 'Temporal is unavailable');
    void reply.status(503).header('Retry-After', '5').send(errorBody(503, TEMPORAL_UNAVAILABLE));
    return;
  }
  const statusCode = err instanceof HttpError ? err.statusCode : (err.statusCode ?? 500);
  if (statusCode >= 400 && statusCode < 500) {
    if (statusCode === 413) request.log.info({ statusCode }, 'request body too large');
    void reply.status(statusCode).send(errorBody(statusCode, err.message));
    return;
  }
  if (statusCode === 503 && typeof err.code === 'string' && err.code.startsWith('FST_UNDER_PRESSURE')) {
    // @fastify/under-pressure already set Retry-After.
    void reply.status(503).send(errorBody(503, 'Service Unavailable: the server is under pressure'));
    return;
  }
  request.log.error({ err }, 'request failed');
  void reply.status(500).send(errorBody(500, 'Internal Server Error'));
}

function describeCause(err: Error): string | undefined {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : undefined;
}
