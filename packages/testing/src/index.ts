export { freePort, type TestS3 } from './services.js';
export { makeImage, type MakeImageOptions } from './images.js';
export { testRedisUrl, testS3, uniqueId, createTestBucket } from './context.js';
