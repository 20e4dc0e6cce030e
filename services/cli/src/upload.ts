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
  // One unreadable or refused file does not stop the others: each is noted, the rest go up,
  // and every problem is reported at the end, by file name.
  const problems: FileProblem[] = [];
  const hashed = await mapLimit(paths, 8, (path) =>
    hashFile(path).catch((error: unknown) => {
      problems.push({ path, message: messageOf(error) });
      return null;
    }),
  );
  const sha256 = new Map<string, string>();
  const contents = new Map<string, Content>();
  paths.forEach((path, i) => {
    const hash = hashed[i];
    if (!hash) return;
    sha256.set(path, hash.sha256);
    if (!contents.has(hash.sha256)) {
      contents.set(hash.sha256, { sha256: hash.sha256, bytes: hash.bytes, path });
    }
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
      const assets = await sendGroup(client, group, problems);
      group.forEach((content, i) => {
        const asset = assets[i];
        if (!asset) return;
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
  if (problems.length > 0) throw uploadFailed(problems, paths.length);

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

interface FileProblem {
  path: string;
  message: string;
}

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** Every file that could not be uploaded, by name; the others were uploaded (and cached). */
function uploadFailed(problems: FileProblem[], files: number): CliError {
  const lines = problems
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((problem) => `  ${problem.message}`);
  const failed = problems.length;
  return new CliError(
    EXIT.usage,
    'upload_failed',
    `${failed} of ${files} ${files === 1 ? 'image' : 'images'} could not be uploaded ` +
      '(nothing was submitted; the others are uploaded and are not sent again):\n' +
      lines.join('\n'),
  );
}

/**
 * Sends one request's files; answers an asset per file, or undefined for a file the API
 * refused (noted in `problems` with its name: a request with a refused file is split to find it).
 */
async function sendGroup(
  client: TryonClient,
  group: Content[],
  problems: FileProblem[],
): Promise<(Asset | undefined)[]> {
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
      const assets: (Asset | undefined)[] = [];
      for (const content of group) assets.push(...(await sendGroup(client, [content], problems)));
      return assets;
    }
    problems.push({
      path: group[0]!.path,
      message: `${display(group[0]!.path)}: refused by the API: ${error.message}`,
    });
    return [undefined];
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
    throw usageError(`${display(path)}: ${readProblem(error)}`, 'input_unreadable');
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Why a file could not be read, in words rather than an errno. */
function readProblem(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read (permission denied)';
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory, not an image';
  return `cannot be read: ${messageOf(error)}`;
}
