import { createHash } from 'node:crypto';
import { describeModelCheckCode, type ModelCheckResult } from '@tryon/fitroom-client';
import type { InputCheckCache } from '@tryon/records';
import type { ItemError } from '@tryon/domain';
import type { PooledKey } from './fitroom-pool.js';

type Image = { data: Buffer; contentType: string; filename: string };

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Checks under way in this process: the items of a batch that share a model wait for one. */
const inFlight = new Map<string, Promise<ModelCheckResult>>();

async function modelVerdict(
  cache: InputCheckCache,
  key: PooledKey,
  model: Image,
  hash: string,
): Promise<ModelCheckResult> {
  const cached = await cache.get<ModelCheckResult>('model', hash);
  if (cached) return cached;
  const verdict = await key.client.checkModel(model);
  await cache.set('model', hash, verdict);
  return verdict;
}

/**
 * FitRoom's input checks for a batch that asked for them, on the prepared images FitRoom would
 * get. Each image is checked once (answers are cached by content, shared with the api's
 * compatible routes), so a model photo used by a thousand items costs one request.
 * Returns why the item cannot be rendered, or null. Only a model rejected with a 400xxx error
 * stops an item; warnings (410xxx) are advice. Garments are not checked: FitRoom's clothes
 * check only ever warns, and a warning is not worth a request of the budget.
 */
export async function inputCheckProblem(
  cache: InputCheckCache,
  key: PooledKey,
  model: Image,
): Promise<ItemError | null> {
  const hash = sha256(model.data);
  let checking = inFlight.get(hash);
  if (!checking) {
    checking = modelVerdict(cache, key, model, hash).finally(() => inFlight.delete(hash));
    inFlight.set(hash, checking);
  }
  const verdict = await checking;
  if (verdict.is_good || verdict.error_code === undefined) return null;
  const info = describeModelCheckCode(verdict.error_code);
  return {
    code: `model_check_${info.code}`,
    message: `FitRoom's model check refused the model image: ${info.description}`,
  };
}
