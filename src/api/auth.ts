/**
 * Bearer tokens (`API_TOKENS`). When any are configured every route needs one, except the health
 * probes, the API docs and CORS preflights (browsers send those without credentials). Tokens are
 * compared as SHA-256 digests with `timingSafeEqual`, against every configured token, so neither a
 * token's length nor how much of it matched shows in the timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { errorBody } from './errors';

export interface AuthOptions {
  tokens: readonly string[];
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Routes anyone may call: matched on the route pattern, never on the raw URL. */
export function isOpenRoute(request: FastifyRequest): boolean {
  if (request.method === 'OPTIONS') return true;
  const route = request.routeOptions.url;
  if (route === undefined) return false;
  return route.startsWith('/health/') || route === '/openapi.json' || route === '/docs' || route.startsWith('/docs/');
}

export function tokenMatches(presented: string, digests: readonly Buffer[]): boolean {
  const candidate = digest(presented);
  let ok = false;
  for (const d of digests) ok = timingSafeEqual(candidate, d) || ok;
  return ok;
}

export const authPlugin = fp<AuthOptions>(
  async (fastify, opts) => {
    const digests = opts.tokens.map(digest);
    if (digests.length === 0) return;
    // preParsing: after every onRequest hook (so the rate limit counts unauthenticated calls too),
    // before the body is read (so no 400 or 413 answers anyone without a token).
    fastify.addHook('preParsing', async (request, reply, payload) => {
      if (isOpenRoute(request)) return payload;
      const header = request.headers.authorization ?? '';
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (match?.[1] && tokenMatches(match[1], digests)) return payload;
      const message = header === '' ? 'missing bearer token' : 'invalid bearer token';
      void reply.status(401).header('WWW-Authenticate', 'Bearer').send(errorBody(401, message));
      return payload;
    });
  },
  { name: 'auth', fastify: '5.x' },
);
