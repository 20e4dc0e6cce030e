import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '@tryon/api';
import { loadConfig } from '@tryon/config';
import { startSim, type RunningSim } from '@tryon/fitroom-sim';
import { createLogger } from '@tryon/logger';
import { createTestBucket, makeImage, serviceEnv, uniqueId } from '@tryon/testing';
import { startWorker, type RunningWorker } from '@tryon/worker';
import { runTryon, type CliRun } from './cli-support.js';

/**
 * `tryon` on how a batch went: a batch where every item failed reads `outcome: "failed"` and
 * makes `submit --wait` exit 1; names (given or from the folders); hints as the README runs
 * them; uploads that go on past a bad file and then name it.
 */

const TIME_SCALE = 50;
const TOKEN = 'cli-outcome-token-0123456789';

let sim: RunningSim;
let api: RunningApi;
let worker: RunningWorker;
let images: Server;
let work: string;

const tryon = (args: string[]): Promise<CliRun> =>
  runTryon({ url: api.url, token: TOKEN, cacheHome: join(work, 'cache') }, args);

interface BatchView {
  id: string;
  name: string | null;
  status: string;
  outcome: string | null;
  counts: Record<string, number>;
}

async function apiGet<T>(path: string): Promise<T> {
  const response = await request(`${api.url}${path}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(response.statusCode).toBe(200);
  return (await response.body.json()) as T;
}

/** The batch id a human-mode submit printed on stdout. */
const batchIdOf = (run: CliRun): string => /bat_[a-z0-9]+/.exec(run.stdout)?.[0] ?? '';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tryon-cli-outcome-'));
  sim = await startSim({ timeScale: TIME_SCALE, keys: { 'outcome-key': 1_000_000 }, seed: 5 });
  const config = loadConfig(
    serviceEnv({
      prefix: uniqueId('e2e-outcome'),
      simUrl: sim.url,
      apiKeys: ['outcome-key'],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('e2e-outcome'),
      extra: { API_TOKENS: `catalog:${TOKEN}` },
    }),
  );
  worker = await startWorker(config, {
    logger: createLogger({ service: 'tryon-worker', level: 'warn' }),
  });
  api = await startApi(config, { logger: { level: 'warn' } });
  // Every garment image URL is gone: each item fails for good, quickly.
  images = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve));

  await mkdir(join(work, 'models'));
  await mkdir(join(work, 'shirts'));
  for (let i = 1; i <= 2; i++) {
    const bytes = await makeImage({ width: 600, height: 900, color: { r: 70 * i, g: 80, b: 150 } });
    await writeFile(join(work, 'models', `model-${i}.jpg`), bytes);
  }
  const shirt = await makeImage({ width: 400, height: 500, color: { r: 200, g: 50, b: 60 } });
  await writeFile(join(work, 'shirts', 'shirt-1.jpg'), shirt);
});

afterAll(async () => {
  await api?.close();
  await worker?.close();
  await sim?.close();
  await new Promise((resolve) => (images ? images.close(resolve) : resolve(undefined)));
  if (work) await rm(work, { recursive: true, force: true });
});

describe('tryon and the outcome of a batch', { timeout: 120_000 }, () => {
  it('a batch whose every item failed: outcome failed, submit --wait exits 1', async () => {
    const base = `http://127.0.0.1:${(images.address() as AddressInfo).port}`;
    const csv = join(work, 'gone.csv');
    await writeFile(csv, `url,external_id\n${base}/a.jpg,a\n${base}/b.jpg,b\n`);
    const run = await tryon([
      'submit',
      '--models',
      join(work, 'models'),
      '--garments',
      csv,
      '--type',
      'upper',
      '--wait',
    ]);
    expect(run.code).toBe(1);
    const id = batchIdOf(run);
    const batch = await apiGet<BatchView>(`/v1/batches/${id}`);
    expect(batch).toMatchObject({
      status: 'completed',
      outcome: 'failed',
      name: 'models x gone',
      counts: { total: 4, completed: 0, failed: 4 },
    });
    expect(run.stderr).toContain('Submitted 4 items as "models x gone"');
    expect(run.stderr).toMatch(/finished in \d+s \(failed\): 0 completed, 4 failed/);
    expect(run.stderr).toContain(`Retry the failed items with: pnpm tryon retry ${id} --wait`);

    const json = await tryon(['status', id, '--json']);
    expect(json.code).toBe(1);
    expect(json.json()).toMatchObject({ id, outcome: 'failed' });
  });

  it('a batch that worked: outcome succeeded, exit 0, its --name and one item in the singular', async () => {
    const run = await tryon([
      'submit',
      '--models',
      join(work, 'models', 'model-1.jpg'),
      '--garments',
      join(work, 'shirts'),
      '--type',
      'upper',
      '--name',
      'SS27 shirts',
      '--wait',
    ]);
    expect(run.code).toBe(0);
    const id = batchIdOf(run);
    expect(await apiGet<BatchView>(`/v1/batches/${id}`)).toMatchObject({
      name: 'SS27 shirts',
      outcome: 'succeeded',
    });
    expect(run.stderr).toContain('Submitted 1 item as "SS27 shirts" (2 images:');
    expect(run.stderr).toContain(`Download the results with: pnpm tryon download ${id} --out DIR`);
    const found = await apiGet<{ batches: BatchView[] }>('/v1/batches?q=ss27');
    expect(found.batches.map((b) => b.id)).toEqual([id]);
  });

  it('uploads every good file past bad ones, names each bad one and submits nothing', async () => {
    const dir = join(work, 'mixed');
    await mkdir(dir);
    for (let i = 1; i <= 3; i++) {
      const bytes = await makeImage({ width: 300, height: 400, color: { r: 5, g: 30 * i, b: 9 } });
      await writeFile(join(dir, `good-${i}.jpg`), bytes);
    }
    await writeFile(join(dir, 'notes.jpg'), 'not an image at all\n'.repeat(30));
    await writeFile(join(dir, 'empty.png'), '');
    const before = await apiGet<{ batches: BatchView[] }>('/v1/batches?limit=100');
    const args = ['submit', '--models', dir, '--garments', join(work, 'shirts'), '--type', 'upper'];
    const run = await tryon(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('2 of 6 images could not be uploaded');
    expect(run.stderr).toMatch(/mixed\/notes\.jpg: refused by the API/);
    expect(run.stderr).toMatch(/mixed\/empty\.png: refused by the API/);
    const after = await apiGet<{ batches: BatchView[] }>('/v1/batches?limit=100');
    expect(after.batches.length).toBe(before.batches.length);

    // The good files went up: without the bad ones, the next run uploads nothing again.
    await rm(join(dir, 'notes.jpg'));
    await rm(join(dir, 'empty.png'));
    const again = await tryon([...args, '--json']);
    expect(again.code).toBe(0);
    expect(again.json()).toMatchObject({
      items: 3,
      uploads: { files: 4, unique: 4, uploaded: 0, reused: 4 },
    });
  });
});
