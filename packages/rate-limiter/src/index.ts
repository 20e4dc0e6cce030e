export {
  BudgetPausedError,
  KEY_REFUSED_PAUSE_MS,
  RateLimiter,
  RateLimitAbortedError,
  type AcquireKind,
  type AcquireOptions,
  type BudgetUsage,
  type RateLimiterOptions,
  type Token,
} from './rate-limiter.js';
export { budgetKeyFor } from './budget-key.js';
