/**
 * Helpers for the API tests: the app built with a real Temporal client on the run's dev server (in the
 * test file's own namespace), and a pino logger whose lines the test can read.
 */
import { Writable } from 'node:stream';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Config } from '../../src/config';
import { type BuildAppOptions, buildApp } from '../../src/api/app';
import type { OrderRequestBody } from '../../src/api/schemas';
import { connectClient, createEncryptionCodec } from '../../src/temporal/connection';
import { REDACT_PATHS } from '../../src/logger';

export interface TestApp {
  app: FastifyInstance;
  client: Client;
  config: Config;
  close(): Promise<void>;
}

export type AppOverrides = Omit<BuildAppOptions, 'config' | 'client' | 'codec'>;

/** The app on a real client; `close` closes both. */
export async function buildTestApp(config: Config, overrides: AppOverrides = {}, client?: Client): Promise<TestApp> {
  const ownClient = client ?? (await connectClient(config));
  const app = await buildApp({
    config,
    client: ownClient,
    codec: createEncryptionCodec(config),
    probeTimeoutMs: 500,
    processMetrics: false,
    ...overrides,
  });
  await app.ready();
  return {
    app,
    client: ownClient,
    config,
    async close() {
      await app.close();
      if (!client) await ownClient.connection.close();
    },
  };
}

/** A client on a lazy connection to `address` (which may well not answer). */
export function lazyClient(address: string, config: Config): Client {
  return new Client({
    connection: Connection.lazy({ address, connectTimeout: 1000 }),
    namespace: config.temporal.namespace,
    dataConverter: { payloadCodecs: [createEncryptionCodec(config)] },
  });
}

/** A pino logger (with the project's redaction) that keeps every line for the test to read. */
export function capturingLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = pino({ level: 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream);
  const text = () => chunks.join('');
  const lines = () =>
    text()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, text };
}

let counter = 0;
/** A fresh, valid order body with a unique orderId. */
export function orderBody(overrides: Partial<OrderRequestBody> = {}): OrderRequestBody {
  counter += 1;
  return {
    orderId: `API-${Date.now().toString(36)}-${process.pid}-${counter}`,
    customer: { id: 'c-42', email: 'ann@example.com', name: 'Ann Lee' },
    courseId: 'phonics-101',
    box: { sku: 'BOX-PHONICS', quantity: 1 },
    shippingAddress: {
      name: 'Ann Lee',
      line1: '1 Main St',
      line2: 'Apt 2',
      city: 'Springfield',
      region: 'IL',
      postalCode: '62701',
      country: 'US',
    },
    ...overrides,
  };
}
