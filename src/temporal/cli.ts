/**
 * Finds the Temporal CLI (which carries the dev server), in the contract's order:
 * `TEMPORAL_CLI` → `temporal` on PATH → the project's cache → `go install` into that cache.
 * (The Temporal SDK's own download is the last fallback; see dev-server.ts.)
 *
 * Run alone (`npm run temporal:cli`) it resolves, builds if needed, and prints the path.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_MODULE = `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`;

export class TemporalCliNotFound extends Error {
  override name = 'TemporalCliNotFound';
}

type Progress = (line: string) => void;

/** Outside the repo, so every clone, test run and CI run on this machine reuses one build. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.ORDER_FULFILLMENT_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'order-fulfillment');
  return join(base, `temporal-${TEMPORAL_CLI_VERSION}`);
}

export function cachedCliPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), 'temporal');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The CLI at `path` answers `--version` (a broken download or a wrong file does not). */
function works(path: string): boolean {
  const out = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return out.status === 0 && /temporal version/.test(out.stdout);
}

/** Resolve without building: TEMPORAL_CLI, PATH, cache. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.TEMPORAL_CLI;
  if (explicit) {
    if (!isExecutable(explicit) || !works(explicit)) {
      throw new TemporalCliNotFound(`TEMPORAL_CLI=${explicit} is not a working temporal executable`);
    }
    return explicit;
  }
  const fromPath = onPath('temporal', env);
  if (fromPath && works(fromPath)) return fromPath;
  const cached = cachedCliPath(env);
  if (isExecutable(cached) && works(cached)) return cached;
  return undefined;
}

/** `go install` the CLI into the cache, showing go's progress and a heartbeat while it compiles. */
export async function buildTemporalCli(progress: Progress, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const go = onPath('go', env);
  if (!go) throw new TemporalCliNotFound('Go is not installed');
  const dir = cacheDir(env);
  const staging = join(dir, `build-${process.pid}`);
  mkdirSync(staging, { recursive: true });
  progress(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go into ${dir} (first time only; a few minutes)…`);
  const started = Date.now();
  const heartbeat = setInterval(() => {
    progress(`  …still building the Temporal CLI (${Math.round((Date.now() - started) / 1000)}s)`);
  }, 15_000);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(go, ['install', '-v', TEMPORAL_CLI_MODULE], {
        env: { ...env, GOBIN: staging },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let tail = '';
      let packages = 0;
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        tail = (tail + chunk).slice(-4000);
        for (const line of chunk.split('\n')) {
          if (line.startsWith('go: downloading')) continue;
          if (line.trim()) packages++;
          if (packages > 0 && packages % 100 === 0) progress(`  …compiled ${packages} packages`);
        }
      });
      child.on('error', reject);
      child.on('exit', (code) => {
        if (code === 0) resolve();
        else reject(new TemporalCliNotFound(`go install ${TEMPORAL_CLI_MODULE} failed (exit ${code}): ${tail.trim().split('\n').slice(-3).join(' | ')}`));
      });
    });
    renameSync(join(staging, 'temporal'), cachedCliPath(env));
  } finally {
    clearInterval(heartbeat);
    rmSync(staging, { recursive: true, force: true });
  }
  const target = cachedCliPath(env);
  progress(`Temporal CLI built in ${Math.round((Date.now() - started) / 1000)}s: ${target}`);
  return target;
}

/** Find or build the CLI. Throws TemporalCliNotFound with one line saying what to install. */
export async function resolveTemporalCli(
  progress: Progress = (l) => process.stderr.write(`${l}\n`),
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const found = findTemporalCli(env);
  if (found) return found;
  try {
    return await buildTemporalCli(progress, env);
  } catch (err) {
    throw new TemporalCliNotFound(
      `No Temporal CLI: set TEMPORAL_CLI, put temporal ${TEMPORAL_CLI_VERSION} on PATH, or install Go so it can be built (${(err as Error).message})`,
    );
  }
}

if (require.main === module) {
  resolveTemporalCli()
    .then((path) => {
      process.stdout.write(`${path}\n`);
    })
    .catch((err: Error) => {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    });
}

