/**
 * The bench worker, a child process of `bench/run.ts` (so its RSS is its own): `createWorker` from
 * src/workers with the service's configuration (from the environment), the bench's workflow bundle
 * (the service's workflows plus the baseline) and the no-op activities next to the real ones; then the
 * health checks, as `npm run worker` starts them.
 *
 * Environment beyond the service's own: BENCH_WORKFLOW_BUNDLE (path of the pre-built bundle),
 * BENCH_WORKER_OPTIONS (JSON merged into the worker options) and BENCH_ACTIVITY_DEPS (JSON merged into
 * the activities' dependencies), for trying variants.
 * Talks to its parent over IPC: sends `{ type: 'ready' }`, stops on `{ type: 'stop' }` or SIGTERM.
 */
import { NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { type ActivityDeps, createActivities } from '../../src/activities';
import { createHttpProviders } from '../../src/activities/providers';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { connectClient, connectionOptions } from '../../src/temporal/connection';
import { createWorker, installRuntime, startHealthChecks } from '../../src/workers/worker';
import { createNoopActivities } from '../noop-activities';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger('worker', config.logLevel);
  installRuntime(logger, `127.0.0.1:${config.metricsPort}`);
  const bundlePath = process.env.BENCH_WORKFLOW_BUNDLE;
  if (!bundlePath) throw new Error('BENCH_WORKFLOW_BUNDLE is not set');
  const variant = JSON.parse(process.env.BENCH_WORKER_OPTIONS || '{}') as Partial<WorkerOptions>;
  const depsVariant = JSON.parse(process.env.BENCH_ACTIVITY_DEPS || '{}') as Partial<ActivityDeps>;

  const connection = await NativeConnection.connect(connectionOptions(config) as Parameters<typeof NativeConnection.connect>[0]);
  const client = await connectClient(config);
  // The same activity dependencies createWorker builds, plus the baseline's no-ops.
  const activities = {
    ...createActivities({
      providers: createHttpProviders(config.providerUrls, config.providerTimeoutMs),
      temporalClient: client,
      taskQueue: config.temporal.taskQueue,
      redriveRatePerSecond: config.redriveRatePerSecond,
      healthCheckIntervalMs: config.healthCheckIntervalMs,
      ...depsVariant,
    }),
    ...createNoopActivities(),
  };
  const worker = await createWorker({
    config,
    connection,
    client,
    workflowBundlePath: bundlePath,
    workerOptions: { activities, ...variant },
  });
  const running = worker.run();
  await startHealthChecks(client, config);
  logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace, variant, depsVariant }, 'bench worker ready');
  process.send?.({ type: 'ready' });

  const stop = (): void => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('message', (msg: { type?: string }) => {
    if (msg?.type === 'stop') stop();
  });
  process.on('disconnect', stop); // the parent went away

  await running;
  await connection.close();
  await client.connection.close();
  logger.info('bench worker stopped');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
