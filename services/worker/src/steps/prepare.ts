import { extensionForContentType } from '@tryon/domain';
import type { ItemRecord } from '@tryon/records';
import { resultKey } from '@tryon/storage';
import { inputCheckProblem } from '@tryon/fitroom-gateway';
import { loadPrepared, prepareImage } from '../prepare.js';
import { ResultCache } from '../result-cache.js';
import { ItemFailure, type Step, type StepEnv, type StepRun } from './step.js';

/**
 * Prepare: the inputs fetched and sized for FitRoom. A pair rendered before completes the item
 * from the stored render; a batch with input checks has its model photo checked first.
 */
export const prepareStep: Step = async (env, run) => {
  const { item, data } = run;
  const { deps } = env;
  const [model, cloth, lowerCloth] = await Promise.all([
    prepareImage(item.model, 'model', item.tenant_id, deps.prepare),
    prepareImage(item.cloth, 'garment', item.tenant_id, deps.prepare),
    item.lower_cloth
      ? prepareImage(item.lower_cloth, 'garment', item.tenant_id, deps.prepare)
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
  const { pool, admission, storage, inputChecks } = env.deps;
  const assigned = await admission.assignedKey(run.item.id);
  const key = (assigned && pool.byBudgetKey(assigned)) || pool.keys[0]!;
  run.budgetKey = key.budgetKey;
  const modelImage = await loadPrepared(model, storage);
  const problem = modelImage ? await inputCheckProblem(inputChecks, key, modelImage) : null;
  if (problem) throw new ItemFailure(problem);
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
  await records.updateItem(item.id, {
    result: {
      key: stored.key,
      bytes: stored.bytes,
      sha256: stored.sha256,
      content_type: stored.contentType,
    },
  });
  // Counted once: only the call that completed the item saved its credit.
  if (await env.finisher.finish(item, 'completed', null)) {
    await env.deps.credits.savedByReuse(item.batch_id);
  }
  return true;
}
