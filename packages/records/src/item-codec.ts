import type {
  ClothType,
  Credits,
  Item,
  ItemError,
  ItemStatus,
  PreviousResult,
  ReviewDecision,
} from '@tryon/domain';

/**
 * The one definition of how an item is kept in Redis: its hash fields and their encoding. The
 * writer (STORE_ITEMS), the state changes (TRANSITION, MOVE_ALL: field/value pairs from here)
 * and the reader all go through this table, so a new field is added here and nowhere else.
 */

/** An item as stored, with what the worker needs beyond the public shape. */
export interface ItemRecord extends Omit<Item, 'result' | 'previous_results'> {
  tenant_id: string;
  /** Bumped by every retry, so each run gets its own job id. */
  run: number;
  result: Omit<NonNullable<Item['result']>, 'url'> | null;
  previous_results: StoredPreviousResult[];
}

/** A replaced result as stored: the URL is the API's to make. */
export type StoredPreviousResult = Omit<PreviousResult, 'url'>;

/** What may change on an item besides its status. */
export interface ItemUpdate {
  fitroom_task_id?: string | null;
  attempts?: number;
  error?: ItemError | null;
  result?: ItemRecord['result'];
  review?: ReviewDecision | null;
  previous_results?: StoredPreviousResult[];
  /** Bumped to give a re-rendered item a new job id. */
  run?: number;
  /** Epoch ms, or null to clear. */
  completed_at?: number | null;
}

export type ItemHash = Record<string, string>;

interface FieldCodec<T> {
  encode(value: T): ItemHash;
  decode(hash: ItemHash): T;
}

/** The hash field holding an item's position in its batch (not part of ItemRecord). */
export const ITEM_POSITION_FIELD = 'idx';

const EPOCH = new Date(0).toISOString();

const text = <T extends string>(field: string): FieldCodec<T> => ({
  encode: (value) => ({ [field]: value }),
  decode: (hash) => (hash[field] ?? '') as T,
});

const optionalText = (field: string): FieldCodec<string | null> => ({
  encode: (value) => ({ [field]: value ?? '' }),
  decode: (hash) => hash[field] || null,
});

const count = (field: string): FieldCodec<number> => ({
  encode: (value) => ({ [field]: String(value) }),
  decode: (hash) => Number(hash[field] ?? 0),
});

const flag = (field: string): FieldCodec<boolean> => ({
  encode: (value) => ({ [field]: value ? '1' : '0' }),
  decode: (hash) => hash[field] === '1',
});

const json = (field: string): FieldCodec<Record<string, unknown> | null> => ({
  encode: (value) => ({ [field]: value ? JSON.stringify(value) : '' }),
  decode: (hash) => (hash[field] ? (JSON.parse(hash[field]) as Record<string, unknown>) : null),
});

const jsonList = <T>(field: string): FieldCodec<T[]> => ({
  encode: (value) => ({ [field]: value.length > 0 ? JSON.stringify(value) : '' }),
  decode: (hash) => (hash[field] ? (JSON.parse(hash[field]) as T[]) : []),
});

/** ISO timestamps are kept as epoch ms (what the scripts write from their `now`). */
export const msOf = (iso: string): string => String(Date.parse(iso));
export const isoOf = (ms: string | undefined): string | null =>
  ms && ms !== '' ? new Date(Number(ms)).toISOString() : null;

const optionalTime = (field: string): FieldCodec<string | null> => ({
  encode: (value) => ({ [field]: value === null ? '' : msOf(value) }),
  decode: (hash) => isoOf(hash[field]),
});

const time = (field: string): FieldCodec<string> => ({
  encode: (value) => ({ [field]: msOf(value) }),
  decode: (hash) => isoOf(hash[field]) ?? EPOCH,
});

const error: FieldCodec<ItemError | null> = {
  encode: (value) => ({ error_code: value?.code ?? '', error_message: value?.message ?? '' }),
  decode: (hash) =>
    hash.error_code ? { code: hash.error_code, message: hash.error_message ?? '' } : null,
};

const result: FieldCodec<ItemRecord['result']> = {
  encode: (value) => ({
    result_key: value?.key ?? '',
    result_bytes: value ? String(value.bytes) : '',
    result_sha256: value?.sha256 ?? '',
    result_content_type: value?.content_type ?? '',
  }),
  decode: (hash) =>
    hash.result_key
      ? {
          key: hash.result_key,
          bytes: Number(hash.result_bytes),
          sha256: hash.result_sha256 ?? '',
          content_type: hash.result_content_type ?? '',
        }
      : null,
};

/**
 * The hash fields of an item's (and its batch's) credits. Only CreditBook's script changes them,
 * by increments: an update never writes them.
 */
export const CREDIT_FIELDS = {
  spent: 'credits_spent',
  possiblySpent: 'credits_possibly_spent',
} as const;

const credits: FieldCodec<Credits> = {
  encode: (value) => ({
    [CREDIT_FIELDS.spent]: String(value.spent),
    [CREDIT_FIELDS.possiblySpent]: String(value.possibly_spent),
  }),
  decode: (hash) => ({
    spent: Number(hash[CREDIT_FIELDS.spent] ?? 0),
    possibly_spent: Number(hash[CREDIT_FIELDS.possiblySpent] ?? 0),
  }),
};

/** Every property of ItemRecord (the compiler sees to it) and its hash fields. */
export const ITEM_FIELDS: { [P in keyof ItemRecord]-?: FieldCodec<ItemRecord[P]> } = {
  id: text('id'),
  batch_id: text('batch_id'),
  tenant_id: text('tenant_id'),
  run: count('run'),
  status: text<ItemStatus>('status'),
  model: text('model'),
  cloth: text('cloth'),
  lower_cloth: optionalText('lower_cloth'),
  cloth_type: text<ClothType>('cloth_type'),
  hd_mode: flag('hd_mode'),
  external_id: optionalText('external_id'),
  metadata: json('metadata'),
  fitroom_task_id: optionalText('fitroom_task_id'),
  attempts: count('attempts'),
  credits,
  error,
  result,
  review: optionalText('review') as FieldCodec<ReviewDecision | null>,
  previous_results: jsonList<StoredPreviousResult>('previous_results'),
  created_at: time('created_at'),
  updated_at: time('updated_at'),
  started_at: optionalTime('started_at'),
  completed_at: optionalTime('completed_at'),
};

/** The hash fields of the given properties (only those given). */
export function encodeItem(item: Partial<ItemRecord>): ItemHash {
  const hash: ItemHash = {};
  for (const name of Object.keys(item) as (keyof ItemRecord)[]) {
    const value = item[name];
    if (value === undefined) continue;
    Object.assign(hash, (ITEM_FIELDS[name] as FieldCodec<typeof value>).encode(value));
  }
  return hash;
}

export function decodeItem(hash: ItemHash): ItemRecord {
  const item = {} as Record<keyof ItemRecord, unknown>;
  for (const name of Object.keys(ITEM_FIELDS) as (keyof ItemRecord)[]) {
    item[name] = ITEM_FIELDS[name].decode(hash);
  }
  return item as ItemRecord;
}

/** An update as field/value pairs, for HSET or a script's ARGV. */
export function encodeItemUpdate(update: ItemUpdate): string[] {
  const { completed_at: completedAt, ...rest } = update;
  const fields: Partial<ItemRecord> = { ...rest };
  if (completedAt !== undefined) {
    fields.completed_at = completedAt === null ? null : new Date(completedAt).toISOString();
  }
  return Object.entries(encodeItem(fields)).flat();
}
