import { adminAccess, redactUrl, type Config } from '@tryon/config';

export interface BannerOptions {
  /** Where the API listens, e.g. http://127.0.0.1:3000. */
  apiUrl: string;
  /** The simulator `pnpm start` runs when FITROOM_API_KEYS is empty, else null. */
  simulatorUrl: string | null;
}

const ADMIN_NOTE = {
  open: 'open to anyone (dev mode: no API_TOKENS, no ADMIN_TOKEN)',
  token: 'needs Authorization: Bearer <ADMIN_TOKEN>',
  disabled: 'disabled (set ADMIN_TOKEN)',
} as const;

/**
 * What `pnpm start` prints once everything listens: where to look, which mode it runs in and
 * where data goes, in a few lines. The admin line says what /admin really does under this
 * config (the same rule the API's auth applies).
 */
export function startBanner(config: Config, options: BannerOptions): string {
  const { apiUrl, simulatorUrl } = options;
  const mode =
    config.tenants.length === 0
      ? 'dev mode: one open tenant, no token needed'
      : `tenants ${config.tenants.map((t) => t.id).join(', ')}`;
  const fitroom = simulatorUrl
    ? `simulator at ${simulatorUrl} (FITROOM_API_KEYS is empty)`
    : `${config.fitroom.baseUrl} (${config.fitroom.apiKeys.length} keys)`;
  const files =
    config.storage.driver === 'fs'
      ? `files under ${config.storage.dataDir}`
      : `s3://${config.storage.bucket}`;
  return [
    '',
    `  try-on batch service is up (${mode})`,
    `  dashboard  ${apiUrl}/ui`,
    `  API        ${apiUrl}/v1   docs ${apiUrl}/docs`,
    `  admin      ${apiUrl}/admin/status: ${ADMIN_NOTE[adminAccess(config)]}`,
    `  FitRoom    ${fitroom}`,
    `  data       images and results: ${files}; records: ${redactUrl(config.redisUrl)}`,
    `  logs       ${config.logLevel}${config.logLevel === 'warn' ? ' and worse (LOG_LEVEL=info for more)' : ''}`,
    '',
  ].join('\n');
}
