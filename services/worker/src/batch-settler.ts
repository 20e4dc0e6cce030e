import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import {
  publicBatch,
  type BatchRecord,
  type BatchRetention,
  type ItemRecord,
  type Records,
} from '@tryon/records';
import { manifestKey, type Storage } from '@tryon/storage';

export interface BatchSettlerOptions {
  records: Records;
  retention: BatchRetention;
  storage: Storage;
  /** How long a finished batch's records stay in Redis (RETENTION_DAYS). */
  retentionMs: number;
  logger: Logger;
}

/** One line of a batch manifest. */
export interface ManifestItem {
  id: string;
  external_id: string | null;
  status: ItemRecord['status'];
  result_key: string | null;
  error: ItemRecord['error'];
}

const PAGE = 1_000;

/**
 * Settles a finished batch: writes its manifest (every item's state, result key and error) to
 * `results/{batch_id}/manifest.json` next to its results, then gives its Redis records their
 * expiry. Idempotent, so the worker that finished the batch and the sweep may both call it.
 */
export class BatchSettler {
  constructor(private readonly options: BatchSettlerOptions) {}

  /** True when the batch is settled (or gone); false when it is not finished (or open again). */
  async settle(batchId: string): Promise<boolean> {
    const { records, retention, storage, retentionMs } = this.options;
    const batch = await records.getBatch(batchId);
    // Gone (expired, deleted): expireBatch only takes it off the live set.
    if (!batch) return retention.expireBatch(batchId, retentionMs);
    if (batch.completed_at === null) return false;
    await storage.put(manifestKey(batchId), this.manifest(batch), {
      contentType: 'application/json',
    });
    return retention.expireBatch(batchId, retentionMs);
  }

  /** settle(), with a failure logged and left for the sweep to try again. */
  async settleOrLeave(batchId: string): Promise<void> {
    try {
      await this.settle(batchId);
    } catch (error) {
      this.options.logger.warn(
        { err: error, batchId },
        'could not settle a finished batch (manifest, expiry); the sweep will try again',
      );
    }
  }

  /** The manifest as a stream of JSON text, one page of items at a time. */
  private manifest(batch: BatchRecord): Readable {
    const { records, retentionMs } = this.options;
    async function* text(): AsyncGenerator<string> {
      const head = {
        batch: publicBatch(batch),
        generated_at: new Date().toISOString(),
        records_expire_at: new Date(Date.now() + retentionMs).toISOString(),
      };
      yield `${JSON.stringify(head).slice(0, -1)},"items":[`;
      let cursor: string | undefined;
      let first = true;
      do {
        const page = await records.listItems(batch.id, { limit: PAGE, cursor });
        const lines = page.items.map((item) => {
          const line: ManifestItem = {
            id: item.id,
            external_id: item.external_id,
            status: item.status,
            result_key: item.result?.key ?? null,
            error: item.error,
          };
          return JSON.stringify(line);
        });
        if (lines.length > 0) yield `${first ? '' : ','}\n${lines.join(',\n')}`;
        first &&= lines.length === 0;
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      yield '\n]}\n';
    }
    return Readable.from(text());
  }
}
