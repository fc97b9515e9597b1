/** `npm run worker`: one worker process (run several for scale; they share the task queue). */
import { NativeConnection } from '@temporalio/worker';
import { loadConfigOrExit } from '../config';
import { createLogger } from '../logger';
import { connectClient, connectionOptions } from '../temporal/connection';
import { createWorker, installRuntime, startHealthChecks } from './worker';

export async function runWorker(config = loadConfigOrExit(), logger = createLogger('worker', config.logLevel)) {
  const connection = await NativeConnection.connect(connectionOptions(config) as Parameters<typeof NativeConnection.connect>[0]);
  const client = await connectClient(config);
  const worker = await createWorker({ config, connection, client, logger });
  await startHealthChecks(client, config);
  const running = worker.run();
  logger.info({ taskQueue: config.temporal.taskQueue, namespace: config.temporal.namespace }, 'worker ready');
  return {
    worker,
    done: running.finally(async () => {
      await connection.close();
      await client.connection.close();
    }),
    shutdown: () => worker.shutdown(),
  };
}

if (require.main === module) {
  const config = loadConfigOrExit();
  const logger = createLogger('worker', config.logLevel);
  installRuntime(logger, `${config.host}:${config.metricsPort}`);
  runWorker(config, logger)
    .then(({ done }) => done)
    .then(() => logger.info('worker stopped'))
    .catch((err: unknown) => {
      logger.fatal({ err }, 'worker failed');
      process.exit(1);
    });
}
