import type { Logger } from './logger';

/**
 * Graceful stop for a one-component process (`npm run api`, `npm run providers`): the first SIGINT or
 * SIGTERM closes it and exits 0 (1 if closing failed); a second one exits at once.
 */
export function closeOnSignals(what: string, close: () => Promise<unknown>, logger: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, `closing the ${what}`);
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, `error while closing the ${what}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
