/**
 * The container deployment (Dockerfile, .dockerignore, docker-compose.yml, .env.example), checked
 * without a Docker engine: no engine runs where this project is built, so these files are held to the
 * code instead of being run. Each rule lives in a checker that returns a list of problems; the real
 * files must give none, and a deliberately broken copy must give the specific problem, so no rule
 * can pass by checking nothing.
 *
 * One part does run for real: the compose job that creates the namespace and registers the search
 * attributes is executed against this run's Temporal dev server with the pinned CLI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { Script } from 'node:vm';
import ts from 'typescript';
import { describe, expect, inject, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { type Config, ConfigError, loadConfig } from '../../src/config';
import { PROVIDERS, SEARCH_ATTRIBUTES } from '../../src/workflows/definitions';

const ROOT = resolve(__dirname, '../..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

// ---------------------------------------------------------------------------------------------------
// What the files are held to
// ---------------------------------------------------------------------------------------------------

/**
 * The Temporal versions our dev server runs: `temporal --version` of the CLI pinned in
 * src/temporal/cli.ts (TEMPORAL_CLI_VERSION v1.5.1) says "Server 1.29.1, UI 2.42.1" (asserted below
 * against the real CLI). The compose images must be these, so what the tests exercise is what runs.
 */
const TEMPORAL_SERVER_VERSION = '1.29.1';
const TEMPORAL_UI_VERSION = '2.42.1';
const POSTGRES_MAJOR = '16';

/**
 * Every variable src/config.ts reads: the contract's configuration table plus the tunables config.ts
 * adds. `<NAME>` stands for each provider (COURSES, INVENTORY, PACKING, LOGISTICS). Asserted in both
 * directions against the source of src/config.ts, so this list cannot rot.
 */
const CONFIG_VARIABLES = [
  'HOST',
  'PORT',
  'PROVIDERS_PORT',
  'PROVIDER_<NAME>_URL',
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_TASK_QUEUE',
  'TEMPORAL_UI_PORT',
  'EMBEDDED_TEMPORAL',
  'DATA_DIR',
  'HEALTH_CHECK_INTERVAL_MS',
  'REDRIVE_RATE_PER_SECOND',
  'DLQ_SHARDS',
  'STEP_MAX_ATTEMPTS',
  'PARK_BACKSTOP_MS',
  'PROVIDER_TIMEOUT_MS',
  'API_TOKENS',
  'PAYLOAD_ENCRYPTION_KEY',
  'METRICS_PORT',
  'LOG_LEVEL',
] as const;

/** Variables the app reads outside src/config.ts, with the file that reads each (asserted). */
const OTHER_APP_VARIABLES: Record<string, string | null> = {
  PAYLOAD_DECRYPTION_KEYS: 'src/temporal/connection.ts',
  NODE_ENV: null, // Node and its libraries
};

/** The standard TEMPORAL_* variables @temporalio/envconfig reads (asserted against the installed package). */
const ENVCONFIG_VARIABLES = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
  'TEMPORAL_PROFILE',
  'TEMPORAL_CONFIG_FILE',
  'TEMPORAL_CODEC_ENDPOINT',
  'TEMPORAL_CODEC_AUTH',
] as const;
const ENVCONFIG_PREFIXES = ['TEMPORAL_GRPC_META_'] as const;
const ENVCONFIG_SOURCE = 'node_modules/@temporalio/envconfig/lib/envconfig-toml.js';

const expandProviders = (name: string): string[] =>
  name.includes('<NAME>') ? PROVIDERS.map((p) => name.replace('<NAME>', p.toUpperCase())) : [name];
const KNOWN_APP_VARIABLES = new Set([...CONFIG_VARIABLES.flatMap(expandProviders), ...Object.keys(OTHER_APP_VARIABLES), ...ENVCONFIG_VARIABLES]);
const isKnownAppVariable = (name: string): boolean =>
  KNOWN_APP_VARIABLES.has(name) || ENVCONFIG_PREFIXES.some((prefix) => name.startsWith(prefix));

/** The three roles of the one image, by compose service name, and the entry point each runs. */
const APP_ROLES = {
  api: 'dist/api/server.js',
  worker: 'dist/workers/main.js',
  providers: 'dist/providers/server.js',
} as const;
type AppRole = keyof typeof APP_ROLES;
const APP_ROLE_NAMES = Object.keys(APP_ROLES) as AppRole[];

/** Ports the third-party images listen on, by image repository. */
const IMAGE_PORTS: Record<string, number[]> = {
  postgres: [5432],
  'temporalio/server': [7233],
  'temporalio/ui': [8080],
};

/** Sample values for the variables compose requires; everything else takes the file's defaults. */
const SAMPLE_ENV: Record<string, string> = {
  PAYLOAD_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
  API_TOKENS: 'sample-token-1,sample-token-2',
  POSTGRES_PASSWORD: 'sample-password',
};

// ---------------------------------------------------------------------------------------------------
// Compose file model and helpers
// ---------------------------------------------------------------------------------------------------

type EnvMap = Record<string, string | number | boolean | null>;
interface PortObject {
  target?: number | string;
  published?: number | string;
  host_ip?: string;
  protocol?: string;
}
interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: EnvMap | string[];
  ports?: (string | number | PortObject)[];
  expose?: (string | number)[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  restart?: string;
  container_name?: string;
  hostname?: string;
  volumes?: (string | { type?: string; source?: string; target?: string })[];
}
interface ComposeDoc {
  services?: Record<string, Service>;
  volumes?: Record<string, unknown> | null;
}

type Env = Record<string, string | undefined>;

export function loadCompose(text: string): ComposeDoc {
  return parse(text, { merge: true, uniqueKeys: true }) as ComposeDoc;
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

const INTERPOLATION = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\$\{/g;

/** Compose's variable interpolation (`$$`, `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR-x}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR:+x}`). */
export function interpolate(text: string, env: Env, where: string, problems: string[]): string {
  return text.replace(INTERPOLATION, (match, braced: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
    if (match === '$$') return '$';
    const name = braced ?? bare;
    if (name === undefined) {
      problems.push(`${where}: interpolation this checker cannot read in "${text}"`);
      return match;
    }
    const value = env[name];
    const unset = value === undefined;
    const empty = unset || value === '';
    switch (op) {
      case ':-':
        return empty ? (arg ?? '') : value;
      case '-':
        return unset ? (arg ?? '') : value;
      case ':?':
      case '?':
        if (op === ':?' ? empty : unset) {
          problems.push(`compose refuses to start: ${name} is ${unset ? 'unset' : 'empty'} (${arg ?? ''})`);
          return '';
        }
        return value ?? '';
      case ':+':
        return empty ? '' : (arg ?? '');
      case '+':
        return unset ? '' : (arg ?? '');
      default:
        if (unset) {
          problems.push(`${where}: $${name} is not set, compose would put "" there (a shell variable is written $$${name})`);
          return '';
        }
        return value;
    }
  });
}

function interpolateDeep(value: unknown, env: Env, where: string, problems: string[]): unknown {
  if (typeof value === 'string') return interpolate(value, env, where, problems);
  if (Array.isArray(value)) return value.map((v, i) => interpolateDeep(v, env, `${where}[${i}]`, problems));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, env, where ? `${where}.${k}` : k, problems)]));
  }
  return value;
}

/** The names compose interpolates anywhere in the file, with the default each `${VAR:-default}` gives. */
export function composeVariables(text: string): Map<string, string | undefined> {
  const found = new Map<string, string | undefined>();
  for (const m of text.matchAll(INTERPOLATION)) {
    const name = m[1] ?? m[4];
    if (name === undefined) continue;
    const fallback = m[2] === ':-' || m[2] === '-' ? m[3] : undefined;
    if (!found.has(name) || (fallback !== undefined && found.get(name) === undefined)) found.set(name, fallback);
  }
  return found;
}

export function envOf(service: Service | undefined): Env {
  const e = service?.environment;
  if (!e) return {};
  if (Array.isArray(e)) {
    return Object.fromEntries(
      e.map((item) => {
        const i = item.indexOf('=');
        return i < 0 ? [item, undefined] : [item.slice(0, i), item.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v === null ? undefined : String(v)]));
}

const words = (value: string | string[] | undefined): string => (Array.isArray(value) ? value.join(' ') : (value ?? ''));

function healthcheckText(service: Service): string {
  const test = service.healthcheck?.test;
  if (Array.isArray(test)) return test.slice(test[0] === 'CMD' || test[0] === 'CMD-SHELL' ? 1 : 0).join(' ');
  return test ?? '';
}

function imageRef(image: string): { repo: string; tag: string | undefined; digest: string | undefined } {
  const [name = '', digest] = image.split('@');
  const lastSlash = name.lastIndexOf('/');
  const colon = name.indexOf(':', lastSlash + 1);
  const repo = (colon < 0 ? name : name.slice(0, colon)).replace(/^docker\.io\/(library\/)?/, '');
  return { repo, tag: colon < 0 ? undefined : name.slice(colon + 1), digest };
}

/** At least `minParts` numeric parts, as in 1.29.1 or 16.15: not `latest`, not a floating `16` or `1.29`. */
function pinProblem(image: string, minParts: number): string | undefined {
  const { tag, digest } = imageRef(image);
  if (digest) return undefined;
  if (tag === undefined) return `image ${image} has no tag (that is :latest)`;
  if (tag === 'latest') return `image ${image} floats on :latest`;
  const version = /^v?(\d+(?:\.\d+)*)/.exec(tag);
  if (!version?.[1]) return `image ${image} has no version in its tag`;
  if (version[1].split('.').length < minParts) return `image ${image} floats: pin an exact version (${minParts} parts)`;
  return undefined;
}

interface PublishedPort {
  hostIp: string;
  published: number | undefined;
  target: number;
  protocol: string;
}

function publishedPorts(service: Service, where: string, problems: string[]): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const entry of service.ports ?? []) {
    if (typeof entry === 'object') {
      out.push({
        hostIp: entry.host_ip ?? '0.0.0.0',
        published: entry.published === undefined ? undefined : Number(entry.published),
        target: Number(entry.target),
        protocol: entry.protocol ?? 'tcp',
      });
      continue;
    }
    const [spec = '', protocol = 'tcp'] = String(entry).split('/');
    if (spec.includes('-') || spec.includes('[')) {
      problems.push(`${where}: port "${String(entry)}" uses a range or IPv6 form this checker cannot read`);
      continue;
    }
    const parts = spec.split(':');
    const target = Number(parts.at(-1));
    if (parts.length === 1) out.push({ hostIp: '0.0.0.0', published: undefined, target, protocol });
    else if (parts.length === 2) out.push({ hostIp: '0.0.0.0', published: Number(parts[0]), target, protocol });
    else out.push({ hostIp: parts[0] ?? '0.0.0.0', published: Number(parts[1]), target, protocol });
  }
  return out;
}

function dependsOn(service: Service): [string, string][] {
  const d = service.depends_on;
  if (!d) return [];
  if (Array.isArray(d)) return d.map((name) => [name, 'service_started']);
  return Object.entries(d).map(([name, v]) => [name, v.condition ?? 'service_started']);
}

/** Would `tsc -p tsconfig.build.json` emit this file? (Asks the TypeScript compiler, without compiling.) */
let buildOutputs: Set<string> | undefined;
export function tscWouldEmit(distPath: string): boolean {
  if (!buildOutputs) {
    const parsed = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.build.json'), {}, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    });
    if (!parsed) throw new Error('tsconfig.build.json could not be read');
    buildOutputs = new Set(parsed.fileNames.flatMap((f) => ts.getOutputFileNames(parsed, f, false)).map((f) => relative(ROOT, f)));
  }
  return buildOutputs.has(distPath);
}

// ---------------------------------------------------------------------------------------------------
// The compose checker
// ---------------------------------------------------------------------------------------------------

export function checkCompose(raw: ComposeDoc, env: Env = SAMPLE_ENV): string[] {
  const problems: string[] = [];
  const doc = interpolateDeep({ services: raw.services, volumes: raw.volumes }, env, '', problems) as ComposeDoc;
  const services = doc.services ?? {};
  const rawServices = raw.services ?? {};
  const names = Object.keys(services);
  if (names.length === 0) return [...problems, 'no services'];

  // ---- the app services: configuration the app accepts, and nothing it would ignore ----------------
  const configs: Partial<Record<AppRole, Config>> = {};
  for (const role of APP_ROLE_NAMES) {
    const service = services[role];
    if (!service) {
      problems.push(`app service ${role} is missing`);
      continue;
    }
    const command = Array.isArray(service.command) ? service.command.join(' ') : service.command;
    if (command !== `node ${APP_ROLES[role]}`) problems.push(`${role}: command must be "node ${APP_ROLES[role]}", is "${command ?? ''}"`);
    const serviceEnv = envOf(service);
    for (const name of Object.keys(serviceEnv)) {
      if (!isKnownAppVariable(name)) problems.push(`${role}: environment variable ${name} is read by nothing (not in src/config.ts, not a TEMPORAL_* envconfig variable)`);
    }
    try {
      configs[role] = loadConfig(serviceEnv);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(`${role}: loadConfig rejects its environment: ${err.message}`);
    }
  }
  for (const role of APP_ROLE_NAMES) {
    const config = configs[role];
    if (!config) continue;
    if (config.temporal.embedded) problems.push(`${role}: EMBEDDED_TEMPORAL must be false (the stack has its own Temporal)`);
    for (const provider of PROVIDERS) {
      const url = new URL(config.providerUrls[provider]);
      if (url.pathname !== `/${provider}`) problems.push(`${role}: PROVIDER_${provider.toUpperCase()}_URL must end in /${provider}, is ${url.href}`);
    }
  }
  for (const role of ['api', 'providers'] as const) {
    const host = configs[role]?.host;
    if (host !== undefined && host !== '0.0.0.0' && host !== '::') problems.push(`${role}: HOST is ${host}, so nothing outside its container reaches it (use 0.0.0.0)`);
  }
  // The worker encrypts and the API decrypts: one required key, the same for both.
  for (const role of ['worker', 'api'] as const) {
    const rawKey = envOf(rawServices[role]).PAYLOAD_ENCRYPTION_KEY ?? '';
    if (!/^\$\{PAYLOAD_ENCRYPTION_KEY:\?[^}]+\}$/.test(rawKey)) {
      problems.push(`${role}: PAYLOAD_ENCRYPTION_KEY must be \${PAYLOAD_ENCRYPTION_KEY:?…} (required; else each container makes its own key)`);
    }
  }
  if (configs.worker && configs.api) {
    if (configs.worker.payloadEncryptionKey !== configs.api.payloadEncryptionKey) problems.push('worker and api hold different PAYLOAD_ENCRYPTION_KEY values');
    for (const field of ['address', 'namespace', 'taskQueue'] as const) {
      if (configs.worker.temporal[field] !== configs.api.temporal[field]) problems.push(`worker and api disagree on Temporal ${field}`);
    }
  }
  if (!/^\$\{API_TOKENS:\?[^}]+\}$/.test(envOf(rawServices.api).API_TOKENS ?? '')) problems.push('api: API_TOKENS must be ${API_TOKENS:?…} (required)');
  if (configs.api && configs.api.apiTokens.length === 0) problems.push('api: no API_TOKENS: the API would be open');

  // ---- what each service listens on ------------------------------------------------------------------
  const listening = (name: string): number[] => {
    if (name === 'api') return configs.api ? [configs.api.port] : [];
    if (name === 'providers') return configs.providers ? [configs.providers.providersPort] : [];
    if (name === 'worker') return configs.worker ? [configs.worker.metricsPort] : [];
    const image = services[name]?.image;
    return image ? (IMAGE_PORTS[imageRef(image).repo] ?? []) : [];
  };

  // ---- images: pinned, and the Temporal versions our dev server runs ---------------------------------
  const packageVersion = (JSON.parse(read('package.json')) as { version: string }).version;
  for (const [name, service] of Object.entries(services)) {
    if (!service.image) {
      problems.push(`${name}: no image`);
      continue;
    }
    const { repo, tag } = imageRef(service.image);
    if (service.build !== undefined) {
      if (tag !== packageVersion) problems.push(`${name}: the app image is tagged ${tag ?? '(none)'}, package.json says ${packageVersion}`);
      continue;
    }
    const problem = pinProblem(service.image, repo === 'postgres' ? 2 : 3);
    if (problem) problems.push(`${name}: ${problem}`);
    if (repo === 'temporalio/server' && tag !== TEMPORAL_SERVER_VERSION) problems.push(`${name}: temporalio/server:${tag ?? ''} is not the dev server's ${TEMPORAL_SERVER_VERSION}`);
    if (repo === 'temporalio/admin-tools' && !tag?.startsWith(TEMPORAL_SERVER_VERSION.split('.').slice(0, 2).join('.') + '.')) {
      problems.push(`${name}: temporalio/admin-tools:${tag ?? ''} does not match server ${TEMPORAL_SERVER_VERSION}`);
    }
    if (repo === 'temporalio/auto-setup') problems.push(`${name}: temporalio/auto-setup is a development image`);
    if (repo === 'temporalio/ui' && tag !== TEMPORAL_UI_VERSION) problems.push(`${name}: temporalio/ui:${tag ?? ''} is not the dev server's UI ${TEMPORAL_UI_VERSION}`);
    if (repo === 'postgres' && !tag?.startsWith(`${POSTGRES_MAJOR}.`)) problems.push(`${name}: postgres:${tag ?? ''} is not PostgreSQL ${POSTGRES_MAJOR}.x`);
  }

  // ---- dependencies ----------------------------------------------------------------------------------
  const oneShot = new Set<string>();
  for (const [name, service] of Object.entries(services)) {
    for (const [target, condition] of dependsOn(service)) {
      const dep = services[target];
      if (!dep) {
        problems.push(`${name}: depends_on ${target}, which is not a service`);
        continue;
      }
      if (condition === 'service_healthy' && (!dep.healthcheck?.test || dep.healthcheck.disable)) problems.push(`${name}: waits for ${target} to be healthy, but ${target} has no healthcheck`);
      if (condition === 'service_completed_successfully') oneShot.add(target);
      if (!['service_started', 'service_healthy', 'service_completed_successfully'].includes(condition)) problems.push(`${name}: unknown depends_on condition ${condition}`);
    }
  }
  for (const [name, service] of Object.entries(services)) {
    const restart = service.restart ?? 'no';
    if (oneShot.has(name)) {
      if (restart === 'always' || restart === 'unless-stopped') problems.push(`${name}: a one-shot job with restart: ${restart} would never complete`);
    } else if (restart !== 'always' && restart !== 'unless-stopped') {
      problems.push(`${name}: long-running service without restart: unless-stopped`);
    }
  }

  // ---- references between services: names that exist, ports they listen on --------------------------
  const reference = (from: string, where: string, host: string, port: number): void => {
    if (host === 'localhost' || host.includes('.') || /^[\d:]+$/.test(host)) return; // not a service name
    if (!services[host]) problems.push(`${from}: ${where} points at "${host}", which is not a service`);
    else if (!listening(host).includes(port)) problems.push(`${from}: ${where} uses ${host}:${port}, but ${host} listens on ${listening(host).join(', ') || 'nothing known'}`);
  };
  for (const [name, service] of Object.entries(services)) {
    const serviceEnv = envOf(service);
    for (const [key, value] of Object.entries(serviceEnv)) {
      for (const m of (value ?? '').matchAll(/(?:https?:\/\/)?([A-Za-z0-9_.-]+):(\d{1,5})\b/g)) reference(name, key, m[1] ?? '', Number(m[2]));
    }
    const script = `${words(service.entrypoint)} ${words(service.command)} ${healthcheckText(service)}`;
    for (const m of script.matchAll(/--(?:address|ep)\s+"?([A-Za-z0-9_.-]+)(?::(\d+))?"?(?:\s+-p\s+(\d+))?/g)) {
      const port = m[2] ?? m[3];
      if (port) reference(name, 'command', m[1] ?? '', Number(port));
    }
    if (serviceEnv.POSTGRES_SEEDS) reference(name, 'POSTGRES_SEEDS/DB_PORT', serviceEnv.POSTGRES_SEEDS, Number(serviceEnv.DB_PORT ?? 5432));
  }

  // ---- ports published on the host ------------------------------------------------------------------
  const taken: (PublishedPort & { service: string })[] = [];
  for (const [name, service] of Object.entries(services)) {
    for (const port of publishedPorts(service, name, problems)) {
      if (!listening(name).includes(port.target)) problems.push(`${name}: publishes container port ${port.target}, but listens on ${listening(name).join(', ') || 'nothing known'}`);
      if (port.published === undefined) continue;
      const clash = taken.find(
        (t) => t.published === port.published && t.protocol === port.protocol && (t.hostIp === port.hostIp || t.hostIp === '0.0.0.0' || port.hostIp === '0.0.0.0'),
      );
      if (clash) problems.push(`${name}: host port ${port.published} is already published by ${clash.service}`);
      taken.push({ ...port, service: name });
    }
  }

  // ---- the worker scales: `docker compose up --scale worker=3` ---------------------------------------
  const worker = services.worker;
  if (worker) {
    if (worker.container_name) problems.push('worker: container_name stops `--scale worker=N`');
    if (worker.hostname) problems.push('worker: a fixed hostname makes every replica look the same');
    if ((worker.ports ?? []).length > 0) problems.push('worker: publishes ports on the host; replicas would collide (use expose)');
    const metricsPort = configs.worker?.metricsPort;
    if (metricsPort !== undefined && !(worker.expose ?? []).map(Number).includes(metricsPort)) problems.push(`worker: METRICS_PORT ${metricsPort} is not in expose`);
  }

  // ---- healthchecks that probe what the service really serves ----------------------------------------
  const probes: [string, number | undefined, string][] = [
    ['api', configs.api?.port, '/health/ready'],
    ['providers', configs.providers?.providersPort, '/courses/health'],
    ['worker', configs.worker?.metricsPort, '/metrics'],
  ];
  for (const [name, port, path] of probes) {
    const service = services[name];
    if (service && !new RegExp(`//(127\\.0\\.0\\.1|localhost):${port ?? 'NONE'}${path}\\b`).test(healthcheckText(service))) {
      problems.push(`${name}: healthcheck does not probe http://127.0.0.1:${port ?? '?'}${path}`);
    }
  }
  for (const [name, service] of Object.entries(services)) {
    const test = service.healthcheck?.test;
    if (Array.isArray(test) && test[0] === 'CMD' && test[1] === 'node' && test[2] === '-e') {
      try {
        new Script(test[3] ?? '');
      } catch (err) {
        problems.push(`${name}: healthcheck script does not compile: ${(err as Error).message}`);
      }
    }
    const image = service.image ? imageRef(service.image).repo : '';
    if (image === 'postgres' && !/\bpg_isready\b/.test(healthcheckText(service))) problems.push(`${name}: healthcheck is not pg_isready`);
    if (image === 'temporalio/server' && !/operator cluster health|tctl cluster health/.test(healthcheckText(service))) problems.push(`${name}: healthcheck does not ask Temporal for cluster health`);
  }

  // ---- the Web UI's codec: the API's /codec as the browser sees it ----------------------------------
  const uiName = Object.keys(services).find((n) => services[n]?.image && imageRef(services[n].image).repo === 'temporalio/ui');
  const apiPort = configs.api?.port;
  if (!uiName) problems.push('no temporalio/ui service');
  else if (apiPort !== undefined) {
    const endpoint = envOf(services[uiName]).TEMPORAL_CODEC_ENDPOINT;
    let url: URL | undefined;
    try {
      url = new URL(endpoint ?? '');
    } catch {
      problems.push(`${uiName}: TEMPORAL_CODEC_ENDPOINT "${endpoint ?? ''}" is not a URL`);
    }
    if (url) {
      const published = publishedPorts(services.api ?? {}, 'api', []).filter((p) => p.target === apiPort && p.published !== undefined);
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      if (url.pathname.replace(/\/$/, '') !== '/codec') problems.push(`${uiName}: TEMPORAL_CODEC_ENDPOINT path is ${url.pathname}, the API serves the codec at /codec`);
      if (services[url.hostname]) problems.push(`${uiName}: TEMPORAL_CODEC_ENDPOINT uses the service name ${url.hostname}, which a browser cannot resolve`);
      if (!published.some((p) => p.published === port)) problems.push(`${uiName}: TEMPORAL_CODEC_ENDPOINT port ${port} is not where the api is published (${published.map((p) => p.published).join(', ') || 'nowhere'})`);
    }
  }

  // ---- the setup job registers every search attribute, in the app's namespace -------------------------
  const setupName = Object.keys(services).find((n) => words(services[n]?.command).includes('search-attribute create'));
  if (!setupName) problems.push('no service registers search attributes (temporal operator search-attribute create)');
  else {
    const setup = services[setupName] as Service;
    const script = words(setup.command);
    if (!script.includes('--type Keyword')) problems.push(`${setupName}: search attributes are not created as Keyword`);
    for (const attribute of SEARCH_ATTRIBUTES) {
      if (!new RegExp(`\\b${attribute}\\b`).test(script)) problems.push(`${setupName}: search attribute ${attribute} is not registered`);
    }
    const namespace = envOf(setup).NAMESPACE;
    if (!script.includes('--namespace "$NAMESPACE"')) problems.push(`${setupName}: does not pass --namespace "$NAMESPACE"`);
    if (configs.worker && namespace !== configs.worker.temporal.namespace) problems.push(`${setupName}: sets up namespace ${namespace ?? '(none)'}, the worker uses ${configs.worker.temporal.namespace}`);
  }

  // ---- volumes: named ones declared, Temporal's database on one ---------------------------------------
  const declared = new Set(Object.keys(doc.volumes ?? {}));
  for (const [name, service] of Object.entries(services)) {
    for (const volume of service.volumes ?? []) {
      const source = typeof volume === 'string' ? (volume.includes(':') ? volume.split(':')[0] : undefined) : volume.type === 'volume' ? volume.source : undefined;
      if (source && !/^[./~]/.test(source) && !declared.has(source)) problems.push(`${name}: volume ${source} is not declared under top-level volumes`);
    }
    if (service.image && imageRef(service.image).repo === 'postgres') {
      const target = (service.volumes ?? []).some((v) => (typeof v === 'string' ? v : `${v.source ?? ''}:${v.target ?? ''}`).match(/^[A-Za-z0-9][\w.-]*:\/var\/lib\/postgresql\/data$/));
      if (!target) problems.push(`${name}: PostgreSQL data is not on a named volume`);
    }
  }

  return [...new Set(problems)];
}

// ---------------------------------------------------------------------------------------------------
// The Dockerfile checker
// ---------------------------------------------------------------------------------------------------

function globToRegExp(glob: string): RegExp {
  const literal = (s: string): string => s.replace(/[.+^$(){}|[\]\\]/g, '\\$&').replace(/\?/g, '[^/]');
  return new RegExp(`^${glob.split('**').map((part) => part.split('*').map(literal).join('[^/]*')).join('.*')}$`);
}

/** `.dockerignore` semantics, enough for these files: the last matching pattern wins, `!` re-includes. */
export function dockerIgnores(dockerignore: string, path: string): boolean {
  const patterns = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const segments = path.split('/');
  const prefixes = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const line of patterns) {
    const negate = line.startsWith('!');
    const pattern = (negate ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
    const re = globToRegExp(pattern);
    if (prefixes.some((p) => re.test(p))) ignored = !negate;
  }
  return ignored;
}

export function checkDockerfile(dockerfile: string, dockerignore: string): string[] {
  const problems: string[] = [];
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map<string, string>();
  interface Stage {
    name: string;
    image: string;
    lines: string[];
  }
  const stages: Stage[] = [];
  for (const line of lines) {
    const [instruction = '', ...rest] = line.split(/\s+/);
    const body = rest.join(' ');
    const upper = instruction.toUpperCase();
    if (upper === 'ARG' && stages.length === 0) {
      const [k = '', v = ''] = body.split('=');
      args.set(k, v);
    } else if (upper === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(body);
      const image = (m?.[1] ?? '').replace(/\$\{?(\w+)\}?/g, (_, k: string) => args.get(k) ?? '');
      stages.push({ name: m?.[2] ?? String(stages.length), image, lines: [] });
    } else {
      stages.at(-1)?.lines.push(line);
    }
  }
  const final = stages.at(-1);
  if (!final) return ['no FROM'];
  const stageNames = new Set(stages.map((s) => s.name));

  for (const stage of stages) {
    if (stageNames.has(stage.image)) continue;
    const problem = pinProblem(stage.image, 3);
    if (problem) problems.push(`stage ${stage.name}: ${problem}`);
    else if (!/^node:20\.\d+\.\d+-bookworm-slim$/.test(stage.image)) problems.push(`stage ${stage.name}: ${stage.image} is not node:20.x.y-bookworm-slim`);
  }

  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  if (scripts.build !== 'tsc -p tsconfig.build.json') problems.push(`package.json's build script is "${scripts.build ?? ''}", not tsc -p tsconfig.build.json`);
  const buildStage = stages.find((s) => s.lines.some((l) => /^RUN .*\bnpm run build\b/.test(l)));
  if (!buildStage) problems.push('no stage runs npm run build');
  else {
    const ci = buildStage.lines.findIndex((l) => /^RUN .*\bnpm ci\b(?!.*--omit=dev)/.test(l));
    const build = buildStage.lines.findIndex((l) => /^RUN .*\bnpm run build\b/.test(l));
    if (ci < 0 || ci > build) problems.push(`stage ${buildStage.name}: npm ci (with dev dependencies) must come before npm run build`);
    if (!final.lines.some((l) => new RegExp(`^COPY --from=${buildStage.name}\\s+\\S*dist\\b`).test(l))) problems.push('the final stage does not copy dist/ from the build stage');
  }
  const prodStage = stages.find((s) => s.lines.some((l) => /^RUN .*\bnpm ci\b.*--omit=dev/.test(l)));
  if (!prodStage) problems.push('no stage installs production dependencies (npm ci --omit=dev)');
  else if (prodStage !== final && !final.lines.some((l) => new RegExp(`^COPY --from=${prodStage.name}\\s+\\S*node_modules`).test(l))) {
    problems.push('the final stage does not take node_modules from the npm ci --omit=dev stage');
  }
  if (buildStage && final.lines.some((l) => new RegExp(`^COPY --from=${buildStage.name}\\s+\\S*node_modules`).test(l))) problems.push('the final stage copies dev dependencies from the build stage');

  if (!final.lines.some((l) => /^ENV\s+NODE_ENV[= ]production\b/.test(l))) problems.push('the final stage does not set NODE_ENV=production');
  const user = final.lines.filter((l) => /^USER\s/.test(l)).at(-1)?.split(/\s+/)[1];
  if (!user || user === 'root' || user === '0' || user.startsWith('0:')) problems.push('the final stage runs as root (no USER)');

  // Entry points: every dist/*.js the image or compose runs is something tsc -p tsconfig.build.json emits.
  for (const m of dockerfile.matchAll(/\bdist\/[\w./-]+\.js\b/g)) {
    if (!tscWouldEmit(m[0])) problems.push(`Dockerfile runs ${m[0]}, which tsc -p tsconfig.build.json does not emit`);
  }
  const cmd = final.lines.filter((l) => /^CMD\s/.test(l)).at(-1);
  if (!cmd) problems.push('no CMD');

  // Build context: what the Dockerfile copies gets in; local state and secrets stay out.
  for (const stage of stages) {
    for (const line of stage.lines) {
      if (!/^COPY\s/.test(line) || /--from=/.test(line)) continue;
      const sources = line.split(/\s+/).slice(1, -1).filter((s) => !s.startsWith('--'));
      for (const source of sources) {
        const probe = existsSync(join(ROOT, source)) && !source.includes('.') ? `${source}/config.ts` : source;
        if (dockerIgnores(dockerignore, probe.replace(/^\.\//, ''))) problems.push(`.dockerignore keeps ${source} out, but the Dockerfile copies it`);
      }
    }
  }
  for (const secret of ['.env', '.data', 'node_modules', 'dist', '.git', 'bench/results/latest.json']) {
    if (!dockerIgnores(dockerignore, secret)) problems.push(`.dockerignore lets ${secret} into the build context`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// The .env.example checker
// ---------------------------------------------------------------------------------------------------

export function checkEnvExample(text: string, composeText: string): string[] {
  const problems: string[] = [];
  const entries = new Map<string, { value: string; active: boolean; comment: string }>();
  let comment = '';
  for (const line of text.split('\n')) {
    const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m?.[2]) {
      entries.set(m[2], { value: m[3] ?? '', active: !m[1], comment });
      comment = '';
    } else if (line.startsWith('#')) comment += `${line}\n`;
    else comment = '';
  }
  for (const name of [...CONFIG_VARIABLES.flatMap(expandProviders), ...Object.keys(OTHER_APP_VARIABLES).filter((n) => n !== 'NODE_ENV')]) {
    const entry = entries.get(name);
    if (!entry) problems.push(`.env.example does not list ${name}`);
    else if (!entry.comment.trim()) problems.push(`.env.example: ${name} has no comment`);
  }
  const composeVars = composeVariables(composeText);
  for (const [name, fallback] of composeVars) {
    const entry = entries.get(name);
    if (!entry) problems.push(`.env.example does not list ${name}, which docker-compose.yml reads`);
    else if (fallback !== undefined && fallback !== '' && entry.value !== fallback) problems.push(`.env.example says ${name}=${entry.value}, docker-compose.yml defaults it to ${fallback}`);
  }
  for (const required of [...composeText.matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1] ?? '')) {
    if (entries.get(required)?.active !== true) problems.push(`.env.example: ${required} is required by docker compose, so it must be an uncommented line to fill`);
  }
  if (!/openssl rand -base64 32/.test(entries.get('PAYLOAD_ENCRYPTION_KEY')?.comment ?? '')) problems.push('.env.example: PAYLOAD_ENCRYPTION_KEY does not say how to generate one (openssl rand -base64 32)');
  // The defaults it documents are the real ones: uncomment every line and the configuration is unchanged.
  const documented = Object.fromEntries([...entries].filter(([name]) => KNOWN_APP_VARIABLES.has(name)).map(([name, e]) => [name, e.value]));
  try {
    const withDocumented = loadConfig(documented);
    const defaults = loadConfig({});
    for (const key of Object.keys(defaults) as (keyof Config)[]) {
      if (JSON.stringify(withDocumented[key]) !== JSON.stringify(defaults[key])) problems.push(`.env.example documents a default for ${key} that is not the app's: ${JSON.stringify(withDocumented[key])} vs ${JSON.stringify(defaults[key])}`);
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(`.env.example's documented values fail loadConfig: ${err.message}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------

const composeText = read('docker-compose.yml');
const dockerfileText = read('Dockerfile');
const dockerignoreText = read('.dockerignore');
const envExampleText = read('.env.example');
const compose = (): ComposeDoc => clone(loadCompose(composeText));
const svc = (doc: ComposeDoc, name: string): Service => {
  const s = doc.services?.[name];
  if (!s) throw new Error(`no service ${name}`);
  return s;
};
const envMap = (doc: ComposeDoc, name: string): EnvMap => svc(doc, name).environment as EnvMap;

describe('the known-variable lists cannot rot', () => {
  const configSource = read('src/config.ts');

  it('every variable in the list is read by src/config.ts', () => {
    for (const name of CONFIG_VARIABLES) {
      if (name.includes('<NAME>')) expect(configSource, name).toContain(name.replace('<NAME>', '${name.toUpperCase()}'));
      else expect(configSource, name).toMatch(new RegExp(`'${name}'|\\benv\\.${name}\\b`));
    }
  });

  it('every variable src/config.ts reads is in the list', () => {
    const names = new Set([
      ...[...configSource.matchAll(/\(env, '([A-Z0-9_]+)'/g)].map((m) => m[1]),
      ...[...configSource.matchAll(/\benv\.([A-Z0-9_]+)/g)].map((m) => m[1]),
    ]);
    expect(names.size).toBeGreaterThan(10);
    for (const name of names) expect(CONFIG_VARIABLES as readonly (string | undefined)[], `${name ?? ''} is read by src/config.ts`).toContain(name);
  });

  it('the other app variables are read where the list says', () => {
    for (const [name, file] of Object.entries(OTHER_APP_VARIABLES)) if (file) expect(read(file), name).toContain(name);
  });

  it('the TEMPORAL_* names are the ones the installed @temporalio/envconfig reads', () => {
    const source = read(ENVCONFIG_SOURCE);
    for (const name of [...ENVCONFIG_VARIABLES, ...ENVCONFIG_PREFIXES]) expect(source, name).toContain(`'${name}`);
  });

  it('the pinned Temporal versions are what the dev server (the pinned CLI) reports', () => {
    const out = spawnSync(inject('temporalCli'), ['--version'], { encoding: 'utf8', timeout: 30_000 });
    const m = /Server (\S+), UI (\S+)\)/.exec(out.stdout);
    expect(m, out.stdout).not.toBeNull();
    expect(m?.[1]).toBe(TEMPORAL_SERVER_VERSION);
    expect(m?.[2]).toBe(TEMPORAL_UI_VERSION);
  });
});

describe('docker-compose.yml', () => {
  it('parses as YAML without errors or warnings (anchors and merge keys included)', () => {
    const parsed = parseDocument(composeText, { merge: true, uniqueKeys: true });
    expect(parsed.errors.map(String)).toEqual([]);
    expect(parsed.warnings.map(String)).toEqual([]);
    expect(Object.keys(compose().services ?? {})).toEqual(
      expect.arrayContaining(['postgresql', 'temporal-admin-tools', 'temporal', 'temporal-create-namespace', 'temporal-ui', 'providers', 'worker', 'api']),
    );
  });

  it('passes every check with the required secrets set', () => {
    expect(checkCompose(compose())).toEqual([]);
  });

  it('refuses to start without PAYLOAD_ENCRYPTION_KEY, API_TOKENS and POSTGRES_PASSWORD', () => {
    const problems = checkCompose(compose(), {});
    for (const name of ['PAYLOAD_ENCRYPTION_KEY', 'API_TOKENS', 'POSTGRES_PASSWORD']) {
      expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^compose refuses to start: ${name} is unset`)));
    }
    expect(checkCompose(compose(), { ...SAMPLE_ENV, API_TOKENS: '' })).toContainEqual(expect.stringMatching(/refuses to start: API_TOKENS is empty/));
  });

  it('a bad value from the environment is caught by loadConfig, naming the variable', () => {
    expect(checkCompose(compose(), { ...SAMPLE_ENV, DLQ_SHARDS: '0' })).toContainEqual(expect.stringMatching(/^worker: loadConfig rejects .*DLQ_SHARDS/));
    expect(checkCompose(compose(), { ...SAMPLE_ENV, PAYLOAD_ENCRYPTION_KEY: 'too-short' })).toContainEqual(expect.stringMatching(/^api: loadConfig rejects .*PAYLOAD_ENCRYPTION_KEY/));
  });

  // Each broken copy must be caught by the same checker, with the specific problem.
  const mutations: [string, (doc: ComposeDoc) => void, RegExp][] = [
    ['an image on :latest', (d) => (svc(d, 'temporal-ui').image = 'temporalio/ui:latest'), /temporal-ui: image temporalio\/ui:latest floats on :latest/],
    ['an image without a tag', (d) => (svc(d, 'postgresql').image = 'postgres'), /postgresql: image postgres has no tag/],
    ['a major-only tag', (d) => (svc(d, 'postgresql').image = 'postgres:16'), /postgresql: image postgres:16 floats/],
    ['a floating minor tag', (d) => (svc(d, 'temporal-admin-tools').image = 'temporalio/admin-tools:1.29'), /temporal-admin-tools: image temporalio\/admin-tools:1.29 floats/],
    ['a server other than the dev server', (d) => (svc(d, 'temporal').image = 'temporalio/server:1.28.3'), /temporal: temporalio\/server:1.28.3 is not the dev server's 1.29.1/],
    ['the auto-setup image', (d) => (svc(d, 'temporal').image = 'temporalio/auto-setup:1.29.1'), /temporal: temporalio\/auto-setup is a development image/],
    ['admin-tools of another minor', (d) => (svc(d, 'temporal-admin-tools').image = 'temporalio/admin-tools:1.28.1-tctl-1.18.2-cli-1.3.0'), /admin-tools:1.28.1.* does not match server/],
    ['an app image tag that is not package.json version', (d) => (svc(d, 'api').image = 'order-fulfillment:9.9.9'), /api: the app image is tagged 9.9.9/],
    ['a variable the app does not know', (d) => (envMap(d, 'api').PAYLOD_ENCRYPTION_KEY = 'x'), /api: environment variable PAYLOD_ENCRYPTION_KEY is read by nothing/],
    ['a value loadConfig rejects', (d) => (envMap(d, 'worker').REDRIVE_RATE_PER_SECOND = 'fast'), /worker: loadConfig rejects .*REDRIVE_RATE_PER_SECOND/],
    ['the embedded dev server left on', (d) => (envMap(d, 'worker').EMBEDDED_TEMPORAL = 'true'), /worker: EMBEDDED_TEMPORAL must be false/],
    ['the API listening on loopback', (d) => (envMap(d, 'api').HOST = '127.0.0.1'), /api: HOST is 127.0.0.1/],
    ['a payload key that is not required', (d) => (envMap(d, 'worker').PAYLOAD_ENCRYPTION_KEY = '${PAYLOAD_ENCRYPTION_KEY:-}'), /worker: PAYLOAD_ENCRYPTION_KEY must be/],
    ['worker and api with different keys', (d) => (envMap(d, 'worker').PAYLOAD_ENCRYPTION_KEY = '${WORKER_KEY:?x}'), /different PAYLOAD_ENCRYPTION_KEY/],
    ['API tokens that are optional', (d) => (envMap(d, 'api').API_TOKENS = '${API_TOKENS:-}'), /api: API_TOKENS must be/],
    ['worker and api on different namespaces', (d) => (envMap(d, 'api').TEMPORAL_NAMESPACE = 'other'), /disagree on Temporal namespace/],
    ['a depends_on target that does not exist', (d) => ((svc(d, 'worker').depends_on as Record<string, object>).temporall = { condition: 'service_started' }), /worker: depends_on temporall, which is not a service/],
    ['waiting for health that is never reported', (d) => delete svc(d, 'providers').healthcheck, /worker: waits for providers to be healthy, but providers has no healthcheck/],
    ['a misspelled service in a provider URL', (d) => (envMap(d, 'worker').PROVIDER_COURSES_URL = 'http://provider:4000/courses'), /worker: PROVIDER_COURSES_URL points at "provider", which is not a service/],
    ['a provider URL on the wrong port', (d) => (envMap(d, 'worker').PROVIDER_PACKING_URL = 'http://providers:4001/packing'), /worker: PROVIDER_PACKING_URL uses providers:4001, but providers listens on 4000/],
    ['a provider URL on the wrong path', (d) => (envMap(d, 'worker').PROVIDER_LOGISTICS_URL = 'http://providers:4000/shipping'), /worker: PROVIDER_LOGISTICS_URL must end in \/logistics/],
    ['providers moved to another port but not the URLs', (d) => (envMap(d, 'providers').PROVIDERS_PORT = '4100'), /worker: PROVIDER_COURSES_URL uses providers:4000, but providers listens on 4100/],
    ['Temporal on the wrong port', (d) => (envMap(d, 'api').TEMPORAL_ADDRESS = 'temporal:7234'), /api: TEMPORAL_ADDRESS uses temporal:7234, but temporal listens on 7233/],
    ['the database host misspelled', (d) => (envMap(d, 'temporal').POSTGRES_SEEDS = 'postgres'), /temporal: POSTGRES_SEEDS\/DB_PORT points at "postgres"/],
    ['host ports that collide', (d) => (svc(d, 'temporal-ui').ports = ['3000:8080']), /temporal-ui: host port 3000 is already published by api|api: host port 3000 is already published by temporal-ui/],
    ['a published port nothing listens on', (d) => (svc(d, 'api').ports = ['3000:3001']), /api: publishes container port 3001, but listens on 3000/],
    ['a worker with a container_name', (d) => (svc(d, 'worker').container_name = 'worker'), /worker: container_name stops `--scale worker=N`/],
    ['a worker with a host port', (d) => (svc(d, 'worker').ports = ['9464:9464']), /worker: publishes ports on the host/],
    ['worker metrics not exposed', (d) => (svc(d, 'worker').expose = []), /worker: METRICS_PORT 9464 is not in expose/],
    ['a codec endpoint on the wrong port', (d) => (envMap(d, 'temporal-ui').TEMPORAL_CODEC_ENDPOINT = 'http://localhost:3001/codec'), /TEMPORAL_CODEC_ENDPOINT port 3001 is not where the api is published/],
    ['a codec endpoint on the wrong path', (d) => (envMap(d, 'temporal-ui').TEMPORAL_CODEC_ENDPOINT = 'http://localhost:3000/decode'), /TEMPORAL_CODEC_ENDPOINT path is \/decode/],
    ['a codec endpoint only the containers can resolve', (d) => (envMap(d, 'temporal-ui').TEMPORAL_CODEC_ENDPOINT = 'http://api:3000/codec'), /uses the service name api, which a browser cannot resolve/],
    ['a search attribute left out', (d) => (svc(d, 'temporal-create-namespace').command = words(svc(d, 'temporal-create-namespace').command).replace('keyword ParkedProvider', '')), /search attribute ParkedProvider is not registered/],
    ['search attributes in another namespace', (d) => (envMap(d, 'temporal-create-namespace').NAMESPACE = 'orders'), /sets up namespace orders, the worker uses default/],
    ['a shell variable compose would swallow', (d) => (svc(d, 'temporal-create-namespace').command = words(svc(d, 'temporal-create-namespace').command).replace('"$$NAMESPACE"', '"$NAMESPACE"')), /\$NAMESPACE is not set, compose would put ""/],
    ['a one-shot job that restarts forever', (d) => (svc(d, 'temporal-create-namespace').restart = 'unless-stopped'), /temporal-create-namespace: a one-shot job with restart: unless-stopped/],
    ['a long-running service without restart', (d) => delete svc(d, 'api').restart, /api: long-running service without restart/],
    ['an API healthcheck on liveness only', (d) => (svc(d, 'api').healthcheck = { test: ['CMD', 'node', '-e', "fetch('http://127.0.0.1:3000/health/live')"] }), /api: healthcheck does not probe .*\/health\/ready/],
    ['a healthcheck script that does not compile', (d) => (svc(d, 'providers').healthcheck = { test: ['CMD', 'node', '-e', "fetch('http://127.0.0.1:4000/courses/health').then(("] }), /providers: healthcheck script does not compile/],
    ['an api running the wrong entry point', (d) => (svc(d, 'api').command = ['node', 'dist/api/app.js']), /api: command must be "node dist\/api\/server.js"/],
    ['an undeclared named volume', (d) => delete (d.volumes as Record<string, unknown>)['temporal-postgres-data'], /postgresql: volume temporal-postgres-data is not declared/],
    ['a database without a volume', (d) => (svc(d, 'postgresql').volumes = []), /postgresql: PostgreSQL data is not on a named volume/],
    ['the app services missing', (d) => delete d.services?.providers, /app service providers is missing/],
  ];
  it.each(mutations)('catches %s', (_label, mutate, expected) => {
    const doc = compose();
    mutate(doc);
    expect(checkCompose(doc)).toContainEqual(expect.stringMatching(expected));
  });

  it('the namespace job registers all four search attributes as Keyword, and runs again harmlessly', { timeout: 180_000 }, () => {
    const job = svc(compose(), 'temporal-create-namespace');
    const problems: string[] = [];
    const script = interpolate(words(job.command), SAMPLE_ENV, 'command', problems);
    expect(problems).toEqual([]);
    expect(job.entrypoint).toEqual(['/bin/sh', '-ec']);

    // The pinned CLI as `temporal` on PATH, this run's dev server as TEMPORAL_ADDRESS, a new namespace.
    const bin = mkdtempSync(join(tmpdir(), 'compose-job-'));
    symlinkSync(inject('temporalCli'), join(bin, 'temporal'));
    const namespace = `compose-job-${Date.now().toString(36)}`;
    try {
      const env = { PATH: `${bin}:/usr/bin:/bin`, HOME: bin, TEMPORAL_ADDRESS: inject('temporalAddress'), NAMESPACE: namespace };
      for (const run of ['first', 'second']) {
        const out = spawnSync('/bin/sh', ['-ec', script], { env, encoding: 'utf8', timeout: 120_000 });
        expect(out.status, `${run} run: ${out.stdout}\n${out.stderr}`).toBe(0);
      }
      const list = spawnSync(inject('temporalCli'), ['operator', 'search-attribute', 'list', '--namespace', namespace, '--output', 'json'], {
        env,
        encoding: 'utf8',
        timeout: 30_000,
      });
      const { customAttributes } = JSON.parse(list.stdout) as { customAttributes: Record<string, string> };
      for (const name of SEARCH_ATTRIBUTES) expect(customAttributes[name], name).toBe('INDEXED_VALUE_TYPE_KEYWORD');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile and .dockerignore', () => {
  it('pass every check', () => {
    expect(checkDockerfile(dockerfileText, dockerignoreText)).toEqual([]);
  });

  it('the entry points the image and compose run are files tsc -p tsconfig.build.json emits from src/', () => {
    for (const entry of Object.values(APP_ROLES)) {
      expect(tscWouldEmit(entry), entry).toBe(true);
      expect(existsSync(join(ROOT, entry.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'))), entry).toBe(true);
    }
    expect(tscWouldEmit('dist/api/main.js')).toBe(false);
  });

  const mutations: [string, (dockerfile: string, ignore: string) => [string, string], RegExp][] = [
    ['a floating base image', (f, i) => [f.replace(/node:20\.\d+\.\d+-bookworm-slim/, 'node:20-bookworm-slim'), i], /node:20-bookworm-slim floats/],
    ['another base image', (f, i) => [f.replace(/node:20\.\d+\.\d+-bookworm-slim/, 'node:20.20.2-alpine'), i], /is not node:20.x.y-bookworm-slim/],
    ['a root process', (f, i) => [f.replace(/^USER node$/m, ''), i], /runs as root/],
    ['NODE_ENV not production', (f, i) => [f.replace(/^ENV NODE_ENV=production$/gm, 'ENV NODE_ENV=development'), i], /does not set NODE_ENV=production/],
    ['dev dependencies in the image', (f, i) => [f.replace('--omit=dev ', ''), i], /no stage installs production dependencies/],
    ['no build', (f, i) => [f.replace('RUN npm run build', ''), i], /no stage runs npm run build/],
    ['a CMD tsc does not produce', (f, i) => [f.replace('dist/api/server.js"]', 'dist/api/main.js"]'), i], /runs dist\/api\/main.js, which tsc -p tsconfig.build.json does not emit/],
    ['sources kept out of the context', (f, i) => [f, i.replace(/^!src$/m, '')], /\.dockerignore keeps src out/],
    ['secrets let into the context', (f, i) => [f, i.replace(/^\*$/m, 'node_modules')], /\.dockerignore lets \.env into the build context/],
  ];
  it.each(mutations)('catches %s', (_label, mutate, expected) => {
    const [dockerfile, ignore] = mutate(dockerfileText, dockerignoreText);
    expect(checkDockerfile(dockerfile, ignore)).toContainEqual(expect.stringMatching(expected));
  });
});

describe('.env.example', () => {
  it('lists every variable with a comment, the real defaults, and the secrets compose requires', () => {
    expect(checkEnvExample(envExampleText, composeText)).toEqual([]);
  });

  const mutations: [string, (text: string) => string, RegExp][] = [
    ['a variable left out', (t) => t.replace(/^# DLQ_SHARDS=.*$/m, ''), /does not list DLQ_SHARDS/],
    ['a wrong default', (t) => t.replace('# REDRIVE_RATE_PER_SECOND=20', '# REDRIVE_RATE_PER_SECOND=50'), /default for redriveRatePerSecond/],
    ['a required secret commented out', (t) => t.replace(/^API_TOKENS=$/m, '# API_TOKENS='), /API_TOKENS is required by docker compose/],
    ['no way to generate the key', (t) => t.replace('openssl rand -base64 32', 'a random key'), /does not say how to generate one/],
    ['a compose default that disagrees', (t) => t.replace('# TEMPORAL_NAMESPACE=default', '# TEMPORAL_NAMESPACE=orders'), /TEMPORAL_NAMESPACE=orders, docker-compose.yml defaults it to default/],
  ];
  it.each(mutations)('catches %s', (_label, mutate, expected) => {
    expect(checkEnvExample(mutate(envExampleText), composeText)).toContainEqual(expect.stringMatching(expected));
  });
});
