export {
  BudgetPausedError,
  RateLimiter,
  RateLimitAbortedError,
  type BudgetUsage,
  type RateLimiterOptions,
  type Token,
} from './rate-limiter.js';
export { budgetKeyFor } from './budget-key.js';
