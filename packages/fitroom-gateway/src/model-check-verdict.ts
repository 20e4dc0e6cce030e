import { createHash } from 'node:crypto';
import { describeModelCheckCode, type ModelCheckResult } from '@tryon/fitroom-client';
import type { ItemError } from '@tryon/domain';
import type { InputCheckFlights } from './input-check-flights.js';
import type { PooledKey } from './pool.js';

type Image = { data: Buffer; contentType: string; filename: string };

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * FitRoom's input checks for a batch that asked for them, on the prepared images FitRoom would
 * get. Each image is checked once (answers are cached by content, shared with the api's
 * compatible routes), so a model photo used by a thousand items costs one request.
 * Returns why the item cannot be rendered, or null. Only a model rejected with a 400xxx error
 * stops an item; warnings (410xxx) are advice. Garments are not checked: FitRoom's clothes
 * check only ever warns, and a warning is not worth a request of the budget.
 */
export async function inputCheckProblem(
  flights: InputCheckFlights,
  key: PooledKey,
  model: Image,
): Promise<ItemError | null> {
  const verdict = await flights.answer<ModelCheckResult>('model', sha256(model.data), () =>
    key.client.checkModel(model),
  );
  if (verdict.is_good || verdict.error_code === undefined) return null;
  const info = describeModelCheckCode(verdict.error_code);
  return {
    code: `model_check_${info.code}`,
    message: `FitRoom's model check refused the model image: ${info.description}`,
  };
}
