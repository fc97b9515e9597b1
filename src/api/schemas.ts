/**
 * Every TypeBox schema of the HTTP API, in one place: request bodies, params and querystrings, and a
 * response schema per status code. The same schemas validate requests, shape responses and generate
 * the OpenAPI document; tests reuse their `Static<>` types.
 */
import { type Static, type TSchema, Type } from 'typebox';
import { ORDER_STATUSES, PROVIDERS, STEP_STATUSES, STEPS } from '../workflows/definitions';

// ---------------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------------

export const ORDER_ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

/** A string with length limits: every string the API accepts has both. */
const Str = (maxLength = 200, options: Record<string, unknown> = {}) => Type.String({ minLength: 1, maxLength, ...options });

const IsoTime = Type.String({ format: 'date-time' });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const OrderIdSchema = Type.String({
  pattern: ORDER_ID_PATTERN,
  minLength: 1,
  maxLength: 64,
  description: 'Letters, digits, `_` and `-`; at most 64.',
  examples: ['A-1001'],
});
export const OrderStatusSchema = Type.Enum([...ORDER_STATUSES], { type: 'string' });
export const StepStatusSchema = Type.Enum([...STEP_STATUSES], { type: 'string' });
export const StepNameSchema = Type.Enum([...STEPS], { type: 'string' });
export const ProviderNameSchema = Type.Enum([...PROVIDERS], { type: 'string' });
export const ParkKindSchema = Type.Enum(['unavailable', 'rejected'], { type: 'string' });

/** `{ statusCode, error, message }`: every error the API answers. */
export const ErrorSchema = Type.Object(
  {
    statusCode: Type.Integer({ examples: [400] }),
    error: Type.String({ examples: ['Bad Request'] }),
    message: Type.String({ examples: ['body/customer/email must match format "email"'] }),
  },
  { additionalProperties: false, description: 'An error. Never carries a stack trace or internals.' },
);
export type ErrorBody = Static<typeof ErrorSchema>;

/** The error answers every authenticated, rate-limited route may give. */
export const commonErrors = {
  400: ErrorSchema,
  401: ErrorSchema,
  429: ErrorSchema,
  500: ErrorSchema,
  503: ErrorSchema,
} as const;

// ---------------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------------

export const CustomerSchema = Type.Object(
  {
    id: Str(200),
    email: Type.String({ format: 'email', minLength: 3, maxLength: 254 }),
    name: Str(200),
  },
  { additionalProperties: false },
);

export const BoxSchema = Type.Object(
  {
    sku: Str(100),
    quantity: Type.Integer({ minimum: 1, maximum: 100 }),
  },
  { additionalProperties: false },
);

export const AddressSchema = Type.Object(
  {
    name: Str(200),
    line1: Str(200),
    line2: Type.Optional(Str(200)),
    city: Str(100),
    region: Type.Optional(Str(100)),
    postalCode: Str(20),
    country: Str(100),
  },
  { additionalProperties: false },
);

export const OrderRequestSchema = Type.Object(
  {
    orderId: Type.Optional(OrderIdSchema),
    customer: CustomerSchema,
    courseId: Str(200),
    box: Type.Optional(BoxSchema),
    shippingAddress: Type.Optional(AddressSchema),
  },
  {
    additionalProperties: false,
    description:
      '`orderId` is generated when absent. `box` is optional (a course-only order ships nothing); ' +
      '`shippingAddress` is required when `box` is present. Unknown fields are rejected.',
  },
);
export type OrderRequestBody = Static<typeof OrderRequestSchema>;

export const OrderAcceptedSchema = Type.Object(
  { orderId: Type.String(), workflowId: Type.String(), status: Type.Literal('accepted') },
  { additionalProperties: false },
);
export type OrderAccepted = Static<typeof OrderAcceptedSchema>;

export const OrderExistingSchema = Type.Object(
  { orderId: Type.String(), workflowId: Type.String(), status: OrderStatusSchema },
  { additionalProperties: false, description: 'The same order was accepted before: its current status.' },
);
export type OrderExisting = Static<typeof OrderExistingSchema>;

export const StepViewSchema = Type.Object(
  {
    name: StepNameSchema,
    provider: ProviderNameSchema,
    status: StepStatusSchema,
    attempts: Type.Integer(),
    lastError: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const ParkedViewSchema = Type.Object(
  { provider: ProviderNameSchema, step: StepNameSchema, kind: ParkKindSchema, reason: Type.String(), since: IsoTime },
  { additionalProperties: false },
);

export const OrderViewSchema = Type.Object(
  {
    orderId: Type.String(),
    status: OrderStatusSchema,
    courseAccess: Type.Enum(['pending', 'granted', 'revoked'], { type: 'string' }),
    steps: Type.Array(StepViewSchema),
    parked: Nullable(ParkedViewSchema),
    trackingNumber: Nullable(Type.String()),
    cancelReason: Type.Optional(Type.String()),
    failureReason: Type.Optional(Type.String()),
    createdAt: IsoTime,
    updatedAt: IsoTime,
  },
  { additionalProperties: false },
);
export type OrderViewBody = Static<typeof OrderViewSchema>;

export const OrderParamsSchema = Type.Object({ orderId: OrderIdSchema }, { additionalProperties: false });

export const ListOrdersQuerySchema = Type.Object(
  {
    status: Type.Optional(OrderStatusSchema),
    provider: Type.Optional(ProviderNameSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50 })),
  },
  { additionalProperties: false },
);

export const OrderSummarySchema = Type.Object(
  {
    orderId: Type.String(),
    workflowId: Type.String(),
    status: Nullable(Type.String()),
    parkedProvider: Nullable(Type.String()),
    startTime: IsoTime,
  },
  { additionalProperties: false },
);

export const OrderListSchema = Type.Object({ orders: Type.Array(OrderSummarySchema) }, { additionalProperties: false });
export type OrderList = Static<typeof OrderListSchema>;

export const CancelBodySchema = Type.Object({ reason: Type.Optional(Str(500)) }, { additionalProperties: false });

export const CancelAcceptedSchema = Type.Object(
  { orderId: Type.String(), status: Type.Literal('cancelling') },
  { additionalProperties: false },
);

export const RetryAcceptedSchema = Type.Object(
  { orderId: Type.String(), requested: Type.Literal(true) },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------------------------------
// Dead letters and providers
// ---------------------------------------------------------------------------------------------------

export const DeadLetterEntrySchema = Type.Object(
  {
    orderId: Type.String(),
    workflowId: Type.String(),
    provider: ProviderNameSchema,
    step: StepNameSchema,
    kind: ParkKindSchema,
    error: Type.String(),
    attempts: Type.Integer(),
    parkCount: Type.Integer(),
    parkedAt: IsoTime,
  },
  { additionalProperties: false },
);

export const ProviderDeadLettersSchema = Type.Object(
  { provider: ProviderNameSchema, count: Type.Integer(), entries: Type.Array(DeadLetterEntrySchema) },
  { additionalProperties: false },
);
export type ProviderDeadLetters = Static<typeof ProviderDeadLettersSchema>;

const ProviderQueueSchema = Type.Object(
  { count: Type.Integer(), entries: Type.Array(DeadLetterEntrySchema) },
  { additionalProperties: false },
);

export const AllDeadLettersSchema = Type.Object(
  {
    total: Type.Integer(),
    providers: Type.Object(
      Object.fromEntries(PROVIDERS.map((p) => [p, ProviderQueueSchema])) as Record<
        (typeof PROVIDERS)[number],
        typeof ProviderQueueSchema
      >,
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type AllDeadLetters = Static<typeof AllDeadLettersSchema>;

/** A provider in a path: any short name, so an unknown one answers 404 rather than 400. */
export const ProviderParamsSchema = Type.Object(
  { provider: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);
export const ProviderOrderParamsSchema = Type.Object(
  { provider: Type.String({ minLength: 1, maxLength: 64 }), orderId: OrderIdSchema },
  { additionalProperties: false },
);
export const DiscardQuerySchema = Type.Object({ reason: Type.Optional(Str(500)) }, { additionalProperties: false });

export const RedriveAllAcceptedSchema = Type.Object(
  { provider: ProviderNameSchema, requested: Type.Integer({ description: 'Entries asked to resume.' }) },
  { additionalProperties: false },
);
export const DeadLetterActionAcceptedSchema = Type.Object(
  { provider: ProviderNameSchema, orderId: Type.String(), requested: Type.Literal(true) },
  { additionalProperties: false },
);

export const ProviderHealthSchema = Type.Object(
  {
    name: ProviderNameSchema,
    status: Type.Enum(['up', 'down', 'unknown'], { type: 'string' }),
    since: Nullable(IsoTime),
    lastCheckAt: Nullable(IsoTime),
    lastError: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export const ProvidersSchema = Type.Object({ providers: Type.Array(ProviderHealthSchema) }, { additionalProperties: false });
export type ProvidersBody = Static<typeof ProvidersSchema>;

// ---------------------------------------------------------------------------------------------------
// Health and the remote codec
// ---------------------------------------------------------------------------------------------------

export const HealthSchema = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false });

const Base64 = Type.String({ pattern: '^[A-Za-z0-9+/_-]*={0,2}$', maxLength: 16 * 1024 * 1024 });

/** A Temporal `Payload` in protobuf JSON: metadata values and data are base64. */
export const JsonPayloadSchema = Type.Object(
  {
    metadata: Type.Optional(Nullable(Type.Record(Type.String({ maxLength: 256 }), Base64))),
    data: Type.Optional(Nullable(Base64)),
  },
  { additionalProperties: false },
);
export const CodecBodySchema = Type.Object(
  // Protobuf JSON omits an empty list: the CLI sends `{}` for a query without arguments.
  { payloads: Type.Optional(Type.Array(JsonPayloadSchema, { maxItems: 10_000 })) },
  { additionalProperties: false, description: 'Temporal `Payloads` in protobuf JSON.' },
);
export type CodecBody = Static<typeof CodecBodySchema>;
