import { expect } from 'vitest';
import type { RunningSim } from '@tryon/fitroom-sim';
import type { ItemRecord, Records } from '@tryon/records';
import type { Storage } from '@tryon/storage';
import { eventually } from '@tryon/testing';
import { storeAsset } from '../support.js';

/**
 * Settings that make crash recovery and retries quick at test time scales: a killed worker's
 * steps are retried within seconds, retries start at 100 ms, the sweep runs every second.
 */
export const FAST_RECOVERY: Record<string, string> = {
  WORKER_LOCK_DURATION_MS: '4000',
  WORKER_STALLED_INTERVAL_MS: '1000',
  TRYON_RETRY_BACKOFF_MS: '100',
  WORKER_SWEEP_INTERVAL_MS: '1000',
  // A slot taken by a request whose process died frees after a window plus this.
  FITROOM_TIMEOUT_MS: '5000',
};

/** `count` items over a few stored images (fresh renders: every item pays for its own task). */
export async function catalog(
  records: Records,
  storage: Storage,
  count: number,
  tenantId = 'acme',
): Promise<{ model: string; cloth: string; cloth_type: 'upper'; external_id: string }[]> {
  const models = await Promise.all(
    [0, 1, 2].map((i) => storeAsset(records, storage, tenantId, { r: 20 + i, g: 40, b: 90 })),
  );
  const garments = await Promise.all(
    [0, 1, 2, 3].map((i) => storeAsset(records, storage, tenantId, { r: 220, g: 30 * i, b: 10 })),
  );
  return Array.from({ length: count }, (_, i) => ({
    model: models[i % models.length]!,
    cloth: garments[i % garments.length]!,
    cloth_type: 'upper' as const,
    external_id: `sku-${i}`,
  }));
}

/** Items done (completed, failed, cancelled) so far. */
export async function finishedCount(records: Records, batchId: string): Promise<number> {
  const batch = await records.getBatch(batchId);
  if (!batch) throw new Error(`batch ${batchId} is gone`);
  return batch.counts.completed + batch.counts.failed + batch.counts.cancelled;
}

/**
 * Waits for the batch to finish, then checks what every fault test promises: each item ended
 * completed (with a stored result) or failed with a reason, none is left queued or running,
 * and the batch's counts agree exactly with its items.
 */
export async function expectSettled(
  records: Records,
  storage: Storage,
  batchId: string,
  total: number,
  timeoutMs = 120_000,
): Promise<{ items: ItemRecord[]; completed: number; failed: number }> {
  const batch = await eventually(
    () => records.getBatch(batchId),
    (b) => b?.status === 'completed',
    { timeoutMs, intervalMs: 250 },
  );
  const ids = await records.itemIds(batchId);
  expect(ids).toHaveLength(total);
  const items = await Promise.all(ids.map(async (id) => (await records.getItem(id))!));
  const completed = items.filter((i) => i.status === 'completed');
  const failed = items.filter((i) => i.status === 'failed');
  expect(completed.length + failed.length).toBe(total);
  expect(batch!.counts).toEqual({
    total,
    queued: 0,
    running: 0,
    completed: completed.length,
    failed: failed.length,
    cancelled: 0,
  });
  for (const item of failed) {
    expect(item.error?.code, item.id).toMatch(/\w/);
    expect(item.error?.message, item.id).toMatch(/\w/);
  }
  const stored = await Promise.all(completed.map((item) => storage.head(item.result!.key)));
  expect(stored.filter((head) => head === null)).toEqual([]);
  return { items, completed: completed.length, failed: failed.length };
}

/** FitRoom tasks the simulator created (each one a credit paid), over all keys. */
export function createsOf(sim: RunningSim): number {
  return Object.values(sim.stats().keys).reduce((sum, key) => sum + key.creates, 0);
}

/** Log lines a process wrote at error level or above, and any sign of an unhandled error. */
export function errorLines(output: string): string[] {
  return output.split('\n').filter((line) => {
    if (/unhandled|uncaught/i.test(line)) return true;
    try {
      return (JSON.parse(line) as { level?: number }).level! >= 50;
    } catch {
      // Not JSON: anything a process printed outside its logger is suspect.
      return line.trim() !== '';
    }
  });
}
