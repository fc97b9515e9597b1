/**
 * `npm start`: everything on one machine, in one process: the embedded Temporal dev server (a child
 * process, state in `DATA_DIR/temporal.db`), the sandbox providers, the worker and the HTTP API.
 *
 * Components start in that order and stop in reverse (API → worker → providers → Temporal) on Ctrl-C
 * or SIGTERM; a second Ctrl-C exits at once. The dev server never outlives this process when it can
 * help it (exit hook, uncaught exceptions), and one left behind by a `kill -9` is cleaned up on the
 * next start. A restart on the same DATA_DIR resumes every order in flight.
 */
import { mkdirSync } from 'node:fs';
import { startApi } from './api/server';
import { ConfigError, type Config, loadConfigOrExit } from './config';
import { createLogger, type Logger } from './logger';
import { startProviders } from './providers/server';
import { TemporalCliNotFound } from './temporal/cli';
import { connectionOptions, resolveEncryptionKey } from './temporal/connection';
import { dbFileIn, splitAddress, TemporalNotReady, waitForTemporal } from './temporal/dev-server';
import {
  assertPortFree,
  type EmbeddedTemporal,
  httpUrl,
  killRecordedDevServer,
  onStopSignals,
  portError,
  readyLine,
  startEmbeddedTemporal,
  StartupError,
  stderrProgress,
} from './temporal/main';
import { runWorker } from './workers/main';
import { installRuntime } from './workers/worker';

interface Running {
  name: string;
  stop(): Promise<void>;
  /** How long stopping may take before we move on. */
  timeoutMs: number;
}

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** One line for errors that explain themselves; a short one for the rest (details at debug level). */
function oneLine(err: unknown): string {
  if (err instanceof StartupError || err instanceof ConfigError || err instanceof TemporalCliNotFound) return err.message;
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}

/** PORT, PROVIDERS_PORT… must differ from each other and be free before anything starts. */
async function checkPorts(config: Config): Promise<void> {
  const [temporalHost, temporalPort] = splitAddress(config.temporal.address);
  const ports: Array<[string, string, number]> = [
    ['PORT', config.host, config.port],
    ['PROVIDERS_PORT', config.host, config.providersPort],
    ['METRICS_PORT', config.host, config.metricsPort],
  ];
  if (config.temporal.embedded) {
    ports.push(['TEMPORAL_ADDRESS', temporalHost, temporalPort], ['TEMPORAL_UI_PORT', temporalHost, config.temporal.uiPort]);
  }
  const seen = new Map<number, string>();
  for (const [variable, , port] of ports) {
    const other = seen.get(port);
    if (port !== 0 && other) throw new StartupError(`${variable}: port ${port} is also ${other}'s; give each its own port`);
    seen.set(port, variable);
  }
  // The embedded server's ports are checked by startEmbeddedTemporal, after it has cleaned up an orphan.
  for (const [variable, host, port] of ports.slice(0, 3)) await assertPortFree(host, port, variable);
}

/** EMBEDDED_TEMPORAL=false: wait for the configured server (TLS and API keys as the workers use them). */
async function waitForExternalTemporal(config: Config, timeoutMs = 30_000): Promise<void> {
  const { address, namespace } = config.temporal;
  try {
    await waitForTemporal(address, namespace, {
      timeoutMs,
      connection: connectionOptions(config),
      retryMs: 500,
      onFirstFailure: () => say(`waiting for Temporal at ${address} (EMBEDDED_TEMPORAL=false)…`),
    });
  } catch (err) {
    if (!(err instanceof TemporalNotReady)) throw err;
    throw new StartupError(
      `TEMPORAL_ADDRESS: no Temporal server with namespace "${namespace}" answers at ${address} (${oneLine(err.lastError)}); ` +
        `start one there, or unset EMBEDDED_TEMPORAL to run the embedded dev server`,
    );
  }
}

/**
 * The SDK's runtime stops workers on SIGINT/SIGTERM by itself, which would race the ordered shutdown
 * below (the worker would drain while the API still takes orders): keep its other signals, drop these.
 */
function installRuntimeWithoutSignalHooks(logger: Logger, metricsBindAddress: string): void {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  try {
    installRuntime(logger, metricsBindAddress);
  } catch (err) {
    throw /in use|AddrInUse/i.test(oneLine(err)) ? new StartupError(`METRICS_PORT: ${metricsBindAddress} is already in use (set METRICS_PORT to a free port)`) : err;
  }
  for (const s of signals) {
    for (const listener of process.listeners(s)) if (!before.get(s)?.has(listener)) process.off(s, listener);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger('start', config.logLevel);
  const dbFile = dbFileIn(config.dataDir);
  const aborter = new AbortController();
  const running: Running[] = [];
  let temporal: EmbeddedTemporal | undefined;
  let step = 'configuration';
  let exitCode = 0;
  let stopping: Promise<void> | undefined;

  const killTemporalNow = (): void => {
    if (temporal) temporal.kill();
    else killRecordedDevServer(dbFile); // still starting: the server recorded in `<db>.pid`, if we spawned it
  };
  process.on('exit', killTemporalNow);
  process.on('uncaughtException', (err) => {
    process.stderr.write(`order-fulfillment crashed: ${err.stack ?? err.message}\n`);
    killTemporalNow();
    process.exit(1);
  });

  async function stopAll(): Promise<void> {
    for (let item = running.pop(); item; item = running.pop()) {
      const current = item;
      const outcome = await withTimeout(
        current.stop().then(
          () => 'ok' as const,
          (err: unknown) => {
            logger.error({ err }, `error while stopping the ${current.name}`);
            return 'failed' as const;
          },
        ),
        current.timeoutMs,
      );
      if (outcome === 'ok') say(`${current.name} stopped`);
      else {
        if (outcome === 'timeout') process.stderr.write(`the ${current.name} did not stop within ${current.timeoutMs / 1000} s; moving on\n`);
        exitCode = 1;
      }
    }
  }

  async function startAll(): Promise<boolean> {
    step = 'DATA_DIR';
    try {
      mkdirSync(config.dataDir, { recursive: true });
    } catch (err) {
      throw new StartupError(`DATA_DIR: cannot create ${config.dataDir} (${oneLine(err)})`);
    }
    resolveEncryptionKey(config); // generated into DATA_DIR on the first start, reused after

    step = 'port checks';
    await checkPorts(config);
    installRuntimeWithoutSignalHooks(logger.child({ component: 'sdk' }), `${config.host}:${config.metricsPort}`);

    if (config.temporal.embedded) {
      step = 'Temporal dev server';
      temporal = await startEmbeddedTemporal(config, logger.child({ component: 'temporal' }), stderrProgress, { signal: aborter.signal });
      const server = temporal;
      running.push({ name: 'Temporal dev server', stop: () => server.stop(), timeoutMs: 15_000 });
      say(readyLine(server));
      void server.exited.then((reason) => requestStop(reason, 1));
    } else {
      step = 'Temporal';
      await waitForExternalTemporal(config);
      say(`temporal reachable at ${config.temporal.address} (EMBEDDED_TEMPORAL=false)`);
    }
    if (aborter.signal.aborted) return false;

    step = 'providers';
    const debug = ['debug', 'trace'].includes(config.logLevel); // one line per provider call: debug only
    const providers = await startProviders({
      host: config.host,
      port: config.providersPort,
      ...(debug ? { logger: logger.child({ component: 'providers' }) } : {}),
    }).catch((err: unknown) => {
      throw portError(err, config.providersPort, 'PROVIDERS_PORT');
    });
    running.push({ name: 'providers', stop: () => providers.close(), timeoutMs: 10_000 });
    say(`providers ready at ${providers.url}`);
    if (aborter.signal.aborted) return false;

    step = 'worker';
    const worker = await runWorker(config, logger.child({ component: 'worker' }));
    const workerDone = worker.done.then(
      () => undefined,
      (err: unknown) => err ?? new Error('worker failed'),
    );
    running.push({
      name: 'worker',
      timeoutMs: 30_000,
      async stop() {
        if (worker.worker.getState() === 'RUNNING') worker.shutdown();
        const failure = await workerDone;
        if (failure) throw failure;
      },
    });
    void workerDone.then((failure) => requestStop(failure ? `the worker failed: ${oneLine(failure)}` : 'the worker stopped', 1));
    say(`worker ready on task queue ${config.temporal.taskQueue} (metrics: ${httpUrl(config.host, config.metricsPort, '/metrics')})`);
    if (aborter.signal.aborted) return false;

    step = 'API';
    const api = await startApi({ config, logger: logger.child({ component: 'api' }) }).catch((err: unknown) => {
      throw portError(err, config.port, 'PORT');
    });
    running.push({ name: 'API', stop: () => api.close(), timeoutMs: 10_000 });
    const address = api.app.server.address();
    const apiUrl = httpUrl(config.host, typeof address === 'object' && address ? address.port : config.port);
    say(`api ready at ${apiUrl}`);
    if (aborter.signal.aborted) return false;

    const rows: Array<[string, string]> = [
      ['API', apiUrl],
      ['API docs', `${apiUrl}/docs`],
      ['Temporal Web UI', temporal?.uiUrl ?? `(external server at ${config.temporal.address})`],
      ['Temporal', `${config.temporal.address}  namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue}`],
      ['Providers', `${providers.url}  (admin: ${providers.url}/admin/providers)`],
      ['Metrics', `${httpUrl(config.host, config.metricsPort, '/metrics')}  (worker; the API's: ${apiUrl}/metrics)`],
      ['Data', config.dataDir],
      ['temporal CLI', `export TEMPORAL_CODEC_ENDPOINT=${apiUrl}/codec  (to read the encrypted payloads)`],
    ];
    say(
      [
        '',
        'order-fulfillment is running',
        ...rows.map(([label, value]) => `  ${label.padEnd(16)} ${value}`),
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    return true;
  }

  const startup = startAll();

  /** The first reason to stop wins (a worker that ends because we stopped it is no failure). */
  function requestStop(why: string, code: number): Promise<void> {
    if (stopping) return stopping;
    exitCode = code;
    aborter.abort();
    stopping = (async () => {
      const settled = await Promise.race([startup.then(() => true, () => true), new Promise<false>((r) => setImmediate(() => r(false)))]);
      if (!settled) say(`stopping (${why}): waiting for the ${step} to finish starting… (Ctrl-C again to exit now)`);
      await startup.catch(() => undefined);
      const anything = running.length > 0;
      if (anything) say(`stopping (${why})…`);
      await stopAll();
      if (anything && exitCode === 0) say('stopped');
    })().then(
      () => process.exit(exitCode),
      (err: unknown) => {
        process.stderr.write(`error while stopping: ${oneLine(err)}\n`);
        killTemporalNow();
        process.exit(1);
      },
    );
    return stopping;
  }

  onStopSignals(
    (signal) => void requestStop(signal, 0),
    (signal) => {
      process.stderr.write(`${signal} again: exiting now\n`);
      killTemporalNow();
      process.exit(1);
    },
  );

  try {
    await startup;
  } catch (err) {
    if (!aborter.signal.aborted) {
      process.stderr.write(`${oneLine(err)}\n`);
      logger.debug({ err, step }, 'start failed');
    }
    await requestStop(`the ${step} failed to start`, 1);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${oneLine(err)}\n`);
    process.exit(1);
  });
}
