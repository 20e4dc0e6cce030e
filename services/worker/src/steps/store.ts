import { FitRoomDownloadExpiredError } from '@tryon/fitroom-client';
import { MEDIA_TYPES, WEB_IMAGE_TYPES, extensionForContentType } from '@tryon/domain';
import { resultKey } from '@tryon/storage';
import { StaleRunError, type Step } from './step.js';

/**
 * Store: downloads the render from FitRoom's signed URL into results/{batch}/{item}.{ext},
 * remembers it for reuse by the same pair, and records it on the item.
 */
export const storeStep: Step = async (env, run) => {
  const { deps } = env;
  const { data, item } = run;
  const key = data.budgetKey ? deps.pool.byBudgetKey(data.budgetKey) : undefined;
  if (!key || !data.downloadUrl) return { next: { ...data, step: 'poll' } };
  let download;
  try {
    download = await key.client.downloadResult(data.downloadUrl);
  } catch (error) {
    if (!(error instanceof FitRoomDownloadExpiredError)) throw error;
    // A poll answers a fresh signed URL.
    deps.logger.info(
      { jobId: run.jobId, itemId: item.id, taskId: data.taskId },
      'download link expired; polling for a fresh one',
    );
    return { next: { ...data, step: 'poll', downloadUrl: undefined } };
  }
  const { ext, contentType } = resultType(download.contentType);
  const stored = await deps.storage.put(resultKey(item.batch_id, item.id, ext), download.body, {
    contentType,
  });
  const result = {
    key: stored.key,
    bytes: stored.bytes,
    sha256: stored.sha256,
    content_type: stored.contentType,
  };
  if (data.pairKey) await deps.resultCache.set(data.pairKey, result);
  if (!(await deps.records.updateItemOfRun(item, { result }))) throw new StaleRunError();
  return { next: { ...data, step: 'notify' } };
};

/** A web image type is stored as it came; anything else is labelled JPEG, FitRoom's default. */
export function resultType(contentType: string): { ext: string; contentType: string } {
  const ext = extensionForContentType(contentType);
  const type = ext === undefined ? undefined : MEDIA_TYPES[ext];
  if (ext === undefined || type === undefined || !WEB_IMAGE_TYPES.includes(type)) {
    return { ext: 'jpg', contentType: 'image/jpeg' };
  }
  return { ext, contentType: type };
}
