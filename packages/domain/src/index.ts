export * from './schemas.js';
export * from './jobs.js';
export * from './ids.js';
