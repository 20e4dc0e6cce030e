/**
 * The FitRoom-compatible API end to end: simulator, worker and API on real Redis and S3. An
 * unchanged FitRoomClient, and the FitRoom document's own curl examples, pointed at the API
 * with a tenant token as their API key, get FitRoom's answers and the simulator's images.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '@tryon/api';
import { loadConfig, type Config } from '@tryon/config';
import { FitRoomClient, type Task } from '@tryon/fitroom-client';
import { clothesCheckRule, modelCheckRule, startSim, type RunningSim } from '@tryon/fitroom-sim';
import { Records } from '@tryon/records';
import {
  createTestBucket,
  eventually,
  freePort,
  makeImage,
  serviceEnv,
  uniqueId,
} from '@tryon/testing';
import { startWorker, type RunningWorker } from '@tryon/worker';
import {
  curlExamples,
  DOC_HOST,
  documentedResponses,
  endpointOf,
  expectDocumented,
  readDoc,
  restoreObfuscatedFileFields,
} from '../../services/fitroom-sim/test/doc.js';

const TIME_SCALE = 50;
const FITROOM_KEY = 'e2e-compat-fitroom-key';
const TENANT_TOKEN = 'acme-compat-token-0123456789';
/** The document's placeholder key, configured here as a tenant's token. */
const DOC_TOKEN = 'your-api-key';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function readAll(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let sim: RunningSim;
let worker: RunningWorker;
let api: RunningApi;
let config: Config;
let redis: Redis;
let records: Records;

beforeAll(async () => {
  sim = await startSim({ timeScale: TIME_SCALE, keys: { [FITROOM_KEY]: 1_000 }, seed: 23 });
  // The API's public URL goes into download_signed_url, so it must be known before it listens.
  const port = await freePort();
  config = loadConfig(
    serviceEnv({
      prefix: uniqueId('e2e-compat'),
      simUrl: sim.url,
      apiKeys: [FITROOM_KEY],
      timeScale: TIME_SCALE,
      bucket: await createTestBucket('e2e-compat'),
      extra: {
        PORT: String(port),
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        API_TOKENS: `acme:${TENANT_TOKEN},docs:${DOC_TOKEN}`,
      },
    }),
  );
  redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  records = new Records(redis, config.prefix);
  worker = await startWorker(config);
  api = await startApi(config);
});

afterAll(async () => {
  await api?.close();
  await worker?.close();
  await sim?.close();
  redis?.disconnect();
});

/** Polls through the API (which never asks FitRoom) until the task is finished. */
async function finished(client: FitRoomClient, taskId: string, seen: string[] = []): Promise<Task> {
  return eventually(
    async () => {
      const task = await client.getTask(taskId);
      if (seen.at(-1) !== task.status) seen.push(task.status);
      return task;
    },
    (task) => task.status === 'COMPLETED' || task.status === 'FAILED',
    { timeoutMs: 45_000, intervalMs: 50 },
  );
}

/** The result served by the API is the simulator's image for the item's FitRoom task. */
async function expectSimulatorsImage(client: FitRoomClient, task: Task): Promise<void> {
  expect(task.status).toBe('COMPLETED');
  if (task.status !== 'COMPLETED') return;
  expect(task.download_signed_url.startsWith(`${api.url}/api/tryon/v2/results/`)).toBe(true);
  const download = await client.downloadResult(task.download_signed_url);
  const bytes = await readAll(download.body);
  expect(download.contentType).toBe('image/jpeg');
  const item = await records.getItem(task.task_id);
  expect(item?.fitroom_task_id).toBeTruthy();
  const served = sim.stats().downloads[item!.fitroom_task_id!];
  expect(served, `the simulator served task ${item!.fitroom_task_id}`).toBeDefined();
  expect(sha256(bytes)).toBe(served);
}

describe('an unchanged FitRoomClient pointed at the API', () => {
  let client: FitRoomClient;
  let model: Buffer;
  let cloth: Buffer;

  beforeAll(async () => {
    client = new FitRoomClient({ baseUrl: api.url, apiKey: TENANT_TOKEN, timeoutMs: 20_000 });
    [model, cloth] = await Promise.all([
      makeImage({ width: 360, height: 640, color: { r: 30, g: 60, b: 90 } }),
      makeImage({ width: 256, height: 256, color: { r: 220, g: 40, b: 40 } }),
    ]);
  });

  it('creates a task, polls it to COMPLETED and downloads the image the simulator made', async () => {
    const created = await client.createTask({
      clothType: 'upper',
      model: { data: model },
      cloth: { data: cloth },
    });
    expect(created).toEqual({
      task_id: expect.stringMatching(/^itm_/) as string,
      status: 'CREATED',
    });

    const seen: string[] = [];
    const task = await finished(client, created.task_id, seen);
    // Whatever was seen went forward only (a fast task may skip CREATED or PROCESSING).
    const order = ['CREATED', 'PROCESSING', 'COMPLETED'];
    expect(seen.map((s) => order.indexOf(s))).toEqual(
      [...seen.map((s) => order.indexOf(s))].sort((a, b) => a - b),
    );
    expect(seen).not.toContain('FAILED');
    if (task.status === 'COMPLETED') {
      expect(task.progress).toBe(100);
      expect(task.completed_at).toBeGreaterThanOrEqual(task.created_at!);
    }
    await expectSimulatorsImage(client, task);

    const item = await records.getItem(created.task_id, 'acme');
    expect(item).toMatchObject({ status: 'completed', attempts: 1 });
    expect((await records.getBatch(item!.batch_id))?.metadata).toEqual({
      source: 'fitroom-compatible-api',
    });
  });

  it("answers the input checks with FitRoom's answers, asking FitRoom once per image", async () => {
    const route = 'POST /api/tryon/input_check/v1/model';
    const before = sim.stats().keys[FITROOM_KEY]?.requests[route]?.['200'] ?? 0;
    expect(await client.checkModel({ data: model })).toEqual(modelCheckRule(sha256(model)));
    expect(await client.checkModel({ data: model })).toEqual(modelCheckRule(sha256(model)));
    expect(sim.stats().keys[FITROOM_KEY]?.requests[route]?.['200']).toBe(before + 1);
    expect(await client.checkClothes({ data: cloth })).toEqual(clothesCheckRule(sha256(cloth)));
  });

  it('is refused with a wrong key as FitRoom refuses one', async () => {
    const wrong = new FitRoomClient({ baseUrl: api.url, apiKey: 'not-a-tenant-token' });
    await expect(wrong.getTask('itm_00000000000000000000')).rejects.toMatchObject({
      code: 'unauthorized',
      status: 401,
      fitroomMessage: 'Your API key is wrong.',
    });
    await expect(client.getTask('123456')).rejects.toMatchObject({
      code: 'not_found',
      status: 404,
    });
  });
});

/** Runs curl; appends `-sS -w <status>` (output options only) to read the status code. */
function curl(argv: string[], cwd: string): Promise<{ status: number; body: string }> {
  const args = [...argv.slice(1), '-sS', '-w', '\n%{http_code}'];
  return new Promise((resolve, reject) => {
    execFile('curl', args, { cwd, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`curl ${args.join(' ')} failed: ${error.message}\n${stderr}`));
        return;
      }
      const cut = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) });
    });
  });
}

describe("the FitRoom document's curl examples against the API", () => {
  const doc = readDoc();
  const examples = curlExamples(doc);
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'e2e-compat-curl-'));
    const files = new Set(
      examples
        .flatMap(restoreObfuscatedFileFields)
        .filter((word) => word.includes('=@'))
        .map((word) => word.slice(word.indexOf('=@') + 2)),
    );
    let seed = 1;
    for (const name of files) {
      const isModel = name.startsWith('model');
      const image = await makeImage({
        width: isModel ? 360 : 240,
        height: isModel ? 640 : 240,
        color: { r: 40 * seed, g: 255 - 40 * seed, b: 120 },
      });
      seed++;
      await writeFile(join(dir, name), image);
    }
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const onApi = (argv: string[]) =>
    argv.map((word) => (word.startsWith(DOC_HOST) ? api.url + word.slice(DOC_HOST.length) : word));

  it('every example answers 200 with a documented shape; GET 123456 is a FitRoom-shaped 404', async () => {
    expect(examples.map(endpointOf)).toEqual([
      'POST /api/tryon/v2/tasks',
      'POST /api/tryon/input_check/v1/model',
      'POST /api/tryon/input_check/v1/clothes',
      'POST /api/tryon/v2/tasks',
      'POST /api/tryon/v2/tasks',
      'GET /api/tryon/v2/tasks/:id',
    ]);
    const created: string[] = [];
    for (const example of examples) {
      const endpoint = endpointOf(example);
      const argv = onApi(restoreObfuscatedFileFields(example));
      expect(argv[0]).toBe('curl');
      expect(argv).toContain(`X-API-KEY: ${DOC_TOKEN}`);
      const { status, body } = await curl(argv, dir);

      if (endpoint === 'GET /api/tryon/v2/tasks/:id') {
        // The document's task 123456 is FitRoom's id; here a task id is an item id.
        expect(example.path).toBe('/api/tryon/v2/tasks/123456');
        expect(status).toBe(404);
        expect(JSON.parse(body)).toEqual({
          error: 'Not Found',
          message: 'Task 123456 not found.',
        });
        continue;
      }
      expect(status, `${example.text}\n${body}`).toBe(200);
      const json = JSON.parse(body) as Record<string, unknown>;
      expectDocumented(json, documentedResponses(doc, endpoint));
      if (endpoint === 'POST /api/tryon/v2/tasks') {
        expect(json.status).toBe('CREATED');
        created.push(json.task_id as string);
      }
    }
    expect(created).toHaveLength(3);

    // The GET example again with only the id replaced by one this API gave out.
    const get = examples.find((e) => endpointOf(e) === 'GET /api/tryon/v2/tasks/:id')!;
    const client = new FitRoomClient({ baseUrl: api.url, apiKey: DOC_TOKEN });
    for (const taskId of created) {
      const argv = onApi(get.argv).map((word) => word.replace(/\/123456$/, `/${taskId}`));
      const { status, body } = await curl(argv, dir);
      expect(status).toBe(200);
      expectDocumented(JSON.parse(body), documentedResponses(doc, 'GET /api/tryon/v2/tasks/:id'));
      // And each runs to the simulator's image (the combo and HD ones included).
      await expectSimulatorsImage(client, await finished(client, taskId));
      const { status: after, body: done } = await curl(argv, dir);
      expect(after).toBe(200);
      expect(
        expectDocumented(JSON.parse(done), documentedResponses(doc, 'GET /api/tryon/v2/tasks/:id')),
      ).toBe('Completed Status (200)');
    }
    const items = await Promise.all(created.map((id) => records.getItem(id, 'docs')));
    expect(items.map((i) => [i?.cloth_type, i?.hd_mode])).toEqual([
      ['upper', false],
      ['upper', true],
      ['combo', true],
    ]);
    expect(sim.stats().keys[FITROOM_KEY]?.http_429).toBe(0);
  });
});
