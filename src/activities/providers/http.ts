/**
 * The one HTTP call every provider client makes: a timeout, the idempotency key, keep-alive
 * connections, and a typed outcome. Transport trouble (refused, reset, timeout) and 5xx are
 * `ProviderUnavailableError`; any other 4xx is a `ProviderRefusalError` carrying the provider's code.
 */
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
  const e = err as { name?: string; code?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timeout after ${timeoutMs} ms`;
  const code = e.cause?.code ?? e.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code) return `network error ${code}`;
  return e.cause?.message ? `network error: ${e.cause.message}` : 'network error';
}

/** Sends the request; resolves with the parsed JSON body of a 2xx answer. */
export async function callProvider<T>(req: HttpRequest): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  if (req.idempotencyKey) headers['idempotency-key'] = req.idempotencyKey;
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
  let res: Response;
  let text: string;
  try {
    res = await fetch(req.url, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal,
    });
    text = await res.text();
  } catch (err) {
    throw new ProviderUnavailableError(req.provider, transportReason(err, req.timeoutMs));
  }
  if (res.status >= 500 || res.status === 429 || res.status === 408) {
    throw new ProviderUnavailableError(req.provider, `HTTP ${res.status}`, res.status);
  }
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    if (res.ok) throw new ProviderUnavailableError(req.provider, `HTTP ${res.status} with a body that is not JSON`, res.status);
    json = {};
  }
  if (!res.ok) {
    const code = (json as { code?: unknown }).code;
    throw new ProviderRefusalError(req.provider, res.status, typeof code === 'string' ? code : undefined);
  }
  return json as T;
}
