import type { Redis } from 'ioredis';
import { ADMIT, ASSIGNED, DEPTHS, PARK, PARK_MANY, RELEASE } from './admission-scripts.js';
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
  /** Completions per ms the key may have in flight (see admission-scripts.ts). */
  cap: number;
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

function triples(flat: string[]): Admitted[] {
  const admitted: Admitted[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    admitted.push({ itemId: flat[i]!, run: Number(flat[i + 1]), budgetKey: flat[i + 2]! });
  }
  return admitted;
}

/** The waiting room in front of FitRoom: fair order across tenants, a cap per key. */
export class Admission {
  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
  ) {}

  /** Puts an item in line; a no-op when it is already waiting or already admitted. */
  async park(item: ParkedItem): Promise<boolean> {
    const parked = await this.redis.eval(
      PARK,
      0,
      this.prefix,
      item.id,
      item.batchId,
      item.tenantId,
      Math.min(10, Math.max(0, Math.round(item.priority))),
    );
    return parked === 1;
  }

  /** Parks a batch's items at once, in order; items already waiting or admitted are skipped. */
  async parkMany(
    batch: { id: string; tenantId: string; priority: number },
    itemIds: string[],
  ): Promise<number> {
    const priority = Math.min(10, Math.max(0, Math.round(batch.priority)));
    let parked = 0;
    for (let start = 0; start < itemIds.length; start += PARK_CHUNK) {
      parked += (await this.redis.eval(
        PARK_MANY,
        0,
        this.prefix,
        batch.id,
        batch.tenantId,
        priority,
        ...itemIds.slice(start, start + PARK_CHUNK),
      )) as number;
    }
    return parked;
  }

  /** Every admitted item, with the run its job belongs to. */
  async assigned(): Promise<Admitted[]> {
    const flat = (await this.redis.eval(ASSIGNED, 0, this.prefix)) as string[];
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
  ): Promise<Admitted[]> {
    if (keys.length === 0) return [];
    const flat = (await this.redis.eval(
      ADMIT,
      0,
      this.prefix,
      weights.normal,
      weights.hd,
      maxAdmissions,
      ...keys.flatMap((k) => [k.budgetKey, k.cap]),
    )) as string[];
    return triples(flat);
  }

  /** The key an item was admitted to, or null while it waits. */
  async assignedKey(itemId: string): Promise<string | null> {
    return this.redis.hget(`${this.prefix}:adm:assigned`, itemId);
  }

  /** Gives an item's slot back (finished, failed, cancelled, or moving to another key). */
  async release(itemId: string): Promise<boolean> {
    return (await this.redis.eval(RELEASE, 0, this.prefix, itemId)) === 1;
  }

  /** Every batch with items in line (how many, its tenant and priority) and the admitted count. */
  async depths(): Promise<{ line: WaitingBatch[]; admitted: number }> {
    const flat = (await this.redis.eval(DEPTHS, 0, this.prefix)) as (string | number)[];
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
    const pipeline = this.redis.pipeline().scard(`${this.prefix}:adm:parked`);
    for (const key of budgetKeys) pipeline.hlen(`${this.prefix}:adm:inflight:${key}`);
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
