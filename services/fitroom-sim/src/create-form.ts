import { badRequest } from './errors.js';
import type { Form } from './multipart.js';
import { CREATE_CLOTH_TYPES, type CreateClothType } from './tasks.js';

/** Spellings form libraries send for a boolean (compared case-insensitively). */
const HD_SPELLINGS: Record<string, boolean> = { true: true, false: false, '1': true, '0': false };

/**
 * hd_mode as sent: absent means false; true/false/1/0 in any case (Python's `True`, a checkbox's
 * `1`) are read; anything else is FitRoom's 400.
 */
export function parseHdMode(value: string | undefined): boolean {
  if (value === undefined) return false;
  const hd = HD_SPELLINGS[value.toLowerCase()];
  if (hd === undefined) throw badRequest('hd_mode must be "true" or "false".');
  return hd;
}

const missing = (form: Form, field: string): Error =>
  badRequest(form.fields.has(field) ? `${field} must be a file.` : `${field} is required.`);

/** The text fields and file presence of a create, checked in the order FitRoom reports them. */
export function parseCreateFields(form: Form): { clothType: CreateClothType; hd: boolean } {
  for (const field of ['model_image', 'cloth_image']) {
    if (!form.files.has(field)) throw missing(form, field);
  }
  const clothType = form.fields.get('cloth_type');
  if (clothType === undefined) throw badRequest('cloth_type is required.');
  if (!(CREATE_CLOTH_TYPES as readonly string[]).includes(clothType)) {
    throw badRequest(`cloth_type must be one of ${CREATE_CLOTH_TYPES.join(', ')}.`);
  }
  const type = clothType as CreateClothType;
  if (type === 'combo' && !form.files.has('lower_cloth_image')) {
    throw form.fields.has('lower_cloth_image')
      ? badRequest('lower_cloth_image must be a file.')
      : badRequest('lower_cloth_image is required when cloth_type is combo.');
  }
  return { clothType: type, hd: parseHdMode(form.fields.get('hd_mode')) };
}
