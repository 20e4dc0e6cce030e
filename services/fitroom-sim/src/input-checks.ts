import type {
  ClothesCheckResult,
  ClothesType,
  ModelCheckResult,
  ModelErrorCode,
  ModelWarningCode,
} from './options.js';

const ALL_TYPES: ClothesType[] = ['upper', 'lower', 'full'];

/** A number 0..99 from 8 hex digits of a sha256, starting at `offset`. */
function bucket(sha256: string, offset: number): number {
  return Number.parseInt(sha256.slice(offset, offset + 8), 16) % 100;
}

/**
 * Default answer of the model check, a pure function of the image's sha256 (hex), so the
 * same image always gets the same answer. With b = first 8 hex digits as a number, mod 100:
 *   b  0..89  success  { is_good: true, good_clothes_types: [upper, lower, full] }  (90%)
 *   b 90..91  warning 410001, 92..93 -> 410002, 94 -> 410003 (is_good true, all types) (5%)
 *   b 95 -> 400001, 96 -> 400002, 97 -> 400003, 98..99 -> 400004 (is_good false, []) (5%)
 * Force any answer for a given image with the `inputCheckOverrides` option.
 */
export function modelCheckRule(sha256: string): ModelCheckResult {
  const b = bucket(sha256, 0);
  if (b < 90) return { is_good: true, good_clothes_types: [...ALL_TYPES] };
  if (b < 95) {
    const code: ModelWarningCode = b < 92 ? '410001' : b < 94 ? '410002' : '410003';
    return { is_good: true, error_code: code, good_clothes_types: [...ALL_TYPES] };
  }
  const code: ModelErrorCode =
    b === 95 ? '400001' : b === 96 ? '400002' : b === 97 ? '400003' : '400004';
  return { is_good: false, error_code: code, good_clothes_types: [] };
}

/**
 * Default answer of the clothes check, a pure function of the image's sha256 (hex):
 *   is_clothes: first 8 hex digits mod 100 < 90 (90% true)
 *   clothes_type: next 8 hex digits mod 100: 0..59 upper, 60..84 lower, 85..99 full
 */
export function clothesCheckRule(sha256: string): ClothesCheckResult {
  const t = bucket(sha256, 8);
  const clothes_type: ClothesType = t < 60 ? 'upper' : t < 85 ? 'lower' : 'full';
  return { clothes_type, is_clothes: bucket(sha256, 0) < 90 };
}

export function isModelCheckResult(
  result: ModelCheckResult | ClothesCheckResult,
): result is ModelCheckResult {
  return 'is_good' in result;
}

type Overrides = Record<string, ModelCheckResult | ClothesCheckResult>;

export function modelCheck(sha256: string, overrides: Overrides): ModelCheckResult {
  const forced = overrides[sha256];
  return forced && isModelCheckResult(forced) ? structuredClone(forced) : modelCheckRule(sha256);
}

export function clothesCheck(sha256: string, overrides: Overrides): ClothesCheckResult {
  const forced = overrides[sha256];
  return forced && !isModelCheckResult(forced) ? { ...forced } : clothesCheckRule(sha256);
}
