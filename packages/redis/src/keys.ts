/**
 * Every Redis key name of the service, made here and nowhere else (as BullMQ's queue keys are).
 * Each package asks this producer for its keys; a script gets every key it touches in KEYS.
 *
 * Hash tags: the scripts touch several keys at once (admission spans tenants, batches, items and
 * budget keys), so on a Redis Cluster every key of the service must live in one slot. That is
 * done by a hash-tagged prefix (QUEUE_PREFIX=`{tryon}`): every name below starts with the
 * prefix, so its tag decides the slot, exactly as BullMQ asks of its own prefix. Where a script
 * reaches keys by ids it reads (the items of a batch), it gets the family's key prefix in KEYS
 * (`...:item:`) and only appends an id; the family's shape stays defined here.
 */
export const ITEM_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type ItemStatusName = (typeof ITEM_STATUSES)[number];

export class RedisKeys {
  constructor(readonly prefix: string) {}

  // Batches and items (@tryon/records).
  batch = (batchId: string) => `${this.prefix}:batch:${batchId}`;
  /** A batch's items by position (zset). */
  batchItems = (batchId: string) => `${this.batch(batchId)}:items`;
  /** A batch's items in one state, by position (zset): their cardinalities are the counts. */
  batchState = (batchId: string, status: ItemStatusName) =>
    `${this.batch(batchId)}:state:${status}`;
  /** The five state sets, in ITEM_STATUSES order. */
  batchStates = (batchId: string): string[] =>
    ITEM_STATUSES.map((status) => this.batchState(batchId, status));
  batchDeliveries = (batchId: string) => `${this.batch(batchId)}:deliveries`;
  batchReplays = (batchId: string) => `${this.batch(batchId)}:replays`;
  batchReplayCooldown = (batchId: string) => `${this.batch(batchId)}:replay-cooldown`;
  /** Not a key: the pub/sub channel of a batch's live events. */
  batchEventsChannel = (batchId: string) => `${this.prefix}:batch-events:${batchId}`;
  /** Batches whose records have no expiry yet (zset by creation time). */
  liveBatches = () => `${this.prefix}:batches:live`;
  /** Open batches by the moment their submit-time ETA (plus grace) runs out (zset, ms). */
  batchDeadlines = () => `${this.prefix}:batches:deadlines`;
  /** Prefix of every item hash: item(id) is this plus the id. */
  itemFamily = () => `${this.prefix}:item:`;
  item = (itemId: string) => `${this.itemFamily()}${itemId}`;
  tenantBatches = (tenantId: string) => `${this.prefix}:tenant:${tenantId}:batches`;
  idempotency = (tenantId: string, key: string) =>
    `${this.prefix}:tenant:${tenantId}:idempotency:${key}`;
  /** Webhook events a tenant replayed in the current window (counter with expiry). */
  tenantReplayBudget = (tenantId: string) => `${this.prefix}:tenant:${tenantId}:replay-budget`;
  /** A tenant's open event streams (zset stream id -> lease end, ms): the per-tenant cap. */
  tenantEventStreams = (tenantId: string) => `${this.prefix}:tenant:${tenantId}:event-streams`;
  asset = (tenantId: string, assetId: string) =>
    `${this.prefix}:tenant:${tenantId}:asset:${assetId}`;

  // What the admin page reads and the worker remembers (@tryon/records).
  fitroomInFlight = () => `${this.prefix}:fitroom:in-flight`;
  fitroomErrors = () => `${this.prefix}:fitroom:errors`;
  devWebhookSecret = () => `${this.prefix}:dev:webhook-secret`;
  resultByPair = (pairKey: string) => `${this.prefix}:results-by-pair:${pairKey}`;
  preparedInput = (tenantId: string, ref: string, role: string) =>
    `${this.prefix}:prepared:${tenantId}:${ref}:${role}`;
  /** The content-addressed prepared form of a source image (by its sha256) at one size. */
  preparedSource = (sourceSha256: string, maxSide: number) =>
    `${this.prefix}:prepared-source:${sourceSha256}:${maxSide}`;
  /** Held by the one process preparing this source at this size. */
  preparedSourceLock = (sourceSha256: string, maxSide: number) =>
    `${this.preparedSource(sourceSha256, maxSide)}:lock`;
  inputCheck = (kind: string, sha256: string) => `${this.prefix}:input-check:${kind}:${sha256}`;
  /** Held by the one request that asks FitRoom to check this image. */
  inputCheckLock = (kind: string, sha256: string) => `${this.inputCheck(kind, sha256)}:lock`;

  // Admission (@tryon/scheduling).
  /** Tenants with items in line (zset tenant -> last served sequence). */
  admissionTenants = () => `${this.prefix}:adm:tenants`;
  /** Prefix of the per-tenant zsets (batch -> (10 - priority) * 1e12 + last served sequence). */
  admissionTenantFamily = () => `${this.prefix}:adm:tenant:`;
  admissionTenant = (tenantId: string) => `${this.admissionTenantFamily()}${tenantId}`;
  /** Prefix of the per-batch lines (list of item ids). */
  admissionBatchFamily = () => `${this.prefix}:adm:batch:`;
  admissionBatch = (batchId: string) => `${this.admissionBatchFamily()}${batchId}`;
  admissionParked = () => `${this.prefix}:adm:parked`;
  admissionSeq = () => `${this.prefix}:adm:seq`;
  /** Prefix of the per-budget-key hashes (item -> weight). */
  admissionInFlightFamily = () => `${this.prefix}:adm:inflight:`;
  admissionInFlight = (budgetKey: string) => `${this.admissionInFlightFamily()}${budgetKey}`;
  /** Admitted items (hash item -> budget key). */
  admissionAssigned = () => `${this.prefix}:adm:assigned`;
  durations = (mode: string) => `${this.prefix}:durations:${mode}`;

  // The FitRoom budget (@tryon/rate-limiter), and the api's per-tenant limit built on it.
  budgetSlots = (budgetKey: string) => `${this.prefix}:budget:${budgetKey}:slots`;
  budgetPause = (budgetKey: string) => `${this.prefix}:budget:${budgetKey}:paused`;
  /** When an operator last resumed the key (Redis ms), while a request sent before may answer. */
  budgetResumed = (budgetKey: string) => `${this.prefix}:budget:${budgetKey}:resumed`;
  /** The last forward step of Redis's clock the key's slots were moved by (rate-limiter acquire). */
  budgetClockStep = (budgetKey: string) => `${this.prefix}:budget:${budgetKey}:clock-step`;
  /** Requests waiting for a slot of the key, by kind (rate-limiter acquire). */
  budgetWaiting = (budgetKey: string, kind: 'poll' | 'other') =>
    `${this.prefix}:budget:${budgetKey}:waiting:${kind}`;
  /** Which kind of waiting request goes first on the key, while set (RateLimiter.putFirst). */
  budgetFirst = (budgetKey: string) => `${this.prefix}:budget:${budgetKey}:first`;
  /** FitRoom credits of a key (hash spent, possibly_spent), kept by @tryon/records' CreditBook. */
  budgetCredits = (budgetKey: string) => `${this.prefix}:budget:${budgetKey}:credits`;
  /** The namespace of the api's per-tenant request limiter (a RateLimiter of its own). */
  apiLimitPrefix = () => `${this.prefix}:api-limit`;

  // The worker.
  sweepLease = () => `${this.prefix}:sweep:lease`;
  /** Where the sweep's walk over live batches stands between ticks (JSON). */
  sweepCursor = () => `${this.prefix}:sweep:cursor`;
}
