import pMap from 'p-map';
import { isAssetId, resultExtension } from '@tryon/domain';
import { tryonJob, type TryonQueue } from '@tryon/queues';
import {
  BatchRetention,
  preparedInputKey,
  ResultCache,
  type ItemRecord,
  type PreparedRole,
  type Records,
} from '@tryon/records';
import { previousResultKey, type Storage } from '@tryon/storage';
import { batchNotFound } from '../errors.js';
import { itemPages } from './results-export.js';

/** Items copied and requeued at once. */
const LANES = 8;

export interface RerenderDeps {
  records: Records;
  storage: Storage;
  tryonQueue: TryonQueue;
}

export interface RerenderAnswer {
  dry_run: boolean;
  items: number;
  credits: number;
  item_ids: string[];
}

/**
 * "Re-render rejected": the batch's completed items a person rejected are rendered again as
 * fresh renders, in place. Each keeps its earlier result: the object is copied to
 * previousResultKey and listed in the item's `previous_results` (with the review it had), then
 * the item goes back to queued under a new run (a new job id), its review cleared.
 *
 * Fresh, not reused: the worker reuses a stored render of the same pair unless the batch asks
 * for fresh renders, so the rejected render is taken out of reuse first. For uploaded images
 * the API knows the pair's cache key and forgets it; the item's own result object is removed
 * after its copy, which is what the cache points to when this item rendered the pair itself.
 */
export class RerenderService {
  constructor(private readonly deps: RerenderDeps) {}

  /** What a re-render would do: the rejected completed items and their cost, nothing changed. */
  async preview(tenantId: string, batchId: string): Promise<RerenderAnswer> {
    const items = await this.rejected(tenantId, batchId);
    return answer(
      true,
      items.map((item) => item.id),
    );
  }

  async rerender(tenantId: string, batchId: string): Promise<RerenderAnswer> {
    const items = await this.rejected(tenantId, batchId);
    const reopened = await pMap(items, (item) => this.reopen(item), { concurrency: LANES });
    const ids = items.filter((_, i) => reopened[i]).map((item) => item.id);
    if (ids.length > 0) {
      await new BatchRetention(this.deps.records.redis, this.deps.records.prefix).keepBatch(
        batchId,
      );
      const fresh = await this.deps.records.getItems(ids);
      await this.deps.tryonQueue.addBulk(fresh.map((item) => tryonJob(item)));
    }
    return answer(false, ids);
  }

  private async rejected(tenantId: string, batchId: string): Promise<ItemRecord[]> {
    const batch = await this.deps.records.getBatch(batchId, tenantId);
    if (!batch) throw batchNotFound();
    const rejected: ItemRecord[] = [];
    for await (const page of itemPages(this.deps.records, batchId, 'completed')) {
      rejected.push(...page.filter((item) => item.review === 'rejected' && item.result));
    }
    return rejected;
  }

  /** Keeps the item's result and puts it back in the queue; false when it changed meanwhile. */
  private async reopen(item: ItemRecord): Promise<boolean> {
    const { records, storage } = this.deps;
    const result = item.result!;
    const source = await storage.get(result.key);
    if (!source) return false;
    const kept = previousResultKey(item.batch_id, item.id, item.run, resultExtension(result));
    await storage.put(kept, source.body, { contentType: result.content_type });
    const { changed } = await records.transition(item, ['completed'], 'queued', {
      run: item.run + 1,
      result: null,
      review: null,
      previous_results: [
        ...item.previous_results,
        { ...result, key: kept, review: item.review, replaced_at: new Date().toISOString() },
      ],
      error: null,
      fitroom_task_id: null,
      completed_at: null,
    });
    if (!changed) {
      await storage.delete(kept);
      return false;
    }
    await this.forgetRender(item);
    await storage.delete(result.key);
    return true;
  }

  /** Takes the pair's stored render out of reuse, when its images are uploaded assets. */
  private async forgetRender(item: ItemRecord): Promise<void> {
    const { redis, prefix } = this.deps.records;
    const refs: [string, PreparedRole][] = [
      [item.model, 'model'],
      [item.cloth, 'garment'],
      ...(item.lower_cloth ? [[item.lower_cloth, 'garment'] as [string, PreparedRole]] : []),
    ];
    if (!refs.every(([ref]) => isAssetId(ref))) return;
    const prepared = await redis.mget(
      ...refs.map(([ref, role]) => preparedInputKey(prefix, item.tenant_id, ref, role)),
    );
    if (prepared.some((key) => !key)) return;
    const [model, cloth, lowerCloth] = prepared as string[];
    const inputs = lowerCloth
      ? { model: model!, cloth: cloth!, lowerCloth }
      : { model: model!, cloth: cloth! };
    const cache = new ResultCache(redis, prefix);
    await redis.del(cache.key(ResultCache.pairKey(inputs, item.cloth_type, item.hd_mode)));
  }
}

/** One FitRoom credit per fresh render. */
const answer = (dryRun: boolean, ids: string[]): RerenderAnswer => ({
  dry_run: dryRun,
  items: ids.length,
  credits: ids.length,
  item_ids: ids,
});
