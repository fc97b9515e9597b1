/**
 * Bearer tokens (`API_TOKENS`). When any are configured every route needs one, except the health
 * probes, the API docs, the codec sign-in page and CORS preflights (browsers send those without
 * credentials). Tokens are compared as SHA-256 digests with `timingSafeEqual`, against every configured
 * token, so neither a token's length nor how much of it matched shows in the timing.
 *
 * The codec session: the Temporal Web UI cannot send a bearer token to the remote codec, only cookies
 * ("Include cross-origin credentials"). `POST /codec/session` (with a bearer token) hands out a
 * `codec_session` cookie, and routes that opt in with `config: { codecSession: true }` (only
 * `/codec/encode` and `/codec/decode`) accept it instead of the token. Every other route ignores the
 * cookie, so a page the operator visits cannot drive `/orders` or `/dead-letters` with it (CSRF).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { errorBody } from './errors';

export interface AuthOptions {
  tokens: readonly string[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route also accepts a valid `codec_session` cookie instead of the bearer token. */
    codecSession?: boolean;
  }
  interface FastifyInstance {
    /** Issues and checks codec session cookies; `null` when no `API_TOKENS` are configured (no auth). */
    codecSessions: CodecSessions | null;
  }
}

export const CODEC_SESSION_COOKIE = 'codec_session';
/** How long a codec session lasts, in seconds (12 h): the cookie's Max-Age, and checked server-side too. */
export const CODEC_SESSION_MAX_AGE_S = 43_200;
// Path=/codec: the browser sends the cookie to the codec routes only. SameSite=Strict: the Web UI on
// the same host (another port is another origin but the same site) carries it in its credentialed
// fetch, while no other website can make the operator's browser use it. Secure: browsers accept it on
// http://localhost and http://127.0.0.1 too (they count as secure contexts).
const COOKIE_ATTRIBUTES = 'Path=/codec; HttpOnly; SameSite=Strict; Secure';

/** The `Set-Cookie` value that starts a session with `value`. */
export const codecSessionCookie = (value: string): string =>
  `${CODEC_SESSION_COOKIE}=${value}; ${COOKIE_ATTRIBUTES}; Max-Age=${CODEC_SESSION_MAX_AGE_S}`;
/** The `Set-Cookie` value that ends the session. */
export const clearCodecSessionCookie = (): string => `${CODEC_SESSION_COOKIE}=; ${COOKIE_ATTRIBUTES}; Max-Age=0`;

/** Every value of the cookie `name` in a `Cookie` header (a browser may send several, from different paths). */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    values.push(part.slice(eq + 1).trim());
  }
  return values;
}

/** The bearer token of a request, if its `Authorization` header has one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
}

/**
 * Session values are `<issued unix seconds>.<hex HMAC-SHA256(per-process secret, issued + token digest)>`:
 * not the token, useless to any other process (the secret is random and never leaves memory, so a
 * restart ends every session), and expired server-side after {@link CODEC_SESSION_MAX_AGE_S} whatever
 * the browser does with Max-Age. Removing a token from `API_TOKENS` (and restarting) ends its sessions.
 */
export class CodecSessions {
  readonly #secret = randomBytes(32);
  readonly #tokenDigests: readonly Buffer[];

  constructor(tokens: readonly string[]) {
    this.#tokenDigests = tokens.map(digest);
  }

  /** A session value for `token` (already authenticated by the caller). */
  issue(token: string, now = Date.now()): string {
    const issued = Math.floor(now / 1000);
    return `${issued}.${this.#mac(issued, digest(token)).toString('hex')}`;
  }

  /** Whether `value` is a live session for a configured token: constant time against every token. */
  verify(value: string, now = Date.now()): boolean {
    const match = /^(\d{1,12})\.([0-9a-f]{64})$/.exec(value);
    if (!match?.[1] || !match[2]) return false;
    const issued = Number(match[1]);
    const age = now / 1000 - issued;
    if (age < -60 || age > CODEC_SESSION_MAX_AGE_S) return false;
    const presented = Buffer.from(match[2], 'hex');
    let ok = false;
    for (const d of this.#tokenDigests) ok = timingSafeEqual(presented, this.#mac(issued, d)) || ok;
    return ok;
  }

  #mac(issued: number, tokenDigest: Buffer): Buffer {
    return createHmac('sha256', this.#secret).update(`codec-session:${issued}:`).update(tokenDigest).digest();
  }
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Routes anyone may call: matched on the route pattern, never on the raw URL. */
export function isOpenRoute(request: FastifyRequest): boolean {
  if (request.method === 'OPTIONS') return true;
  const route = request.routeOptions.url;
  if (route === undefined) return false;
  return (
    route.startsWith('/health/') ||
    route === '/openapi.json' ||
    route === '/docs' ||
    route.startsWith('/docs/') ||
    // The sign-in page (static HTML, no data) and signing out (only clears the cookie).
    (request.method === 'GET' && route === '/codec/login') ||
    (request.method === 'DELETE' && route === '/codec/session')
  );
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
    const sessions = digests.length === 0 ? null : new CodecSessions(opts.tokens);
    fastify.decorate('codecSessions', sessions);
    if (sessions === null) return;
    // preParsing: after every onRequest hook (so the rate limit counts unauthenticated calls too),
    // before the body is read (so no 400 or 413 answers anyone without a token).
    fastify.addHook('preParsing', async (request, reply, payload) => {
      if (isOpenRoute(request)) return payload;
      const header = request.headers.authorization ?? '';
      const token = bearerToken(request);
      if (token && tokenMatches(token, digests)) return payload;
      let message = header === '' ? 'missing bearer token' : 'invalid bearer token';
      if (request.routeOptions.config.codecSession === true) {
        const cookies = cookieValues(request.headers.cookie, CODEC_SESSION_COOKIE);
        // Every value is checked (no early exit), like the tokens.
        if (cookies.map((c) => sessions.verify(c)).includes(true)) return payload;
        if (header === '' && cookies.length > 0) message = 'invalid or expired codec session';
      }
      void reply.status(401).header('WWW-Authenticate', 'Bearer').send(errorBody(401, message));
      return payload;
    });
  },
  { name: 'auth', fastify: '5.x' },
);
