export { TryonClient, type ClientOptions } from './api.js';
export { EXIT } from './errors.js';
export type { Asset, Batch, BatchResponse, Item } from '@tryon/domain';
