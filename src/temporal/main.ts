/**
 * `npm run temporal`: the embedded Temporal dev server alone (the launcher, `src/start.ts`, starts the
 * same thing in process with `startEmbeddedTemporal`).
 *
 * The server comes from the Temporal CLI (`cli.ts`: TEMPORAL_CLI → PATH → cache → go install). When no
 * CLI can be found or built, the last resort is the dev server the Temporal SDK downloads itself, with
 * the same SQLite file, ports, pragmas and search attributes.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { type Config, loadConfigOrExit } from '../config';
import { createLogger, type Logger } from '../logger';
import { CustomerIdKey, FulfillmentStatusKey, OrderIdKey, ParkedProviderKey } from '../workflows/definitions';
import { cacheDir, resolveTemporalCli, TEMPORAL_CLI_VERSION, TemporalCliNotFound } from './cli';
import { dbFileIn, SQLITE_PRAGMAS, splitAddress, startDevServer } from './dev-server';

/** A failure to start that is fully explained by its one-line message (entry points print it, exit 1). */
export class StartupError extends Error {
  override name = 'StartupError';
}

export type Progress = (line: string) => void;
export const stderrProgress: Progress = (line) => process.stderr.write(`${line}\n`);

export interface EmbeddedTemporal {
  address: string;
  uiUrl: string | undefined;
  /** `cli`: the Temporal CLI; `sdk-download`: the SDK's own download (the last-resort fallback). */
  source: 'cli' | 'sdk-download';
  pid: number | undefined;
  /** Resolves with a reason if the server exits without being asked to. */
  exited: Promise<string>;
  /** Synchronous last resort (uncaught exception, forced exit): SIGKILL, no waiting. */
  kill(): void;
  stop(): Promise<void>;
}

export interface StartEmbeddedOptions {
  /** Aborts between steps (a Ctrl-C during a CLI build must not fall back to the SDK download). */
  signal?: AbortSignal;
  /** How long the SDK download fallback may take. */
  sdkDownloadTimeoutMs?: number;
}

const SDK_SEARCH_ATTRIBUTES = [OrderIdKey, CustomerIdKey, FulfillmentStatusKey, ParkedProviderKey];

/** The host as a URL or socket host: `[::1]` → `::1`; a wildcard bind is reached on loopback. */
export function reachableHost(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare === '0.0.0.0' || bare === '') return '127.0.0.1';
  if (bare === '::') return '::1';
  return bare;
}

export function httpUrl(host: string, port: number, path = ''): string {
  const h = reachableHost(host);
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}${path}`;
}

/** Fails with one line naming `variable` when `host:port` cannot be bound (port 0 is always free). */
export async function assertPortFree(host: string, port: number, variable: string): Promise<void> {
  if (port === 0) return;
  const bindHost = host.replace(/^\[(.*)\]$/, '$1');
  await new Promise<void>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(new StartupError(`${variable}: port ${port} on ${bindHost} is already in use (stop what holds it, or set ${variable} to a free port)`));
      } else if (err.code === 'EACCES') {
        reject(new StartupError(`${variable}: port ${port} on ${bindHost} needs privileges this process does not have (set ${variable} to a port above 1023)`));
      } else {
        reject(new StartupError(`${variable}: cannot listen on ${bindHost}:${port} (${err.code ?? err.message})`));
      }
    });
    srv.listen({ host: bindHost, port, exclusive: true }, () => srv.close(() => resolve()));
  });
}

/** An `EADDRINUSE` from `listen` as the same one line. */
export function portError(err: unknown, port: number, variable: string): unknown {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE'
    ? new StartupError(`${variable}: port ${port} is already in use (stop what holds it, or set ${variable} to a free port)`)
    : err;
}

// ---------------------------------------------------------------------------------------------------
// The dev server recorded in `<db>.pid` (Linux /proc; elsewhere these are no-ops)
// ---------------------------------------------------------------------------------------------------

function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** The pid in `<db>.pid` if it is a live dev server on that very file. */
function recordedDevServer(dbFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(`${dbFile}.pid`, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  const cmd = cmdline(pid);
  return cmd.includes('start-dev') && cmd.includes(dbFile) ? pid : undefined;
}

/**
 * Last resort, synchronous: SIGKILL the dev server recorded for `dbFile` if this process started it
 * (another instance's server on the same DATA_DIR is not ours to kill).
 */
export function killRecordedDevServer(dbFile: string): void {
  const pid = recordedDevServer(dbFile);
  if (pid === undefined || procStat(pid)?.ppid !== process.pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * A dev server left behind by a launcher that died (kill -9, power loss) holds the ports and the SQLite
 * file: kill it and wait until it is gone. One whose launcher still runs is another live instance.
 */
export async function stopOrphanedDevServer(dbFile: string): Promise<void> {
  const pid = recordedDevServer(dbFile);
  if (pid === undefined) return;
  const parent = procStat(pid)?.ppid ?? 1;
  if (parent > 1 && isAlive(parent) && /node|tsx/.test(cmdline(parent))) {
    throw new StartupError(
      `DATA_DIR: ${dirname(dbFile)} is in use by a running Temporal dev server (pid ${pid}, started by pid ${parent}); stop that one or set DATA_DIR to another directory`,
    );
  }
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** The SDK starts its server itself; find it by its arguments so it can be recorded and killed. */
function findDevServerPid(dbFile: string): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = cmdline(Number(entry));
    if (cmd.includes('start-dev') && cmd.includes(dbFile)) return Number(entry);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Starting it
// ---------------------------------------------------------------------------------------------------

function abortIfAsked(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new StartupError('stopped before the Temporal dev server was ready');
}

/**
 * Starts the dev server of `config`: frontend at TEMPORAL_ADDRESS, Web UI on TEMPORAL_UI_PORT, state in
 * `DATA_DIR/temporal.db`, the Web UI decoding payloads through the API's `/codec`.
 */
export async function startEmbeddedTemporal(
  config: Config,
  logger: Logger,
  progress: Progress = stderrProgress,
  options: StartEmbeddedOptions = {},
): Promise<EmbeddedTemporal> {
  const dbFile = dbFileIn(config.dataDir);
  const { address, namespace, uiPort } = config.temporal;
  const [host, port] = splitAddress(address);
  const codecEndpoint = httpUrl(config.host, config.port, '/codec');

  await stopOrphanedDevServer(dbFile);
  await assertPortFree(host, port, 'TEMPORAL_ADDRESS');
  await assertPortFree(host, uiPort, 'TEMPORAL_UI_PORT');

  let cliPath: string;
  try {
    cliPath = await resolveTemporalCli(progress);
  } catch (err) {
    abortIfAsked(options.signal);
    // An explicit TEMPORAL_CLI that does not work is a mistake to fix, not a reason to download another.
    if (!(err instanceof TemporalCliNotFound) || process.env.TEMPORAL_CLI) throw new StartupError((err as Error).message);
    progress(`warning: ${err.message}`);
    progress(
      `warning: falling back to the dev server the Temporal SDK downloads (not the pinned CLI ${TEMPORAL_CLI_VERSION}; install Go or the temporal CLI for the supported path)`,
    );
    return startWithSdkDownload(config, logger, dbFile, codecEndpoint, options);
  }
  abortIfAsked(options.signal);

  logger.debug({ cliPath, address, dbFile }, 'starting the Temporal dev server');
  const server = await startDevServer({ cliPath, address, namespace, uiPort, dbFile, codecEndpoint });
  const child = server.process;
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  let stopping = false;
  const exited = new Promise<string>((resolve) => {
    const report = (): void => {
      if (!stopping) resolve(`the Temporal dev server exited (${child.signalCode ?? `code ${child.exitCode}`}); see ${dbFile}.log`);
    };
    if (!running()) report();
    else child.once('exit', report);
  });
  const embedded: EmbeddedTemporal = {
    address,
    uiUrl: httpUrl(host, uiPort),
    source: 'cli',
    pid: server.pid || undefined,
    exited,
    kill() {
      if (running()) child.kill('SIGKILL');
    },
    async stop() {
      stopping = true;
      await server.stop();
    },
  };
  if (options.signal?.aborted) {
    await embedded.stop();
    abortIfAsked(options.signal);
  }
  return embedded;
}

async function startWithSdkDownload(
  config: Config,
  logger: Logger,
  dbFile: string,
  codecEndpoint: string,
  options: StartEmbeddedOptions,
): Promise<EmbeddedTemporal> {
  const { address, namespace, uiPort } = config.temporal;
  const [host, port] = splitAddress(address);
  const extraArgs: string[] = [];
  for (const pragma of SQLITE_PRAGMAS) extraArgs.push('--sqlite-pragma', pragma);
  extraArgs.push('--ui-codec-endpoint', codecEndpoint);
  extraArgs.push('--dynamic-config-value', 'system.forceSearchAttributesCacheRefreshOnRead=true');

  const timeoutMs = options.sdkDownloadTimeoutMs ?? 10 * 60_000;
  let timer: NodeJS.Timeout | undefined;
  let env: TestWorkflowEnvironment;
  try {
    // Loaded only here: the normal path needs none of the testing package.
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    env = await Promise.race([
      TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'cached-download', downloadDir: join(dirname(cacheDir()), 'sdk-download') },
          ip: reachableHost(host),
          port,
          ui: true,
          ...(uiPort ? { uiPort } : {}),
          dbFilename: dbFile,
          namespace,
          log: { format: 'json', level: 'warn' },
          searchAttributes: SDK_SEARCH_ATTRIBUTES,
          extraArgs,
        },
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no server after ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    killRecordedDevServer(dbFile);
    // The SDK's message nests the URL twice; the root cause is at its end.
    const detail = ((err as Error).message.split('\n')[0] ?? '').replace(/\)+$/, '');
    throw new StartupError(
      `No Temporal dev server: no temporal CLI ${TEMPORAL_CLI_VERSION} was found or built and the SDK download failed (${detail.length > 140 ? `…${detail.slice(-140)}` : detail}). ` +
        `Install Go (https://go.dev/dl) so it can be built, or install the temporal CLI (https://docs.temporal.io/cli) and put it on PATH or in TEMPORAL_CLI.`,
    );
  } finally {
    clearTimeout(timer);
  }

  const pid = findDevServerPid(dbFile);
  if (pid !== undefined) writeFileSync(`${dbFile}.pid`, String(pid));
  let stopping = false;
  let poll: NodeJS.Timeout | undefined;
  const exited = new Promise<string>((resolve) => {
    if (pid === undefined) return;
    poll = setInterval(() => {
      if (!stopping && !isAlive(pid)) {
        clearInterval(poll);
        resolve('the Temporal dev server (SDK download) exited');
      }
    }, 2000);
    poll.unref();
  });
  logger.warn({ address, pid }, 'running the Temporal SDK’s downloaded dev server (fallback)');
  const embedded: EmbeddedTemporal = {
    address,
    uiUrl: httpUrl(host, uiPort || port + 1000),
    source: 'sdk-download',
    pid,
    exited,
    kill() {
      if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
    },
    async stop() {
      stopping = true;
      clearInterval(poll);
      await env.teardown();
      rmSync(`${dbFile}.pid`, { force: true });
    },
  };
  if (options.signal?.aborted) {
    await embedded.stop();
    abortIfAsked(options.signal);
  }
  return embedded;
}

/**
 * SIGINT/SIGTERM: the first stops gracefully, a later one forces. Under `npm start` one Ctrl-C reaches
 * this process twice within milliseconds (from the terminal, and relayed by npm and tsx), so repeats
 * within `sameSignalMs` count as the same one.
 */
export function onStopSignals(graceful: (signal: NodeJS.Signals) => void, force: (signal: NodeJS.Signals) => void, sameSignalMs = 1000): void {
  let first = 0;
  const handler = (signal: NodeJS.Signals): void => {
    const now = Date.now();
    if (first === 0) {
      first = now;
      graceful(signal);
    } else if (now - first >= sameSignalMs) {
      force(signal);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

export function readyLine(temporal: EmbeddedTemporal): string {
  return `temporal ready at ${temporal.address} (Web UI: ${temporal.uiUrl ?? 'off'})`;
}

// ---------------------------------------------------------------------------------------------------
// `npm run temporal`
// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger('temporal', config.logLevel);
  const dbFile = dbFileIn(config.dataDir);
  const aborter = new AbortController();
  let server: EmbeddedTemporal | undefined;

  onStopSignals(
    (signal) => {
      aborter.abort();
      if (!server) return; // still starting: it is stopped as soon as it is up
      process.stderr.write(`${signal}: stopping the Temporal dev server…\n`);
      server.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`error while stopping the Temporal dev server: ${(err as Error).message}\n`);
          process.exit(1);
        },
      );
    },
    (signal) => {
      process.stderr.write(`${signal} again: exiting now\n`);
      if (server) server.kill();
      else killRecordedDevServer(dbFile);
      process.exit(1);
    },
  );
  process.on('exit', () => server?.kill());

  try {
    server = await startEmbeddedTemporal(config, logger, stderrProgress, { signal: aborter.signal });
  } catch (err) {
    if (aborter.signal.aborted) process.exit(0);
    throw err;
  }
  process.stdout.write(`${readyLine(server)}\n`);
  void server.exited.then((reason) => {
    process.stderr.write(`${reason}\n`);
    process.exit(1);
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    const message = err instanceof StartupError || err instanceof TemporalCliNotFound ? err.message : `temporal failed to start: ${(err as Error).message}`;
    process.stderr.write(`${message}\n`);
    process.exit(1);
  });
}
