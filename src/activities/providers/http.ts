/**
 * The one HTTP call every provider client makes: a timeout, the idempotency key, keep-alive
 * connections, and a typed outcome. Transport trouble (refused, reset, timeout) and 5xx are
 * `ProviderUnavailableError`; any other 4xx is a `ProviderRefusalError` carrying the provider's code.
 */
import http from 'node:http';
import https from 'node:https';
import type { ProviderName } from '../../workflows/definitions';

export class ProviderUnavailableError extends Error {
  override name = 'ProviderUnavailableError';
  constructor(
    readonly provider: ProviderName,
    /** Short reason for operators: "HTTP 503", "timeout after 5000 ms", "connection refused". */
    readonly reason: string,
    readonly httpStatus?: number,
  ) {
    super(`${provider} unavailable: ${reason}`);
  }
}

export class ProviderRefusalError extends Error {
  override name = 'ProviderRefusalError';
  constructor(
    readonly provider: ProviderName,
    readonly httpStatus: number,
    /** The provider's error code, e.g. OUT_OF_STOCK. */
    readonly code: string | undefined,
  ) {
    super(`${provider} refused: ${code ?? `HTTP ${httpStatus}`}`);
  }

  get reason(): string {
    return this.code ?? `HTTP ${this.httpStatus}`;
  }
}

export interface HttpRequest {
  provider: ProviderName;
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  body?: unknown;
  idempotencyKey?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

function transportReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'ABORT_ERR') return `timeout after ${timeoutMs} ms`;
  const code = e.cause?.code ?? e.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code) return `network error ${code}`;
  const message = e.cause?.message ?? e.message;
  return message ? `network error: ${message}` : 'network error';
}

/**
 * Keep-alive connections, reused across calls: the provider hop costs a fraction of what `fetch`
 * cost per call (measured by npm run bench in the worker's profile).
 */
const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' }),
};

interface RawResponse {
  status: number;
  text: string;
}

function send(req: HttpRequest, signal: AbortSignal): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(req.url);
    const body = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (body) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = body.length;
    }
    if (req.idempotencyKey) headers['idempotency-key'] = req.idempotencyKey;
    const client = url.protocol === 'https:' ? https : http;
    const outgoing = client.request(url, { method: req.method, headers, agent: agents[url.protocol as 'http:' | 'https:'], signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Sends the request; resolves with the parsed JSON body of a 2xx answer. */
export async function callProvider<T>(req: HttpRequest): Promise<T> {
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
  let res: RawResponse;
  try {
    res = await send(req, signal);
  } catch (err) {
    throw new ProviderUnavailableError(req.provider, transportReason(timeout.aborted ? { name: 'TimeoutError' } : err, req.timeoutMs));
  }
  const ok = res.status >= 200 && res.status < 300;
  if (res.status >= 500 || res.status === 429 || res.status === 408) {
    throw new ProviderUnavailableError(req.provider, `HTTP ${res.status}`, res.status);
  }
  let json: unknown;
  try {
    json = res.text ? JSON.parse(res.text) : {};
  } catch {
    if (ok) throw new ProviderUnavailableError(req.provider, `HTTP ${res.status} with a body that is not JSON`, res.status);
    json = {};
  }
  if (!ok) {
    const code = (json as { code?: unknown }).code;
    throw new ProviderRefusalError(req.provider, res.status, typeof code === 'string' ? code : undefined);
  }
  return json as T;
}
