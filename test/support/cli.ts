import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import type { Config } from '../../src/config';

const run = promisify(execFile);

/** Runs the real `temporal` CLI against the test's server and namespace; resolves with stdout. */
export async function temporalCli(config: Config, args: string[], extra: { codecEndpoint?: string } = {}): Promise<string> {
  const full = [...args, '--address', config.temporal.address, '--namespace', config.temporal.namespace];
  if (extra.codecEndpoint) full.push('--codec-endpoint', extra.codecEndpoint);
  const { stdout } = await run(inject('temporalCli'), full, { timeout: 30_000, env: { ...process.env, TEMPORAL_CODEC_ENDPOINT: '' } });
  return stdout;
}
