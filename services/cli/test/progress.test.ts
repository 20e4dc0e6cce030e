import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BatchCounts } from '@tryon/domain';
import { AssetCache, cacheDir } from '../src/cache.js';
import { ApiError, EXIT, exitCodeForStatus } from '../src/errors.js';
import { parseRetryAfter } from '../src/api.js';
import { EtaEstimator, formatDuration } from '../src/progress.js';

const counts = (completed: number, failed = 0, total = 100): BatchCounts => ({
  total,
  queued: total - completed - failed,
  running: 0,
  completed,
  failed,
  cancelled: 0,
});

describe('the ETA', () => {
  it('is unknown until something finished while watching', () => {
    const eta = new EtaEstimator();
    eta.observe(counts(10), 0);
    eta.observe(counts(10), 1_000);
    expect(eta.etaMs(counts(10))).toBeNull();
  });

  it('comes from the observed completion rate over the items left', () => {
    const eta = new EtaEstimator();
    eta.observe(counts(0), 0);
    eta.observe(counts(5), 5_000);
    eta.observe(counts(8, 2), 10_000); // failed items are finished too: 10 in 10 s
    expect(eta.rate()).toBe(1);
    expect(eta.etaMs(counts(8, 2))).toBe(90_000);
  });

  it('follows the recent rate, not the whole history', () => {
    const eta = new EtaEstimator(60_000);
    eta.observe(counts(0), 0);
    eta.observe(counts(50), 10_000); // a burst of cached pairs
    for (let t = 20_000; t <= 200_000; t += 10_000) {
      eta.observe(counts(50 + (t - 10_000) / 10_000), t); // then one per 10 s
    }
    expect(eta.rate()).toBeCloseTo(0.1, 5);
  });

  it('starts over after a retry and is 0 when nothing is left', () => {
    const eta = new EtaEstimator();
    eta.observe(counts(90, 10), 0);
    expect(eta.etaMs(counts(90, 10))).toBe(0);
    eta.observe(counts(90, 0), 1_000);
    eta.observe(counts(95, 0), 6_000);
    expect(eta.etaMs(counts(95, 0))).toBe(5_000);
  });

  it('is shown in seconds, minutes or hours', () => {
    expect(formatDuration(null)).toBe('-');
    expect(formatDuration(9_400)).toBe('9s');
    expect(formatDuration(185_000)).toBe('3m 05s');
    expect(formatDuration(2 * 3600_000 + 4 * 60_000)).toBe('2h 04m');
  });
});

describe('exit codes of API answers', () => {
  it('maps auth, input and service errors apart', () => {
    expect(exitCodeForStatus(401)).toBe(EXIT.auth);
    expect(exitCodeForStatus(403)).toBe(EXIT.auth);
    for (const status of [400, 404, 413, 415, 422])
      expect(exitCodeForStatus(status)).toBe(EXIT.usage);
    for (const status of [429, 500, 503]) expect(exitCodeForStatus(status)).toBe(EXIT.api);
    expect(new ApiError(401, 'unauthorized', 'no').exitCode).toBe(4);
  });

  it('reads Retry-After in seconds or as a date', () => {
    expect(parseRetryAfter('3')).toBe(3_000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    const later = parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())!;
    expect(later).toBeGreaterThan(8_000);
    expect(later).toBeLessThanOrEqual(10_000);
  });
});

describe('the upload cache', () => {
  const sha = (c: string) => c.repeat(64);

  it('lives under XDG_CACHE_HOME, else ~/.cache', () => {
    expect(cacheDir({ XDG_CACHE_HOME: '/c' })).toBe('/c/tryon');
    expect(cacheDir({})).toMatch(/\.cache[/\\]tryon$/);
  });

  it('is kept per API and token, and merges with what other runs wrote', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tryon-cli-cache-'));
    try {
      const first = await AssetCache.open(dir, 'http://a', 't1');
      const second = await AssetCache.open(dir, 'http://a', 't1');
      first.set(sha('a'), 'ast_aaaa');
      second.set(sha('b'), 'ast_bbbb');
      await first.save();
      await second.save();
      const again = await AssetCache.open(dir, 'http://a', 't1');
      expect([again.get(sha('a')), again.get(sha('b'))]).toEqual(['ast_aaaa', 'ast_bbbb']);
      again.forget(sha('a'));
      await again.save();
      expect((await AssetCache.open(dir, 'http://a', 't1')).get(sha('a'))).toBeUndefined();
      expect((await AssetCache.open(dir, 'http://a', 't2')).get(sha('b'))).toBeUndefined();
      expect((await AssetCache.open(dir, 'http://b', 't1')).get(sha('b'))).toBeUndefined();
      expect(await readFile(again.path, 'utf8')).not.toContain('t1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
