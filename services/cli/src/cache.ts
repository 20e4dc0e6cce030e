import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** $XDG_CACHE_HOME/tryon, else ~/.cache/tryon. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME?.trim() || join(homedir(), '.cache');
  return join(base, 'tryon');
}

interface CacheFile {
  api: string;
  /** sha256 of the bytes -> asset id. */
  assets: Record<string, string>;
}

/**
 * Which bytes this API already has, so a second submit of the same folder uploads nothing:
 * sha256 -> asset id, one file per API URL and token (assets belong to a tenant, so another
 * token on the same API has its own). An entry is trusted until the API says otherwise: a
 * batch naming an asset it does not know is refused with asset_not_found before anything is
 * queued, and `submit` then uploads those files again and resubmits once.
 */
export class AssetCache {
  private readonly added = new Map<string, string>();
  private readonly removed = new Set<string>();

  private constructor(
    readonly path: string,
    private readonly api: string,
    private readonly entries: Map<string, string>,
  ) {}

  static async open(dir: string, api: string, token: string | undefined): Promise<AssetCache> {
    const tenant = createHash('sha256')
      .update(token ?? '')
      .digest('hex');
    const key = createHash('sha256').update(`${api}\n${tenant}`).digest('hex').slice(0, 24);
    const path = join(dir, `assets-${key}.json`);
    return new AssetCache(path, api, await readEntries(path));
  }

  /** A cache that remembers nothing (--no-cache). */
  static disabled(): AssetCache {
    return new AssetCache('', '', new Map());
  }

  get(sha256: string): string | undefined {
    return this.entries.get(sha256);
  }

  set(sha256: string, assetId: string): void {
    this.entries.set(sha256, assetId);
    this.added.set(sha256, assetId);
    this.removed.delete(sha256);
  }

  forget(sha256: string): void {
    this.entries.delete(sha256);
    this.added.delete(sha256);
    this.removed.add(sha256);
  }

  /**
   * Writes this run's changes over what is on disk now (another run may have added entries
   * meanwhile), through a temp file and a rename so a reader never sees half a file.
   * A cache that cannot be written is not an error: the next run uploads again.
   */
  async save(): Promise<void> {
    if (!this.path || (this.added.size === 0 && this.removed.size === 0)) return;
    try {
      const merged = await readEntries(this.path);
      for (const sha of this.removed) merged.delete(sha);
      for (const [sha, id] of this.added) merged.set(sha, id);
      const body: CacheFile = { api: this.api, assets: Object.fromEntries(merged) };
      await mkdir(dirname(this.path), { recursive: true });
      const temp = `${this.path}.${process.pid}.tmp`;
      await writeFile(temp, JSON.stringify(body));
      await rename(temp, this.path);
    } catch {
      // best effort
    }
  }
}

async function readEntries(path: string): Promise<Map<string, string>> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<CacheFile>;
    const entries = new Map<string, string>();
    for (const [sha, id] of Object.entries(parsed.assets ?? {})) {
      if (/^[0-9a-f]{64}$/.test(sha) && typeof id === 'string' && /^ast_[0-9a-f]+$/.test(id)) {
        entries.set(sha, id);
      }
    }
    return entries;
  } catch {
    return new Map(); // missing or unreadable: start empty
  }
}
