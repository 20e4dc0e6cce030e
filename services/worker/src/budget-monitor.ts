import type { RateLimiter } from '@tryon/rate-limiter';
import type { Logger } from 'pino';

interface KeyState {
  utilization: number;
  paused: boolean;
}

/**
 * How busy each key's budget is, read from the shared limiter every `refreshMs` and cached, so
 * that scheduling decisions on the hot path cost no Redis round trip.
 */
export class BudgetMonitor {
  private readonly states = new Map<string, KeyState>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly limiter: RateLimiter,
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
    const usages = await Promise.all(this.budgetKeys.map((k) => this.limiter.usage(k)));
    for (const usage of usages) {
      this.states.set(usage.budgetKey, {
        utilization: usage.inUse / usage.limit,
        paused: usage.pausedMs > 0,
      });
    }
  }

  utilization(budgetKey: string): number {
    return this.states.get(budgetKey)?.utilization ?? 1;
  }

  usableKeys(): string[] {
    return this.budgetKeys.filter((k) => this.states.get(k)?.paused !== true);
  }
}
