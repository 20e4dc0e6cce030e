import type { RateLimiter } from '@tryon/rate-limiter';
import type { Admission } from '@tryon/scheduling';
import type { Logger } from 'pino';

/**
 * Requests a task in flight is still counted for: the poll that finds it done, and one more for
 * a task of the tail still running at its first.
 */
const REQUESTS_PROMISED_PER_TASK = 2;

interface KeyState {
  limit: number;
  /** Requests counted against the window now. */
  inUse: number;
  /** Tasks admitted to the key and not finished. */
  tasksInFlight: number;
  paused: boolean;
}

/**
 * How busy each key's budget is, read from the shared limiter and the admission line every
 * `refreshMs` and cached, so that scheduling decisions on the hot path cost no Redis round trip.
 */
export class BudgetMonitor {
  private readonly states = new Map<string, KeyState>();
  private itemsWaiting = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly limiter: RateLimiter,
    private readonly admission: Pick<Admission, 'stats'>,
    private readonly budgetKeys: string[],
    private readonly refreshMs: number,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'could not read budget usage'),
      );
    }, this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const [usages, line] = await Promise.all([
      Promise.all(this.budgetKeys.map((k) => this.limiter.usage(k))),
      this.admission.stats(this.budgetKeys),
    ]);
    this.itemsWaiting = line.parked;
    for (const usage of usages) {
      this.states.set(usage.budgetKey, {
        limit: usage.limit,
        inUse: usage.inUse,
        tasksInFlight: line.inFlight[usage.budgetKey] ?? 0,
        paused: usage.pausedMs > 0,
      });
    }
  }

  /**
   * The share of the key's window that is spent or promised: its requests in the window plus
   * REQUESTS_PROMISED_PER_TASK per task in flight, and 1 while items wait in the admission
   * line, since then every request a poll takes delays a create. Polls planned from the window's
   * use alone spend it early on a small batch and leave its last tasks waiting for the next one.
   */
  utilization(budgetKey: string): number {
    const state = this.states.get(budgetKey);
    if (!state || this.itemsWaiting > 0) return 1;
    const promised = state.tasksInFlight * REQUESTS_PROMISED_PER_TASK;
    return Math.min(1, (state.inUse + promised) / state.limit);
  }

  /** Requests free in the key's window at the last reading. */
  spareRequests(budgetKey: string): number {
    const state = this.states.get(budgetKey);
    return state ? Math.max(0, state.limit - state.inUse) : 0;
  }

  usableKeys(): string[] {
    return this.budgetKeys.filter((k) => this.states.get(k)?.paused !== true);
  }
}
