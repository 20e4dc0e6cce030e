import {
  preparedInputKey,
  ResultCache,
  type NewItem,
  type PreparedRole,
  type Records,
} from '@tryon/records';
import { isAssetId } from '@tryon/domain';

/** Keys per MGET / EXISTS pipeline: a 10,000-item batch in a handful of round trips. */
const CHUNK = 1_000;

/**
 * How many items the result cache would serve, were the batch submitted now. A pair is served
 * when every image is an uploaded asset whose prepared form the workers remember and the pair
 * (prepared images, cloth_type, hd_mode) was rendered before: exactly the worker's test, read
 * only. URL images are not fetched, so their pairs count as renders (an upper bound on credits).
 */
export async function countCached(
  records: Records,
  tenantId: string,
  items: NewItem[],
  freshRenders: boolean,
): Promise<number> {
  if (freshRenders || items.length === 0) return 0;
  const { redis, prefix } = records;
  const refs = new Map<string, string | null>();
  const refKey = (ref: string, role: PreparedRole) => `${role}\n${ref}`;
  const want = (ref: string | undefined, role: PreparedRole) => {
    if (ref !== undefined && isAssetId(ref)) refs.set(refKey(ref, role), null);
  };
  for (const item of items) {
    want(item.model, 'model');
    want(item.cloth, 'garment');
    want(item.lower_cloth, 'garment');
  }
  const names = [...refs.keys()];
  for (let start = 0; start < names.length; start += CHUNK) {
    const chunk = names.slice(start, start + CHUNK);
    const keys = chunk.map((name) => {
      const [role, ref] = name.split('\n') as [PreparedRole, string];
      return preparedInputKey(prefix, tenantId, ref, role);
    });
    const values = await redis.mget(...keys);
    chunk.forEach((name, i) => refs.set(name, values[i] ?? null));
  }

  const prepared = (ref: string | undefined, role: PreparedRole) =>
    ref === undefined ? undefined : (refs.get(refKey(ref, role)) ?? null);
  const pairs = items.map((item) => {
    const model = prepared(item.model, 'model');
    const cloth = prepared(item.cloth, 'garment');
    const lowerCloth = prepared(item.lower_cloth, 'garment');
    if (!model || !cloth || lowerCloth === null) return null;
    const inputs = lowerCloth ? { model, cloth, lowerCloth } : { model, cloth };
    return ResultCache.pairKey(inputs, item.cloth_type, item.hd_mode ?? false);
  });

  const cache = new ResultCache(redis, prefix);
  const distinct = [...new Set(pairs.filter((p): p is string => p !== null))];
  const rendered = new Set<string>();
  for (let start = 0; start < distinct.length; start += CHUNK) {
    const chunk = distinct.slice(start, start + CHUNK);
    const pipeline = redis.pipeline();
    for (const pair of chunk) pipeline.exists(cache.key(pair));
    const results = (await pipeline.exec()) ?? [];
    chunk.forEach((pair, i) => {
      if (results[i]?.[1] === 1) rendered.add(pair);
    });
  }
  return pairs.filter((pair) => pair !== null && rendered.has(pair)).length;
}
