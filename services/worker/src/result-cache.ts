// The cache of rendered pairs lives in @tryon/records: the API's dry run reads it too.
export { ResultCache, type CachedResult } from '@tryon/records';
