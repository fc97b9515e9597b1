/**
 * The sandbox providers: four fake external services (courses, inventory, packing, logistics) under
 * one fastify app, with the fault injection and accounting an operator or a test needs to prove the
 * fulfillment is exactly-once (the contract's "Sandbox providers").
 *
 * - Every mutating call needs an `Idempotency-Key`; keys are scoped per provider and route. A repeated
 *   key replays the first successful (2xx) answer and creates nothing. Refusals and 503s are not
 *   recorded, so the same key can succeed later. The same key with another body is 422.
 * - `effects` counts side effects, one per (orderId, operation); `duplicateEffects` counts any further
 *   effect for the same pair, which only a caller that changed its idempotency key can cause.
 * - Faults per provider: `down` (503 everywhere), `latencyMs` (every call), `failureRate` (mutating
 *   calls: half fail before the effect, half after it, losing the answer but keeping the record).
 *
 * All state lives in the app instance: each `buildSandboxApp()` is a fresh, independent sandbox.
 * The app never listens (see `server.ts`). It logs nothing by default; with a logger, one line per
 * request with method, url and status only: request bodies (customer names, addresses) never.
 */
import { STATUS_CODES } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import { type Static, Type } from 'typebox';
import { PROVIDERS, type ProviderName, isProviderName } from '../workflows/definitions';
import { canonicalJson } from '../canonical-json';

// ---------------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------------

const NonEmpty = Type.String({ minLength: 1 });

export const EnrollmentRequest = Type.Object({ orderId: NonEmpty, customerId: NonEmpty, courseId: NonEmpty });
export const ReservationRequest = Type.Object({ orderId: NonEmpty, sku: NonEmpty, quantity: Type.Integer({ minimum: 1 }) });
export const PackingJobRequest = Type.Object({ orderId: NonEmpty, reservationId: NonEmpty });
export const SandboxAddress = Type.Object({
  name: NonEmpty,
  line1: NonEmpty,
  line2: Type.Optional(Type.String()),
  city: NonEmpty,
  region: Type.Optional(Type.String()),
  postalCode: NonEmpty,
  country: NonEmpty,
});
export const ShipmentRequest = Type.Object({ orderId: NonEmpty, packageId: NonEmpty, address: SandboxAddress });
const IdParams = Type.Object({ id: NonEmpty });

export const ProviderFaultsRequest = Type.Object({
  state: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  /** Delay before every answer of that provider, health included. At most one hour. */
  latencyMs: Type.Optional(Type.Number({ minimum: 0, maximum: 3_600_000 })),
  /** Probability that a mutating call answers 503. */
  failureRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
});
const ProviderParams = Type.Object({ name: NonEmpty });
export const StockRequest = Type.Object({ stock: Type.Integer({ minimum: 0 }) });
const SkuParams = Type.Object({ sku: NonEmpty });

export type EnrollmentRequest = Static<typeof EnrollmentRequest>;
export type ReservationRequest = Static<typeof ReservationRequest>;
export type PackingJobRequest = Static<typeof PackingJobRequest>;
export type ShipmentRequest = Static<typeof ShipmentRequest>;
export type ProviderFaultsRequest = Static<typeof ProviderFaultsRequest>;

// ---------------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------------

export type ProviderState = 'up' | 'down';

/** One entry of `GET /admin/providers`, and the answer of `PUT /admin/providers/<name>`. */
export interface SandboxProviderStats {
  state: ProviderState;
  latencyMs: number;
  failureRate: number;
  requests: number;
  effects: number;
  duplicateEffects: number;
}

export type SandboxStats = Record<ProviderName, SandboxProviderStats>;

/** The side effects the sandbox accounts for, per provider. */
export const OPERATIONS = {
  courses: ['enroll', 'revoke'],
  inventory: ['reserve', 'release'],
  packing: ['pack'],
  logistics: ['ship'],
} as const satisfies Record<ProviderName, readonly string[]>;
export type SandboxOperation = (typeof OPERATIONS)[ProviderName][number];

interface ProviderRuntime extends SandboxProviderStats {
  /** (orderId, operation) → number of effects created for it. */
  effectCounts: Map<string, number>;
}

interface RecordedAnswer {
  fingerprint: string;
  status: number;
  body: unknown;
}

interface Enrollment {
  orderId: string;
  customerId: string;
  courseId: string;
  revoked: boolean;
}
interface Reservation {
  orderId: string;
  sku: string;
  quantity: number;
  released: boolean;
}
interface PackingJob {
  orderId: string;
  reservationId: string;
}
interface Shipment {
  orderId: string;
  packageId: string;
}

interface SandboxState {
  providers: Record<ProviderName, ProviderRuntime>;
  /** `<provider> <route> <key>` → the first successful answer. */
  answers: Map<string, RecordedAnswer>;
  /** SKU → units left; a SKU absent here has unlimited stock. */
  stock: Map<string, number>;
  enrollments: Map<string, Enrollment>;
  reservations: Map<string, Reservation>;
  packages: Map<string, PackingJob>;
  shipments: Map<string, Shipment>;
}

function freshProvider(): ProviderRuntime {
  return { state: 'up', latencyMs: 0, failureRate: 0, requests: 0, effects: 0, duplicateEffects: 0, effectCounts: new Map() };
}

function freshState(): SandboxState {
  return {
    providers: {
      courses: freshProvider(),
      inventory: freshProvider(),
      packing: freshProvider(),
      logistics: freshProvider(),
    },
    answers: new Map(),
    stock: new Map(),
    enrollments: new Map(),
    reservations: new Map(),
    packages: new Map(),
    shipments: new Map(),
  };
}

function statsOf(p: ProviderRuntime): SandboxProviderStats {
  const { state, latencyMs, failureRate, requests, effects, duplicateEffects } = p;
  return { state, latencyMs, failureRate, requests, effects, duplicateEffects };
}


// ---------------------------------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------------------------------

export interface SandboxAppOptions {
  /**
   * Off by default. `true` or pino options: fastify builds the logger; a logger instance (e.g. from
   * `createLogger`) is used as is. Either way one line per request: method, url, status, time.
   */
  logger?: FastifyServerOptions['logger'] | FastifyBaseLogger;
  /** Source of randomness for `failureRate`, in [0, 1). Inject one for deterministic tests. */
  random?: () => number;
}

interface Outcome {
  status: number;
  body: unknown;
}

const UNAVAILABLE = { code: 'UNAVAILABLE' } as const;

function isLoggerInstance(value: unknown): value is FastifyBaseLogger {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { child?: unknown }).child === 'function' &&
    typeof (value as { info?: unknown }).info === 'function'
  );
}

export function buildSandboxApp(opts: SandboxAppOptions = {}): FastifyInstance {
  const random = opts.random ?? Math.random;
  const logged = opts.logger !== undefined && opts.logger !== false;
  const app = Fastify({
    ...(isLoggerInstance(opts.logger) ? { loggerInstance: opts.logger } : { logger: opts.logger ?? false }),
    // fastify's own per-request lines carry more than we want; ours (below) carry method, url, status.
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);

  // JSON as usual, except that an empty body is no body (a DELETE or a reset sent with a JSON
  // content type but nothing in it), rather than fastify's 400.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    const raw = typeof text === 'string' ? text : text.toString('utf8');
    if (raw.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(raw));
    } catch {
      done(Object.assign(new Error('Body is not valid JSON'), { statusCode: 400 }), undefined);
    }
  });

  let state = freshState();
  // IDs keep counting across resets so that an ID handed out before a reset never names a new record.
  const seq = { enrollment: 0, reservation: 0, package: 0, tracking: 0 };

  // Calls waiting out an injected latency end at once when the app closes, so shutdown never waits.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());

  // ----- error shapes: { statusCode, error, message }, never a stack trace -----------------------
  app.setErrorHandler((err: { statusCode?: number; message: string; validation?: unknown }, req, reply) => {
    const status = err.validation ? 400 : typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) {
      req.log.error({ method: req.method, url: req.url, err: { message: err.message } }, 'sandbox error');
      return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'Internal Server Error' });
    }
    return reply.code(status).send({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: err.message });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `Route ${req.method} ${req.url.split('?')[0]} not found` }),
  );

  if (logged) {
    app.addHook('onResponse', async (req, reply) => {
      req.log.info(
        { method: req.method, url: req.url, statusCode: reply.statusCode, responseTimeMs: Math.round(reply.elapsedTime) },
        'request completed',
      );
    });
  }

  // ----- the provider gate: accounting, latency, down ----------------------------------------------
  const wait = async (ms: number): Promise<boolean> => {
    if (ms <= 0) return true;
    try {
      await sleep(ms, undefined, { signal: closing.signal });
      return true;
    } catch {
      return false;
    }
  };
  const isDown = (provider: ProviderName) => state.providers[provider].state === 'down' || closing.signal.aborted;

  /** Health and reads: counted, delayed, refused while down. */
  const gate = (provider: ProviderName) =>
    async function providerGate(_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
      const p = state.providers[provider];
      p.requests += 1;
      if (!(await wait(p.latencyMs)) || isDown(provider)) return reply.code(503).send(UNAVAILABLE);
      return undefined;
    };

  /**
   * Mutating calls are counted and refused while down as they arrive; their latency is processing time,
   * spent after the body is read: like a real provider, the effect is created even if the caller has
   * gone away meanwhile (a worker killed mid-call), and only its answer is lost.
   */
  const arrival = (provider: ProviderName) =>
    async function providerArrival(_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
      const p = state.providers[provider];
      p.requests += 1;
      if (isDown(provider)) {
        await wait(p.latencyMs);
        return reply.code(503).send(UNAVAILABLE);
      }
      return undefined;
    };
  const processing = (provider: ProviderName) =>
    async function providerProcessing(_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
      if (!(await wait(state.providers[provider].latencyMs)) || isDown(provider)) return reply.code(503).send(UNAVAILABLE);
      return undefined;
    };

  async function requireIdempotencyKey(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key.trim() === '') return reply.code(400).send({ code: 'IDEMPOTENCY_KEY_REQUIRED' });
    return undefined;
  }

  /**
   * A mutating call: failure injection around the idempotent execution of `run`. Everything from the
   * key lookup to recording the answer is synchronous, so concurrent calls with one key cannot both
   * create the effect.
   */
  function mutate(provider: ProviderName, route: string, req: FastifyRequest, reply: FastifyReply, run: () => Outcome): FastifyReply {
    const p = state.providers[provider];
    const roll = p.failureRate > 0 ? random() : 1;
    if (roll < p.failureRate / 2) return reply.code(503).send(UNAVAILABLE); // fails before the effect

    const key = `${provider} ${route} ${String(req.headers['idempotency-key'])}`;
    const fingerprint = canonicalJson({ params: req.params, body: req.body });
    const recorded = state.answers.get(key);
    let outcome: Outcome;
    if (recorded) {
      outcome = recorded.fingerprint === fingerprint ? recorded : { status: 422, body: { code: 'IDEMPOTENCY_KEY_REUSED' } };
    } else {
      outcome = run();
      if (outcome.status >= 200 && outcome.status < 300) state.answers.set(key, { fingerprint, ...outcome });
    }

    if (roll < p.failureRate) return reply.code(503).send(UNAVAILABLE); // the effect exists, the answer is lost
    return reply.code(outcome.status).send(outcome.body);
  }

  function recordEffect(provider: ProviderName, orderId: string, operation: SandboxOperation): void {
    const p = state.providers[provider];
    const pair = `${orderId}\u0000${operation}`;
    const count = (p.effectCounts.get(pair) ?? 0) + 1;
    p.effectCounts.set(pair, count);
    if (count === 1) p.effects += 1;
    else p.duplicateEffects += 1;
  }

  const created = (body: unknown): Outcome => ({ status: 201, body });
  const refused = (status: number, code: string): Outcome => ({ status, body: { code } });

  // ----- health -------------------------------------------------------------------------------------
  for (const provider of PROVIDERS) {
    app.get(`/${provider}/health`, { onRequest: gate(provider) }, async () => ({ status: 'ok' }));
  }

  const mutating = (provider: ProviderName) => ({ onRequest: arrival(provider), preValidation: requireIdempotencyKey, preHandler: processing(provider) });

  // ----- courses --------------------------------------------------------------------------------------
  app.post('/courses/enrollments', { ...mutating('courses'), schema: { body: EnrollmentRequest } }, async (req, reply) =>
    mutate('courses', 'POST /enrollments', req, reply, () => {
      const enrollmentId = `enr_${++seq.enrollment}`;
      const { orderId, customerId, courseId } = req.body;
      state.enrollments.set(enrollmentId, { orderId, customerId, courseId, revoked: false });
      recordEffect('courses', orderId, 'enroll');
      return created({ enrollmentId });
    }),
  );

  app.delete('/courses/enrollments/:id', { ...mutating('courses'), schema: { params: IdParams } }, async (req, reply) =>
    mutate('courses', 'DELETE /enrollments/:id', req, reply, () => {
      const enrollment = state.enrollments.get(req.params.id);
      if (!enrollment) return refused(404, 'NOT_FOUND');
      if (!enrollment.revoked) {
        enrollment.revoked = true;
        recordEffect('courses', enrollment.orderId, 'revoke');
      }
      return { status: 200, body: { ok: true } };
    }),
  );

  // ----- inventory ------------------------------------------------------------------------------------
  app.post('/inventory/reservations', { ...mutating('inventory'), schema: { body: ReservationRequest } }, async (req, reply) =>
    mutate('inventory', 'POST /reservations', req, reply, () => {
      const { orderId, sku, quantity } = req.body;
      const left = state.stock.get(sku);
      if (left !== undefined) {
        if (left < quantity) return refused(409, 'OUT_OF_STOCK');
        state.stock.set(sku, left - quantity);
      }
      const reservationId = `res_${++seq.reservation}`;
      state.reservations.set(reservationId, { orderId, sku, quantity, released: false });
      recordEffect('inventory', orderId, 'reserve');
      return created({ reservationId });
    }),
  );

  app.delete('/inventory/reservations/:id', { ...mutating('inventory'), schema: { params: IdParams } }, async (req, reply) =>
    mutate('inventory', 'DELETE /reservations/:id', req, reply, () => {
      const reservation = state.reservations.get(req.params.id);
      if (!reservation) return refused(404, 'NOT_FOUND');
      if (!reservation.released) {
        reservation.released = true;
        const left = state.stock.get(reservation.sku);
        if (left !== undefined) state.stock.set(reservation.sku, left + reservation.quantity);
        recordEffect('inventory', reservation.orderId, 'release');
      }
      return { status: 200, body: { ok: true } };
    }),
  );

  // ----- packing --------------------------------------------------------------------------------------
  app.post('/packing/jobs', { ...mutating('packing'), schema: { body: PackingJobRequest } }, async (req, reply) =>
    mutate('packing', 'POST /jobs', req, reply, () => {
      const { orderId, reservationId } = req.body;
      const reservation = state.reservations.get(reservationId);
      // A released reservation has nothing left to pack.
      if (!reservation || reservation.released) return refused(409, 'UNKNOWN_RESERVATION');
      const packageId = `pkg_${++seq.package}`;
      state.packages.set(packageId, { orderId, reservationId });
      recordEffect('packing', orderId, 'pack');
      return created({ packageId });
    }),
  );

  // ----- logistics ------------------------------------------------------------------------------------
  app.post('/logistics/shipments', { ...mutating('logistics'), schema: { body: ShipmentRequest } }, async (req, reply) =>
    mutate('logistics', 'POST /shipments', req, reply, () => {
      const { orderId, packageId } = req.body;
      const trackingNumber = `TRK${String(++seq.tracking).padStart(10, '0')}`;
      // The address is used for nothing here and kept nowhere: the sandbox holds no customer data it doesn't need.
      state.shipments.set(trackingNumber, { orderId, packageId });
      recordEffect('logistics', orderId, 'ship');
      return created({ trackingNumber });
    }),
  );

  // ----- admin (not counted in any provider's requests) ---------------------------------------------
  const allStats = (): SandboxStats =>
    Object.fromEntries(PROVIDERS.map((name) => [name, statsOf(state.providers[name])])) as SandboxStats;

  app.get('/admin/providers', async () => allStats());

  app.get('/admin/providers/:name', { schema: { params: ProviderParams } }, async (req, reply) => {
    const { name } = req.params;
    if (!isProviderName(name)) return reply.code(404).send({ code: 'NOT_FOUND' });
    return statsOf(state.providers[name]);
  });

  app.put('/admin/providers/:name', { schema: { params: ProviderParams, body: ProviderFaultsRequest } }, async (req, reply) => {
    const { name } = req.params;
    if (!isProviderName(name)) return reply.code(404).send({ code: 'NOT_FOUND' });
    // PUT replaces the faults: an omitted latencyMs or failureRate goes back to 0.
    const p = state.providers[name];
    p.state = req.body.state;
    p.latencyMs = req.body.latencyMs ?? 0;
    p.failureRate = req.body.failureRate ?? 0;
    return statsOf(p);
  });

  app.get('/admin/inventory/:sku', { schema: { params: SkuParams } }, async (req) => ({
    sku: req.params.sku,
    /** `null`: unlimited (never set). */
    stock: state.stock.get(req.params.sku) ?? null,
  }));

  app.put('/admin/inventory/:sku', { schema: { params: SkuParams, body: StockRequest } }, async (req) => {
    state.stock.set(req.params.sku, req.body.stock);
    return { sku: req.params.sku, stock: req.body.stock };
  });

  app.post('/admin/reset', async () => {
    state = freshState();
    return { ok: true };
  });

  return app;
}
