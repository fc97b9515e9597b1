/**
 * Where the Temporal CLI comes from (contract: "Commands"): TEMPORAL_CLI → `temporal` on PATH → the
 * project's cache → `go install` into that cache; and a clear "what to install" when none of them can.
 * Fake executables in a temp dir stand in for the real CLI and for Go.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  buildTemporalCli,
  cacheDir,
  cachedCliPath,
  findTemporalCli,
  resolveTemporalCli,
  TEMPORAL_CLI_MODULE,
  TemporalCliNotFound,
} from '../src/temporal/cli';

const VERSION_LINE = 'temporal version 0.0.0-DEV (Server 1.29.1, UI 2.42.1)';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'order-fulfillment-cli-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function dir(name: string): string {
  const path = join(root, name);
  mkdirSync(path, { recursive: true });
  return path;
}

function script(path: string, body: string, mode = 0o755): string {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, mode);
  return path;
}

/** A CLI that answers `--version` like the real one. */
function fakeCli(directory: string, mode = 0o755): string {
  return script(join(directory, 'temporal'), `echo "${VERSION_LINE}"`, mode);
}

/** The environment of a machine with nothing installed: an empty PATH dir and an empty cache. */
function bareEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: dir('empty-bin'), ORDER_FULFILLMENT_CACHE: dir('cache'), HOME: root, ...extra };
}

function cachedFake(env: NodeJS.ProcessEnv): string {
  mkdirSync(cacheDir(env), { recursive: true });
  return fakeCli(cacheDir(env));
}

describe('findTemporalCli', () => {
  it('prefers TEMPORAL_CLI over PATH and the cache', () => {
    const explicit = fakeCli(dir('explicit'));
    const env = bareEnv({ TEMPORAL_CLI: explicit, PATH: dir('bin') });
    fakeCli(dir('bin'));
    cachedFake(env);
    expect(findTemporalCli(env)).toBe(explicit);
  });

  it('says so clearly when TEMPORAL_CLI is not an executable', () => {
    const notExecutable = fakeCli(dir('explicit'), 0o644);
    const env = bareEnv({ TEMPORAL_CLI: notExecutable, PATH: dir('bin') });
    fakeCli(dir('bin')); // a working one elsewhere must not hide the mistake
    expect(() => findTemporalCli(env)).toThrow(TemporalCliNotFound);
    expect(() => findTemporalCli(env)).toThrow(`TEMPORAL_CLI=${notExecutable} is not a working temporal executable`);
  });

  it('says so clearly when TEMPORAL_CLI points nowhere or at something that is not the CLI', () => {
    const missing = join(root, 'no-such-file');
    expect(() => findTemporalCli(bareEnv({ TEMPORAL_CLI: missing }))).toThrow(`TEMPORAL_CLI=${missing}`);
    const impostor = script(join(dir('explicit'), 'temporal'), 'echo "something else"');
    expect(() => findTemporalCli(bareEnv({ TEMPORAL_CLI: impostor }))).toThrow(TemporalCliNotFound);
  });

  it('takes `temporal` on PATH next, before the cache', () => {
    const bin = dir('bin');
    const onPath = fakeCli(bin);
    const env = bareEnv({ PATH: [dir('other'), bin].join(':') });
    cachedFake(env);
    expect(findTemporalCli(env)).toBe(onPath);
  });

  it('skips a `temporal` on PATH that does not answer --version like the CLI', () => {
    const env = bareEnv({ PATH: dir('bin') });
    script(join(dir('bin'), 'temporal'), 'exit 3');
    const cached = cachedFake(env);
    expect(findTemporalCli(env)).toBe(cached);
  });

  it('takes the cache next (ORDER_FULFILLMENT_CACHE redirects it)', () => {
    const env = bareEnv();
    const cached = cachedFake(env);
    expect(cached).toBe(cachedCliPath(env));
    expect(cached.startsWith(env.ORDER_FULFILLMENT_CACHE ?? '<unset>')).toBe(true);
    expect(findTemporalCli(env)).toBe(cached);
  });

  it('finds nothing on a bare machine', () => {
    expect(findTemporalCli(bareEnv())).toBeUndefined();
  });
});

describe('building with Go', () => {
  /** A `go` that "builds" the fake CLI into $GOBIN, printing package lines like `go install -v`. */
  function fakeGo(directory: string, body?: string): void {
    script(
      join(directory, 'go'),
      body ??
        [
          `[ "$1 $2 $3" = "install -v ${TEMPORAL_CLI_MODULE}" ] || { echo "unexpected args: $*" >&2; exit 2; }`,
          'echo "go: downloading github.com/temporalio/cli v1.5.1" >&2',
          'echo "github.com/temporalio/cli/cmd/temporal" >&2',
          `printf '#!/bin/sh\\necho "${VERSION_LINE}"\\n' > "$GOBIN/temporal"`,
          '/bin/chmod 755 "$GOBIN/temporal"',
        ].join('\n'),
    );
  }

  it('go-installs the CLI into the cache, showing progress, and finds it there afterwards', async () => {
    const bin = dir('bin');
    fakeGo(bin);
    const env = bareEnv({ PATH: bin });
    const lines: string[] = [];
    const built = await buildTemporalCli((l) => lines.push(l), env);
    expect(built).toBe(cachedCliPath(env));
    expect(lines[0]).toMatch(/^Building the Temporal CLI v1\.5\.1 with Go/);
    expect(lines.at(-1)).toMatch(/^Temporal CLI built in \d+s/);
    expect(findTemporalCli(env)).toBe(built);
    expect(readdirSync(cacheDir(env)), 'no staging directory left behind').toEqual(['temporal']);
  });

  it('resolveTemporalCli builds when nothing else is there', async () => {
    const bin = dir('bin');
    fakeGo(bin);
    const env = bareEnv({ PATH: bin });
    await expect(resolveTemporalCli(() => undefined, env)).resolves.toBe(cachedCliPath(env));
  });

  it('reports a failed build with the end of go’s output', async () => {
    const bin = dir('bin');
    fakeGo(bin, 'echo "go: github.com/temporalio/cli@v1.5.1: proxy unreachable" >&2\nexit 1');
    const env = bareEnv({ PATH: bin });
    const err = await buildTemporalCli(() => undefined, env).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemporalCliNotFound);
    expect((err as Error).message).toMatch(/go install .* failed \(exit 1\): .*proxy unreachable/);
    expect(existsSync(cachedCliPath(env))).toBe(false);
  });

  it('with no CLI and no Go, says what to install', async () => {
    const env = bareEnv();
    const err = await resolveTemporalCli(() => undefined, env).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemporalCliNotFound);
    const message = (err as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toContain('TEMPORAL_CLI');
    expect(message).toContain('PATH');
    expect(message).toMatch(/install Go/);
    expect(message).toContain('Go is not installed');
  });
});
