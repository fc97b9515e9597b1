/**
 * How every process reaches Temporal: address and namespace from our configuration, TLS, mTLS and API
 * keys from the standard `TEMPORAL_*` variables and profiles (`@temporalio/envconfig`), and the payload
 * codec that keeps customer data encrypted.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { Config } from '../config';
import { ConfigError } from '../config';
import { EncryptionCodec, parseKey } from '../codec/encryption-codec';

export const KEY_FILE = 'payload-encryption.key';

/**
 * The payload key: `PAYLOAD_ENCRYPTION_KEY`, else the one kept in `DATA_DIR`, else a new one written
 * there (exclusively, so processes starting together agree on one key).
 */
export function resolveEncryptionKey(config: Pick<Config, 'payloadEncryptionKey' | 'dataDir'>): string {
  if (config.payloadEncryptionKey) return config.payloadEncryptionKey;
  const file = join(config.dataDir, KEY_FILE);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(config.dataDir, { recursive: true });
    try {
      writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ConfigError(`PAYLOAD_ENCRYPTION_KEY is unset and ${file} cannot be written: ${(err as Error).message}`);
      }
    }
    return readFileSync(file, 'utf8').trim();
  }
}

export function createEncryptionCodec(config: Pick<Config, 'payloadEncryptionKey' | 'dataDir'>): EncryptionCodec {
  const previous = (process.env.PAYLOAD_DECRYPTION_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .map(parseKey);
  return new EncryptionCodec(parseKey(resolveEncryptionKey(config)), previous);
}

export function createDataConverter(config: Pick<Config, 'payloadEncryptionKey' | 'dataDir'>): DataConverter {
  return { payloadCodecs: [createEncryptionCodec(config)] };
}

/** Connection options: envconfig (TLS, API key, profile) overlaid with our address. */
export function connectionOptions(config: Pick<Config, 'temporal'>): ConnectionOptions {
  const fromEnv = loadClientConnectConfig();
  return { ...(fromEnv.connectionOptions as ConnectionOptions), address: config.temporal.address };
}

export async function connectClient(
  config: Pick<Config, 'temporal' | 'payloadEncryptionKey' | 'dataDir'>,
  options: { dataConverter?: DataConverter } = {},
): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(config));
  return new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: options.dataConverter ?? createDataConverter(config),
  });
}
