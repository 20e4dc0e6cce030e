import type { ClothType, ClothesType } from './types';

export type ModelCheckSeverity = 'warning' | 'error' | 'unknown';

export interface ModelCheckCodeInfo {
  code: string;
  /** 410xxx: the image can be processed, results may not be optimal. 400xxx: it cannot. */
  severity: ModelCheckSeverity;
  description: string;
}

/** The model-check codes FitRoom documents, with its descriptions. */
export const MODEL_CHECK_CODES: Readonly<Record<string, ModelCheckCodeInfo>> = Object.freeze({
  '410001': {
    code: '410001',
    severity: 'warning',
    description: 'Person is slightly small in the image. Please crop to have good result.',
  },
  '410002': {
    code: '410002',
    severity: 'warning',
    description: 'Model pose is undetermined. Please make sure the model is standing straight.',
  },
  '410003': {
    code: '410003',
    severity: 'warning',
    description:
      'Model pose may be not supported. Please make sure the model is standing straight.',
  },
  '400001': { code: '400001', severity: 'error', description: 'No person detected in the image' },
  '400002': {
    code: '400002',
    severity: 'error',
    description: 'More than one person detected in the image',
  },
  '400003': { code: '400003', severity: 'error', description: 'Person is not facing forward' },
  '400004': { code: '400004', severity: 'error', description: 'Person is too small in the image' },
});

/**
 * Classifies a model-check `error_code`: codes starting with 410 are warnings, 400 errors.
 * Undocumented codes get a generic description.
 */
export function describeModelCheckCode(code: string | number): ModelCheckCodeInfo {
  const text = String(code).trim();
  const known = MODEL_CHECK_CODES[text];
  if (known) return known;
  if (text.startsWith('410')) {
    return { code: text, severity: 'warning', description: `Undocumented warning ${text}` };
  }
  if (text.startsWith('400')) {
    return { code: text, severity: 'error', description: `Undocumented error ${text}` };
  }
  return { code: text, severity: 'unknown', description: `Unknown code ${text}` };
}

/** The create `cloth_type` for a category the clothes check detected (full -> full_set). */
export function clothTypeFor(clothesType: ClothesType): ClothType {
  return clothesType === 'full' ? 'full_set' : clothesType;
}
