import type { ItemError } from '@tryon/domain';
import { publicBatch, publicItem, type ItemRecord, type TransitionResult } from '@tryon/records';
import { batchCompletedEvent, itemEvent, tryonJobId, webhookJob } from '@tryon/queues';
import type { TryonDeps } from './step.js';

type ItemEventType = 'item.completed' | 'item.failed';

/**
 * Ends an item for good: its final state, its admission slot, its webhook events. Every way an
 * item finishes (the notify step, a failure, a reused render, a dead job) goes through here.
 */
export class ItemFinisher {
  constructor(private readonly deps: TryonDeps) {}

  /** True when this call finished the item (false: it was finished or cancelled already). */
  async finish(
    item: ItemRecord,
    outcome: 'completed' | 'failed',
    error: ItemError | null,
  ): Promise<boolean> {
    const transition = await this.deps.records.transition(
      item,
      ['queued', 'running'],
      outcome,
      { error, completed_at: Date.now() },
      { run: item.run },
    );
    // A job of an earlier run (it outlived a retry): the item, its slot and task are not its own.
    if (transition.stale) return false;
    await this.deps.operations.taskEnded(item.id);
    await this.releaseSlot(item.id);
    if (!transition.changed) return false;
    if (transition.batchFinished) await this.deps.onBatchFinished?.(item.batch_id);
    await this.emitEvents(item, eventType(outcome), transition);
    return true;
  }

  /** After a crash between the final transition and the events, send them again (deduplicated). */
  async reemitAfterCrash(item: ItemRecord): Promise<void> {
    const batch = await this.deps.records.getBatch(item.batch_id);
    const finished = batch?.completed_at !== null && batch !== null;
    await this.emitEvents(item, eventType(item.status === 'completed' ? 'completed' : 'failed'), {
      batchFinished: finished,
      completionSeq: batch?.completion_seq ?? 0,
    });
  }

  /** Gives the item's admission slot back, and wakes the admitter when there was one. */
  async releaseSlot(itemId: string): Promise<void> {
    if (await this.deps.admission.release(itemId)) this.deps.onSlotReleased();
  }

  /**
   * Fails an item whose job ended for good without finishing it (BullMQ gave up on a job that
   * kept losing its worker, or the sweep found such a job). False when the item is not open or
   * has moved on to another run.
   */
  async abandon(itemId: string, jobId: string, reason: ItemError): Promise<boolean> {
    const item = await this.deps.records.getItem(itemId);
    if (!item || tryonJobId(item.id, item.run) !== jobId) return false;
    if (item.status !== 'queued' && item.status !== 'running') return false;
    await this.finish(item, 'failed', reason);
    return true;
  }

  private async emitEvents(
    item: ItemRecord,
    type: ItemEventType,
    transition: Pick<TransitionResult, 'batchFinished' | 'completionSeq'>,
  ): Promise<void> {
    const { records, publicUrl, webhookRetryScheduleMs } = this.deps;
    const batch = await records.getBatch(item.batch_id);
    if (!batch?.webhook_url) return;
    const target = { tenantId: batch.tenant_id, batchId: batch.id, url: batch.webhook_url };
    const fresh = (await records.getItem(item.id)) ?? item;
    const jobs = [
      webhookJob(
        itemEvent(target, publicItem(fresh, publicUrl), item.run, type),
        webhookRetryScheduleMs,
      ),
    ];
    if (transition.batchFinished) {
      jobs.push(
        webhookJob(
          batchCompletedEvent(target, publicBatch(batch), transition.completionSeq),
          webhookRetryScheduleMs,
        ),
      );
    }
    // Job ids are the event ids: emitting again after a crash adds nothing twice.
    await this.deps.webhookQueue.addBulk(jobs);
  }
}

function eventType(outcome: 'completed' | 'failed'): ItemEventType {
  return outcome === 'completed' ? 'item.completed' : 'item.failed';
}
