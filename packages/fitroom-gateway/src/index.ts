export {
  budgetedKey,
  restRefusedKey,
  type BudgetedKey,
  type BudgetedKeyOptions,
  type WarnLogger,
} from './budgeted-client.js';
export { FitRoomPool, type FitRoomPoolOptions, type PooledKey } from './pool.js';
export { inputCheckProblem } from './model-check-verdict.js';
export { Semaphore } from './semaphore.js';
export { InputCheckFlights, type CrossProcessLock } from './input-check-flights.js';
export {
  createOutcomeOf,
  creditsOf,
  type CreateLedger,
  type CreateOutcome,
} from './create-outcome.js';
