export {
  createTryonQueue,
  createWebhookQueue,
  redisConnection,
  tryonJob,
  tryonJobId,
  TRYON_JOB_OPTIONS,
  type TryonQueue,
  type WebhookQueue,
} from './queues.js';
export { batchCompletedEvent, itemEvent, webhookJob, type EventTarget } from './events.js';
export { redisDurabilityProblems } from './redis-settings.js';
