import type { ClothType } from '@tryon/domain';
import { usageError } from './errors.js';
import type { InputImage } from './inputs.js';
import { pairExternalId, uniqueIds } from './names.js';

/** One model x garment pair as it will be submitted, before its images have asset ids. */
export interface PlannedItem {
  model: InputImage;
  garment: InputImage;
  lower?: InputImage;
  clothType: ClothType;
  externalId: string;
  /** Echoed back by the API on every item: `download` names files and rows from it. */
  metadata: { model_file: string; garment_file: string; lower_file?: string };
}

/**
 * Every model with every garment, models outer. A garment's cloth_type is its CSV's, else
 * `type`. A combo garment takes its lower half from its CSV row, else from `--lower`: one
 * lower image for every combo garment, or as many as there are, paired in order.
 */
export function planItems(
  models: InputImage[],
  garments: InputImage[],
  options: { type: ClothType; lowers?: InputImage[] },
): PlannedItem[] {
  const typed = garments.map((garment) => ({
    garment,
    clothType: garment.clothType ?? options.type,
  }));
  const needLower = typed.filter((g) => g.clothType === 'combo' && !g.garment.lower);
  for (const { garment, clothType } of typed) {
    if (garment.lower && clothType !== 'combo') {
      throw usageError(
        `garment ${garment.source.label} has a lower garment but its cloth_type is ${clothType}, not combo`,
      );
    }
  }
  const lowers = options.lowers ?? [];
  if (lowers.length > 0) {
    if (needLower.length === 0) {
      throw usageError('--lower is for combo garments: use it with --type combo');
    }
    if (lowers.length !== 1 && lowers.length !== needLower.length) {
      throw usageError(
        `--lower names ${lowers.length} images for ${needLower.length} combo garments: give ` +
          'one lower garment for all, or one per combo garment (paired in order)',
      );
    }
  } else if (needLower.length > 0) {
    throw usageError(
      `garment ${needLower[0]!.garment.source.label} is combo and needs a lower garment: pass ` +
        '--lower DIR|CSV|FILE, or a lower_path or lower_url column in the garments CSV',
    );
  }
  let next = 0;
  const outfits = typed.map(({ garment, clothType }) => {
    let lower = garment.lower;
    if (clothType === 'combo' && !lower) {
      lower = lowers.length === 1 ? lowers[0] : lowers[next++];
    }
    return { garment, clothType, lower };
  });

  const planned: Omit<PlannedItem, 'externalId'>[] = [];
  const ids: string[] = [];
  for (const model of models) {
    for (const { garment, clothType, lower } of outfits) {
      ids.push(pairExternalId(model.name, garment.name, lower?.name));
      planned.push({
        model,
        garment,
        ...(lower && { lower }),
        clothType,
        metadata: {
          model_file: model.source.label,
          garment_file: garment.source.label,
          ...(lower && { lower_file: lower.source.label }),
        },
      });
    }
  }
  const unique = uniqueIds(ids);
  return planned.map((item, i) => ({ ...item, externalId: unique[i]! }));
}
