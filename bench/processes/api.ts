/**
 * The API under test, a child process of `bench/run.ts` as `npm run api` deploys it: `startApi` with
 * the service's configuration (from the environment), its own lazy Temporal client and its own pino
 * logger at LOG_LEVEL. Sends `{ type: 'ready', url }` over IPC; closes on `{ type: 'stop' }` or SIGTERM.
 */
import { startApi } from '../../src/api/server';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const api = await startApi({ config, logger: createLogger('api', config.logLevel) });
  process.send?.({ type: 'ready', url: api.url });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
    process.once('disconnect', resolve);
    process.on('message', (msg: { type?: string }) => {
      if (msg?.type === 'stop') resolve();
    });
  });
  await api.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench api failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
