/**
 * Configuration: read once from the environment, validated, typed. Bad configuration throws a
 * `ConfigError` whose message is one line naming the variable; entry points print it and exit 1.
 */
import { resolve } from 'node:path';
import { DEFAULT_TASK_QUEUE, PROVIDERS, type ProviderName } from './workflows/definitions';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface Config {
  host: string;
  port: number;
  providersPort: number;
  providerUrls: Record<ProviderName, string>;
  temporal: {
    address: string;
    namespace: string;
    taskQueue: string;
    uiPort: number;
    embedded: boolean;
  };
  dataDir: string;
  healthCheckIntervalMs: number;
  redriveRatePerSecond: number;
  dlqShards: number;
  stepMaxAttempts: number;
  parkBackstopMs: number;
  providerTimeoutMs: number;
  apiTokens: string[];
  payloadEncryptionKey: string | undefined;
  metricsPort: number;
  logLevel: string;
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

function int(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function url(env: Env, name: string, fallback: string): string {
  const value = str(env, name, fallback);
  try {
    const parsed = new URL(value);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got "${value}"`);
  }
  return value.replace(/\/+$/, '');
}

function hostPort(env: Env, name: string, fallback: string): string {
  const value = str(env, name, fallback);
  if (!/^[A-Za-z0-9._\-[\]:]+:\d{1,5}$/.test(value)) throw new ConfigError(`${name} must be host:port, got "${value}"`);
  return value;
}

export function loadConfig(env: Env = process.env): Config {
  const providersPort = int(env, 'PROVIDERS_PORT', 4000, 0, 65535);
  const providerUrls = Object.fromEntries(
    PROVIDERS.map((name) => [
      name,
      url(env, `PROVIDER_${name.toUpperCase()}_URL`, `http://127.0.0.1:${providersPort}/${name}`),
    ]),
  ) as Record<ProviderName, string>;

  const key = env.PAYLOAD_ENCRYPTION_KEY;
  if (key !== undefined && key !== '' && Buffer.from(key, 'base64').length !== 32) {
    throw new ConfigError('PAYLOAD_ENCRYPTION_KEY must be base64 of exactly 32 bytes');
  }

  const logLevel = str(env, 'LOG_LEVEL', 'info');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "${logLevel}"`);
  }

  return {
    host: str(env, 'HOST', '127.0.0.1'),
    port: int(env, 'PORT', 3000, 0, 65535),
    providersPort,
    providerUrls,
    temporal: {
      address: hostPort(env, 'TEMPORAL_ADDRESS', '127.0.0.1:7233'),
      namespace: str(env, 'TEMPORAL_NAMESPACE', 'default'),
      taskQueue: str(env, 'TEMPORAL_TASK_QUEUE', DEFAULT_TASK_QUEUE),
      uiPort: int(env, 'TEMPORAL_UI_PORT', 8233, 0, 65535),
      embedded: bool(env, 'EMBEDDED_TEMPORAL', true),
    },
    dataDir: resolve(str(env, 'DATA_DIR', '.data')),
    healthCheckIntervalMs: int(env, 'HEALTH_CHECK_INTERVAL_MS', 5000, 100),
    redriveRatePerSecond: int(env, 'REDRIVE_RATE_PER_SECOND', 20, 1, 1000),
    dlqShards: int(env, 'DLQ_SHARDS', 1, 1, 64),
    stepMaxAttempts: int(env, 'STEP_MAX_ATTEMPTS', 3, 1, 100),
    parkBackstopMs: int(env, 'PARK_BACKSTOP_MS', 3_600_000, 1000),
    providerTimeoutMs: int(env, 'PROVIDER_TIMEOUT_MS', 5000, 50),
    apiTokens: (env.API_TOKENS ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t.length > 0),
    payloadEncryptionKey: key === '' ? undefined : key,
    metricsPort: int(env, 'METRICS_PORT', 9464, 0, 65535),
    logLevel,
  };
}

/** For entry points: load the config or print one clear line and exit 1. */
export function loadConfigOrExit(env: Env = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
