import type { RateLimiter } from '@tryon/rate-limiter';
import type { Admission, KeyOutlook } from '@tryon/scheduling';
import type { Logger } from 'pino';

interface KeyState {
  limit: number;
  /** Requests counted against the window at the reading. */
  inUse: number;
  /** When each of those frees, in ms from the reading, ascending. */
  freesInMs: number[];
  readAt: number;
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
  private refreshing: Promise<void> | null = null;

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

  /** A new reading (callers at the same moment share one). */
  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const [usages, line] = await Promise.all([
      Promise.all(this.budgetKeys.map((k) => this.limiter.usage(k))),
      this.admission.stats(this.budgetKeys),
    ]);
    this.itemsWaiting = line.parked;
    const readAt = Date.now();
    for (const usage of usages) {
      this.states.set(usage.budgetKey, {
        limit: usage.limit,
        inUse: usage.inUse,
        freesInMs: usage.freesInMs,
        readAt,
        tasksInFlight: line.inFlight[usage.budgetKey] ?? 0,
        paused: usage.pausedMs > 0,
      });
    }
  }

  /**
   * What the poll planner's pressure is read from (see poll-pacing.ts). Unknown keys and keys
   * with items waiting in line read as saturated.
   */
  outlook(budgetKey: string): KeyOutlook {
    const state = this.states.get(budgetKey);
    if (!state) return { itemsWaiting: true, tasksInFlight: 1, limit: 0, requestsWithin: () => 0 };
    return {
      itemsWaiting: this.itemsWaiting > 0,
      tasksInFlight: state.tasksInFlight,
      limit: state.limit,
      requestsWithin(horizonMs) {
        const until = horizonMs + state.readAt - Date.now();
        const freed = state.freesInMs.filter((ms) => ms <= until).length;
        return Math.max(0, state.limit - state.inUse) + freed;
      },
    };
  }

  /** Items waiting in the admission line at the last reading, for every key. */
  itemsInLine(): number {
    return this.itemsWaiting;
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
