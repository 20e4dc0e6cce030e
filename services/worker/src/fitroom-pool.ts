import { AsyncLocalStorage } from 'node:async_hooks';
import {
  FitRoomClient,
  FitRoomRateLimitedError,
  type CreateTaskInput,
  type CreateTaskResult,
  type FitRoomError,
} from '@tryon/fitroom-client';
import { RateLimiter, budgetKeyFor } from '@tryon/rate-limiter';
import type { Operations } from '@tryon/records';
import type { Logger } from 'pino';
import { Semaphore } from './semaphore.js';

export interface PooledKey {
  budgetKey: string;
  client: FitRoomClient;
}

export interface FitRoomPoolOptions {
  baseUrl: string;
  apiKeys: string[];
  limiter: RateLimiter;
  operations: Operations;
  timeoutMs: number;
  downloadTimeoutMs: number;
  /** FitRoom creates this process has sent and not yet recorded, at most (see createTask). */
  createsInFlight: number;
  logger: Logger;
}

/**
 * One FitRoom client per API key, each gated by the shared Redis budget of its key. Keys are
 * known by their budget name (a hash) everywhere outside this class.
 */
export class FitRoomPool {
  readonly keys: PooledKey[];
  private readonly limiter: RateLimiter;
  private readonly operations: Operations;
  private readonly logger: Logger;
  private readonly createGate: Semaphore;
  /** The create call a budget token is being taken for (see createTask). */
  private readonly createCall = new AsyncLocalStorage<{ exit?: () => void }>();

  constructor(options: FitRoomPoolOptions) {
    if (options.apiKeys.length === 0) throw new Error('FitRoomPool needs at least one API key');
    this.limiter = options.limiter;
    this.operations = options.operations;
    this.logger = options.logger;
    this.createGate = new Semaphore(options.createsInFlight);
    this.keys = options.apiKeys.map((apiKey) => {
      const budgetKey = budgetKeyFor(apiKey);
      const client = new FitRoomClient({
        baseUrl: options.baseUrl,
        apiKey,
        timeoutMs: options.timeoutMs,
        downloadTimeoutMs: options.downloadTimeoutMs,
        beforeRequest: async ({ signal, operation }) => {
          const token = await this.limiter.acquire(budgetKey, signal);
          const release = () => {
            this.limiter.release(token).catch((error: unknown) => {
              this.logger.warn({ err: error, budgetKey }, 'could not release a budget slot');
            });
          };
          // A create waits for its place once it holds its token, so no key waits on another's budget.
          const call = operation === 'createTask' ? this.createCall.getStore() : undefined;
          if (call) call.exit = await this.createGate.acquire();
          return release;
        },
      });
      return { budgetKey, client };
    });
  }

  /**
   * Creates a task and has `record` save its id before the place is given to another create of
   * this process. A task created but not recorded is paid again after a crash, so a process
   * that dies costs at most `createsInFlight` extra tasks.
   */
  async createTask(
    key: PooledKey,
    input: CreateTaskInput,
    record: (created: CreateTaskResult) => Promise<unknown>,
  ): Promise<CreateTaskResult> {
    const call: { exit?: () => void } = {};
    try {
      const created = await this.createCall.run(call, () => key.client.createTask(input));
      await record(created);
      return created;
    } finally {
      call.exit?.();
    }
  }

  byBudgetKey(budgetKey: string): PooledKey | undefined {
    return this.keys.find((k) => k.budgetKey === budgetKey);
  }

  /** Rests a key after FitRoom refused it, and records why for the admin status page. */
  async keyProblem(budgetKey: string, error: FitRoomError, itemId: string | null): Promise<void> {
    await this.operations.recordFitroomError({
      budgetKey,
      operation: error.operation ?? 'unknown',
      code: error.code,
      status: error.status ?? null,
      message: error.fitroomMessage ?? error.message,
      itemId,
    });
    await this.limiter.pauseAfterRefusal(
      budgetKey,
      error.code,
      error instanceof FitRoomRateLimitedError ? error.retryAfterMs : undefined,
    );
  }
}
