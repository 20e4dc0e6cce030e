import type { Redis } from 'ioredis';

/**
 * What Redis must do for this service not to lose work: keep an append-only file (a restart
 * keeps every job and record) and never evict keys (an evicted key is a lost job or a wrong
 * count). Returns one line per problem; empty when Redis is set up for production.
 */
export async function redisDurabilityProblems(redis: Redis): Promise<string[]> {
  try {
    const [, appendonly] = (await redis.config('GET', 'appendonly')) as [string, string];
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    const problems: string[] = [];
    if (appendonly !== 'yes') {
      problems.push(
        'Redis has appendonly off: a Redis restart loses queued work (set appendonly yes)',
      );
    }
    if (policy !== 'noeviction') {
      problems.push(
        `Redis evicts keys (maxmemory-policy ${policy}): jobs and counts can vanish (set maxmemory-policy noeviction)`,
      );
    }
    return problems;
  } catch {
    return [
      'could not read the Redis configuration (CONFIG GET is disabled?): check appendonly yes and maxmemory-policy noeviction by hand',
    ];
  }
}
