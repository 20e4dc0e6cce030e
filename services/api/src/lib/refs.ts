import pMap from 'p-map';
import { isAssetId } from '@tryon/domain';
import type { NewItem, Records } from '@tryon/records';
import {
  checkPublicUrl,
  checkUrlSyntax,
  type AllowedProtocol,
  type LookupFn,
  type UrlCheckResult,
} from '@tryon/webhooks';
import { ApiError } from '../errors.js';
import { ERROR_EXAMPLES, MAX_URL_HOSTS_PER_BATCH } from '../limits.js';

export interface UrlPolicy {
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: private and loopback targets, and plain http. */
  allowPrivateNetworks: boolean;
  /** Name resolution for the SSRF check; the system resolver by default. */
  lookup?: LookupFn | undefined;
}

const LOOKUP_CONCURRENCY = 8;
const ASSET_LOOKUP_CHUNK = 1_000;

const protocols = (policy: UrlPolicy): AllowedProtocol[] =>
  policy.allowPrivateNetworks ? ['https:', 'http:'] : ['https:'];

const shorten = (text: string): string => (text.length > 120 ? `${text.slice(0, 117)}...` : text);

function listed(values: string[]): string {
  const shown = values.slice(0, ERROR_EXAMPLES).join(', ');
  const more = values.length - ERROR_EXAMPLES;
  return more > 0 ? `${shown} (and ${more} more)` : shown;
}

/** A webhook target must be an https URL of a public host (http and private ones only when allowed). */
export async function checkWebhookUrl(url: string, policy: UrlPolicy): Promise<void> {
  const result = await checkPublicUrl(url, {
    allowPrivateNetworks: policy.allowPrivateNetworks,
    allowedProtocols: protocols(policy),
    lookup: policy.lookup,
  });
  if (!result.ok) {
    throw new ApiError(
      422,
      'invalid_webhook_url',
      `webhook_url is refused: ${result.message}${privateNetworkHint(result, policy, url)}`,
    );
  }
}

/**
 * For a URL refused only because it is private, loopback or plain http: the setting that
 * allows those, which a developer pointing a webhook at localhost needs to know exists.
 */
function privateNetworkHint(result: UrlCheckResult, policy: UrlPolicy, url: string): string {
  if (result.ok || policy.allowPrivateNetworks) return '';
  const plainHttp = result.code === 'unsupported_protocol' && /^http:/i.test(url);
  if (result.code !== 'forbidden_address' && !plainHttp) return '';
  return (
    ' (for development, WEBHOOK_ALLOW_PRIVATE_NETWORKS=true on the service allows private ' +
    'and loopback addresses and plain http)'
  );
}

/**
 * Every image ref of the batch is an asset of this tenant or an acceptable URL. Each distinct
 * asset id is looked up once and each distinct URL host is resolved once, however many items
 * name them.
 */
export async function checkImageRefs(
  items: NewItem[],
  tenantId: string,
  records: Records,
  policy: UrlPolicy,
): Promise<void> {
  const assetIds = new Set<string>();
  const urls = new Set<string>();
  for (const item of items) {
    for (const ref of [item.model, item.cloth, item.lower_cloth]) {
      if (ref === undefined) continue;
      if (ref.startsWith('ast_')) assetIds.add(ref);
      else urls.add(ref);
    }
  }
  await checkUrls([...urls], policy);
  await checkAssets([...assetIds], tenantId, records);
}

async function checkAssets(ids: string[], tenantId: string, records: Records): Promise<void> {
  const missing: string[] = [];
  for (let start = 0; start < ids.length; start += ASSET_LOOKUP_CHUNK) {
    const chunk = ids.slice(start, start + ASSET_LOOKUP_CHUNK);
    const found = await Promise.all(
      chunk.map((id) => (isAssetId(id) ? records.getAsset(tenantId, id) : Promise.resolve(null))),
    );
    found.forEach((asset, i) => {
      if (!asset) missing.push(shorten(chunk[i]!));
    });
  }
  if (missing.length > 0) {
    throw new ApiError(
      422,
      'asset_not_found',
      `unknown asset ${missing.length === 1 ? 'id' : 'ids'} (upload with POST /v1/assets first): ${listed(missing)}`,
    );
  }
}

async function checkUrls(urls: string[], policy: UrlPolicy): Promise<void> {
  const allowed = protocols(policy);
  const bad: string[] = [];
  const byHost = new Map<string, string>();
  for (const url of urls) {
    const syntax = checkUrlSyntax(url, allowed);
    if (!syntax.ok) {
      bad.push(`"${shorten(url)}": ${syntaxMessage(syntax, allowed)}`);
      continue;
    }
    if (!byHost.has(syntax.url.hostname)) byHost.set(syntax.url.hostname, url);
  }
  refuse(bad);
  if (byHost.size > MAX_URL_HOSTS_PER_BATCH) {
    throw new ApiError(
      422,
      'too_many_hosts',
      `image URLs name ${byHost.size} different hosts; at most ${MAX_URL_HOSTS_PER_BATCH} per batch`,
    );
  }
  const representatives = [...byHost.values()];
  const results = await pMap(
    representatives,
    (url) =>
      checkPublicUrl(url, {
        allowPrivateNetworks: policy.allowPrivateNetworks,
        allowedProtocols: allowed,
        lookup: policy.lookup,
      }),
    { concurrency: LOOKUP_CONCURRENCY },
  );
  results.forEach((result, i) => {
    if (!result.ok) bad.push(`"${shorten(representatives[i]!)}": ${result.message}`);
  });
  refuse(bad);
}

function syntaxMessage(result: Exclude<UrlCheckResult, { ok: true }>, allowed: string[]) {
  if (result.code === 'invalid_url') {
    return `neither an asset id (ast_...) nor an absolute ${allowed.join(' or ')} URL`;
  }
  return result.message;
}

function refuse(bad: string[]): void {
  if (bad.length > 0) {
    throw new ApiError(422, 'invalid_image_url', `image URL refused: ${listed(bad)}`);
  }
}
