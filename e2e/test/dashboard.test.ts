import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '@tryon/api';
import { loadConfig, type Config } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { createTestBucket, eventually, makeImage, serviceEnv, uniqueId } from '@tryon/testing';
import { startWorker, type RunningWorker } from '@tryon/worker';

/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core) against the
 * whole service in this process: simulator, worker and API on real Redis and S3.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCREENSHOTS = join(ROOT, '.tmp', 'screenshots');
const TIME_SCALE = 50;
const TOKENS = {
  acme: 'acme-ui-token-0123456789',
  globex: 'globex-ui-token-0123456789',
  admin: 'admin-ui-token-0123456789',
};

let sim: RunningSim;
let api: RunningApi;
let worker: RunningWorker | null = null;
let config: Config;
let images: Server;
let browser: Browser;
let acme: BrowserContext;
let page: Page;
/** Until set, the "gone" garment answers 404: its item fails for good until retried. */
let garmentFixed = false;
let imageBase: string;

const workerLogger = () => createLogger({ service: 'tryon-worker', level: 'warn' });

async function apiCall<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await request(`${api.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKENS.acme}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300)
    throw new Error(`${method} ${path}: ${response.statusCode} ${text}`);
  return JSON.parse(text) as T;
}

interface ItemView {
  id: string;
  status: string;
  external_id: string;
  error: { code: string; message: string } | null;
}

async function uploadImages(count: number): Promise<string[]> {
  const form = new FormData();
  for (let i = 0; i < count; i++) {
    const bytes = await makeImage({
      width: 600,
      height: 900,
      color: { r: 40 + 50 * i, g: 90, b: 160 },
    });
    form.append('file', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), `m${i}.jpg`);
  }
  const response = await fetch(`${api.url}/v1/assets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS.acme}` },
    body: form,
  });
  expect([200, 201]).toContain(response.status);
  const { assets } = (await response.json()) as { assets: { id: string }[] };
  return assets.map((a) => a.id);
}

async function submit(items: Record<string, unknown>[]): Promise<string> {
  return (await apiCall<{ id: string }>('POST', '/v1/batches', { items })).id;
}

async function signIn(p: Page, token: string): Promise<void> {
  await p.locator('#token').fill(token);
  await Promise.all([p.waitForNavigation(), p.locator('button[type="submit"]').click()]);
}

beforeAll(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  sim = await startSim({ timeScale: TIME_SCALE, keys: { 'ui-key': 1_000_000 }, seed: 5 });
  config = loadConfig(
    serviceEnv({
      prefix: uniqueId('e2e-ui'),
      simUrl: sim.url,
      apiKeys: ['ui-key'],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('e2e-ui'),
      extra: {
        API_TOKENS: `acme:${TOKENS.acme},globex:${TOKENS.globex}`,
        ADMIN_TOKEN: TOKENS.admin,
      },
    }),
  );
  // No worker yet: the first batch waits, so the page sees it progress live.
  api = await startApi(config, { logger: { level: 'warn' } });

  const shirt = await makeImage({ width: 400, height: 520, color: { r: 10, g: 160, b: 90 } });
  images = createServer((req, res) => {
    const served = req.url === '/img/shirt.jpg' || (req.url === '/img/gone.jpg' && garmentFixed);
    if (served) {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': shirt.length });
      res.end(shirt);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));
  imageBase = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  acme = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  page = await acme.newPage();
});

afterAll(async () => {
  await browser?.close();
  await api?.close();
  await worker?.close();
  await sim?.close();
  await new Promise((resolve) => (images ? images.close(resolve) : resolve(undefined)));
});

/**
 * What the browser-side checks touch of the DOM: this package's TypeScript has no DOM types.
 * (They are functions, not strings: the dashboard's CSP forbids evaluating strings.)
 */
interface Dom {
  querySelectorAll(selector: string): ArrayLike<{
    complete: boolean;
    naturalWidth: number;
    value: number;
    max: number;
    textContent: string | null;
  }>;
}
type Browserside = typeof globalThis & { document: Dom; sameDocument?: boolean };

/** Every result thumbnail on the page has loaded real pixels. */
const resultsLoaded = (p: Page, expected: number) =>
  p.waitForFunction(
    (n) => {
      const { document } = globalThis as Browserside;
      const imgs = Array.from(document.querySelectorAll('img[data-role="result"]'));
      return imgs.length === n && imgs.every((img) => img.complete && img.naturalWidth > 0);
    },
    expected,
    { timeout: 30_000 },
  );

/** The progress bar is full and says 100%. */
const progressFull = () => {
  const { document } = globalThis as Browserside;
  const bar = document.querySelectorAll('progress[data-field="progress"]')[0];
  const percent = document.querySelectorAll('[data-field="percent"]')[0]?.textContent;
  return bar !== undefined && bar.value === bar.max && percent === '100%';
};

describe('the dashboard in a browser', { timeout: 120_000 }, () => {
  let batchId: string;
  let goneItem: string;

  it('sign-in: a wrong token shows the error; the batch list shows a new batch by itself', async () => {
    await page.goto(`${api.url}/ui`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await page.locator('#token').fill('certainly-not-a-token');
    const [refused] = await Promise.all([
      page.waitForNavigation(),
      page.locator('button[type="submit"]').click(),
    ]);
    expect(refused!.status()).toBe(401);
    expect(await page.locator('.error').textContent()).toContain('That token is not valid');

    await signIn(page, TOKENS.acme);
    expect(new URL(page.url()).pathname).toBe('/ui');
    expect(await page.locator('h1').textContent()).toBe('Batches');

    const models = await uploadImages(3);
    batchId = await submit([
      ...models.map((model, i) => ({
        model,
        cloth: `${imageBase}/img/shirt.jpg`,
        cloth_type: 'upper',
        external_id: `model-${i + 1}__shirt`,
      })),
      {
        model: models[0],
        cloth: `${imageBase}/img/gone.jpg`,
        cloth_type: 'upper',
        external_id: 'model-1__gone',
      },
    ]);
    // No reload: the list refreshes itself.
    await page.locator(`tr[data-batch="${batchId}"]`).waitFor({ timeout: 20_000 });
    expect(await page.locator(`tr[data-batch="${batchId}"] .badge`).textContent()).toBe('queued');
  });

  it('the batch page follows the batch live to 100%, every result image loaded, the failure explained', async () => {
    await page.locator(`a[href="/ui/batches/${batchId}"]`).click();
    await page.waitForURL(`**/ui/batches/${batchId}`);
    expect(await page.locator('[data-field="percent"]').textContent()).toBe('0%');
    expect(await page.locator('.tile[data-item]').count()).toBe(4);
    // Gone after any reload: proves the page below was updated in place.
    await page.evaluate(() => ((globalThis as Browserside).sameDocument = true));

    worker = await startWorker(config, { logger: workerLogger() });
    await page.waitForFunction(progressFull, undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => (globalThis as Browserside).sameDocument)).toBe(true);
    await resultsLoaded(page, 3);
    expect(await page.locator('[data-count="completed"]').textContent()).toBe('3');
    expect(await page.locator('[data-count="failed"]').textContent()).toBe('1');

    const items = (await apiCall<{ items: ItemView[] }>('GET', `/v1/batches/${batchId}/items`))
      .items;
    const gone = items.find((i) => i.external_id === 'model-1__gone')!;
    expect(gone.status).toBe('failed');
    goneItem = gone.id;
    const reason = page.locator(`[data-item="${goneItem}"] .error`);
    await reason.waitFor();
    expect(await reason.textContent()).toContain(gone.error!.code);
    expect(gone.error!.code).toMatch(/^image_url_/);
    expect(await page.locator('[data-action="retry"]').isVisible()).toBe(true);

    // The same page rendered by the server: the gallery's images load as they are.
    await page.reload();
    await resultsLoaded(page, 3);
    // The other inputs' thumbnails loaded too; only the missing garment has none.
    const inputs = await page.evaluate(() =>
      Array.from(
        (globalThis as Browserside).document.querySelectorAll(
          'img[data-role="model"], img[data-role="garment"]',
        ),
      ).map((img) => img.naturalWidth > 0),
    );
    expect(inputs.filter(Boolean)).toHaveLength(7);
    expect(await page.locator(`[data-item="${goneItem}"] .error`).textContent()).toContain(
      gone.error!.message.slice(0, 20),
    );
    const file = join(SCREENSHOTS, 'gallery.png');
    await page.screenshot({ path: file, fullPage: true });
    console.log(`gallery screenshot: ${file}`);
  });

  it('Retry queues the failed item again', async () => {
    garmentFixed = true; // this time its garment is there
    await Promise.all([
      page.waitForURL(/done=retry/),
      page.locator('[data-action="retry"] button').click(),
    ]);
    expect(await page.locator('.notice').textContent()).toContain('queued again');
    const after = await apiCall<ItemView>('GET', `/v1/items/${goneItem}`);
    expect(['queued', 'running', 'completed']).toContain(after.status);
    const done = await eventually(
      () => apiCall<ItemView>('GET', `/v1/items/${goneItem}`),
      (item) => item.status === 'completed' || item.status === 'failed',
    );
    expect(done.status).toBe('completed');
    await page.reload();
    await resultsLoaded(page, 4);
  });

  it("another tenant's batch is a 404; the queue board needs the admin token", async () => {
    const globex = await browser.newContext();
    try {
      const other = await globex.newPage();
      await other.goto(`${api.url}/ui/login`);
      await signIn(other, TOKENS.globex);
      const response = await other.goto(`${api.url}/ui/batches/${batchId}`);
      expect(response!.status()).toBe(404);
      expect(await other.locator('.error').textContent()).toContain('no batch with this id');
      await other.goto(`${api.url}/ui`);
      expect(await other.locator(`tr[data-batch="${batchId}"]`).count()).toBe(0);
      const board = await other.goto(`${api.url}/admin/queues`);
      expect(board!.status()).toBe(401);
    } finally {
      await globex.close();
    }
  });

  it('Cancel cancels a batch whose items have not started', async () => {
    await worker!.close();
    worker = null;
    const models = await uploadImages(1);
    const id = await submit([
      { model: models[0], cloth: `${imageBase}/img/shirt.jpg`, cloth_type: 'upper' },
      { model: models[0], cloth: `${imageBase}/img/shirt.jpg`, cloth_type: 'full_set' },
    ]);
    await page.goto(`${api.url}/ui/batches/${id}`);
    expect(await page.locator('h1 .badge').textContent()).toBe('queued');
    await Promise.all([
      page.waitForURL(/done=cancel/),
      page.locator('[data-action="cancel"] button').click(),
    ]);
    expect(await page.locator('h1 .badge').textContent()).toBe('cancelled');
    const batch = await apiCall<{ status: string; counts: { cancelled: number } }>(
      'GET',
      `/v1/batches/${id}`,
    );
    expect(batch.status).toBe('cancelled');
    expect(batch.counts.cancelled).toBe(2);
  });

  it('the operator page needs the admin token and shows the key budget; then the queue board', async () => {
    await page.goto(`${api.url}/ui/operator`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    expect(await page.locator('.error').textContent()).toContain('needs the admin token');
    await signIn(page, TOKENS.admin);
    expect(new URL(page.url()).pathname).toBe('/ui/operator');

    const status = await request(`${api.url}/admin/status`, {
      headers: { authorization: `Bearer ${TOKENS.admin}` },
    });
    const { budgets } = (await status.body.json()) as {
      budgets: { budget_key: string; limit: number }[];
    };
    expect(budgets).toHaveLength(1);
    const row = page.locator(`tr[data-budget="${budgets[0]!.budget_key}"]`);
    expect(await row.locator('[data-field="budget-use"]').textContent()).toMatch(
      new RegExp(`^\\d+ / ${budgets[0]!.limit}$`),
    );
    expect(await page.locator('tr[data-queue="tryon"]').count()).toBe(1);

    // The admin cookie opens the queue board in the browser (no Bearer header there).
    const board = await page.goto(`${api.url}/admin/queues`);
    expect(board!.status()).toBe(200);
    await page.getByText('tryon', { exact: true }).first().waitFor({ timeout: 20_000 });
  });
});
