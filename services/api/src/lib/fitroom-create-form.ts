import type { BatchItemInput, ClothType } from '@tryon/domain';
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

/** The upload checks of POST /v1/assets, answered as FitRoom answers an undecodable image: 400. */
export async function checkUploaded(file: ReceivedFile): Promise<CheckedFile> {
  try {
    return await checkImage(file);
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
  const hdMode = form.fields.get('hd_mode');
  if (hdMode !== undefined && hdMode !== 'true' && hdMode !== 'false') {
    throw fitroomBadRequest('hd_mode must be "true" or "false".');
  }
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
    hd_mode: hdMode === undefined ? undefined : hdMode === 'true',
  };
}
