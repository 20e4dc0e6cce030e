export {
  adminAccess,
  DEV_TENANT,
  describeConfig,
  loadConfig,
  type Config,
  type StorageConfig,
  type Tenant,
} from './config.js';
export { ConfigError, parseDuration, redactUrl, type Env } from './env.js';
export { portInUseMessage } from './listen.js';
