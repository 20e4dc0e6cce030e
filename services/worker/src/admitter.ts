import type { Logger } from 'pino';
import { tryonJob, tryonJobId, type TryonQueue } from '@tryon/queues';
import type { Records } from '@tryon/records';
import type { AcquireKind, RateLimiter } from '@tryon/rate-limiter';
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
/** A kind of request put first on a key stays so for this many ticks unless renewed. */
const FIRST_KIND_TICKS = 10;

export interface AdmitterOptions {
  admission: Admission;
  records: Records;
  monitor: BudgetMonitor;
  /** The budget: its limit and window, and which kind of request goes first. */
  limiter: Pick<RateLimiter, 'putFirst' | 'limit' | 'windowMs'>;
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
    const rooms = await Promise.all(
      keys.map(async (budgetKey) => {
        const tasksInFlight = monitor.outlook(budgetKey).tasksInFlight;
        const creates = await this.createsFirst(budgetKey, itemsWaiting, tasksInFlight);
        const key = { limit: rateLimit, windowMs: rateWindowMs, itemsWaiting, tasksInFlight };
        const closing = closingTasks({ ...key, mostTasksEndMs, createsFirst: creates });
        // Polls first while the line closes in rounds, creates first at its very end.
        await this.putFirst(budgetKey, creates ? 'other' : closing > 0 ? 'poll' : null);
        return {
          budgetKey,
          cap,
          spareRequests: monitor.spareRequests(budgetKey),
          closingTasks: closing,
        };
      }),
    );
    const admitted = await admission.admit(rooms, {
      normal: this.weight('normal'),
      hd: this.weight('hd'),
    });
    await this.wake(admitted);
  }

  /** Whether the key's creates should go first (createsFirst; counted only near the end). */
  private async createsFirst(
    budgetKey: string,
    itemsWaiting: number,
    tasksInFlight: number,
  ): Promise<boolean> {
    const { admission, limiter } = this.options;
    const key = { limit: limiter.limit, itemsWaiting, tasksInFlight };
    // Counting the creates still to come costs a read per task in flight: only when it can
    // change the answer, i.e. when the key would go creates first with all of them made.
    if (!createsFirst({ ...key, notCreated: 0 })) return false;
    return createsFirst({ ...key, notCreated: await admission.notCreated(budgetKey) });
  }

  /** What this process last wrote for each key: the kind first and until when (ms). */
  private readonly firstKinds = new Map<string, { kind: AcquireKind | null; until: number }>();

  /** Puts a kind of the key's requests first (or none), writing on a change or a renewal. */
  private async putFirst(budgetKey: string, kind: AcquireKind | null): Promise<void> {
    const { limiter, intervalMs } = this.options;
    const now = Date.now();
    const last = this.firstKinds.get(budgetKey);
    const forMs = FIRST_KIND_TICKS * intervalMs;
    if (last?.kind === kind && (kind === null || last.until - now > forMs / 2)) return;
    await limiter.putFirst(budgetKey, kind, forMs);
    this.firstKinds.set(budgetKey, { kind, until: now + forMs });
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
