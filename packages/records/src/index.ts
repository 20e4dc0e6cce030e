export {
  BATCH_SEARCH_SCAN,
  InvalidCursorError,
  Records,
  type BatchRecord,
  type ItemRecord,
  type ItemUpdate,
  type NewBatch,
  type NewItem,
  type TransitionResult,
} from './records.js';
export {
  Operations,
  type DeliveryAttempt,
  type FitroomErrorRecord,
  type ReplayClaim,
} from './operations.js';
export {
  BatchEventSubscriber,
  batchEventsChannel,
  type BatchEvent,
  type BatchEventListener,
  type BatchEventSubscriberOptions,
} from './batch-events.js';
export { BatchRetention, liveBatchesKey } from './retention.js';
export { itemResultUrl, publicBatch, publicItem } from './views.js';
export {
  INPUT_CHECK_KEEP_SECONDS,
  InputCheckCache,
  inputCheckCacheKey,
  type InputCheckKind,
} from './input-check-cache.js';
export {
  preparedInputKey,
  ResultCache,
  type CachedResult,
  type PreparedRole,
} from './result-cache.js';
