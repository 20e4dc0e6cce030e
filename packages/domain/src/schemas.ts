import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * The service's data shapes, written once: Fastify validates requests and serialises responses
 * with them, OpenAPI is generated from them, and the TypeScript types below are derived from
 * them. Request bodies refuse unknown fields so a typo is a 400, not silently ignored.
 */

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable machine-readable code, e.g. batch_not_found' }),
      message: Type.String({ description: 'What went wrong, for a person' }),
    }),
  },
  { $id: 'ErrorResponse' },
);

export const ASSET_ID_PATTERN = '^ast_[0-9a-f]{32}$';

/** An uploaded asset id or an https URL the worker fetches. */
export const ImageRef = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: 'An asset id from POST /v1/assets (ast_...) or an https URL',
});

export const ClothType = Type.Union(
  [Type.Literal('upper'), Type.Literal('lower'), Type.Literal('full_set'), Type.Literal('combo')],
  { description: "FitRoom's cloth_type: combo needs lower_cloth" },
);

const ExternalId = Type.String({ minLength: 1, maxLength: 256 });
const Metadata = Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), {
  description: 'Free-form JSON object, echoed back (at most 16 KiB serialised)',
});

export const BATCH_NAME_MAX_LENGTH = 200;

const BatchName = Type.String({
  minLength: 1,
  maxLength: BATCH_NAME_MAX_LENGTH,
  description: 'A name for people, e.g. "SS27 shirts"; GET /v1/batches?q= finds batches by it',
});

export const BatchItemInput = Type.Object(
  {
    model: ImageRef,
    cloth: ImageRef,
    lower_cloth: Type.Optional(ImageRef),
    cloth_type: ClothType,
    hd_mode: Type.Optional(Type.Boolean()),
    external_id: Type.Optional(ExternalId),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);

export const MatrixGarment = Type.Object(
  {
    cloth: ImageRef,
    lower_cloth: Type.Optional(ImageRef),
    cloth_type: ClothType,
    external_id: Type.Optional(ExternalId),
  },
  { additionalProperties: false },
);

export const BatchMatrix = Type.Object(
  {
    models: Type.Array(ImageRef, { minItems: 1 }),
    garments: Type.Array(MatrixGarment, { minItems: 1 }),
    hd_mode: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const CreateBatchRequest = Type.Object(
  {
    items: Type.Optional(Type.Array(BatchItemInput, { minItems: 1 })),
    matrix: Type.Optional(BatchMatrix),
    webhook_url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    metadata: Type.Optional(Metadata),
    name: Type.Optional(BatchName),
    priority: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10,
        description: "Higher runs earlier among the tenant's own batches; default 0",
      }),
    ),
    fresh_renders: Type.Optional(
      Type.Boolean({
        description:
          'Render every pair with FitRoom even when the same pair (same image bytes, cloth_type, hd_mode) was rendered before; by default such a pair reuses that result at no cost',
      }),
    ),
    input_checks: Type.Optional(
      Type.Boolean({
        description:
          "Run FitRoom's model and clothes checks first (once per image, cached); an item whose model image FitRoom rejects fails with its error code",
      }),
    ),
  },
  { additionalProperties: false, description: 'Exactly one of items or matrix' },
);

export const ItemStatus = Type.Union([
  Type.Literal('queued'),
  Type.Literal('running'),
  Type.Literal('completed'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
]);

export const BatchStatus = Type.Union([
  Type.Literal('queued'),
  Type.Literal('running'),
  Type.Literal('completed'),
  Type.Literal('cancelled'),
]);

/**
 * How a finished batch went, at a glance: `status` says whether it is open, `outcome` whether
 * it worked. Null while any item is queued or running.
 */
export const BatchOutcome = Type.Union(
  [
    Type.Literal('succeeded'),
    Type.Literal('partial'),
    Type.Literal('failed'),
    Type.Literal('cancelled'),
  ],
  {
    description:
      'succeeded: every item completed; partial: some completed, some failed; failed: none ' +
      'completed and some failed; cancelled: items were cancelled and none failed',
  },
);

export const BatchCounts = Type.Object({
  total: Type.Integer(),
  queued: Type.Integer(),
  running: Type.Integer(),
  completed: Type.Integer(),
  failed: Type.Integer(),
  cancelled: Type.Integer(),
});

const Timestamp = Type.String({ format: 'date-time' });

export const Batch = Type.Object(
  {
    id: Type.String(),
    name: Nullable(Type.String({ maxLength: BATCH_NAME_MAX_LENGTH })),
    status: BatchStatus,
    outcome: Nullable(BatchOutcome),
    counts: BatchCounts,
    progress: Type.Number({ minimum: 0, maximum: 1, description: 'Finished items / total' }),
    webhook_url: Nullable(Type.String()),
    idempotency_key: Nullable(Type.String()),
    metadata: Nullable(Metadata),
    priority: Type.Integer(),
    fresh_renders: Type.Boolean(),
    input_checks: Type.Boolean(),
    created_at: Timestamp,
    retried_at: Nullable(
      Type.String({
        format: 'date-time',
        description:
          'When failed items were last queued again (null if never): time taken counts from here',
      }),
    ),
    completed_at: Nullable(Timestamp),
  },
  { $id: 'Batch' },
);

/** When the batch's open items should be done, from the budget arithmetic (see README). */
export const BatchEta = Type.Object({
  seconds: Type.Number({ minimum: 0, description: 'Seconds from now until the last item is done' }),
  at: Type.String({ format: 'date-time', description: 'That moment' }),
});

/**
 * A batch as the API answers it: the shared Batch plus its ETA. Webhook payloads
 * (batch.completed) stay plain Batch: an ETA is a moment's estimate, not part of the record.
 */
export const BatchResponse = Type.Composite(
  [
    Batch,
    Type.Object({
      eta: Nullable(
        Type.Object(BatchEta.properties, {
          description: 'When the open items should be done; null when none is queued or running',
        }),
      ),
    }),
  ],
  { $id: 'BatchResponse' },
);

export const CreateBatchQuery = Type.Object(
  {
    dry_run: Type.Optional(
      Type.Boolean({
        description:
          'Validate and estimate only (200 with counts, credits and ETA): nothing is recorded or queued',
      }),
    ),
  },
  { additionalProperties: false },
);

export const DryRunAnswer = Type.Object(
  {
    dry_run: Type.Literal(true),
    items: Type.Integer({ minimum: 0, description: 'Items the batch would have' }),
    credits: Type.Integer({
      minimum: 0,
      description:
        'Items FitRoom would render (one credit each): all but those served from the result cache',
    }),
    cached: Type.Integer({
      minimum: 0,
      description: 'Items whose pair was rendered before and would be reused at no cost',
    }),
    eta: Nullable(
      Type.Object(BatchEta.properties, {
        description:
          'When the batch would be done if submitted now; null only when no FitRoom key is configured',
      }),
    ),
  },
  { $id: 'DryRunAnswer' },
);

export const ItemError = Type.Object({ code: Type.String(), message: Type.String() });

export const ItemResult = Type.Object({
  key: Type.String({ description: 'Object key in storage: results/{batch_id}/{item_id}.{ext}' }),
  bytes: Type.Integer(),
  sha256: Type.String(),
  content_type: Type.String(),
  url: Type.String({ description: 'Where to fetch the image' }),
});

export const Item = Type.Object(
  {
    id: Type.String(),
    batch_id: Type.String(),
    status: ItemStatus,
    model: Type.String(),
    cloth: Type.String(),
    lower_cloth: Nullable(Type.String()),
    cloth_type: ClothType,
    hd_mode: Type.Boolean(),
    external_id: Nullable(Type.String()),
    metadata: Nullable(Metadata),
    fitroom_task_id: Nullable(Type.String()),
    attempts: Type.Integer({ description: 'FitRoom tasks created for this item' }),
    error: Nullable(ItemError),
    result: Nullable(ItemResult),
    created_at: Timestamp,
    updated_at: Timestamp,
    started_at: Nullable(Timestamp),
    completed_at: Nullable(Timestamp),
  },
  { $id: 'Item' },
);

export const ItemsPage = Type.Object({
  items: Type.Array(Item),
  next_cursor: Nullable(Type.String()),
});

export const ListItemsQuery = Type.Object(
  {
    status: Type.Optional(ItemStatus),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const Asset = Type.Object(
  {
    id: Type.String({ pattern: ASSET_ID_PATTERN }),
    sha256: Type.String(),
    bytes: Type.Integer(),
    width: Type.Integer(),
    height: Type.Integer(),
    content_type: Type.String(),
  },
  { $id: 'Asset' },
);

export const AssetList = Type.Object({ assets: Type.Array(Asset) });

export const WebhookEventType = Type.Union([
  Type.Literal('item.completed'),
  Type.Literal('item.failed'),
  Type.Literal('batch.completed'),
]);

export const WebhookEvent = Type.Object({
  type: WebhookEventType,
  timestamp: Timestamp,
  data: Type.Record(Type.String(), Type.Unknown()),
});

export type ErrorResponse = Static<typeof ErrorResponse>;
export type ClothType = Static<typeof ClothType>;
export type BatchItemInput = Static<typeof BatchItemInput>;
export type BatchMatrix = Static<typeof BatchMatrix>;
export type CreateBatchRequest = Static<typeof CreateBatchRequest>;
export type ItemStatus = Static<typeof ItemStatus>;
export type BatchStatus = Static<typeof BatchStatus>;
export type BatchCounts = Static<typeof BatchCounts>;
export type BatchOutcome = Static<typeof BatchOutcome>;
export type Batch = Static<typeof Batch>;
export type BatchEta = Static<typeof BatchEta>;
export type BatchResponse = Static<typeof BatchResponse>;
export type CreateBatchQuery = Static<typeof CreateBatchQuery>;
export type DryRunAnswer = Static<typeof DryRunAnswer>;
export type Item = Static<typeof Item>;
export type ItemError = Static<typeof ItemError>;
export type ItemResult = Static<typeof ItemResult>;
export type ItemsPage = Static<typeof ItemsPage>;
export type ListItemsQuery = Static<typeof ListItemsQuery>;
export type Asset = Static<typeof Asset>;
export type WebhookEventType = Static<typeof WebhookEventType>;
export type WebhookEvent = Static<typeof WebhookEvent>;

/** A batch's outcome from its status and counts (see BatchOutcome); null while it is open. */
export function batchOutcome(status: BatchStatus, counts: BatchCounts): BatchOutcome | null {
  if (status === 'queued' || status === 'running') return null;
  if (counts.queued + counts.running > 0) return null;
  if (counts.failed === 0) return counts.cancelled === 0 ? 'succeeded' : 'cancelled';
  return counts.completed === 0 ? 'failed' : 'partial';
}
