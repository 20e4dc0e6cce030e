import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Asset } from '@tryon/domain';
import type { TryonClient } from './api.js';
import type { AssetCache } from './cache.js';
import { ApiError, CliError, EXIT, NetworkError, usageError } from './errors.js';
import { displayPath as display } from './output.js';
import { mapLimit } from './pool.js';

/** Files per POST /v1/assets (the API takes up to 20) and bytes per request. */
const MAX_FILES_PER_REQUEST = 10;
const MAX_BYTES_PER_REQUEST = 32 * 1024 * 1024;

export interface UploadStats {
  /** Local files named by the inputs. */
  files: number;
  /** Distinct contents among them. */
  unique: number;
  /** Contents sent to the API in this run. */
  uploaded: number;
  /** Contents the cache says the API already has: not sent. */
  reused: number;
}

export interface UploadOptions {
  concurrency: number;
  cache: AssetCache;
  /** Called after each request with the contents done so far and the number to send. */
  onProgress?: (sent: number, toSend: number) => void;
}

export interface UploadResult {
  /** Local path -> asset id. */
  assetIds: Map<string, string>;
  /** Local path -> sha256 of its bytes. */
  sha256: Map<string, string>;
  /** The contents whose ids came from the cache, not from this run's uploads. */
  fromCache: Set<string>;
  stats: UploadStats;
}

interface Content {
  sha256: string;
  bytes: number;
  /** The first file with these bytes: the one sent. */
  path: string;
}

/**
 * Makes every file an asset: hashes each (several at a time), skips the contents the cache
 * knows, and sends the rest in requests of up to 10 files, `concurrency` requests at once.
 * The API answers the same asset for the same bytes, so a repeated upload is harmless.
 */
export async function uploadFiles(
  client: TryonClient,
  paths: string[],
  options: UploadOptions,
): Promise<UploadResult> {
  const { cache } = options;
  const hashed = await mapLimit(paths, 8, hashFile);
  const sha256 = new Map<string, string>();
  const contents = new Map<string, Content>();
  paths.forEach((path, i) => {
    const { sha256: sha, bytes } = hashed[i]!;
    sha256.set(path, sha);
    if (!contents.has(sha)) contents.set(sha, { sha256: sha, bytes, path });
  });

  const ids = new Map<string, string>();
  const fromCache = new Set<string>();
  const toSend: Content[] = [];
  for (const content of contents.values()) {
    const cached = cache.get(content.sha256);
    if (cached) {
      ids.set(content.sha256, cached);
      fromCache.add(content.sha256);
    } else {
      toSend.push(content);
    }
  }

  const requests = chunk(toSend, options.concurrency);
  let sent = 0;
  options.onProgress?.(0, toSend.length);
  try {
    await mapLimit(requests, options.concurrency, async (group) => {
      const assets = await sendGroup(client, group);
      group.forEach((content, i) => {
        const asset = assets[i]!;
        ids.set(content.sha256, asset.id);
        cache.set(content.sha256, asset.id);
      });
      sent += group.length;
      options.onProgress?.(sent, toSend.length);
    });
  } finally {
    // What was uploaded before a failure is remembered: the next run does not send it again.
    await cache.save();
  }

  const assetIds = new Map<string, string>();
  for (const path of paths) assetIds.set(path, ids.get(sha256.get(path)!)!);
  return {
    assetIds,
    sha256,
    fromCache,
    stats: {
      files: paths.length,
      unique: contents.size,
      uploaded: toSend.length,
      reused: fromCache.size,
    },
  };
}

/**
 * Requests of at most 10 files and 32 MiB, and no fewer requests than lanes when there are
 * enough files: 7 files over 4 lanes go as 2 + 2 + 2 + 1.
 */
export function chunk<T extends { bytes: number }>(contents: T[], lanes: number): T[][] {
  const perRequest = Math.min(
    MAX_FILES_PER_REQUEST,
    Math.max(1, Math.ceil(contents.length / Math.max(1, lanes))),
  );
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const content of contents) {
    if (
      current.length > 0 &&
      (current.length >= perRequest || bytes + content.bytes > MAX_BYTES_PER_REQUEST)
    ) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(content);
    bytes += content.bytes;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

async function sendGroup(client: TryonClient, group: Content[]): Promise<Asset[]> {
  try {
    const assets = await client.uploadAssets(group.map((content) => content.path));
    assets.forEach((asset, i) => {
      if (asset.sha256 !== group[i]!.sha256) {
        throw new NetworkError(
          'unexpected_answer',
          `POST /v1/assets: the API's sha256 of ${display(group[i]!.path)} differs from ours ` +
            '(did the file change while it was read?)',
          false,
        );
      }
    });
    return assets;
  } catch (error) {
    if (!(error instanceof ApiError) || error.exitCode !== EXIT.usage) throw error;
    // One file was refused (not an image, too large, ...): find which, and say so.
    if (group.length > 1) {
      const assets: Asset[] = [];
      for (const content of group) assets.push(...(await sendGroup(client, [content])));
      return assets;
    }
    throw new CliError(
      EXIT.usage,
      error.code,
      `${display(group[0]!.path)}: refused by the API: ${error.message}`,
    );
  }
}

export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path)) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
  } catch (error) {
    throw usageError(`${display(path)}: ${(error as Error).message}`, 'input_unreadable');
  }
  return { sha256: hash.digest('hex'), bytes };
}
