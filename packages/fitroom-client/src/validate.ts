/**
 * Light validation of FitRoom's 200 answers: the fields a caller relies on must be present
 * and well typed; optional fields of the wrong type are dropped rather than failing the call.
 * A failure throws `InvalidBodyError`, which the client turns into FitRoomInvalidResponseError.
 */
import type {
  ClothesCheckResult,
  ClothesType,
  CreateTaskResult,
  ModelCheckResult,
  Task,
  TaskStatus,
} from './types';

export class InvalidBodyError extends Error {}

type Json = Record<string, unknown>;

function asObject(body: unknown): Json {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidBodyError('expected a JSON object');
  }
  return body as Json;
}

function id(value: unknown, field: string): string {
  if (typeof value === 'string' && value.trim() !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new InvalidBodyError(`${field} missing or not a string`);
}

function optionalNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
    return Number(value);
  }
  return undefined;
}

function bool(value: unknown, field: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidBodyError(`${field} missing or not a boolean`);
}

const CLOTHES_TYPES: readonly string[] = ['upper', 'lower', 'full'];

function clothesType(value: unknown): ClothesType | null {
  if (typeof value !== 'string') return null;
  const text = value.trim().toLowerCase();
  if (text === 'full_set') return 'full';
  return CLOTHES_TYPES.includes(text) ? (text as ClothesType) : null;
}

export function parseCreateTask(body: unknown): CreateTaskResult {
  const obj = asObject(body);
  return { task_id: id(obj.task_id, 'task_id'), status: 'CREATED' };
}

const STATUSES: readonly string[] = ['CREATED', 'PROCESSING', 'COMPLETED', 'FAILED'];

function errorText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    const message = (value as Json).message;
    if (typeof message === 'string') return message;
    return JSON.stringify(value);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

export function parseTask(body: unknown): Task {
  const obj = asObject(body);
  const task_id = id(obj.task_id, 'task_id');
  const rawStatus = typeof obj.status === 'string' ? obj.status.trim().toUpperCase() : undefined;
  if (rawStatus === undefined || !STATUSES.includes(rawStatus)) {
    throw new InvalidBodyError(`unknown status ${JSON.stringify(obj.status)}`);
  }
  const status = rawStatus as TaskStatus;
  const times: { created_at?: number; started_at?: number; completed_at?: number } = {};
  for (const key of ['created_at', 'started_at', 'completed_at'] as const) {
    const value = optionalNumber(obj[key]);
    if (value !== undefined) times[key] = value;
  }
  const progress = optionalNumber(obj.progress);
  switch (status) {
    case 'CREATED':
      return { task_id, status, progress: progress ?? 0, ...times };
    case 'PROCESSING':
      return { task_id, status, progress: progress ?? 0, ...times };
    case 'COMPLETED': {
      const url = obj.download_signed_url;
      if (typeof url !== 'string' || !URL.canParse(url)) {
        throw new InvalidBodyError('COMPLETED without a valid download_signed_url');
      }
      return { task_id, status, download_signed_url: url, progress: progress ?? 100, ...times };
    }
    case 'FAILED': {
      const task: Task = { task_id, status, error: errorText(obj.error), ...times };
      if (progress !== undefined) task.progress = progress;
      return task;
    }
  }
}

export function parseModelCheck(body: unknown): ModelCheckResult {
  const obj = asObject(body);
  const is_good = bool(obj.is_good, 'is_good');
  const types = Array.isArray(obj.good_clothes_types) ? obj.good_clothes_types : [];
  const good_clothes_types = types
    .map((t) => clothesType(t))
    .filter((t): t is ClothesType => t !== null);
  const result: ModelCheckResult = { is_good, good_clothes_types };
  const code = obj.error_code;
  if ((typeof code === 'string' && code.trim() !== '') || typeof code === 'number') {
    result.error_code = String(code).trim();
  }
  return result;
}

export function parseClothesCheck(body: unknown): ClothesCheckResult {
  const obj = asObject(body);
  return {
    clothes_type: clothesType(obj.clothes_type),
    is_clothes: bool(obj.is_clothes, 'is_clothes'),
  };
}
