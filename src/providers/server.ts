/**
 * `npm run providers`: the sandbox providers on `HOST:PROVIDERS_PORT`. A launcher starts them in
 * process with `startProviders`. This file owns the logger, `listen` and the graceful close; the
 * app itself is `buildSandboxApp` (sandbox.ts).
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { loadConfigOrExit } from '../config';
import { type Logger, createLogger } from '../logger';
import { buildSandboxApp } from './sandbox';
import { closeOnSignals } from '../shutdown';

export interface StartProvidersOptions {
  host: string;
  /** 0 picks a free port; the answer's `url` carries the real one. */
  port: number;
  /** Logs one line per request (method, url, status). Off when absent. */
  logger?: Logger;
  /** For deterministic fault injection in tests. */
  random?: () => number;
}

export interface RunningProviders {
  app: FastifyInstance;
  /** `http://host:port`; the providers are at `${url}/courses`, `${url}/inventory`, … */
  url: string;
  close(): Promise<void>;
}

function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export async function startProviders(opts: StartProvidersOptions): Promise<RunningProviders> {
  const app = buildSandboxApp({ logger: opts.logger, random: opts.random });
  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    await app.close();
    throw err;
  }
  const { port } = app.server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    app,
    url: `http://${urlHost(opts.host)}:${port}`,
    close: () => (closed ??= app.close()),
  };
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger('providers', config.logLevel);
  let running: RunningProviders;
  try {
    running = await startProviders({ host: config.host, port: config.providersPort, logger });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const reason = e.code === 'EADDRINUSE' ? `port ${config.providersPort} is already in use (set PROVIDERS_PORT)` : (e.message ?? String(err));
    process.stderr.write(`providers failed to start: ${reason}\n`);
    process.exit(1);
  }
  process.stdout.write(`providers ready at ${running.url}\n`);

  closeOnSignals('sandbox providers', () => running.close(), logger);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`providers failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
