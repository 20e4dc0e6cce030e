export { TryonClient, type Batch, type Item, type Asset, type ClientOptions } from './api.js';
export { EXIT } from './errors.js';
