export { freePort, type TestS3 } from './services.js';
export { makeImage, type MakeImageOptions } from './images.js';
export { testRedisUrl, testS3, uniqueId, createTestBucket } from './context.js';
export {
  startWebhookReceiver,
  type ReceivedWebhook,
  type WebhookReceiver,
} from './webhook-receiver.js';
export { eventually } from './eventually.js';
export { serviceEnv, type ServiceEnvOptions } from './service-env.js';
export { spawnService, type ServiceProcess } from './processes.js';
