export { ITEM_STATUSES, RedisKeys, type ItemStatusName } from './keys.js';
export {
  defineScript,
  ensureScript,
  type RedisScript,
  type ScriptArg,
  type ScriptSpec,
} from './script.js';
export { releaseLock, tryLock } from './lock.js';
