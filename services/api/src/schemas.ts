import { Type, type TSchema } from '@sinclair/typebox';
import { BATCH_NAME_MAX_LENGTH, BatchResponse, ErrorResponse } from '@tryon/domain';
import { BATCH_SEARCH_SCAN } from '@tryon/records';
import { DELIVERIES_MAX_LIMIT } from './limits.js';

/**
 * Shapes only the API has (route params, admin and health answers). The shared ones (Batch,
 * Item, Asset, CreateBatchRequest, ...) come from @tryon/domain, written once.
 */

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export const ListBatchesQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: BATCH_NAME_MAX_LENGTH,
        description:
          "Only batches whose name or id contains this, ignoring case (among the tenant's " +
          `newest ${BATCH_SEARCH_SCAN.toLocaleString('en')})`,
      }),
    ),
  },
  { additionalProperties: false },
);

export const BatchList = Type.Object({
  batches: Type.Array(BatchResponse, {
    description: "The tenant's most recent batches, newest first",
  }),
});

export const WebhookSecret = Type.Object({
  secret: Type.String({
    description: 'This tenant\'s Standard Webhooks signing secret ("whsec_" + base64)',
  }),
});

export const DeliveriesQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: DELIVERIES_MAX_LIMIT,
        default: 100,
        description: 'How many attempts, newest first',
      }),
    ),
  },
  { additionalProperties: false },
);

export const WebhookDelivery = Type.Object(
  {
    at: Type.String({ format: 'date-time', description: 'When the attempt ended' }),
    event_id: Type.String({ description: 'The webhook-id header: the same on every attempt' }),
    type: Type.String({ description: 'item.completed, item.failed or batch.completed' }),
    attempt: Type.Integer({ minimum: 1, description: "1 for the event's first attempt" }),
    ok: Type.Boolean({ description: 'The receiver answered 2xx' }),
    status: Type.Union([Type.Integer(), Type.Null()], {
      description: "The receiver's HTTP status; null when none arrived",
    }),
    error: Type.Union([Type.String(), Type.Null()], { description: 'Why the attempt failed' }),
    duration_ms: Type.Number({ minimum: 0 }),
  },
  { $id: 'WebhookDelivery' },
);

export const DeliveryList = Type.Object(
  {
    deliveries: Type.Array(WebhookDelivery, {
      description: "The batch's webhook delivery attempts, newest first (the last 1,000 kept)",
    }),
  },
  { $id: 'WebhookDeliveries' },
);

const EventCount = Type.Integer({ minimum: 0 });

export const ReplayAnswer = Type.Object(
  {
    batch_id: Type.String(),
    replay: Type.Integer({ minimum: 1, description: "This replay's number for the batch" }),
    events: Type.Integer({ minimum: 0, description: 'Events queued for delivery' }),
    by_type: Type.Object({
      'item.completed': EventCount,
      'item.failed': EventCount,
      'batch.completed': EventCount,
    }),
  },
  { $id: 'WebhookReplay' },
);

/** POST /v1/assets, for the OpenAPI document only: the route streams the parts itself. */
export const UploadBody = Type.Object(
  {
    files: Type.Array(Type.String({ format: 'binary' }), {
      description: 'One or more JPEG, PNG or WebP images, as file fields of any name',
    }),
  },
  { description: 'multipart/form-data with one file field per image' },
);

export const Health = Type.Object({ status: Type.Literal('ok') });

export const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  checks: Type.Object({
    redis: Type.String({ description: '"ok" or why not' }),
    storage: Type.String({ description: '"ok" or why not' }),
  }),
});

const JobCount = Type.Integer({ minimum: 0 });

export const QueueStatus = Type.Object({
  name: Type.String(),
  paused: Type.Boolean(),
  counts: Type.Object({
    waiting: JobCount,
    prioritized: JobCount,
    active: JobCount,
    delayed: JobCount,
    completed: JobCount,
    failed: JobCount,
    waiting_children: JobCount,
  }),
});

export const BudgetStatus = Type.Object({
  budget_key: Type.String({ description: 'A stable hash naming the FitRoom key, never the key' }),
  limit: Type.Integer(),
  window_ms: Type.Integer(),
  in_use: Type.Integer({ description: 'Slots counted against the rolling window now' }),
  in_flight: Type.Integer({ description: 'FitRoom requests sent and not answered yet' }),
  paused: Type.Boolean(),
  paused_ms: Type.Integer({ description: 'How much longer the key is paused' }),
  paused_reason: Type.Union([Type.String(), Type.Null()]),
});

export const FitroomErrorEntry = Type.Object({
  at: Type.String({ format: 'date-time' }),
  budgetKey: Type.String(),
  operation: Type.String(),
  code: Type.String(),
  status: Type.Union([Type.Integer(), Type.Null()]),
  message: Type.String(),
  itemId: Type.Union([Type.String(), Type.Null()]),
});

/** Whether try-ons can run at all: false with a reason when no FitRoom key is usable. */
export const TryOnState = Type.Object({
  paused: Type.Boolean({ description: 'True when every FitRoom key is paused' }),
  reason: Type.Union([Type.String(), Type.Null()]),
  usable_keys: Type.Integer({ minimum: 0 }),
});

export const AdminStatus = Type.Object({
  queues: Type.Object({ tryon: QueueStatus, webhooks: QueueStatus }),
  budgets: Type.Array(BudgetStatus, { description: 'One per FitRoom API key' }),
  paused_keys: Type.Array(
    Type.Object({
      budget_key: Type.String(),
      reason: Type.Union([Type.String(), Type.Null()]),
      resumes_in_ms: Type.Integer(),
    }),
  ),
  try_on: TryOnState,
  admission: Type.Object({
    waiting: Type.Integer({ description: 'Items in line for a FitRoom key' }),
    admitted: Type.Record(Type.String(), Type.Integer(), {
      description: 'Items admitted per budget key and not finished at FitRoom',
    }),
  }),
  fitroom: Type.Object({
    tasks_in_flight: Type.Integer({ description: 'FitRoom tasks created and not finished' }),
    recent_errors: Type.Array(FitroomErrorEntry, { description: 'Newest first' }),
  }),
  generated_at: Type.String({ format: 'date-time' }),
});

/** The error answers a route documents, all `{ error: { code, message } }`. */
export function errorResponses<const S extends readonly number[]>(
  ...statuses: S
): { [K in S[number]]: typeof ErrorResponse } {
  const out: Record<number, TSchema> = {};
  for (const status of statuses) out[status] = ErrorResponse;
  return out as { [K in S[number]]: typeof ErrorResponse };
}
