import type { Redis } from 'ioredis';
import { RedisKeys } from '@tryon/redis';
import { admitItems } from './scripts/admit.js';
import { assignedItems } from './scripts/assigned.js';
import { lineDepths } from './scripts/depths.js';
import { notCreatedItems } from './scripts/not-created.js';
import { parkItem, parkItems } from './scripts/park.js';
import { releaseItem } from './scripts/release.js';
import type { WaitingBatch } from './eta.js';

export interface ParkedItem {
  id: string;
  batchId: string;
  tenantId: string;
  /** 0-10, higher first within the tenant. */
  priority: number;
}

export interface KeyRoom {
  budgetKey: string;
  /** Completions per ms the key may have in flight (see the notes above Admission). */
  cap: number;
  /**
   * Requests free in the key's window now: while they cover its tasks in flight and one more
   * (requestsPerTask each), another is admitted whatever the cap. 0 leaves only the cap.
   */
  spareRequests?: number;
  /** Tasks it may have in flight whatever the cap, the line's end (see closingTasks). 0: none. */
  closingTasks?: number;
}

export interface Admitted {
  itemId: string;
  run: number;
  budgetKey: string;
}

export interface AdmissionStats {
  parked: number;
  inFlight: Record<string, number>;
}

const PARK_CHUNK = 2_000;

/**
 * What a burst counts per task: a create, the poll that finds it done, and room for a second
 * poll for one task in five (`pnpm bench latency` measures 2.1-2.16 requests per task at
 * saturation with long-tailed durations). At 2 a burst of 30 spends the whole window, and the
 * few tasks still running at their first poll wait a minute for the next one.
 */
export const BURST_REQUESTS_PER_TASK = 2.2;

function triples(flat: string[]): Admitted[] {
  const admitted: Admitted[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    admitted.push({ itemId: flat[i]!, run: Number(flat[i + 1]), budgetKey: flat[i + 2]! });
  }
  return admitted;
}

/**
 * Admission control and fair share, as Lua (scripts/) so that any number of worker processes
 * share one queue of waiting items without a leader.
 *
 * Waiting items are parked per batch (a FIFO list). Batches are ordered within their tenant by
 * priority, then round-robin; tenants are served round-robin. Whenever a budget key has room,
 * the next item goes to that key: a tenant that just arrived waits for at most one admission
 * behind a tenant with ten thousand items.
 *
 * Room on a key is measured in completions per millisecond: an admitted task holds a weight of
 * 1/W, W being how long it will occupy FitRoom (its expected duration up to the poll that finds
 * it finished). Little's law: a key completes about sum(1/W) tasks per ms, and its budget
 * allows limit / (2 * window) (one create and one poll per task); the cap is that times a little
 * slack. So about 5 normal tasks or 15 HD tasks are in flight per key, and mixed modes share.
 *
 * That rate is the budget's pace once its window is full. A window with free requests (the start
 * of a burst, or a minute after the last one) can serve more at once: a key also has room while
 * its free requests cover all its tasks in flight plus one more, at requestsPerTask each (a
 * create and the poll that finds it done). A 12-item batch then starts whole in a free window
 * instead of in rounds of five, and its polls still fit, since every task in flight is counted
 * as if none of its requests were made yet. At the line's end a key may have more in flight
 * still, whatever the weights: see closingTasks below.
 *
 * Keys (named by @tryon/redis's RedisKeys, admission*): the tenants ring, each tenant's batches,
 * each batch's line, the parked set, a sequence, each budget key's in-flight weights and the
 * item -> key assignments. Items' status, mode and run are read from their hashes.
 */

/** The waiting room in front of FitRoom: fair order across tenants, a cap per key. */
export class Admission {
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  /** Puts an item in line; a no-op when it is already waiting or already admitted. */
  async park(item: ParkedItem): Promise<boolean> {
    return parkItem(this.redis, this.keys, {
      ...item,
      priority: Math.min(10, Math.max(0, Math.round(item.priority))),
    });
  }

  /** Parks a batch's items at once, in order; items already waiting or admitted are skipped. */
  async parkMany(
    batch: { id: string; tenantId: string; priority: number },
    itemIds: string[],
  ): Promise<number> {
    const priority = Math.min(10, Math.max(0, Math.round(batch.priority)));
    let parked = 0;
    for (let start = 0; start < itemIds.length; start += PARK_CHUNK) {
      const chunk = itemIds.slice(start, start + PARK_CHUNK);
      parked += await parkItems(this.redis, this.keys, { ...batch, priority }, chunk);
    }
    return parked;
  }

  /** Every admitted item, with the run its job belongs to. */
  async assigned(): Promise<Admitted[]> {
    const flat = await assignedItems(this.redis, this.keys);
    return triples(flat);
  }

  /**
   * Admits waiting items in fair order while the given keys have room, each to the key with the
   * most room. Keys that are paused must be left out by the caller.
   */
  async admit(
    keys: KeyRoom[],
    weights: { normal: number; hd: number },
    maxAdmissions = 100,
    requestsPerTask = BURST_REQUESTS_PER_TASK,
  ): Promise<Admitted[]> {
    if (keys.length === 0) return [];
    const rooms = keys.map((k) => ({
      ...k,
      spareRequests: k.spareRequests ?? 0,
      closingTasks: k.closingTasks ?? 0,
    }));
    const flat = await admitItems(this.redis, this.keys, rooms, {
      weightNormal: weights.normal,
      weightHd: weights.hd,
      maxAdmissions,
      requestsPerTask,
    });
    return triples(flat);
  }

  /** The key an item was admitted to, or null while it waits. */
  async assignedKey(itemId: string): Promise<string | null> {
    return this.redis.hget(this.keys.admissionAssigned(), itemId);
  }

  /** How many items admitted to the key have no FitRoom task yet. */
  async notCreated(budgetKey: string): Promise<number> {
    return notCreatedItems(this.redis, this.keys, budgetKey);
  }

  /** Gives an item's slot back (finished, failed, cancelled, or moving to another key). */
  async release(itemId: string): Promise<boolean> {
    return releaseItem(this.redis, this.keys, itemId);
  }

  /** Every batch with items in line (how many, its tenant and priority) and the admitted count. */
  async depths(): Promise<{ line: WaitingBatch[]; admitted: number }> {
    const flat = await lineDepths(this.redis, this.keys);
    const admitted = Number(flat.pop() ?? 0);
    const line: WaitingBatch[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      const waiting = Number(flat[i + 3]);
      if (waiting === 0) continue;
      line.push({
        tenantId: String(flat[i]),
        batchId: String(flat[i + 1]),
        // The score is (10 - priority) * 1e12 + the sequence of its last service (PARK).
        priority: 10 - Math.floor(Number(flat[i + 2]) / 1e12),
        waiting,
      });
    }
    return { line, admitted };
  }

  async stats(budgetKeys: string[]): Promise<AdmissionStats> {
    const pipeline = this.redis.pipeline().scard(this.keys.admissionParked());
    for (const key of budgetKeys) pipeline.hlen(this.keys.admissionInFlight(key));
    const results = (await pipeline.exec()) ?? [];
    const inFlight: Record<string, number> = {};
    budgetKeys.forEach((key, i) => (inFlight[key] = Number(results[i + 1]?.[1] ?? 0)));
    return { parked: Number(results[0]?.[1] ?? 0), inFlight };
  }
}

/**
 * A key's cap in completions per ms: its budget allows limit / window requests per ms, two per
 * task (a create and a poll). The slack covers what the weights leave out: an admitted item
 * also holds its slot while its inputs are prepared, while its create waits for a token and
 * until its poll gets one (overheads a time-scaled run magnifies). Too little slack leaves the
 * budget idle; too much only lengthens each task's wait for its poll, since polls are timed
 * from the create, not from admission.
 */
export function keyCap(limit: number, windowMs: number, slack = 1.6): number {
  return (limit / (2 * windowMs)) * slack;
}

/** The closing rounds need this share of the tasks to end within a window (closingTasks). */
export const CLOSING_QUANTILE = 0.9;

/**
 * How many tasks a key may have in flight, whatever their weights, while the line it serves is
 * nearly done: a whole window's worth (limit) once the items waiting for the key and its tasks
 * in flight fit in two rounds of creates and polls (2 x limit tasks) and most tasks (the learned
 * CLOSING_QUANTILE) end within a window, and every item left once its creates go first
 * (createsFirst); 0 (keyCap alone) otherwise.
 *
 * Why: FitRoom counts requests in any rolling window, so after a burst a key's requests come
 * back a window at a time, and a batch's last request cannot go before the window in which its
 * 2N-th falls. The batch ends there only if that last window holds nothing but polls of tasks
 * already done: every create must go a window earlier, so as many tasks as a window has
 * requests must be in flight at once, which the steady cap (about two thirds of that) forbids.
 * With the whole window the line's end runs in rounds: a window of creates, a window of their polls
 * (each the task's only one, since a window is longer than nearly every task; the admitter puts the
 * key's waiting polls before its creates), and the batch ends with its last window instead of one
 * task duration after it. Once the next window is the last but one, the line's last items are
 * admitted at once, so that their creates wait for it ahead of the polls (admitted as polls finish,
 * they would come too late to claim it). The price is lag: a finished task waits for the next
 * round, up to a window. A long line keeps the steady cap, whose lag is shorter, until its end.
 * Tasks longer than a window need a second poll each in such rounds: when they are more than a few,
 * the steady cap stays.
 */
export function closingTasks(options: {
  limit: number;
  windowMs: number;
  itemsWaiting: number;
  tasksInFlight: number;
  /** The learned duration's CLOSING_QUANTILE. */
  mostTasksEndMs: number;
  createsFirst: boolean;
}): number {
  const left = options.itemsWaiting + options.tasksInFlight;
  const closing = left <= 2 * options.limit && options.mostTasksEndMs <= options.windowMs;
  if (!closing) return 0;
  return options.createsFirst ? Math.ceil(left) : options.limit;
}

/**
 * Whether a key's creates should go before its polls (RateLimiter.putFirst): once the
 * requests left for it fit in two windows, two per waiting item and per admitted item not
 * created yet, one per task created (its poll). Until then, in the closing rounds, polls go
 * first (a window of polls, then a window of creates). From then on the next window is the
 * last but one, and the line's last creates must go in it: a poll pushed to the
 * last window delays one result, a create pushed there delays the batch by a task duration.
 * (80 items on a fresh key: 60 creates; the other 20 share the second window with the first
 * 60's polls instead of coming after them in the third.)
 */
export function createsFirst(options: {
  limit: number;
  itemsWaiting: number;
  /** Admitted to the key and not finished, created or not. */
  tasksInFlight: number;
  notCreated: number;
}): boolean {
  const requestsLeft = 2 * options.itemsWaiting + options.tasksInFlight + options.notCreated;
  return requestsLeft <= 2 * options.limit;
}
