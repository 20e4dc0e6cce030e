import type { Logger } from 'pino';
import { tryonJob, tryonJobId, type TryonQueue } from '@tryon/queues';
import type { Records } from '@tryon/records';
import type { RateLimiter } from '@tryon/rate-limiter';
import {
  CLOSING_QUANTILE,
  closingTasks,
  createsFirst,
  distributionOf,
  firstPollDelayMs,
  keyCap,
  type Admission,
  type DurationModel,
  type PollPolicy,
} from '@tryon/scheduling';
import type { BudgetMonitor } from './budget-monitor.js';

/** Every this many ticks the admitter looks for admitted jobs still asleep. */
const SWEEP_EVERY_TICKS = 40;
/** A key put creates first stays so for this many ticks unless renewed (by any process). */
const CREATES_FIRST_TICKS = 10;

export interface AdmitterOptions {
  admission: Admission;
  records: Records;
  monitor: BudgetMonitor;
  /** The budget: its limit and window, and which kind of request goes first. */
  limiter: Pick<RateLimiter, 'putCreatesFirst' | 'limit' | 'windowMs'>;
  durations: DurationModel;
  pollPolicy: PollPolicy;
  queue: TryonQueue;
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
  private stopped = false;

  constructor(private readonly options: AdmitterOptions) {}

  start(): void {
    this.timer = setInterval(() => this.poke(), this.options.intervalMs);
    this.timer.unref();
    this.poke();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Admit now (a slot was just released); coalesces with a tick already running. */
  poke(): void {
    // Steps finishing while the worker closes release slots; their pokes must not outlive Redis.
    if (this.stopped) return;
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

  private ticks = 0;

  private async tick(): Promise<void> {
    const { admission, monitor, limiter } = this.options;
    const { limit: rateLimit, windowMs: rateWindowMs } = limiter;
    // Now and then, wake admitted items whose promotion was lost (an admitter that died
    // between admitting and promoting): there are only a few per key.
    if (this.ticks++ % SWEEP_EVERY_TICKS === 0) await this.wake(await admission.assigned());
    // Fresh: a burst admitted on a reading even 200 ms old could count requests already spent.
    await monitor.refresh();
    const cap = keyCap(rateLimit, rateWindowMs);
    const keys = monitor.usableKeys();
    // The line goes to every usable key: each sees its share of it.
    const itemsWaiting = monitor.itemsInLine() / Math.max(1, keys.length);
    const mostTasksEndMs = distributionOf(this.options.durations.estimate('normal')).quantile(
      CLOSING_QUANTILE,
    );
    const creates = await Promise.all(
      keys.map((budgetKey) => this.orderRequests(budgetKey, itemsWaiting)),
    );
    const rooms = keys.map((budgetKey, i) => ({
      budgetKey,
      cap,
      spareRequests: monitor.spareRequests(budgetKey),
      closingTasks: closingTasks({
        limit: rateLimit,
        windowMs: rateWindowMs,
        itemsWaiting,
        tasksInFlight: monitor.outlook(budgetKey).tasksInFlight,
        mostTasksEndMs,
        createsFirst: creates[i]!,
      }),
    }));
    const admitted = await admission.admit(rooms, {
      normal: this.weight('normal'),
      hd: this.weight('hd'),
    });
    await this.wake(admitted);
  }

  /** What this process last wrote for each key: creates first until then (ms), or polls first (0). */
  private readonly createsFirstUntil = new Map<string, number>();

  /**
   * Puts the key's creates or its polls first (see createsFirst), writing on a change or a
   * renewal; true for creates first.
   */
  private async orderRequests(budgetKey: string, itemsWaiting: number): Promise<boolean> {
    const { admission, monitor, limiter, intervalMs } = this.options;
    const tasksInFlight = monitor.outlook(budgetKey).tasksInFlight;
    // Counting the creates still to come costs a read per task in flight: only near the end.
    const near = 2 * itemsWaiting + tasksInFlight <= 2 * limiter.limit;
    const creates =
      near &&
      createsFirst({
        limit: limiter.limit,
        itemsWaiting,
        tasksInFlight,
        notCreated: await admission.notCreated(budgetKey),
      });
    const now = Date.now();
    const until = this.createsFirstUntil.get(budgetKey);
    const forMs = CREATES_FIRST_TICKS * intervalMs;
    if (creates) {
      if (until !== undefined && until - now > forMs / 2) return true;
      await limiter.putCreatesFirst(budgetKey, forMs);
      this.createsFirstUntil.set(budgetKey, now + forMs);
    } else if (until !== 0) {
      await limiter.putCreatesFirst(budgetKey, 0);
      this.createsFirstUntil.set(budgetKey, 0);
    }
    return creates;
  }

  /** Promotes the jobs of admitted items that are still asleep. */
  private async wake(admitted: { itemId: string; run: number }[]): Promise<void> {
    const { queue, records } = this.options;
    await Promise.all(admitted.map((item) => wakeAdmitted(queue, records, item)));
  }
}

/**
 * Wakes the job of an admitted item: promotes it while it sleeps in line, adds it when the
 * request that recorded the batch has not (yet, or ever) queued it.
 */
export async function wakeAdmitted(
  queue: Pick<TryonQueue, 'getJob' | 'add'>,
  records: Pick<Records, 'getItem'>,
  { itemId, run }: { itemId: string; run: number },
): Promise<void> {
  const jobId = tryonJobId(itemId, run);
  let job = await queue.getJob(jobId);
  if (!job) {
    const item = await records.getItem(itemId);
    if (item?.status !== 'queued') return;
    const { name, data, opts } = tryonJob(item);
    await queue.add(name, data, opts);
    // The api may have queued its sleeping job in between: ours was then a duplicate, and
    // that one sleeps for an hour unless promoted here.
    job = await queue.getJob(jobId);
    if (!job) return;
  }
  // Only a job still waiting for its admission: a job asleep until its next poll must not be
  // woken early (that poll would be wasted).
  if (job.data.taskId !== undefined) return;
  // Not delayed: it has not parked yet, or is already running; it will see its key.
  if (await job.isDelayed()) await job.promote().catch(() => undefined);
}
