import type { BatchItemInput, CreateBatchRequest } from '@tryon/domain';
import type { NewItem } from '@tryon/records';
import { ApiError, validationError } from '../errors.js';
import { METADATA_MAX_BYTES } from '../limits.js';

/**
 * The checks a schema cannot express, then the flat item list: exactly one of items and
 * matrix, the item limit (checked before a matrix is expanded), combo needs lower_cloth and
 * nothing else may have it, and metadata stays small.
 */
export function expandBatch(body: CreateBatchRequest, maxItems: number): NewItem[] {
  if ((body.items === undefined) === (body.matrix === undefined)) {
    throw validationError('body must have exactly one of "items" and "matrix"');
  }
  checkMetadata(body.metadata, 'body/metadata');

  if (body.items) {
    tooMany(body.items.length, maxItems);
    body.items.forEach((item, i) => {
      checkGarment(item, `body/items/${i}`);
      checkMetadata(item.metadata, `body/items/${i}/metadata`);
    });
    return body.items.map((item: BatchItemInput): NewItem => ({
      model: item.model,
      cloth: item.cloth,
      lower_cloth: item.lower_cloth,
      cloth_type: item.cloth_type,
      hd_mode: item.hd_mode,
      external_id: item.external_id,
      metadata: item.metadata,
    }));
  }

  const matrix = body.matrix!;
  tooMany(matrix.models.length * matrix.garments.length, maxItems);
  matrix.garments.forEach((garment, i) => checkGarment(garment, `body/matrix/garments/${i}`));
  const items: NewItem[] = [];
  for (const model of matrix.models) {
    for (const garment of matrix.garments) {
      items.push({
        model,
        cloth: garment.cloth,
        lower_cloth: garment.lower_cloth,
        cloth_type: garment.cloth_type,
        hd_mode: matrix.hd_mode,
        external_id: garment.external_id,
      });
    }
  }
  return items;
}

function tooMany(count: number, maxItems: number): void {
  if (count > maxItems) {
    throw new ApiError(
      422,
      'too_many_items',
      `the batch has ${count} items; at most ${maxItems} are accepted per batch`,
    );
  }
}

function checkGarment(garment: Pick<BatchItemInput, 'cloth_type' | 'lower_cloth'>, where: string) {
  if (garment.cloth_type === 'combo' && garment.lower_cloth === undefined) {
    throw validationError(`${where}: cloth_type "combo" needs lower_cloth`);
  }
  if (garment.cloth_type !== 'combo' && garment.lower_cloth !== undefined) {
    throw validationError(`${where}: lower_cloth is only allowed with cloth_type "combo"`);
  }
}

function checkMetadata(metadata: Record<string, unknown> | undefined, where: string): void {
  if (metadata === undefined) return;
  const bytes = Buffer.byteLength(JSON.stringify(metadata));
  if (bytes > METADATA_MAX_BYTES) {
    throw validationError(
      `${where} is ${bytes} bytes as JSON; at most ${METADATA_MAX_BYTES} are allowed`,
    );
  }
}
