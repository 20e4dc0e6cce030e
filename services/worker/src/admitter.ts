import type { Logger } from 'pino';
import { tryonJobId, type TryonQueue } from '@tryon/queues';
import {
  firstPollDelayMs,
  keyCap,
  type Admission,
  type DurationModel,
  type PollPolicy,
} from '@tryon/scheduling';
import type { BudgetMonitor } from './budget-monitor.js';

export interface AdmitterOptions {
  admission: Admission;
  monitor: BudgetMonitor;
  durations: DurationModel;
  pollPolicy: PollPolicy;
  queue: TryonQueue;
  rateLimit: number;
  rateWindowMs: number;
  intervalMs: number;
  logger: Logger;
}

/**
 * Runs in every worker process: whenever a key has room, takes the next waiting items in fair
 * order and wakes their jobs. The admission itself is one Lua script, so processes never admit
 * the same item twice; ticks are cheap when nothing waits.
 */
export class Admitter {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly options: AdmitterOptions) {}

  start(): void {
    this.timer = setInterval(() => this.poke(), this.options.intervalMs);
    this.timer.unref();
    this.poke();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Admit now (a slot was just released); coalesces with a tick already running. */
  poke(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.tick()
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'admission tick failed'))
      .finally(() => {
        this.running = null;
        if (this.again && this.timer) {
          this.again = false;
          this.poke();
        }
      });
  }

  /** How long an admitted task holds its slot: until the poll that finds it done, at saturation. */
  private weight(mode: 'normal' | 'hd'): number {
    const { durations, pollPolicy } = this.options;
    return 1 / Math.max(1, firstPollDelayMs(pollPolicy, durations.estimate(mode), 1));
  }

  private async tick(): Promise<void> {
    const { admission, monitor, queue, rateLimit, rateWindowMs } = this.options;
    const cap = keyCap(rateLimit, rateWindowMs);
    const rooms = monitor.usableKeys().map((budgetKey) => ({ budgetKey, cap }));
    const admitted = await admission.admit(rooms, {
      normal: this.weight('normal'),
      hd: this.weight('hd'),
    });
    await Promise.all(
      admitted.map(async ({ itemId, run }) => {
        const job = await queue.getJob(tryonJobId(itemId, run));
        // Not delayed: it has not parked yet, or is already running; it will see its key.
        if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
      }),
    );
  }
}
