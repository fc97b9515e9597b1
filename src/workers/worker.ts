/**
 * The worker: runs the three workflow types and every activity on the service's task queue, and
 * starts one `providerHealth` workflow per provider (idempotently, with signal-with-start so a
 * running one picks up the current configuration).
 */
import type { Client } from '@temporalio/client';
import type { Logger as TemporalLogger, LogLevel, LogMetadata } from '@temporalio/common';
import { bundleWorkflowCode, type NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { createHttpProviders, type Providers } from '../activities/providers';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { configureHealthSignal, healthWorkflowId, PROVIDERS, type ProviderHealthInput, WORKFLOW_TYPES } from '../workflows/definitions';
import { createDataConverter } from '../temporal/connection';

export interface CreateWorkerOptions {
  config: Config;
  connection: NativeConnection;
  client: Client;
  /** Defaults to HTTP clients at the configured provider URLs. */
  providers?: Providers;
  /** A pre-built bundle (tests bundle once per run); defaults to bundling `src/workflows`. */
  workflowBundlePath?: string;
  /** Extra activity dependencies (tests lower thresholds). */
  activityDeps?: Partial<ActivityDeps>;
  workerOptions?: Partial<WorkerOptions>;
  /** Where the bundler's report goes (debug level). */
  logger?: Logger;
}

/** Bundles the workflows once at start; webpack's multi-line report goes to debug, not info. */
export async function bundleWorkflows(logger?: Logger): Promise<{ code: string }> {
  const log = (message: string): void => logger?.debug({ component: 'bundler' }, message);
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: { log: (_l, m) => log(m), trace: log, debug: log, info: log, warn: (m) => logger?.warn(m), error: (m) => logger?.error(m) },
  });
  return { code };
}

export async function createWorker(o: CreateWorkerOptions): Promise<Worker> {
  const { config } = o;
  const activities = createActivities({
    providers: o.providers ?? createHttpProviders(config.providerUrls, config.providerTimeoutMs),
    temporalClient: o.client,
    taskQueue: config.temporal.taskQueue,
    redriveRatePerSecond: config.redriveRatePerSecond,
    healthCheckIntervalMs: config.healthCheckIntervalMs,
    ...o.activityDeps,
  });
  return Worker.create({
    connection: o.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowBundle: o.workflowBundlePath ? { codePath: o.workflowBundlePath } : await bundleWorkflows(o.logger),
    activities,
    dataConverter: createDataConverter(config),
    maxConcurrentActivityTaskExecutions: 200,
    maxConcurrentWorkflowTaskExecutions: 100,
    maxCachedWorkflows: 2000,
    ...o.workerOptions,
  });
}

/** Starts (or reconfigures) `health-<provider>` for every provider. */
export async function startHealthChecks(client: Client, config: Config): Promise<void> {
  const settings = { intervalMs: config.healthCheckIntervalMs, dlqShards: config.dlqShards };
  await Promise.all(
    PROVIDERS.map((provider) =>
      client.workflow.signalWithStart(WORKFLOW_TYPES.providerHealth, {
        workflowId: healthWorkflowId(provider),
        taskQueue: config.temporal.taskQueue,
        args: [{ provider, ...settings } satisfies ProviderHealthInput],
        signal: configureHealthSignal,
        signalArgs: [settings],
        staticSummary: `Health of ${provider}: probes ${config.providerUrls[provider]}/health every ${settings.intervalMs} ms`,
      }),
    ),
  );
}

/** Route the SDK's logs (workflow and activity loggers included) into pino, and expose its metrics. */
export function installRuntime(logger: Logger, metricsBindAddress?: string): void {
  const sdkLogger: TemporalLogger = {
    log: (level: LogLevel, message: string, meta?: LogMetadata) => {
      const method = level === 'TRACE' ? 'trace' : level === 'DEBUG' ? 'debug' : level === 'WARN' ? 'warn' : level === 'ERROR' ? 'error' : 'info';
      logger[method](meta ?? {}, message);
    },
    trace: (m, meta) => logger.trace(meta ?? {}, m),
    debug: (m, meta) => logger.debug(meta ?? {}, m),
    info: (m, meta) => logger.info(meta ?? {}, m),
    warn: (m, meta) => logger.warn(meta ?? {}, m),
    error: (m, meta) => logger.error(meta ?? {}, m),
  };
  Runtime.install({
    logger: sdkLogger,
    telemetryOptions: {
      logging: { forward: {}, filter: 'WARN' },
      ...(metricsBindAddress ? { metrics: { prometheus: { bindAddress: metricsBindAddress } } } : {}),
    },
  });
}
