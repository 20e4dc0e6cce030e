export {
  createTryonQueue,
  createWebhookQueue,
  redisConnection,
  tryonJob,
  tryonJobId,
  PARKED_JOB_DELAY_MS,
  tryonRetryDelay,
  TRYON_BACKOFF_TYPE,
  TRYON_JOB_OPTIONS,
  type TryonQueue,
  type WebhookQueue,
} from './queues.js';
export {
  batchCompletedEvent,
  itemEvent,
  REPLAY_PRIORITY_BASE,
  replayJobId,
  replayWebhookJob,
  webhookJob,
  type EventTarget,
} from './events.js';
export { redisDurabilityProblems } from './redis-settings.js';
