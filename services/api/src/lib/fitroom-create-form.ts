import sharp from 'sharp';
import { WEB_IMAGE_TYPES, type BatchItemInput, type ClothType } from '@tryon/domain';
import type { RouteDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { fitroomBadRequest } from './fitroom-errors.js';
import {
  checkImage,
  storeAsset,
  type CheckedFile,
  type ReceivedFile,
  type ReceivedForm,
} from './uploads.js';

const CLOTH_TYPES: readonly ClothType[] = ['upper', 'lower', 'full_set', 'combo'];
export const CREATE_FILES: ReadonlySet<string> = new Set([
  'model_image',
  'cloth_image',
  'lower_cloth_image',
]);

/** A file field FitRoom requires, or the 400 FitRoom answers without it. */
export function requiredFile(form: ReceivedForm, field: string): ReceivedFile {
  const file = form.files.find((f) => f.field === field);
  if (file) return file;
  throw fitroomBadRequest(
    form.textFieldNames.has(field) ? `${field} must be a file.` : `${field} is required.`,
  );
}

/**
 * What the compatible routes take: any photo format sharp decodes here (a GIF's first frame,
 * TIFF, AVIF, HEIF where the build has its codec), as FitRoom and its simulator do. Formats
 * other than JPEG, PNG and WebP are converted to JPEG before FitRoom sees them (the worker's
 * prepare step for creates; toWebImage below for input checks).
 */
export const FITROOM_IMAGES = {
  types: [...WEB_IMAGE_TYPES, 'image/gif', 'image/tiff', 'image/avif', 'image/heic', 'image/heif'],
  names: 'JPEG, PNG, WebP, GIF, TIFF, AVIF and HEIF',
} as const;

/** Spellings form libraries send for a boolean, compared case-insensitively (as the simulator). */
const HD_SPELLINGS: Record<string, boolean> = { true: true, false: false, '1': true, '0': false };

/** hd_mode as sent: absent is undefined; `true`/`True`/`1` and `false`/`False`/`0`; else 400. */
export function parseHdMode(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const hd = HD_SPELLINGS[value.trim().toLowerCase()];
  if (hd === undefined) throw fitroomBadRequest('hd_mode must be "true" or "false".');
  return hd;
}

/** The upload checks of POST /v1/assets, answered as FitRoom answers an undecodable image: 400. */
export async function checkUploaded(file: ReceivedFile): Promise<CheckedFile> {
  try {
    return await checkImage(file, FITROOM_IMAGES);
  } catch (error) {
    if (error instanceof ApiError) throw fitroomBadRequest(`${error.message}.`);
    throw error;
  }
}

/**
 * A FitRoom create form checked in FitRoom's order (the files, then cloth_type, combo's lower
 * cloth, hd_mode, then the bytes), its images stored as the tenant's assets: one batch item.
 */
export async function createFormItem(
  form: ReceivedForm,
  deps: Pick<RouteDeps, 'storage' | 'records'>,
  tenantId: string,
): Promise<BatchItemInput> {
  const model = requiredFile(form, 'model_image');
  const cloth = requiredFile(form, 'cloth_image');
  const clothType = form.fields.get('cloth_type');
  if (clothType === undefined) throw fitroomBadRequest('cloth_type is required.');
  if (!(CLOTH_TYPES as readonly string[]).includes(clothType)) {
    throw fitroomBadRequest(`cloth_type must be one of ${CLOTH_TYPES.join(', ')}.`);
  }
  const lower =
    clothType === 'combo' ? form.files.find((f) => f.field === 'lower_cloth_image') : undefined;
  if (clothType === 'combo' && !lower) {
    throw fitroomBadRequest(
      form.textFieldNames.has('lower_cloth_image')
        ? 'lower_cloth_image must be a file.'
        : 'lower_cloth_image is required when cloth_type is combo.',
    );
  }
  const hdMode = parseHdMode(form.fields.get('hd_mode'));
  const checkedCloth = await checkUploaded(cloth);
  const checkedLower = lower ? await checkUploaded(lower) : undefined;
  const checkedModel = await checkUploaded(model);
  const store = async (file: CheckedFile) =>
    (await storeAsset(file, { storage: deps.storage, records: deps.records, tenantId })).asset.id;
  return {
    model: await store(checkedModel),
    cloth: await store(checkedCloth),
    lower_cloth: checkedLower ? await store(checkedLower) : undefined,
    cloth_type: clothType as ClothType,
    hd_mode: hdMode,
  };
}

/**
 * A checked image as FitRoom takes it: JPEG, PNG and WebP as they are; any other format as a
 * JPEG of its first frame (transparency on white), written beside it.
 */
export async function toWebImage(
  image: CheckedFile,
): Promise<{ path: string; contentType: string }> {
  if (WEB_IMAGE_TYPES.includes(image.contentType)) {
    return { path: image.path, contentType: image.contentType };
  }
  const path = `${image.path}.jpg`;
  await sharp(image.path, { pages: 1 })
    .rotate()
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 92 })
    .toFile(path);
  return { path, contentType: 'image/jpeg' };
}
