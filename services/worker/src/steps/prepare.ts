import { extensionForContentType } from '@tryon/domain';
import type { ItemRecord } from '@tryon/records';
import { resultKey, StorageError } from '@tryon/storage';
import { inputCheckProblem, type PooledKey } from '@tryon/fitroom-gateway';
import { loadPrepared, prepareImage } from '../prepare.js';
import { ResultCache } from '../result-cache.js';
import { ItemFailure, StaleRunError, type Step, type StepEnv, type StepRun } from './step.js';

/**
 * Prepare: the inputs fetched and sized for FitRoom. A pair rendered before completes the item
 * from the stored render; a batch with input checks has its model photo checked first.
 */
/** Prepared inputs found cut short or changed at create, before the item stops trying. */
const MAX_INPUT_MISMATCHES = 5;

export const prepareStep: Step = async (env, run) => {
  const { item, data } = run;
  const { deps } = env;
  if ((data.inputMismatches ?? 0) > MAX_INPUT_MISMATCHES) {
    // Storage keeps handing back other bytes than it stored: retried with backoff, then failed.
    throw new StorageError(`prepared inputs of item ${item.id} kept failing their check`, {
      code: 'integrity',
      retryable: true,
      operation: 'get',
    });
  }
  // Back after a prepared input failed its check, or FitRoom refused one: trust no cache.
  const options = { fresh: (data.inputMismatches ?? 0) > 0 || data.inputsRejected === true };
  const [model, cloth, lowerCloth] = await Promise.all([
    prepareImage(item.model, 'model', item.tenant_id, deps.prepare, options),
    prepareImage(item.cloth, 'garment', item.tenant_id, deps.prepare, options),
    item.lower_cloth
      ? prepareImage(item.lower_cloth, 'garment', item.tenant_id, deps.prepare, options)
      : Promise.resolve(undefined),
  ]);
  const inputs = lowerCloth ? { model, cloth, lowerCloth } : { model, cloth };
  const pairKey = ResultCache.pairKey(inputs, item.cloth_type, item.hd_mode);
  const settings = await deps.records.getBatchSettings(item.batch_id);
  if (settings && !settings.freshRenders && (await reuseRender(env, item, pairKey))) {
    return { done: 'completed' };
  }
  if (settings?.inputChecks) await checkModel(env, run, model);
  return { next: { ...data, step: 'create', inputs, pairKey } };
};

/** Fails the item when FitRoom's model check refuses its (prepared) model photo. */
async function checkModel(env: StepEnv, run: StepRun, model: string): Promise<void> {
  const { inputChecks, storage } = env.deps;
  const key = await keyForInputCheck(env, run.item.id);
  run.budgetKey = key.budgetKey;
  const modelImage = await loadPrepared(model, storage);
  if (!modelImage) {
    // Cut short or changed since it was stored: the step is retried and prepares it again.
    throw new StorageError(`prepared model ${model} did not match its content address`, {
      code: 'integrity',
      retryable: true,
      operation: 'get',
      key: model,
    });
  }
  const problem = await inputCheckProblem(inputChecks, key, modelImage);
  if (problem) throw new ItemFailure(problem);
}

/**
 * The key an input check spends: the item's own once admitted; before that, a key that is not
 * paused (the one whose pause ends first when all are).
 */
async function keyForInputCheck(env: StepEnv, itemId: string): Promise<PooledKey> {
  const { pool, admission } = env.deps;
  const assigned = await admission.assignedKey(itemId);
  const own = assigned ? pool.byBudgetKey(assigned) : undefined;
  if (own) return own;
  const usages = await Promise.all(pool.keys.map((k) => pool.limiter.usage(k.budgetKey)));
  let best = 0;
  for (const [i, usage] of usages.entries()) {
    if (usage.pausedMs < usages[best]!.pausedMs) best = i;
  }
  return pool.keys[best]!;
}

/** Completes the item with a stored render of the same pair, if there is one. */
async function reuseRender(env: StepEnv, item: ItemRecord, pairKey: string): Promise<boolean> {
  const { resultCache, storage, records } = env.deps;
  const cached = await resultCache.get(pairKey);
  const source = cached ? await storage.get(cached.key) : null;
  if (!cached || !source) return false;
  const ext = extensionForContentType(cached.content_type) ?? 'jpg';
  const stored = await storage.put(resultKey(item.batch_id, item.id, ext), source.body, {
    contentType: cached.content_type,
  });
  const current = await records.updateItemOfRun(item, {
    result: {
      key: stored.key,
      bytes: stored.bytes,
      sha256: stored.sha256,
      content_type: stored.contentType,
    },
  });
  if (!current) throw new StaleRunError();
  // Counted once: only the call that completed the item saved its credit.
  if (await env.finisher.finish(item, 'completed', null)) {
    await env.deps.credits.savedByReuse(item.batch_id);
  }
  return true;
}
