import type { Redis } from 'ioredis';
import { defineScript, type RedisKeys } from '@tryon/redis';

/**
 * KEYS: tenants, tenant family prefix, batch line family prefix, assigned. The admission line's
 * depths: tenant, batch, score, waiting, ... for every batch with items in line, then the number
 * of admitted items last. Read-only.
 */
const DEPTHS = `
local out = {}
for _, tenant in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local batches = redis.call('ZRANGE', KEYS[2] .. tenant, 0, -1, 'WITHSCORES')
  for i = 1, #batches, 2 do
    out[#out + 1] = tenant
    out[#out + 1] = batches[i]
    out[#out + 1] = batches[i + 1]
    out[#out + 1] = redis.call('LLEN', KEYS[3] .. batches[i])
  end
end
out[#out + 1] = redis.call('HLEN', KEYS[4])
return out
`;

export const depthsScript = defineScript<(string | number)[]>({
  name: 'admissionDepths',
  numberOfKeys: 4,
  lua: DEPTHS,
});

export function lineDepths(redis: Redis, keys: RedisKeys): Promise<(string | number)[]> {
  return depthsScript.run(
    redis,
    [
      keys.admissionTenants(),
      keys.admissionTenantFamily(),
      keys.admissionBatchFamily(),
      keys.admissionAssigned(),
    ],
    [],
  );
}
