import { Type, type Static } from '@sinclair/typebox';

/**
 * Queue names and job payloads. Renaming a queue strands the jobs already in Redis under the
 * old name: change these only with a migration.
 */
export const QUEUES = {
  /** One step job per item: prepare -> create -> poll -> store -> notify. */
  tryon: 'tryon',
  /** Webhook deliveries, one job per event, retried on the configured schedule. */
  webhooks: 'webhooks',
} as const;

export const TryonStep = Type.Union([
  Type.Literal('prepare'),
  Type.Literal('create'),
  Type.Literal('poll'),
  Type.Literal('store'),
  Type.Literal('notify'),
]);

export const TryonJobData = Type.Object({
  itemId: Type.String(),
  batchId: Type.String(),
  tenantId: Type.String(),
  step: TryonStep,
  /** Storage keys of the prepared inputs, once prepare has run. */
  inputs: Type.Optional(
    Type.Object({
      model: Type.String(),
      cloth: Type.String(),
      lowerCloth: Type.Optional(Type.String()),
    }),
  ),
  /** Saved before anything else after a create, so a crash resumes polling instead of paying again. */
  taskId: Type.Optional(Type.String()),
  /** Which API key (by budget name) created the task: polls must use the same key. */
  budgetKey: Type.Optional(Type.String()),
  taskCreatedAt: Type.Optional(Type.Number()),
  polls: Type.Optional(Type.Integer()),
  /**
   * Creates of this run whose answer never came (possibly spent); FITROOM_AMBIGUOUS_CREATES
   * allows one retry.
   */
  ambiguousCreates: Type.Optional(Type.Integer()),
  /** FitRoom tasks that ended FAILED for this item so far. */
  failedTasks: Type.Optional(Type.Integer()),
  /** Times a prepared input did not match its content address when read for create. */
  inputMismatches: Type.Optional(Type.Integer()),
  /** FitRoom refused an input we had verified as an invalid image: prepared again, once. */
  inputsRejected: Type.Optional(Type.Boolean()),
  downloadUrl: Type.Optional(Type.String()),
  /** Identifies the rendering (input bytes, cloth_type, hd_mode): identical pairs share results. */
  pairKey: Type.Optional(Type.String()),
});

export const WebhookJobData = Type.Object({
  /** Stable webhook-id: the same for every attempt and every replay of this event. */
  eventId: Type.String(),
  tenantId: Type.String(),
  batchId: Type.String(),
  url: Type.String(),
  /** The exact body that is signed and sent. */
  body: Type.String(),
});

export type TryonStep = Static<typeof TryonStep>;
export type TryonJobData = Static<typeof TryonJobData>;
export type WebhookJobData = Static<typeof WebhookJobData>;
