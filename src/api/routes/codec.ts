/**
 * The Temporal remote codec (`POST /codec/encode`, `POST /codec/decode`), so the Web UI
 * (`--ui-codec-endpoint http://<api>/codec`) and `temporal --codec-endpoint` show payloads decrypted to
 * those holding an API token. Bodies are `Payloads` in protobuf JSON: `{ payloads: [{ metadata: { k: base64 }, data: base64 }] }`.
 *
 * CORS is scoped to these two routes: any origin (the Web UI runs elsewhere), POST and OPTIONS, and the
 * headers the Web UI sends.
 */
import cors from '@fastify/cors';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Payload, PayloadCodec } from '@temporalio/common';
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

export const codecRoutes: FastifyPluginAsyncTypebox<CodecRouteOptions> = async (fastify, opts) => {
  const { codec } = opts;

  await fastify.register(cors, {
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

  fastify.post('/encode', { schema: schema('Encode (encrypt) payloads'), bodyLimit: CODEC_BODY_LIMIT }, async (request) => {
    const encoded = await codec.encode((request.body.payloads ?? []).map(payloadFromJson));
    return { payloads: encoded.map(payloadToJson) };
  });

  fastify.post('/decode', { schema: schema('Decode (decrypt) payloads'), bodyLimit: CODEC_BODY_LIMIT }, async (request) => {
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
