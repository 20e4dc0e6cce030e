import type { Redis } from 'ioredis';
import { defineScript } from '@tryon/redis';

/** KEYS: a key. ARGV: the holder we saw, the new holder. Replaces it only if still the same. */
const TAKE_OVER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

export const takeOverScript = defineScript<number>({
  name: 'recordsTakeOver',
  numberOfKeys: 1,
  lua: TAKE_OVER,
});

export async function takeOver(
  redis: Redis,
  key: string,
  seen: string,
  holder: string,
): Promise<boolean> {
  return (await takeOverScript.run(redis, [key], [seen, holder])) === 1;
}
