export {
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
export { BatchRetention, liveBatchesKey } from './retention.js';
export { itemResultUrl, publicBatch, publicItem } from './views.js';
export {
  INPUT_CHECK_KEEP_SECONDS,
  InputCheckCache,
  inputCheckCacheKey,
  type InputCheckKind,
} from './input-check-cache.js';
