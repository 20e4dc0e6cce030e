import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBuffer, type Entry, type ZipFile } from 'yauzl';
import { startApi, type RunningApi } from '@tryon/api';
import { loadConfig } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { createTestBucket, eventually, makeImage, serviceEnv, uniqueId } from '@tryon/testing';
import { startWorker, type RunningWorker } from '@tryon/worker';
import { runTryon } from './cli-support.js';

/**
 * A catalog team's review in a real browser (Debian's chromium via playwright-core) against
 * simulator, worker and API on real Redis and S3: a 3 x 4 batch started from /ui/new, reviewed by keyboard
 * in the dense grid (10 approved, 2 rejected), the 2 rendered again as fresh renders after the
 * cost was shown, and the approved results downloaded as a ZIP from the page and unzipped.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCREENSHOTS = join(ROOT, '.tmp', 'screenshots');
const TIME_SCALE = 50;
const TOKEN = 'acme-review-token-0123456789';
/** The keys pressed on the 12 tiles, in order: the 4th and 9th are rejected. */
const VERDICTS = 'aaaraaaaraaa'.split('');

let sim: RunningSim;
let api: RunningApi;
let worker: RunningWorker;
let browser: Browser;
let page: Page;

interface ItemView {
  id: string;
  status: string;
  external_id: string;
  review: string | null;
  result: { sha256: string; bytes: number } | null;
  previous_results: { review: string | null; sha256: string }[];
}

async function apiCall<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

const batchItems = async (batchId: string) =>
  (await apiCall<{ items: ItemView[] }>('GET', `/v1/batches/${batchId}/items?limit=100`)).items;

const finishedBatch = (batchId: string) =>
  eventually(
    () =>
      apiCall<{ status: string; counts: { completed: number } }>('GET', `/v1/batches/${batchId}`),
    (batch) => batch.status === 'completed',
    { timeoutMs: 60_000 },
  );

async function unzip(bytes: Buffer): Promise<Map<string, Buffer>> {
  const zip = await new Promise<ZipFile>((resolve, reject) =>
    fromBuffer(bytes, { lazyEntries: true }, (error, file) =>
      error ? reject(error) : resolve(file),
    ),
  );
  const entries = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', resolve);
    zip.on('entry', (entry: Entry) => {
      zip.openReadStream(entry, (error, stream) => {
        if (error) return reject(error);
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', reject);
        stream.on('end', () => {
          entries.set(entry.fileName, Buffer.concat(chunks));
          zip.readEntry();
        });
      });
    });
    zip.readEntry();
  });
  return entries;
}

/** What the browser-side checks touch of the DOM (this package's TypeScript has no DOM types). */
interface Rect {
  top: number;
  bottom: number;
  left: number;
  right: number;
}
interface Dom {
  querySelectorAll(selector: string): ArrayLike<{
    getBoundingClientRect(): Rect;
    complete: boolean;
    naturalWidth: number;
  }>;
}
type Browserside = typeof globalThis & { document: Dom; innerHeight: number; innerWidth: number };

beforeAll(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  sim = await startSim({ timeScale: TIME_SCALE, keys: { 'review-key': 1_000_000 }, seed: 7 });
  const config = loadConfig(
    serviceEnv({
      prefix: uniqueId('e2e-review'),
      simUrl: sim.url,
      apiKeys: ['review-key'],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('e2e-review'),
      extra: { API_TOKENS: `acme:${TOKEN}` },
    }),
  );
  api = await startApi(config, { logger: { level: 'warn' } });
  worker = await startWorker(config, {
    logger: createLogger({ service: 'tryon-worker', level: 'warn' }),
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
  });
  page = await context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await api?.close();
  await worker?.close();
  await sim?.close();
});

describe('reviewing a finished batch in the browser', { timeout: 180_000 }, () => {
  let batchId: string;
  /** The items in submission order (the grid's order). */
  let items: ItemView[];

  it('starts a 3 x 4 batch from /ui/new: uploads with a failure named, the dry run, submit', async () => {
    await page.goto(`${api.url}/ui/login?next=${encodeURIComponent('/ui/new')}`);
    await page.locator('#token').fill(TOKEN);
    await Promise.all([page.waitForNavigation(), page.locator('button[type="submit"]').click()]);
    expect(new URL(page.url()).pathname).toBe('/ui/new');
    const image = async (seed: number, i: number) =>
      makeImage({ width: 500, height: 700, color: { r: seed + 40 * i, g: 120, b: 200 - 30 * i } });
    const files = async (prefix: string, count: number, seed: number) =>
      Promise.all(
        Array.from({ length: count }, async (_, i) => ({
          name: `${prefix}-${i + 1}.jpg`,
          mimeType: 'image/jpeg',
          buffer: await image(seed, i),
        })),
      );
    await page
      .locator('input[data-files="models"][multiple]')
      .setInputFiles(await files('model', 3, 20));
    await page.locator('[data-group] input[data-files="garments"][multiple]').setInputFiles([
      ...(await files('shirt', 4, 90)),
      // Not an image: named as failed, the others go on.
      { name: 'broken.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a jpeg at all') },
    ]);
    expect(await page.locator('[data-list="garments"] li').count()).toBe(5);
    await page.locator('[data-action="dry-run"]').click();
    await page.locator('[data-field="dry-run"]').waitFor({ state: 'visible', timeout: 30_000 });
    expect(await page.locator('[data-field="dry-items"]').textContent()).toBe('12');
    expect(await page.locator('[data-field="dry-credits"]').textContent()).toBe('12');
    expect(await page.locator('[data-field="dry-cached"]').textContent()).toBe('0');
    expect(await page.locator('[data-field="dry-eta"]').textContent()).toMatch(/^~\d+ s$/);
    expect(await page.locator('[data-field="upload-failures"]').textContent()).toContain(
      'broken.jpg',
    );
    await page.screenshot({ path: join(SCREENSHOTS, 'new-batch.png'), fullPage: true });
    await Promise.all([
      page.waitForURL(/\/ui\/batches\/bat_/),
      page.locator('[data-action="submit"]').click(),
    ]);
    batchId = new URL(page.url()).pathname.split('/').at(-1)!;
    await finishedBatch(batchId);
    items = await batchItems(batchId);
    expect(items.map((i) => i.status)).toEqual(Array(12).fill('completed'));
    expect(items.map((i) => i.external_id)).toEqual(
      [1, 2, 3].flatMap((m) => [1, 2, 3, 4].map((g) => `model-${m}__shirt-${g}`)),
    );
  });

  it('shows at least 12 results at once on a 1280x800 screen', async () => {
    await page.goto(`${api.url}/ui/batches/${batchId}`);
    // Every result tile in the window, its image loaded, without scrolling.
    await page.waitForFunction(
      () => {
        const { document, innerHeight, innerWidth } = globalThis as Browserside;
        const visible = Array.from(document.querySelectorAll('img[data-role="result"]')).filter(
          (img) => {
            const r = img.getBoundingClientRect();
            return r.top >= 0 && r.bottom <= innerHeight && r.right <= innerWidth && img.complete;
          },
        );
        return visible.length >= 12 && visible.every((img) => img.naturalWidth > 0);
      },
      undefined,
      { timeout: 30_000 },
    );
  });

  it('reviews by keyboard: j/arrows move, a/r approve and reject, Enter enlarges', async () => {
    await page.keyboard.press('j'); // selects the first tile
    await page.keyboard.press('Enter');
    const viewer = page.locator('[data-viewer]');
    expect(await viewer.isVisible()).toBe(true);
    for (const role of ['model', 'garment', 'result']) {
      await page.locator(`img[data-role="viewer-${role}"]`).waitFor();
    }
    await page.waitForFunction(() =>
      Array.from((globalThis as Browserside).document.querySelectorAll('.viewer img')).every(
        (img) => img.complete && img.naturalWidth > 0,
      ),
    );
    const file = join(SCREENSHOTS, 'review-viewer.png');
    await page.screenshot({ path: file });
    await page.keyboard.press('Escape');
    expect(await viewer.isVisible()).toBe(false);

    // Moving right then left comes back to the first tile.
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('k');
    const first = page.locator('.tile.current');
    expect(await first.getAttribute('data-item')).toBe(items[0]!.id);
    for (const key of VERDICTS) await page.keyboard.press(key);
    await page.waitForFunction(
      () =>
        (globalThis as Browserside).document.querySelectorAll('.tile[data-saving]').length === 0,
    );
    expect(await page.locator('.tile[data-review="approved"]').count()).toBe(10);
    expect(await page.locator('.tile[data-review="rejected"]').count()).toBe(2);
    await page.locator(`.tile[data-item="${items[0]!.id}"]`).click(); // a place for the screenshot
    await page.keyboard.press('Escape');
    const grid = join(SCREENSHOTS, 'review-grid.png');
    await page.screenshot({ path: grid });
    console.log(`review grid screenshot: ${grid}`);

    // Stored with the items: the API and a reload say the same.
    const after = await batchItems(batchId);
    expect(after.map((i) => i.review)).toEqual(
      VERDICTS.map((key) => (key === 'a' ? 'approved' : 'rejected')),
    );
    await page.reload();
    expect(await page.locator('.tile[data-review="rejected"]').count()).toBe(2);
  });

  it('re-renders the 2 rejected after showing their cost, keeping the earlier results', async () => {
    const createdBefore = sim.stats().tasks.created;
    await Promise.all([
      page.waitForURL(`**/ui/batches/${batchId}/rerender`),
      page.locator('[data-action="rerender"]').click(),
    ]);
    expect(await page.locator('[data-field="rerender-items"]').textContent()).toBe('2');
    expect(await page.locator('[data-field="rerender-credits"]').textContent()).toBe('2');
    await Promise.all([
      page.waitForURL(/done=rerender/),
      page.locator('[data-action="confirm-rerender"]').click(),
    ]);
    expect(await page.locator('.notice').textContent()).toContain('rendered again');
    await finishedBatch(batchId);
    // Two fresh FitRoom tasks: the rejected renders were not reused.
    expect(sim.stats().tasks.created - createdBefore).toBe(2);
    const after = await batchItems(batchId);
    VERDICTS.forEach((key, i) => {
      const item = after[i]!;
      expect(item.status).toBe('completed');
      expect(item.previous_results).toHaveLength(key === 'r' ? 1 : 0);
      expect(item.review).toBe(key === 'r' ? null : 'approved');
    });
    const rerendered = after.filter((item) => item.previous_results.length > 0);
    for (const item of rerendered) {
      expect(item.previous_results[0]!.review).toBe('rejected');
      const earlier = await fetch(`${api.url}/v1/items/${item.id}/previous-results/0`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(earlier.status).toBe(200);
    }
    items = after;
  });

  it('downloads the approved ZIP from the page: names, images and manifest', async () => {
    await page.goto(`${api.url}/ui/batches/${batchId}`);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('[data-export="zip-approved"]').click(),
    ]);
    expect(download.suggestedFilename()).toBe(`${batchId}-results-approved.zip`);
    const entries = await unzip(await readFile(await download.path()));
    const approved = items.filter((item) => item.review === 'approved');
    expect(approved).toHaveLength(10);
    expect([...entries.keys()]).toEqual([
      ...approved.map((item) => `${item.external_id}.jpg`),
      'manifest.csv',
    ]);
    for (const item of approved) {
      const image = await fetch(`${api.url}/v1/items/${item.id}/result`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const bytes = Buffer.from(await image.arrayBuffer());
      expect(entries.get(`${item.external_id}.jpg`)!.equals(bytes), item.external_id).toBe(true);
    }
    const manifest = parse<Record<string, string>>(entries.get('manifest.csv')!, { columns: true });
    expect(manifest.map((row) => [row.item_id, row.external_id, row.file, row.review])).toEqual(
      approved.map((item) => [item.id, item.external_id, `${item.external_id}.jpg`, 'approved']),
    );
  });
  it('tryon download --approved writes the approved images only, with their review', async () => {
    const work = await mkdtemp(join(tmpdir(), 'tryon-review-e2e-'));
    try {
      const out = join(work, 'approved');
      const run = await runTryon({ url: api.url, token: TOKEN, cacheHome: work }, [
        'download',
        batchId,
        '--out',
        out,
        '--approved',
        '--json',
      ]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.json()).toMatchObject({ items: 10, downloaded: 10, missing: 0 });
      const approved = items.filter((item) => item.review === 'approved');
      expect((await readdir(out)).sort()).toEqual(
        [...approved.map((item) => `${item.external_id}.jpg`), 'manifest.csv'].sort(),
      );
      const manifest = parse<Record<string, string>>(await readFile(join(out, 'manifest.csv')), {
        columns: true,
      });
      expect(manifest.map((row) => [row.external_id, row.review])).toEqual(
        approved.map((item) => [item.external_id, 'approved']),
      );
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
