export { buildApp, type ApiApp } from './app.js';
export { startApi, type RunningApi, type StartApiOverrides } from './start.js';
export type { ApiDeps } from './deps.js';
export type { ApiLoggerOptions } from './logger.js';
export { ApiError } from './errors.js';
export { startBanner, type BannerOptions } from './banner.js';
