/**
 * The embedded Temporal dev server: the real server (SQLite in WAL mode, on a file so state outlives
 * the process), the Web UI, and the contract's search attributes registered at start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

export interface DevServerOptions {
  cliPath: string;
  /** host:port of the frontend. */
  address: string;
  namespace: string;
  /** More namespaces to create at launch (each gets the search attributes too). */
  extraNamespaces?: string[];
  uiPort: number;
  /** SQLite file; its directory is created. */
  dbFile: string;
  /** Remote codec endpoint for the Web UI (`--ui-codec-endpoint`). */
  codecEndpoint?: string;
  /** Server log file (stdout and stderr of the dev server). Defaults to `<dbFile>.log`. */
  logFile?: string;
  headless?: boolean;
  /** Extra `--dynamic-config-value` pairs. */
  dynamicConfig?: Record<string, unknown>;
}

export interface DevServer {
  address: string;
  uiUrl: string | undefined;
  pid: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export const SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal', 'busy_timeout=10000'];

export function devServerArgs(o: DevServerOptions): string[] {
  const [host, port] = splitAddress(o.address);
  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--db-filename',
    o.dbFile,
    '--log-level',
    'warn',
    '--log-format',
    'json',
  ];
  for (const pragma of SQLITE_PRAGMAS) args.push('--sqlite-pragma', pragma);
  for (const name of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${name}=Keyword`);
  for (const ns of new Set([o.namespace, ...(o.extraNamespaces ?? [])])) if (ns !== 'default') args.push('--namespace', ns);
  if (o.headless) args.push('--headless');
  else args.push('--ui-port', String(o.uiPort));
  if (o.codecEndpoint && !o.headless) args.push('--ui-codec-endpoint', o.codecEndpoint);
  const dynamic = { 'system.forceSearchAttributesCacheRefreshOnRead': true, ...o.dynamicConfig };
  for (const [key, value] of Object.entries(dynamic)) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  return args;
}

export function splitAddress(address: string): [string, number] {
  const idx = address.lastIndexOf(':');
  return [address.slice(0, idx), Number(address.slice(idx + 1))];
}

/** A free TCP port on 127.0.0.1 (for tests and benchmarks that run their own server). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Full connection options (TLS, API key) instead of a plain address. */
  connection?: ConnectionOptions;
  /** Stop waiting at once when this returns a reason (e.g. the server process died). */
  isDead?: () => string | undefined;
  /** Called once, on the first failed attempt. */
  onFirstFailure?: () => void;
  retryMs?: number;
}

/** Wait until the frontend answers and the namespace exists. */
export async function waitForTemporal(address: string, namespace: string, o: WaitOptions = {}): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  let lastError: unknown;
  let failures = 0;
  while (Date.now() < deadline) {
    const dead = o.isDead?.();
    if (dead) throw new Error(dead);
    try {
      const connection = await Connection.connect({ ...o.connection, address, connectTimeout: 2000 });
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = err;
      if (failures++ === 0) o.onFirstFailure?.();
      await new Promise((r) => setTimeout(r, o.retryMs ?? 250));
    }
  }
  throw new TemporalNotReady(address, namespace, o.timeoutMs ?? 60_000, lastError);
}

export class TemporalNotReady extends Error {
  override name = 'TemporalNotReady';
  constructor(
    readonly address: string,
    readonly namespace: string,
    timeoutMs: number,
    readonly lastError: unknown,
  ) {
    super(`Temporal at ${address} did not become ready within ${timeoutMs} ms: ${String(lastError)}`);
  }
}

/** The dev server we started last in this DATA_DIR, if it outlived its parent (e.g. after kill -9). */
function killStale(pidFile: string): void {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!pid) return;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline.includes('start-dev')) process.kill(pid, 'SIGKILL');
  } catch {
    // no stale server
  }
}

export async function startDevServer(o: DevServerOptions): Promise<DevServer> {
  mkdirSync(dirname(o.dbFile), { recursive: true });
  const pidFile = `${o.dbFile}.pid`;
  killStale(pidFile);
  const logFile = o.logFile ?? `${o.dbFile}.log`;
  const log = createWriteStream(logFile, { flags: 'a' });
  log.on('error', () => undefined); // losing the server's own log must not take the caller down
  // Its own process group: a terminal's Ctrl-C reaches the launcher, which stops the server last,
  // after the worker has drained. (A stale server left by a killed launcher is cleaned up above.)
  const child = spawn(o.cliPath, devServerArgs(o), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let exited: string | undefined;
  const exitedPromise = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = `the Temporal dev server exited (${signal ?? `code ${code}`}); see ${logFile}`;
      resolve();
    });
    child.on('error', (err) => {
      exited = `the Temporal dev server could not start: ${err.message}`;
      resolve();
    });
  });
  if (child.pid) writeFileSync(pidFile, String(child.pid));
  try {
    for (const ns of new Set([o.namespace, ...(o.extraNamespaces ?? [])])) await waitForTemporal(o.address, ns, { timeoutMs: 120_000, isDead: () => exited });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const [host] = splitAddress(o.address);
  return {
    address: o.address,
    uiUrl: o.headless ? undefined : `http://${host}:${o.uiPort}`,
    pid: child.pid ?? 0,
    process: child,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitedPromise;
      clearTimeout(timer);
      rmSync(pidFile, { force: true });
      log.end();
    },
  };
}

export function dbFileIn(dataDir: string): string {
  return join(dataDir, 'temporal.db');
}
