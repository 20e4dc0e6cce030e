import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '@tryon/api';
import { loadConfig, type Config } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { createTestBucket, freePort, makeImage, serviceEnv, uniqueId } from '@tryon/testing';
import { startWorker, type RunningWorker } from '@tryon/worker';
import { runTryon, type CliRun } from './cli-support.js';

/**
 * The `tryon` command line against the running service (simulator, worker and API on real
 * Redis and S3), run as a child process exactly as a user runs it.
 */

const TIME_SCALE = 50;
const TOKEN = 'cli-token-0123456789';

let sim: RunningSim;
let api: RunningApi;
let worker: RunningWorker;
let config: Config;
let images: Server;
let work: string;

/** `tryon ...args` with TRYON_URL and TRYON_TOKEN of this test. */
const tryon = (args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
  runTryon({ url: api.url, token: TOKEN, cacheHome: join(work, 'cache') }, args, env);

async function apiGet<T>(path: string): Promise<T> {
  const response = await request(`${api.url}${path}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(response.statusCode).toBe(200);
  return (await response.body.json()) as T;
}

interface ItemView {
  id: string;
  status: string;
  external_id: string;
  metadata: { model_file: string; garment_file: string };
  error: { code: string; message: string } | null;
  result: { bytes: number; sha256: string } | null;
  updated_at: string;
}

async function batchItems(batchId: string): Promise<ItemView[]> {
  const items: ItemView[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: ItemView[]; next_cursor: string | null } = await apiGet(
      `/v1/batches/${batchId}/items?limit=5${cursor ? `&cursor=${cursor}` : ''}`,
    );
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

/** POST /v1/assets requests the API has answered, from its Prometheus metrics. */
async function assetUploadRequests(): Promise<number> {
  const text = await (await request(`${api.url}/metrics`)).body.text();
  return text
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('http_request_duration_seconds_count{') &&
        line.includes('method="POST"') &&
        line.includes('route="/v1/assets"'),
    )
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

/** manifest.csv as rows of named fields (the test's names need no quoting). */
function parseManifest(text: string): Record<string, string>[] {
  const [header, ...lines] = text.trimEnd().split('\r\n');
  const columns = header!.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? '']));
  });
}

const workerLogger = () => createLogger({ service: 'tryon-worker', level: 'warn' });
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tryon-cli-e2e-'));
  sim = await startSim({ timeScale: TIME_SCALE, keys: { 'cli-key': 1_000_000 }, seed: 11 });
  config = loadConfig(
    serviceEnv({
      prefix: uniqueId('e2e-cli'),
      simUrl: sim.url,
      apiKeys: ['cli-key'],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('e2e-cli'),
      extra: { API_TOKENS: `catalog:${TOKEN}` },
    }),
  );
  worker = await startWorker(config, { logger: workerLogger() });
  api = await startApi(config, { logger: { level: 'warn' } });

  // Garment images by URL: one served, one missing (its item fails for good, quickly).
  const shirt = await makeImage({ width: 400, height: 520, color: { r: 10, g: 160, b: 90 } });
  images = createServer((req, res) => {
    if (req.url === '/img/green-shirt.jpg') {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': shirt.length });
      res.end(shirt);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));

  await mkdir(join(work, 'models'));
  await mkdir(join(work, 'garments'));
  for (let i = 1; i <= 3; i++) {
    const bytes = await makeImage({ width: 600, height: 900, color: { r: 60 * i, g: 90, b: 160 } });
    await writeFile(join(work, 'models', `model-${i}.jpg`), bytes);
  }
  for (let i = 1; i <= 4; i++) {
    const bytes = await makeImage({ width: 400, height: 500, color: { r: 200, g: 40 * i, b: 60 } });
    await writeFile(join(work, 'garments', `shirt-${i}.jpg`), bytes);
  }
});

afterAll(async () => {
  await api?.close();
  await worker?.close();
  await sim?.close();
  await new Promise((resolve) => (images ? images.close(resolve) : resolve(undefined)));
  if (work) await rm(work, { recursive: true, force: true });
});

// Each test runs the CLI several times as a child process (tsx start-up included).
describe('tryon, the command line', { timeout: 120_000 }, () => {
  let batchId: string;

  it('submits two folders (3 models x 4 garments) and waits for the 12 results', async () => {
    const before = await assetUploadRequests();
    const run = await tryon([
      'submit',
      '--models',
      join(work, 'models'),
      '--garments',
      join(work, 'garments'),
      '--type',
      'upper',
      '--wait',
      '--json',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.json<{
      batch: { id: string; status: string; counts: Record<string, number> };
      items: number;
      uploads: { files: number; uploaded: number; reused: number };
      finished: boolean;
    }>();
    expect(out.items).toBe(12);
    expect(out.finished).toBe(true);
    expect(out.batch.status).toBe('completed');
    expect(out.batch.counts).toEqual({
      total: 12,
      queued: 0,
      running: 0,
      completed: 12,
      failed: 0,
      cancelled: 0,
    });
    expect(out.uploads).toEqual({ files: 7, unique: 7, uploaded: 7, reused: 0 });
    expect(await assetUploadRequests()).toBeGreaterThan(before);
    batchId = out.batch.id;

    const items = await batchItems(batchId);
    expect(items.map((i) => i.external_id)).toEqual(
      [1, 2, 3].flatMap((m) => [1, 2, 3, 4].map((g) => `model-${m}__shirt-${g}`)),
    );
    expect(items[5]!.metadata).toEqual({ model_file: 'model-2.jpg', garment_file: 'shirt-2.jpg' });
  });

  it('downloads the 12 images and a manifest whose rows match the batch', async () => {
    const dir = join(work, 'results');
    const run = await tryon(['download', batchId, '--out', dir, '--json']);
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ items: 12, downloaded: 12, skipped: 0, missing: 0 });

    const items = await batchItems(batchId);
    const files = (await readdir(dir)).sort();
    expect(files).toEqual([...items.map((i) => `${i.external_id}.jpg`), 'manifest.csv'].sort());
    for (const item of items) {
      const bytes = await readFile(join(dir, `${item.external_id}.jpg`));
      expect(bytes.length).toBe(item.result!.bytes);
      expect(sha256(bytes)).toBe(item.result!.sha256);
    }

    const manifest = parseManifest(await readFile(join(dir, 'manifest.csv'), 'utf8'));
    expect(manifest).toEqual(
      items.map((item) => ({
        item_id: item.id,
        external_id: item.external_id,
        model_file: item.metadata.model_file,
        garment_file: item.metadata.garment_file,
        status: 'completed',
        file: `${item.external_id}.jpg`,
        error: '',
        review: '',
      })),
    );

    // Again: every file is there with its size, nothing is fetched.
    const again = await tryon(['download', batchId, '--out', dir, '--json']);
    expect(again.code).toBe(0);
    expect(again.json()).toMatchObject({ downloaded: 0, skipped: 12, missing: 0 });
    expect((await readdir(dir)).sort()).toEqual(files);
  });

  it('a second submit of the same folders uploads nothing', async () => {
    const before = await assetUploadRequests();
    const run = await tryon([
      'submit',
      '--models',
      join(work, 'models'),
      '--garments',
      join(work, 'garments'),
      '--type',
      'upper',
      '--json',
    ]);
    expect(run.code).toBe(0);
    const out = run.json<{ batch: { id: string }; uploads: Record<string, number> }>();
    expect(out.uploads).toEqual({ files: 7, unique: 7, uploaded: 0, reused: 7 });
    expect(await assetUploadRequests()).toBe(before);
    expect(out.batch.id).not.toBe(batchId);

    // Without --json: the batch id alone on stdout, for scripts.
    const plain = await tryon([
      'submit',
      '--models',
      join(work, 'models'),
      '--garments',
      join(work, 'garments'),
      '--type',
      'full_set',
    ]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^bat_[a-z0-9]+\n$/);
    expect(plain.stderr).toContain('0 uploaded, 7 already uploaded');
    expect(await assetUploadRequests()).toBe(before);
  });

  it('cancel and retry exit 0 on a batch; status and watch read it', async () => {
    // No worker for a moment: the batch's items stay queued until cancelled.
    await worker.close();
    try {
      const submitted = await tryon([
        'submit',
        '--models',
        join(work, 'models'),
        '--garments',
        join(work, 'garments'),
        '--type',
        'lower',
        '--json',
      ]);
      expect(submitted.code).toBe(0);
      const id = submitted.json<{ batch: { id: string } }>().batch.id;
      const queued = await tryon(['status', id, '--json']);
      expect(queued.code).toBe(0);
      expect(queued.json()).toMatchObject({ id, status: 'queued', counts: { queued: 12 } });

      const cancel = await tryon(['cancel', id, '--json']);
      expect(cancel.code).toBe(0);
      expect(cancel.json()).toMatchObject({
        id,
        status: 'cancelled',
        counts: { total: 12, queued: 0, cancelled: 12 },
      });
      const retry = await tryon(['retry', id]);
      expect(retry.code).toBe(0);
      expect(retry.stdout).toContain(`${id}: 0 failed items queued again`);

      // A cancelled batch is finished: watch ends at once, and both say so with exit 1.
      const watch = await tryon(['watch', id, '--json']);
      expect(watch.code).toBe(1);
      expect(watch.json()).toMatchObject({ status: 'cancelled', counts: { cancelled: 12 } });
      const status = await tryon(['status', id]);
      expect(status.code).toBe(1);
      expect(status.stdout).toContain(`${id}  cancelled  100%`);
    } finally {
      worker = await startWorker(config, { logger: workerLogger() });
    }

    const done = await tryon(['status', batchId, '--json']);
    expect(done.code).toBe(0);
    expect(done.json()).toMatchObject({ id: batchId, status: 'completed', progress: 1 });
  });

  it('a failed item: exit 1, its reason in the manifest, retry queues it again', async () => {
    const base = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
    const csv = join(work, 'url-garments.csv');
    await writeFile(
      csv,
      'url,external_id,comment\n' +
        `${base}/img/green-shirt.jpg,green,"served, fine"\n` +
        `${base}/img/gone.jpg,gone,missing\n`,
    );
    const run = await tryon([
      'submit',
      '--models',
      join(work, 'models', 'model-1.jpg'),
      '--garments',
      csv,
      '--type',
      'upper',
      '--wait',
      '--json',
    ]);
    expect(run.code).toBe(1);
    const out = run.json<{ batch: { id: string; counts: Record<string, number> } }>();
    expect(out.batch.counts).toMatchObject({ total: 2, completed: 1, failed: 1 });
    const id = out.batch.id;

    const dir = join(work, 'partial');
    const download = await tryon(['download', id, '--out', dir]);
    expect(download.code).toBe(1);
    expect((await readdir(dir)).sort()).toEqual(['manifest.csv', 'model-1__green.jpg']);
    const manifest = parseManifest(await readFile(join(dir, 'manifest.csv'), 'utf8'));
    expect(manifest.map((r) => [r.external_id, r.status, r.file])).toEqual([
      ['model-1__green', 'completed', 'model-1__green.jpg'],
      ['model-1__gone', 'failed', ''],
    ]);
    expect(manifest[1]!.model_file).toBe('model-1.jpg');
    expect(manifest[1]!.garment_file).toBe(`${base}/img/gone.jpg`);
    expect(manifest[1]!.error).toMatch(/^image_url_/);

    const failedBefore = (await batchItems(id)).find((i) => i.status === 'failed')!;
    const retry = await tryon(['retry', id, '--wait', '--json']);
    expect(retry.code).toBe(1); // it fails again: the image is still missing
    expect(retry.json()).toMatchObject({ id, counts: { completed: 1, failed: 1 } });
    const failedAfter = (await batchItems(id)).find((i) => i.id === failedBefore.id)!;
    expect(failedAfter.status).toBe('failed');
    expect(Date.parse(failedAfter.updated_at)).toBeGreaterThan(Date.parse(failedBefore.updated_at));
  });

  it('exit codes: 4 for a refused token, 2 for usage and input errors, 3 without an API', async () => {
    const wrong = await tryon(['status', batchId, '--json'], { TRYON_TOKEN: 'not-the-token' });
    expect(wrong.code).toBe(4);
    expect(wrong.json()).toMatchObject({ error: { code: 'unauthorized', exit_code: 4 } });
    const flag = await tryon(['status', batchId, '--token', 'nope']);
    expect(flag.code).toBe(4);
    expect(flag.stderr).toMatch(/TRYON_TOKEN/);

    const badType = await tryon([
      'submit',
      '--models',
      join(work, 'models'),
      '--garments',
      join(work, 'garments'),
      '--type',
      'shirt',
    ]);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toMatch(/upper, lower, full_set, combo/);

    const missing = await tryon([
      'submit',
      '--models',
      join(work, 'no-such-dir'),
      '--garments',
      join(work, 'garments'),
      '--type',
      'upper',
      '--json',
    ]);
    expect(missing.code).toBe(2);
    expect(missing.json()).toMatchObject({ error: { code: 'input_not_found' } });
    expect((await tryon(['status', 'bat_doesnotexist'])).code).toBe(2);
    expect((await tryon(['frobnicate'])).code).toBe(2);

    const help = await tryon(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes:[\s\S]*4 {2}auth error/);

    const nowhere = await tryon(['status', batchId], {
      TRYON_URL: `http://127.0.0.1:${await freePort()}`,
    });
    expect(nowhere.code).toBe(3);
    expect(nowhere.stderr).toMatch(/ECONNREFUSED/);
  });
});
