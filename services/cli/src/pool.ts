import pMap from 'p-map';

/**
 * Runs `fn` over `items` with at most `limit` at once (p-map), answering results in item order.
 * After the first failure no new work starts; the work in flight is awaited, then the error
 * thrown, so no upload or download is left running behind the command's back.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  let failure: { error: unknown } | undefined;
  const results = await pMap(
    items,
    async (item, index) => {
      if (failure) return undefined;
      try {
        return await fn(item, index);
      } catch (error) {
        failure ??= { error };
        return undefined;
      }
    },
    { concurrency: Math.max(1, limit) },
  );
  if (failure) throw failure.error;
  return results as R[];
}
