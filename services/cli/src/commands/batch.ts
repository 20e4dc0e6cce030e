import type { Batch } from '@tryon/domain';
import { EXIT } from '../errors.js';
import { isFinished } from '../feed.js';
import { note, printJson, say, type Context } from '../output.js';
import {
  describeCounts,
  finishedCount,
  formatDuration,
  interruptSignal,
  watchBatch,
} from '../progress.js';
import { plural, tryonCommand } from '../wording.js';

/**
 * 0 when every item completed (outcome `succeeded`); 1 when any item failed or was cancelled
 * (outcome `partial`, `failed` or `cancelled`), so a script cannot mistake a batch where
 * nothing worked for a good one. Counts decide when the API sends no outcome (an older API).
 */
export function batchExitCode(batch: Batch): number {
  if (batch.outcome) return batch.outcome === 'succeeded' ? EXIT.ok : EXIT.itemsFailed;
  const { counts } = batch;
  return counts.failed > 0 || counts.cancelled > 0 || batch.status === 'cancelled'
    ? EXIT.itemsFailed
    : EXIT.ok;
}

/** Follows a batch with the live display until it is finished or Ctrl-C. */
export async function awaitBatch(ctx: Context, batchId: string) {
  const interrupt = interruptSignal();
  try {
    return await watchBatch(ctx.client, batchId, { quiet: ctx.json, signal: interrupt.signal });
  } finally {
    interrupt.dispose();
  }
}

/** The end of a watch, for people: counts, time taken, the first failures and what next. */
export async function summarize(ctx: Context, batch: Batch): Promise<void> {
  if (ctx.json) return;
  const { counts } = batch;
  // After a retry, the time taken is that of the retry, not since the batch was created.
  const since = batch.retried_at ?? batch.created_at;
  const took = batch.completed_at
    ? ` in ${formatDuration(Date.parse(batch.completed_at) - Date.parse(since))}`
    : '';
  const state = batch.status === 'cancelled' ? 'cancelled' : 'finished';
  const outcome = batch.outcome ? ` (${batch.outcome})` : '';
  note(
    ctx,
    `Batch ${batch.id} ${state}${took}${outcome}: ${counts.completed} completed, ` +
      `${counts.failed} failed` +
      (counts.cancelled > 0 ? `, ${counts.cancelled} cancelled` : '') +
      '.',
  );
  if (counts.failed > 0) {
    const page = await ctx.client.listItems(batch.id, { status: 'failed', limit: 5 });
    for (const item of page.items) {
      const error = item.error ? `${item.error.code}: ${item.error.message}` : 'failed';
      note(ctx, `  ${item.external_id ?? item.id}: ${error}`);
    }
    if (counts.failed > page.items.length) {
      note(ctx, `  ... and ${counts.failed - page.items.length} more`);
    }
    note(ctx, `Retry the failed items with: ${tryonCommand(`retry ${batch.id} --wait`)}`);
  }
  if (counts.completed > 0) {
    note(ctx, `Download the results with: ${tryonCommand(`download ${batch.id} --out DIR`)}`);
  }
}

export async function status(ctx: Context, batchId: string): Promise<number> {
  const batch = await ctx.client.getBatch(batchId);
  if (ctx.json) printJson(batch);
  const { counts } = batch;
  const percent = Math.floor((counts.total ? finishedCount(counts) / counts.total : 1) * 100);
  say(
    ctx,
    [
      `${batch.id}  ${batch.status}  ${percent}% (${finishedCount(counts)}/${counts.total} finished)`,
      `  ${describeCounts(counts)}`,
      `  created ${batch.created_at}, finished ${batch.completed_at ?? '-'}`,
    ].join('\n'),
  );
  return batchExitCode(batch);
}

export async function watch(ctx: Context, batchId: string): Promise<number> {
  const watched = await awaitBatch(ctx, batchId);
  if (ctx.json && watched.batch) printJson(watched.batch);
  if (!watched.finished || !watched.batch) {
    note(
      ctx,
      `Stopped watching; the batch goes on. Follow it with: ${tryonCommand(`watch ${batchId}`)}`,
    );
    return EXIT.interrupted;
  }
  await summarize(ctx, watched.batch);
  return batchExitCode(watched.batch);
}

export async function retry(
  ctx: Context,
  batchId: string,
  options: { wait?: boolean },
): Promise<number> {
  const before = await ctx.client.getBatch(batchId);
  const after = await ctx.client.retryBatch(batchId);
  const requeued = Math.max(0, before.counts.failed - after.counts.failed);
  if (!options.wait) {
    if (ctx.json) printJson(after);
    say(
      ctx,
      `${after.id}: ${plural(requeued, 'failed item')} queued again (${describeCounts(after.counts)})`,
    );
    return EXIT.ok;
  }
  note(ctx, `${after.id}: ${plural(requeued, 'failed item')} queued again`);
  if (isFinished(after)) {
    if (ctx.json) printJson(after);
    await summarize(ctx, after);
    return batchExitCode(after);
  }
  return watch(ctx, batchId);
}

export async function cancel(ctx: Context, batchId: string): Promise<number> {
  const before = await ctx.client.getBatch(batchId);
  const after = await ctx.client.cancelBatch(batchId);
  if (ctx.json) printJson(after);
  const cancelled = Math.max(0, after.counts.cancelled - before.counts.cancelled);
  const { running } = after.counts;
  const finishing =
    running > 0
      ? `; ${plural(running, 'running item')} ${running === 1 ? 'finishes' : 'finish'}`
      : '';
  say(ctx, `${after.id}: ${plural(cancelled, 'queued item')} cancelled${finishing}`);
  return EXIT.ok;
}
