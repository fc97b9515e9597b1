/**
 * Typed clients of the four external providers, behind interfaces: a real warehouse or carrier API
 * replaces the sandbox by configuration (its URL) or by another implementation of the interface.
 */
import type { Address, ProviderName } from '../../workflows/definitions';
import { callProvider } from './http';

export interface CallOptions {
  idempotencyKey: string;
  signal?: AbortSignal;
}

export interface CoursesProvider {
  enroll(req: { orderId: string; customerId: string; courseId: string }, o: CallOptions): Promise<{ enrollmentId: string }>;
  revoke(enrollmentId: string, o: CallOptions): Promise<void>;
}
export interface InventoryProvider {
  reserve(req: { orderId: string; sku: string; quantity: number }, o: CallOptions): Promise<{ reservationId: string }>;
  release(reservationId: string, o: CallOptions): Promise<void>;
}
export interface PackingProvider {
  pack(req: { orderId: string; reservationId: string }, o: CallOptions): Promise<{ packageId: string }>;
}
export interface LogisticsProvider {
  ship(req: { orderId: string; packageId: string; address: Address }, o: CallOptions): Promise<{ trackingNumber: string }>;
}

export interface Providers {
  courses: CoursesProvider;
  inventory: InventoryProvider;
  packing: PackingProvider;
  logistics: LogisticsProvider;
  /** `GET /<provider>/health`: resolves when healthy, throws ProviderUnavailableError otherwise. */
  health(provider: ProviderName, signal?: AbortSignal): Promise<void>;
}

function requireString(provider: ProviderName, body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') throw new Error(`${provider} answered without ${field}`);
  return value;
}

/** HTTP clients of providers that speak the sandbox's API (the contract's "Sandbox providers"). */
export function createHttpProviders(urls: Record<ProviderName, string>, timeoutMs: number): Providers {
  const call = <T>(provider: ProviderName, method: 'GET' | 'POST' | 'DELETE', path: string, o?: CallOptions, body?: unknown) =>
    callProvider<T>({ provider, method, url: `${urls[provider]}${path}`, body, timeoutMs, idempotencyKey: o?.idempotencyKey, signal: o?.signal });
  return {
    courses: {
      async enroll(req, o) {
        const body = await call<Record<string, unknown>>('courses', 'POST', '/enrollments', o, req);
        return { enrollmentId: requireString('courses', body, 'enrollmentId') };
      },
      async revoke(id, o) {
        await call('courses', 'DELETE', `/enrollments/${encodeURIComponent(id)}`, o);
      },
    },
    inventory: {
      async reserve(req, o) {
        const body = await call<Record<string, unknown>>('inventory', 'POST', '/reservations', o, req);
        return { reservationId: requireString('inventory', body, 'reservationId') };
      },
      async release(id, o) {
        await call('inventory', 'DELETE', `/reservations/${encodeURIComponent(id)}`, o);
      },
    },
    packing: {
      async pack(req, o) {
        const body = await call<Record<string, unknown>>('packing', 'POST', '/jobs', o, req);
        return { packageId: requireString('packing', body, 'packageId') };
      },
    },
    logistics: {
      async ship(req, o) {
        const body = await call<Record<string, unknown>>('logistics', 'POST', '/shipments', o, req);
        return { trackingNumber: requireString('logistics', body, 'trackingNumber') };
      },
    },
    async health(provider, signal) {
      await call(provider, 'GET', '/health', signal ? { idempotencyKey: '', signal } : undefined);
    },
  };
}
