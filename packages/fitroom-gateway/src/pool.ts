import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type CreateTaskInput,
  type CreateTaskResult,
  type FitRoomError,
} from '@tryon/fitroom-client';
import type { RateLimiter } from '@tryon/rate-limiter';
import type { Operations } from '@tryon/records';
import {
  budgetedKey,
  restRefusedKey,
  type BudgetedKey,
  type BudgetedKeyOptions,
  type WarnLogger,
} from './budgeted-client.js';
import { createOutcomeOf, type CreateLedger } from './create-outcome.js';
import { Semaphore } from './semaphore.js';

/** One createTask call: its place at the gate, and its credit once the request is sent. */
interface CreateCall {
  exit?: (() => void) | undefined;
  ledger?: CreateLedger;
  opened: boolean;
}

/** A key of the pool: its budget name and its budgeted client. */
export type PooledKey = BudgetedKey;

export interface FitRoomPoolOptions {
  baseUrl: string;
  apiKeys: string[];
  limiter: RateLimiter;
  operations: Operations;
  timeoutMs: number;
  downloadTimeoutMs: number;
  /** FitRoom creates this process has sent and not yet recorded, at most (see createTask). */
  createsInFlight: number;
  logger: WarnLogger;
}

/**
 * One FitRoom client per API key, each gated by the shared Redis budget of its key. Keys are
 * known by their budget name (a hash) everywhere outside this class.
 */
export class FitRoomPool {
  readonly keys: PooledKey[];
  readonly limiter: RateLimiter;
  readonly operations: Operations;
  private readonly createGate: Semaphore;
  /** Told how each request of the pool ended (the worker's metrics); set by observeAnswers. */
  private answerObserver: BudgetedKeyOptions['onAnswer'];
  /** The create call a budget token is being taken for (see createTask). */
  private readonly createCall = new AsyncLocalStorage<CreateCall>();

  constructor(options: FitRoomPoolOptions) {
    if (options.apiKeys.length === 0) throw new Error('FitRoomPool needs at least one API key');
    this.limiter = options.limiter;
    this.operations = options.operations;
    this.createGate = new Semaphore(options.createsInFlight);
    this.keys = options.apiKeys.map((apiKey) =>
      budgetedKey({
        ...options,
        apiKey,
        onAnswer: (budgetKey, operation, end) => this.answerObserver?.(budgetKey, operation, end),
        // A create waits for its place once it holds its token, so no key waits on another's
        // budget; the token's hold restarts when the place is found (see budgetedKey).
        afterToken: async ({ operation }) => {
          const call = operation === 'createTask' ? this.createCall.getStore() : undefined;
          if (!call) return undefined;
          const exit = await this.createGate.acquire();
          call.exit = exit;
          // Sent right after this: from here a crash leaves the credit possibly spent.
          // (Marked only once written: a failed open must not be settled, which would undo it.)
          if (call.ledger && !call.opened) {
            await call.ledger.open();
            call.opened = true;
          }
          return () => {
            call.exit = undefined;
            exit();
          };
        },
      }),
    );
  }

  /**
   * Creates a task and has `record` save its id before the place is given to another create of
   * this process. A task created but not recorded is paid again after a crash, so a process
   * that dies costs at most `createsInFlight` extra tasks. The create's credit goes to `ledger`:
   * opened just before the send, settled with the outcome (createOutcomeOf); a failure is
   * rethrown as the client threw it, for the caller's policy.
   */
  async createTask(
    key: PooledKey,
    input: CreateTaskInput,
    record: (created: CreateTaskResult) => Promise<unknown>,
    ledger?: CreateLedger,
  ): Promise<CreateTaskResult> {
    const call: CreateCall = ledger ? { ledger, opened: false } : { opened: false };
    try {
      let created: CreateTaskResult;
      try {
        created = await this.createCall.run(call, () => key.client.createTask(input));
      } catch (error) {
        if (call.opened) await ledger?.settle(createOutcomeOf(error));
        throw error;
      }
      try {
        await record(created);
      } finally {
        // Recorded or not, the task exists: its credit is spent.
        await ledger?.settle('spent');
      }
      return created;
    } finally {
      call.exit?.();
    }
  }

  observeAnswers(observer: NonNullable<BudgetedKeyOptions['onAnswer']>): void {
    this.answerObserver = observer;
  }

  byBudgetKey(budgetKey: string): PooledKey | undefined {
    return this.keys.find((k) => k.budgetKey === budgetKey);
  }

  /** Rests a key after FitRoom refused it, and records why for the admin status page. */
  async keyProblem(budgetKey: string, error: FitRoomError, itemId: string | null): Promise<void> {
    await restRefusedKey(this, budgetKey, error, itemId);
  }
}
