export * from './schemas.js';
export * from './review-schemas.js';
export * from './jobs.js';
export * from './ids.js';
export * from './csv.js';
export * from './media-types.js';
export * from './file-names.js';
