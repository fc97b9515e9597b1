/**
 * `npm run api`: the HTTP API alone. Owns the logger, the Temporal connection, `listen` and a graceful
 * close on SIGINT/SIGTERM. The connection is lazy, so the API starts even while Temporal is down
 * (`/health/ready` answers 503 until it is back). `startApi` is the same thing for an in-process launcher.
 */
import { Client, Connection, type ConnectionOptions, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { type Config, loadConfigOrExit } from '../config';
import { createLogger } from '../logger';
import { connectionOptions, createEncryptionCodec } from '../temporal/connection';
import { type BuildAppOptions, buildApp } from './app';
import { closeOnSignals } from '../shutdown';

export interface StartApiOptions {
  config: Config;
  /** A client to use (and leave open); by default the API makes its own and closes it with the app. */
  client?: Client;
  /** A pino logger, or `false` for none (default: a new `api` logger at the configured level). */
  logger?: FastifyBaseLogger | boolean;
  /** More options for `buildApp` (rate limit, timeouts). */
  app?: Omit<BuildAppOptions, 'config' | 'client' | 'codec' | 'logger'>;
}

export interface RunningApi {
  app: FastifyInstance;
  /** `http://host:port`, with the port actually bound (so `PORT=0` works). */
  url: string;
  close(): Promise<void>;
}

export function urlOf(host: string, port: number): string {
  const shown = host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

/**
 * The API's connection: lazy (the API starts while Temporal is down), and with gRPC retries backing
 * off to at most 1 s, so a call gives up close to its deadline instead of up to 5 s past it.
 */
export function apiConnection(config: Pick<Config, 'temporal'>): Connection {
  const options: ConnectionOptions = {
    ...connectionOptions(config),
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxIntervalMs: () => 1_000 }))],
  };
  return Connection.lazy(options);
}

export async function startApi(opts: StartApiOptions): Promise<RunningApi> {
  const { config } = opts;
  const codec = createEncryptionCodec(config);
  const client =
    opts.client ??
    new Client({
      connection: apiConnection(config),
      namespace: config.temporal.namespace,
      dataConverter: { payloadCodecs: [codec] },
    });
  const logger = opts.logger ?? createLogger('api', config.logLevel);
  const app = await buildApp({ ...opts.app, config, client, codec, logger });
  if (!opts.client) app.addHook('onClose', async () => client.connection.close());
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await app.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = urlOf(config.host, port);
  let closing: Promise<void> | undefined;
  return { app, url, close: () => (closing ??= app.close()) };
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger('api', config.logLevel);
  const api = await startApi({ config, logger });
  process.stdout.write(`api ready at ${api.url} (docs: ${api.url}/docs)\n`);

  closeOnSignals('API', () => api.close(), logger);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`api failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
