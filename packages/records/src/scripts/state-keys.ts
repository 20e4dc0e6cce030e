import { ITEM_STATUSES } from '@tryon/redis';

/**
 * The batch's five per-state sets travel in KEYS in ITEM_STATUSES order, starting at KEYS[first];
 * this Lua snippet names them `stateKey[status]` for the script.
 */
export function stateKeysLua(first: number): string {
  const entries = ITEM_STATUSES.map((status, i) => `${status} = KEYS[${first + i}]`);
  return `local stateKey = { ${entries.join(', ')} }`;
}
