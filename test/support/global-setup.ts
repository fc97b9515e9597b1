/**
 * One real Temporal dev server per test run (the project's Temporal CLI, SQLite file with WAL), and
 * the workflows bundled once. Test files get both through `inject()`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { bundleWorkflowCode } from '@temporalio/worker';
import { resolveTemporalCli } from '../../src/temporal/cli';
import { type DevServer, freePort, startDevServer } from '../../src/temporal/dev-server';
import { allTestFiles, testNamespace } from './namespaces';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCli: string;
    workflowBundlePath: string;
    tmpRoot: string;
  }
}

let server: DevServer | undefined;
let tmpRoot: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  tmpRoot = mkdtempSync(join(tmpdir(), 'order-fulfillment-test-'));
  const cliPath = await resolveTemporalCli();
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const [serverReady, bundle] = await Promise.all([
    startDevServer({ cliPath, address, namespace: 'default', extraNamespaces: allTestFiles().map(testNamespace), uiPort: 0, headless: true, dbFile: join(tmpRoot, 'temporal.db') }),
    bundleWorkflowCode({ workflowsPath: join(__dirname, '../../src/workflows/index.ts'), logger: quietLogger }),
  ]);
  server = serverReady;
  const bundlePath = join(tmpRoot, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  project.provide('temporalAddress', address);
  project.provide('temporalCli', cliPath);
  project.provide('workflowBundlePath', bundlePath);
  project.provide('tmpRoot', tmpRoot);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (tmpRoot && !process.env.KEEP_TEST_DATA) rmSync(tmpRoot, { recursive: true, force: true });
}

const noop = (): void => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };
