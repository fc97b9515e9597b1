/**
 * The Temporal remote codec (`POST /codec/encode`, `POST /codec/decode`), so the Web UI
 * (`--ui-codec-endpoint http://<api>/codec`) and `temporal --codec-endpoint` show payloads decrypted to
 * those holding an API token. Bodies are `Payloads` in protobuf JSON: `{ payloads: [{ metadata: { k: base64 }, data: base64 }] }`.
 *
 * With `API_TOKENS` set the Web UI cannot send a bearer token, so there is a cookie session for these two
 * routes only (see `auth.ts`): an operator opens `GET /codec/login` once, signs in with a token
 * (`POST /codec/session` sets the `codec_session` cookie), and turns on "Include cross-origin
 * credentials" in the Web UI's codec settings. `DELETE /codec/session` signs out.
 *
 * CORS is scoped to the `/codec` routes: the request's own origin is echoed back (never `*`) with
 * `Access-Control-Allow-Credentials: true`, preflights included, so a credentialed fetch from the Web UI
 * (another origin) works; POST and OPTIONS, and the headers the Web UI sends.
 */
import { randomBytes } from 'node:crypto';
import cors from '@fastify/cors';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { Type } from 'typebox';
import { bearerToken, clearCodecSessionCookie, codecSessionCookie } from '../auth';
import { badRequest } from '../errors';
import { type CodecBody, CodecBodySchema, commonErrors, ErrorSchema } from '../schemas';

export interface CodecRouteOptions {
  codec: PayloadCodec;
}

type JsonPayload = NonNullable<CodecBody['payloads']>[number];

/** The largest codec request: histories carry many payloads, each up to Temporal's 2 MiB limit. */
export const CODEC_BODY_LIMIT = 16 * 1024 * 1024;

export function payloadFromJson(json: JsonPayload): Payload {
  const metadata = Object.fromEntries(Object.entries(json.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  return { metadata, data: Buffer.from(json.data ?? '', 'base64') };
}

export function payloadToJson(payload: Payload): JsonPayload {
  const metadata = Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  );
  return { metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') };
}

/** The sign-in page: no data, no secrets; its one script runs under a per-response CSP nonce. */
function loginPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>order-fulfillment: codec sign-in</title>
<style nonce="${nonce}">body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}input,button{font:inherit;padding:.3rem}#status{margin-top:1rem}</style>
</head>
<body>
<h1>Remote codec sign-in</h1>
<p>Sign in with an API token so the Temporal Web UI can decode payloads through this codec, then turn on
<em>Include cross-origin credentials</em> in the Web UI's codec settings. The session lasts 12 hours.</p>
<form id="signin">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
<button type="button" id="signout">Sign out</button>
</form>
<p id="status" role="status"></p>
<script nonce="${nonce}">
const status = document.getElementById('status');
const token = document.getElementById('token');
const show = (text) => { status.textContent = text; };
document.getElementById('signin').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const res = await fetch('./session', { method: 'POST', headers: { authorization: 'Bearer ' + token.value }, credentials: 'include' });
    token.value = '';
    show(res.status === 204 ? 'Signed in: the codec accepts this browser for 12 hours.' : 'Sign-in failed: HTTP ' + res.status + (res.status === 401 ? ' (invalid token)' : ''));
  } catch (err) {
    show('Sign-in failed: ' + err);
  }
});
document.getElementById('signout').addEventListener('click', async () => {
  try {
    const res = await fetch('./session', { method: 'DELETE', credentials: 'include' });
    show(res.status === 204 ? 'Signed out.' : 'Sign-out failed: HTTP ' + res.status);
  } catch (err) {
    show('Sign-out failed: ' + err);
  }
});
</script>
</body>
</html>
`;
}

export const codecRoutes: FastifyPluginAsyncTypebox<CodecRouteOptions> = async (fastify, opts) => {
  const { codec } = opts;

  await fastify.register(cors, {
    // Echo the request's origin (never `*`, which browsers refuse for credentialed requests).
    origin: true,
    credentials: true,
    methods: ['POST', 'OPTIONS'],
    allowedHeaders: ['content-type', 'x-namespace', 'authorization'],
    maxAge: 600,
  });

  const schema = (summary: string) => ({
    tags: ['codec'],
    summary,
    body: CodecBodySchema,
    response: { 200: CodecBodySchema, 413: ErrorSchema, ...commonErrors },
  });

  const NoContent = Type.Null({ description: 'No content' });
  // With API_TOKENS, these two accept the codec session cookie as well as the bearer token (auth.ts).
  const config = { codecSession: true };

  fastify.post(
    '/session',
    {
      schema: {
        tags: ['codec'],
        summary: 'Start a codec session (sets the codec_session cookie) for the Web UI',
        response: { 204: NoContent, ...commonErrors },
      },
    },
    async (request, reply) => {
      const token = bearerToken(request);
      // Without API_TOKENS there is no auth, and no session to start.
      if (fastify.codecSessions && token) void reply.header('set-cookie', codecSessionCookie(fastify.codecSessions.issue(token)));
      return reply.header('cache-control', 'no-store').status(204).send(null);
    },
  );

  fastify.delete(
    '/session',
    { schema: { tags: ['codec'], summary: 'End the codec session (clears the cookie)', response: { 204: NoContent, ...commonErrors } } },
    async (_request, reply) => reply.header('set-cookie', clearCodecSessionCookie()).header('cache-control', 'no-store').status(204).send(null),
  );

  fastify.get('/login', { schema: { hide: true } }, async (_request, reply) => {
    const nonce = randomBytes(16).toString('base64');
    return reply
      .header(
        'content-security-policy',
        `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; ` +
          "form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
      )
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(loginPage(nonce));
  });

  fastify.post('/encode', { schema: schema('Encode (encrypt) payloads'), bodyLimit: CODEC_BODY_LIMIT, config }, async (request) => {
    const encoded = await codec.encode((request.body.payloads ?? []).map(payloadFromJson));
    return { payloads: encoded.map(payloadToJson) };
  });

  fastify.post('/decode', { schema: schema('Decode (decrypt) payloads'), bodyLimit: CODEC_BODY_LIMIT, config }, async (request) => {
    const payloads = (request.body.payloads ?? []).map(payloadFromJson);
    let decoded: Payload[];
    try {
      decoded = await codec.decode(payloads);
    } catch {
      // One payload the codec can't open (e.g. sealed with a retired key) must not hide the others:
      // decode one by one and hand back the ones that fail as they came.
      decoded = await Promise.all(payloads.map(async (p) => (await codec.decode([p]).catch(() => [p]))[0] ?? p));
      if (decoded.every((p, i) => p === payloads[i]) && payloads.length > 0) {
        throw badRequest('body/payloads could not be decoded with the keys this server holds');
      }
    }
    return { payloads: decoded.map(payloadToJson) };
  });
};
