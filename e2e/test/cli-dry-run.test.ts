import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
import { runTryon } from './cli-support.js';

/**
 * `tryon submit --dry-run` against the running service: it counts items, credits and an ETA,
 * submits nothing, and once the pairs were rendered counts them as free.
 */

const TIME_SCALE = 50;
const TOKEN = 'dry-run-token-0123456789';

let sim: RunningSim;
let api: RunningApi;
let worker: RunningWorker;
let work: string;

const tryon = (args: string[]) =>
  runTryon({ url: api.url, token: TOKEN, cacheHome: join(work, 'cache') }, args);

async function batchIds(): Promise<string[]> {
  const response = await request(`${api.url}/v1/batches?limit=100`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const body = (await response.body.json()) as { batches: { id: string }[] };
  return body.batches.map((b) => b.id);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tryon-dry-run-e2e-'));
  sim = await startSim({ timeScale: TIME_SCALE, keys: { 'dry-key': 1_000_000 }, seed: 5 });
  const config = loadConfig(
    serviceEnv({
      prefix: uniqueId('e2e-dry'),
      simUrl: sim.url,
      apiKeys: ['dry-key'],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('e2e-dry'),
      extra: { API_TOKENS: `catalog:${TOKEN}` },
    }),
  );
  worker = await startWorker(config, {
    logger: createLogger({ service: 'tryon-worker', level: 'warn' }),
  });
  api = await startApi(config, { logger: { level: 'warn' } });
  await mkdir(join(work, 'models'));
  await mkdir(join(work, 'garments'));
  for (let i = 1; i <= 2; i++) {
    const model = await makeImage({ width: 300, height: 450, color: { r: 70 * i, g: 20, b: 90 } });
    await writeFile(join(work, 'models', `model-${i}.jpg`), model);
    const shirt = await makeImage({ width: 200, height: 260, color: { r: 20, g: 70 * i, b: 40 } });
    await writeFile(join(work, 'garments', `shirt-${i}.jpg`), shirt);
  }
});

afterAll(async () => {
  await api?.close();
  await worker?.close();
  await sim?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const folders = () => ['--models', join(work, 'models'), '--garments', join(work, 'garments')];

describe('tryon submit --dry-run', { timeout: 120_000 }, () => {
  it('prints items, credits and an ETA, submits nothing; rendered pairs then cost nothing', async () => {
    const first = await tryon(['submit', ...folders(), '--type', 'upper', '--dry-run', '--json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const answer = JSON.parse(first.stdout) as {
      dry_run: boolean;
      items: number;
      credits: number;
      cached: number;
      eta: { seconds: number; at: string };
      uploads: { uploaded: number; reused: number };
    };
    expect(answer).toMatchObject({ dry_run: true, items: 4, credits: 4, cached: 0 });
    expect(answer.eta.seconds).toBeGreaterThan(0);
    // The API checks asset ids, which only an upload gives: new images are uploaded once.
    expect(answer.uploads).toMatchObject({ uploaded: 4, reused: 0 });
    expect(await batchIds()).toEqual([]);

    const real = await tryon(['submit', ...folders(), '--type', 'upper', '--wait', '--json']);
    expect(real.code).toBe(0);
    expect(JSON.parse(real.stdout)).toMatchObject({
      batch: { status: 'completed' },
      uploads: { uploaded: 0, reused: 4 },
    });
    const [batchId] = await batchIds();

    // The same pairs again: served from the result cache, no credit; nothing uploaded.
    const again = await tryon(['submit', ...folders(), '--type', 'upper', '--dry-run', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      items: 4,
      credits: 0,
      cached: 4,
      uploads: { uploaded: 0, reused: 4 },
    });
    // Another cloth_type is another pair; --fresh renders every pair again.
    const full = await tryon(['submit', ...folders(), '--type', 'full_set', '--dry-run', '--json']);
    expect(JSON.parse(full.stdout)).toMatchObject({ items: 4, credits: 4, cached: 0 });
    const fresh = await tryon([
      'submit',
      ...folders(),
      '--type',
      'upper',
      '--fresh',
      '--dry-run',
      '--json',
    ]);
    expect(JSON.parse(fresh.stdout)).toMatchObject({ credits: 4, cached: 0 });

    // For people: the figures on stdout, exit 0, still no new batch.
    const plain = await tryon(['submit', ...folders(), '--type', 'upper', '--dry-run']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^Items: +4\nCredits: +0 \(4 served from earlier renders/);
    expect(plain.stdout).toMatch(/ETA: +\d+s \(\d{4}-\d\d-\d\dT/);
    expect(plain.stderr).toContain('Dry run: nothing was submitted');
    expect(await batchIds()).toEqual([batchId]);

    const both = await tryon(['submit', ...folders(), '--type', 'upper', '--dry-run', '--wait']);
    expect(both.code).toBe(2);
  });
});
