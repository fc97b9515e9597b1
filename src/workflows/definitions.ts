/**
 * The shared contracts of the service: workflow names and IDs, signals, queries, search attributes,
 * payload types and error types. Imports nothing but `define*` from the Temporal SDK, so the API, the
 * worker, the activities and the tests can all import it without pulling in workflow code.
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';

export const DEFAULT_TASK_QUEUE = 'order-fulfillment';

// ---------------------------------------------------------------------------------------------------
// Providers and steps
// ---------------------------------------------------------------------------------------------------

export const PROVIDERS = ['courses', 'inventory', 'packing', 'logistics'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export function isProviderName(value: string): value is ProviderName {
  return (PROVIDERS as readonly string[]).includes(value);
}

export const STEPS = ['grantCourseAccess', 'reserveInventory', 'pack', 'ship'] as const;
export type StepName = (typeof STEPS)[number];

export const STEP_PROVIDER: Record<StepName, ProviderName> = {
  grantCourseAccess: 'courses',
  reserveInventory: 'inventory',
  pack: 'packing',
  ship: 'logistics',
};

// ---------------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------------

export interface Customer {
  id: string;
  email: string;
  name: string;
}

export interface Box {
  sku: string;
  quantity: number;
}

export interface Address {
  name: string;
  line1: string;
  line2?: string;
  city: string;
  region?: string;
  postalCode: string;
  country: string;
}

export interface OrderRequest {
  orderId: string;
  customer: Customer;
  courseId: string;
  box?: Box;
  shippingAddress?: Address;
}

/** Tunables of one order's fulfillment; all optional so a workflow started by hand (CLI) works too. */
export interface FulfillmentPolicy {
  /** Attempts of one provider call before the order parks (the short bounded retry). */
  stepMaxAttempts?: number;
  /** First retry interval of a provider call, ms. */
  stepRetryInitialMs?: number;
  /** While parked, how long before the order re-checks on its own (backstop against a lost signal), ms. */
  parkBackstopMs?: number;
  /** Number of dead-letter-queue shards per provider (`DLQ_SHARDS`). */
  dlqShards?: number;
  /** Start-to-close timeout of one provider call attempt, ms (a worker that dies mid-call is noticed after it). */
  activityTimeoutMs?: number;
}

export interface OrderFulfillmentInput {
  order: OrderRequest;
  /** ISO time the API accepted the order. */
  acceptedAt?: string;
  policy?: FulfillmentPolicy;
}

export const ORDER_STATUSES = [
  'accepted',
  'granting_access',
  'reserving_inventory',
  'packing',
  'shipping',
  'parked',
  'completed',
  'cancelled',
  'failed',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const TERMINAL_ORDER_STATUSES: readonly OrderStatus[] = ['completed', 'cancelled', 'failed'];

export const STEP_STATUSES = ['pending', 'running', 'done', 'parked', 'failed', 'compensated', 'skipped'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export type ParkKind = 'unavailable' | 'rejected';

export interface StepView {
  name: StepName;
  provider: ProviderName;
  status: StepStatus;
  attempts: number;
  lastError?: string;
}

export interface ParkedView {
  provider: ProviderName;
  step: StepName;
  kind: ParkKind;
  reason: string;
  since: string;
}

export type CourseAccess = 'pending' | 'granted' | 'revoked';

/** The `status` query of `orderFulfillment`, and the body of `GET /orders/<orderId>`. */
export interface OrderView {
  orderId: string;
  status: OrderStatus;
  courseAccess: CourseAccess;
  steps: StepView[];
  parked: ParkedView | null;
  trackingNumber: string | null;
  cancelReason?: string;
  failureReason?: string;
  createdAt: string;
  updatedAt: string;
}

// ---------------------------------------------------------------------------------------------------
// Dead letters and provider health
// ---------------------------------------------------------------------------------------------------

export interface DeadLetterEntry {
  orderId: string;
  workflowId: string;
  provider: ProviderName;
  step: StepName;
  kind: ParkKind;
  error: string;
  attempts: number;
  parkCount: number;
  parkedAt: string;
}

/** Shape check of a park signal's input (signals can come from anyone with the CLI). */
export function isDeadLetterEntry(value: unknown): value is DeadLetterEntry {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return (
    typeof e.orderId === 'string' &&
    e.orderId.length > 0 &&
    typeof e.workflowId === 'string' &&
    typeof e.provider === 'string' &&
    isProviderName(e.provider) &&
    typeof e.step === 'string' &&
    (STEPS as readonly string[]).includes(e.step) &&
    (e.kind === 'unavailable' || e.kind === 'rejected') &&
    typeof e.error === 'string' &&
    typeof e.attempts === 'number' &&
    typeof e.parkCount === 'number' &&
    Number.isInteger(e.parkCount) &&
    e.parkCount >= 1 &&
    typeof e.parkedAt === 'string' &&
    !Number.isNaN(Date.parse(e.parkedAt))
  );
}

export type ProviderStatus = 'up' | 'down' | 'unknown';

export interface ProviderHealthView {
  name: ProviderName;
  status: ProviderStatus;
  since: string | null;
  lastCheckAt: string | null;
  lastError: string | null;
}

export interface DeadLetterQueueInput {
  provider: ProviderName;
  shard: number;
  /** Most orders this queue resumes per second (the provider's rate divided over its shards). */
  redriveRatePerSecond: number;
  /** Auto-redrive delay for `unavailable` entries while the provider is believed up, ms. */
  retryWhileUpMs?: number;
  /** Continue-as-new after this many signals in one run (Temporal's hard limit is 10,000). */
  maxSignalsPerRun?: number;
  /** Continue-as-new after this many history events in one run (Temporal suggests 4,096 for speed). */
  maxHistoryEventsPerRun?: number;
  /** State carried over continue-as-new. */
  state?: DeadLetterQueueState;
}

export interface DeadLetterQueueState {
  entries: DeadLetterEntry[];
  providerStatus: ProviderStatus;
  /** Order IDs waiting to be resumed, in order. */
  redriveQueue: string[];
  /** Highest parkCount removed per order, so a late duplicate park of an already-redriven park is ignored. */
  removed: Record<string, number>;
  /** Workflow time of the last redrive round, so the rate holds across continue-as-new. */
  lastRedriveAt?: number;
}

export interface ProviderHealthInput {
  provider: ProviderName;
  intervalMs: number;
  dlqShards: number;
  /** Continue-as-new after this many probes. */
  maxChecksPerRun?: number;
  state?: ProviderHealthView;
}

// ---------------------------------------------------------------------------------------------------
// Workflow types and IDs
// ---------------------------------------------------------------------------------------------------

export const WORKFLOW_TYPES = {
  order: 'orderFulfillment',
  deadLetterQueue: 'deadLetterQueue',
  providerHealth: 'providerHealth',
} as const;

export const orderWorkflowId = (orderId: string): string => `order-${orderId}`;

export const healthWorkflowId = (provider: ProviderName): string => `health-${provider}`;

/** `dlq-<provider>`, or `dlq-<provider>-<i>` when a provider's queue is spread over shards. */
export function deadLetterQueueWorkflowId(provider: ProviderName, shard: number, shards: number): string {
  return shards > 1 ? `dlq-${provider}-${shard}` : `dlq-${provider}`;
}

export function deadLetterQueueWorkflowIds(provider: ProviderName, shards: number): string[] {
  return Array.from({ length: Math.max(1, shards) }, (_, i) => deadLetterQueueWorkflowId(provider, i, shards));
}

/** Stable shard of an order: FNV-1a of its ID. Pure, so workflows, activities and the API agree. */
export function shardOf(orderId: string, shards: number): number {
  if (shards <= 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < orderId.length; i++) {
    hash ^= orderId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/** Idempotency key of one provider operation: derived from stable facts only. */
export const idempotencyKey = (workflowId: string, operation: string): string => `${workflowId}:${operation}`;

// ---------------------------------------------------------------------------------------------------
// Signals and queries
// ---------------------------------------------------------------------------------------------------

export interface ResumeInput {
  /** Who resumed the order: `dlq` when its dead-letter queue already removed the entry. */
  source?: 'dlq' | 'operator';
}
export interface CancelInput {
  reason?: string;
}
export interface DiscardInput {
  reason?: string;
}

/** orderFulfillment */
export const statusQuery = defineQuery<OrderView>('status');
export const resumeSignal = defineSignal<[ResumeInput?]>('resume');
export const retryNowSignal = defineSignal<[]>('retryNow');
export const cancelSignal = defineSignal<[CancelInput?]>('cancel');
/** Internal: sent by a dead-letter queue when an operator discards the order. */
export const discardSignal = defineSignal<[DiscardInput?]>('discard');

/** deadLetterQueue */
export const entriesQuery = defineQuery<DeadLetterEntry[]>('entries');
export const parkSignal = defineSignal<[DeadLetterEntry]>('park');
export const redriveAllSignal = defineSignal<[]>('redriveAll');
export const redriveOrderSignal = defineSignal<[{ orderId: string }]>('redriveOrder');
export const discardOrderSignal = defineSignal<[{ orderId: string; reason?: string }]>('discardOrder');
export const providerStatusSignal = defineSignal<[{ status: 'up' | 'down' }]>('providerStatus');
/** Internal: the order left the queue by itself (retried by an operator, cancelled); parkCount guards races. */
export const unparkSignal = defineSignal<[{ orderId: string; parkCount: number }]>('unpark');

/** providerHealth */
export const providerStatusQuery = defineQuery<ProviderHealthView>('status');
export const checkNowSignal = defineSignal<[]>('checkNow');
/** Internal: the worker's current configuration, sent with signal-with-start when it starts. */
export const configureHealthSignal = defineSignal<[{ intervalMs: number; dlqShards: number }]>('configure');

// ---------------------------------------------------------------------------------------------------
// Search attributes (all Keyword; registered when the dev server starts)
// ---------------------------------------------------------------------------------------------------

export const OrderIdKey = defineSearchAttributeKey('OrderId', 'KEYWORD');
export const CustomerIdKey = defineSearchAttributeKey('CustomerId', 'KEYWORD');
export const FulfillmentStatusKey = defineSearchAttributeKey('FulfillmentStatus', 'KEYWORD');
export const ParkedProviderKey = defineSearchAttributeKey('ParkedProvider', 'KEYWORD');
export const SEARCH_ATTRIBUTES = ['OrderId', 'CustomerId', 'FulfillmentStatus', 'ParkedProvider'] as const;

// ---------------------------------------------------------------------------------------------------
// Error types (ApplicationFailure.type). Workflows decide by type, never by message text.
// ---------------------------------------------------------------------------------------------------

export const ErrorTypes = {
  /** Transient: provider down, 5xx, timeout, refused connection. Retryable. */
  ProviderUnavailable: 'ProviderUnavailable',
  /** The health check says the provider is down: park at once without spending the retry budget. */
  ProviderDown: 'ProviderDown',
  /** A refusal: out of stock. Non-retryable. */
  OutOfStock: 'OutOfStock',
  /** Any other refusal (4xx). Non-retryable. */
  ProviderRejected: 'ProviderRejected',
} as const;
export type ErrorType = (typeof ErrorTypes)[keyof typeof ErrorTypes];

export const REJECTION_ERROR_TYPES: readonly string[] = [ErrorTypes.OutOfStock, ErrorTypes.ProviderRejected];

/** Details attached to every provider failure an activity raises. */
export interface ProviderFailureDetails {
  provider: ProviderName;
  attempt: number;
  httpStatus?: number;
  code?: string;
}
