/**
 * The codec session (`/codec/session`, `/codec/login`): with `API_TOKENS` set, the Web UI reaches the
 * remote codec with a cookie instead of a bearer token, and that cookie opens nothing else.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import type { Static } from 'typebox';
import type { CodecBodySchema, ErrorBody } from '../../src/api/schemas';
import { testConfig } from '../support/stack';
import { buildTestApp, orderBody, type TestApp } from './helpers';

const config = testConfig(__filename);
const TOKENS = ['token-alpha', 'token-beta-longer'];
const UI_ORIGIN = 'http://localhost:8233';

type CodecBody = Required<Static<typeof CodecBodySchema>>;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const plain: CodecBody = {
  payloads: [{ metadata: { [METADATA_ENCODING_KEY]: b64('json/plain') }, data: b64('{"customer":"Ann Lee"}') }],
};

let authed: TestApp;
beforeAll(async () => {
  authed = await buildTestApp({ ...config, apiTokens: TOKENS });
});
afterAll(async () => {
  await authed?.close();
});

/** Signs in with `token` and returns the `codec_session=<value>` pair for a Cookie header. */
async function signIn(app: TestApp, token = 'token-alpha'): Promise<string> {
  const res = await app.app.inject({ method: 'POST', url: '/codec/session', headers: { authorization: `Bearer ${token}` } });
  expect(res.statusCode).toBe(204);
  const setCookie = String(res.headers['set-cookie']);
  return setCookie.split(';')[0]!;
}

async function encrypted(): Promise<CodecBody> {
  const res = await authed.app.inject({ method: 'POST', url: '/codec/encode', payload: plain, headers: { authorization: 'Bearer token-beta-longer' } });
  expect(res.statusCode).toBe(200);
  return res.json<CodecBody>();
}

const decodeWith = (cookie: string, payload: CodecBody) =>
  authed.app.inject({ method: 'POST', url: '/codec/decode', payload, headers: { cookie, origin: UI_ORIGIN } });

describe('POST /codec/session', () => {
  it('starts a session only with a valid bearer token', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 'Basic token-alpha' }]) {
      const res = await authed.app.inject({ method: 'POST', url: '/codec/session', headers });
      expect(res.statusCode, JSON.stringify(headers)).toBe(401);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    const res = await authed.app.inject({ method: 'POST', url: '/codec/session', headers: { authorization: 'Bearer token-alpha' } });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/^codec_session=\d+\.[0-9a-f]{64}; Path=\/codec; HttpOnly; SameSite=Strict; Secure; Max-Age=43200$/);
    expect(setCookie).not.toContain('token-alpha');
  });

  it('does not renew itself: a cookie alone cannot start a session', async () => {
    const cookie = await signIn(authed);
    const res = await authed.app.inject({ method: 'POST', url: '/codec/session', headers: { cookie } });
    expect(res.statusCode).toBe(401);
  });
});

describe('the codec with a session cookie', () => {
  it('decodes (and encodes) without a bearer token', async () => {
    const cookie = await signIn(authed, 'token-beta-longer');
    const dec = await decodeWith(cookie, await encrypted());
    expect(dec.statusCode).toBe(200);
    expect(dec.json()).toEqual(plain);
    expect(dec.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
    expect(dec.headers['access-control-allow-credentials']).toBe('true');
    const enc = await authed.app.inject({ method: 'POST', url: '/codec/encode', payload: plain, headers: { cookie: `theme=dark; ${cookie}` } });
    expect(enc.statusCode).toBe(200);
  });

  it('rejects a forged cookie, one from another process, and one older than 12 hours', async () => {
    const encoded = await encrypted();
    const now = Math.floor(Date.now() / 1000);
    const forged = [`codec_session=${now}.${'0'.repeat(64)}`, 'codec_session=token-alpha', 'codec_session=', `codec_session=${now}.${'a'.repeat(63)}`];
    for (const cookie of forged) {
      const res = await decodeWith(cookie, encoded);
      expect(res.statusCode, cookie).toBe(401);
      expect(res.json<ErrorBody>().message).toBe('invalid or expired codec session');
    }

    // Same tokens, another process (another secret): e.g. a cookie from before a restart.
    const other = await buildTestApp({ ...config, apiTokens: TOKENS }, {}, authed.client);
    try {
      const foreign = await signIn(other);
      expect((await decodeWith(foreign, encoded)).statusCode).toBe(401);
      expect((await other.app.inject({ method: 'POST', url: '/codec/decode', payload: encoded, headers: { cookie: foreign } })).statusCode).toBe(200);
    } finally {
      await other.close();
    }

    // Twelve hours later the server refuses it, whatever the browser kept.
    const cookie = await signIn(authed);
    expect((await decodeWith(cookie, encoded)).statusCode).toBe(200);
    const later = Date.now() + 43_201_000;
    const clock = vi.spyOn(Date, 'now').mockReturnValue(later);
    try {
      expect((await decodeWith(cookie, encoded)).statusCode).toBe(401);
    } finally {
      clock.mockRestore();
    }
  });

  it('a session for a token that is no longer configured is refused', async () => {
    const retired = await buildTestApp({ ...config, apiTokens: ['token-gamma'] }, {}, authed.client);
    try {
      const cookie = await signIn(retired, 'token-gamma');
      expect((await decodeWith(cookie, await encrypted())).statusCode).toBe(401);
    } finally {
      await retired.close();
    }
  });

  it('opens nothing but the codec: every other route still answers 401 to the cookie', async () => {
    const cookie = await signIn(authed);
    for (const [method, url] of [
      ['GET', '/dead-letters'],
      ['POST', '/orders'],
      ['GET', '/orders'],
      ['GET', '/orders/A-1'],
      ['POST', '/dead-letters/logistics/redrive'],
      ['GET', '/providers'],
      ['GET', '/metrics'],
    ] as const) {
      const res = await authed.app.inject({ method, url, headers: { cookie }, payload: method === 'POST' ? orderBody() : undefined });
      expect(res.statusCode, url).toBe(401);
      expect(res.json(), url).toEqual({ statusCode: 401, error: 'Unauthorized', message: 'missing bearer token' });
    }
  });
});

describe('DELETE /codec/session', () => {
  it('clears the cookie (no token needed)', async () => {
    const cookie = await signIn(authed);
    const res = await authed.app.inject({ method: 'DELETE', url: '/codec/session', headers: { cookie } });
    expect(res.statusCode).toBe(204);
    expect(res.headers['set-cookie']).toBe('codec_session=; Path=/codec; HttpOnly; SameSite=Strict; Secure; Max-Age=0');
    // What the browser then sends: no cookie, so no access.
    const after = await authed.app.inject({ method: 'POST', url: '/codec/decode', payload: plain });
    expect(after.statusCode).toBe(401);
  });
});

describe('CORS for a credentialed fetch from the Web UI', () => {
  it('answers the preflight with that origin and allow-credentials, not *', async () => {
    const res = await authed.app.inject({
      method: 'OPTIONS',
      url: '/codec/decode',
      headers: { origin: UI_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(String(res.headers.vary)).toMatch(/origin/i);
    const allowed = String(res.headers['access-control-allow-headers']).toLowerCase();
    for (const h of ['content-type', 'x-namespace']) expect(allowed).toContain(h);
  });
});

describe('GET /codec/login', () => {
  it('serves the sign-in page without a token, under a nonce CSP', async () => {
    const res = await authed.app.inject({ method: 'GET', url: '/codec/login' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('type="password"');
    expect(res.body).toContain("credentials: 'include'");
    expect(res.body).not.toContain('token-alpha');
    const csp = String(res.headers['content-security-policy']);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(res.body).toContain(`<script nonce="${nonce}">`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const again = await authed.app.inject({ method: 'GET', url: '/codec/login' });
    expect(String(again.headers['content-security-policy'])).not.toContain(nonce!);
  });
});

describe('without API_TOKENS', () => {
  it('POST /codec/session answers 204 and sets no cookie (the codec is open anyway)', async () => {
    const open = await buildTestApp({ ...config, apiTokens: [] }, {}, authed.client);
    try {
      const res = await open.app.inject({ method: 'POST', url: '/codec/session' });
      expect(res.statusCode).toBe(204);
      expect(res.headers['set-cookie']).toBeUndefined();
    } finally {
      await open.close();
    }
  });
});
