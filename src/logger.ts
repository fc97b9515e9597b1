/**
 * One structured logger for every process. Lines about an order carry `orderId`; customer data
 * (names, emails, addresses) and secrets never reach it: `redact` is the backstop, not the plan.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'customer.email',
  'customer.name',
  'shippingAddress',
  'address',
  '*.customer.email',
  '*.customer.name',
  '*.shippingAddress',
  '*.address',
  'req.headers.authorization',
  'headers.authorization',
];

export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  // Asynchronous writes: logging must not block the event loop on the order hot path.
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination({ sync: false }));
}
