import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '@tryon/testing';
import { redisDurabilityProblems } from '../src/index.js';

const redis = new Redis(testRedisUrl());
afterAll(() => redis.disconnect());

describe('redisDurabilityProblems', () => {
  it('names each production setting Redis lacks, and nothing once they are set', async () => {
    const [, appendonly] = (await redis.config('GET', 'appendonly')) as [string, string];
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    try {
      await redis.config('SET', 'appendonly', 'no');
      await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const problems = await redisDurabilityProblems(redis);
      expect(problems).toHaveLength(2);
      expect(problems[0]).toMatch(/appendonly yes/);
      expect(problems[1]).toMatch(/noeviction/);

      await redis.config('SET', 'maxmemory-policy', 'noeviction');
      await redis.config('SET', 'appendonly', 'yes');
      expect(await redisDurabilityProblems(redis)).toEqual([]);
    } finally {
      await redis.config('SET', 'appendonly', appendonly);
      await redis.config('SET', 'maxmemory-policy', policy);
    }
  });
});
