/**
 * FitRoom's contract, one suite, two targets with the same expectations: the FitRoom simulator
 * itself, and this service's FitRoom-compatible routes in front of one. Clients written as teams
 * write them (fetch + FormData, axios + form-data, Python requests), unchanged but for the base
 * URL, run every flow a FitRoom client runs: upper, lower, full_set, combo and HD tasks polled
 * to the end and downloaded, input checks, a wrong key, bad forms, the rate limit, a browser's
 * preflight, the result link as storage serves it, and no credit.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeImage, type MakeImageOptions } from '@tryon/testing';
import {
  documentedResponses,
  expectDocumented,
  readDoc,
} from '../../../services/fitroom-sim/test/doc.js';
import {
  axiosClient,
  closePythonClient,
  fetchClient,
  pythonClient,
  type ContractClient,
  type Fields,
  type Flow,
  type FormFile,
} from './clients.js';
import {
  BROWSER_ORIGIN,
  RATE_LIMIT,
  serviceTarget,
  simulatorTarget,
  type ClientKey,
  type Target,
} from './targets.js';

const doc = readDoc();
const CREATE = documentedResponses(doc, 'POST /api/tryon/v2/tasks');
const STATUS = documentedResponses(doc, 'GET /api/tryon/v2/tasks/:id');
const MODEL_CHECK = documentedResponses(doc, 'POST /api/tryon/input_check/v1/model');
const CLOTHES_CHECK = documentedResponses(doc, 'POST /api/tryon/input_check/v1/clothes');
const UNAUTHORIZED = { error: 'Unauthorized', message: 'Your API key is wrong.' };
const TOO_MANY = {
  error: 'Too Many Requests',
  message: 'You requested too much API. Try again later',
};
const NO_CREDIT = {
  error: 'Payment Required',
  message: 'Insufficient credit. Please upgrade your plan or purchase more credits.',
};
const badRequest = (detail: string) => ({
  error: 'Bad Request',
  message: `Your request is invalid: ${detail}`,
});

/** The Python client runs only where python3 has `requests` (it is no use to fake it). */
function pythonHasRequests(): boolean {
  try {
    execFileSync('python3', ['-c', 'import requests'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const CLIENTS: Array<[ContractClient, ClientKey]> = [
  [fetchClient, 'fetch'],
  [axiosClient, 'axios'],
  ...(pythonHasRequests() ? [[pythonClient, 'python'] as [ContractClient, ClientKey]] : []),
];

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

let dir: string;
const images: Record<string, FormFile> = {};

async function imageFile(
  name: string,
  options: MakeImageOptions,
  contentType: string,
): Promise<FormFile> {
  const data = await makeImage(options);
  const path = join(dir, name);
  await writeFile(path, data);
  return { field: '', path, data, contentType };
}

const as = (file: FormFile, field: string): FormFile => ({ ...file, field });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fitroom-contract-'));
  const color = (r: number, g: number, b: number) => ({ r, g, b });
  images.model = await imageFile(
    'model.jpg',
    { width: 360, height: 640, color: color(30, 60, 90) },
    'image/jpeg',
  );
  images.gifModel = await imageFile(
    'model.gif',
    { width: 300, height: 520, format: 'gif', color: color(80, 20, 160) },
    'image/gif',
  );
  images.upper = await imageFile(
    'upper.jpg',
    { width: 256, height: 256, color: color(220, 40, 40) },
    'image/jpeg',
  );
  images.lower = await imageFile(
    'lower.png',
    { width: 200, height: 300, format: 'png', color: color(20, 40, 200) },
    'image/png',
  );
  images.dress = await imageFile(
    'dress.webp',
    { width: 220, height: 400, format: 'webp', color: color(240, 200, 20) },
    'image/webp',
  );
});
afterAll(async () => {
  closePythonClient();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The tasks every client runs: each cloth type, HD, and a model photo in GIF. */
const TASKS: Array<{ name: string; files: () => FormFile[]; fields: Fields }> = [
  {
    name: 'upper',
    files: () => [as(images.model!, 'model_image'), as(images.upper!, 'cloth_image')],
    fields: { cloth_type: 'upper' },
  },
  {
    name: 'lower',
    files: () => [as(images.model!, 'model_image'), as(images.lower!, 'cloth_image')],
    fields: { cloth_type: 'lower' },
  },
  {
    name: 'full_set',
    files: () => [as(images.model!, 'model_image'), as(images.dress!, 'cloth_image')],
    fields: { cloth_type: 'full_set' },
  },
  {
    name: 'combo',
    files: () => [
      as(images.model!, 'model_image'),
      as(images.upper!, 'cloth_image'),
      as(images.lower!, 'lower_cloth_image'),
    ],
    fields: { cloth_type: 'combo' },
  },
  {
    name: 'HD with a GIF model',
    files: () => [as(images.gifModel!, 'model_image'), as(images.upper!, 'cloth_image')],
    fields: { cloth_type: 'upper', hd_mode: true },
  },
];

const ORDER = ['CREATED', 'PROCESSING', 'COMPLETED'];

/** A flow as FitRoom answers it: created, statuses forward only and documented, the image. */
function expectCompleted(flow: Flow, target: Target, label: string): void {
  expect(flow.created.status, `${label}: ${JSON.stringify(flow.created.json)}`).toBe(200);
  expect(expectDocumented(flow.created.json, CREATE)).toBe('Success Response (200)');
  const seen = flow.seen ?? [];
  const ranks = seen.map((task) => ORDER.indexOf(task.status as string));
  expect(ranks, label).toEqual([...ranks].sort((a, b) => a - b));
  expect(
    ranks.every((rank) => rank >= 0),
    label,
  ).toBe(true);
  for (const task of seen) {
    expectDocumented(task, STATUS);
    expect(task.task_id).toBe((flow.created.json as { task_id: string }).task_id);
  }
  const progress = seen.map((task) => task.progress as number);
  expect(progress, label).toEqual([...progress].sort((a, b) => a - b));
  const last = seen.at(-1)!;
  expect(last).toMatchObject({ status: 'COMPLETED', progress: 100 });
  expect(last.completed_at as number).toBeGreaterThanOrEqual(last.created_at as number);
  expect(String(last.download_signed_url).startsWith(`${target.base}/`), label).toBe(true);
  expect(flow.download, label).toMatchObject({ status: 200, content_type: 'image/jpeg' });
  expect(Number(flow.download!.content_length)).toBe(flow.download!.bytes);
  expect(flow.download!.bytes).toBeGreaterThan(1_000);
}

describe.each([
  ['the FitRoom simulator', simulatorTarget],
  ["the service's FitRoom-compatible routes", serviceTarget],
])('the FitRoom contract against %s', (_name, start) => {
  let target: Target;

  beforeAll(async () => {
    target = await start();
  });
  afterAll(async () => {
    await target?.close();
  });

  describe.each(CLIENTS)('with %s', (client, keyName) => {
    const key = () => target.key(keyName);

    it('runs upper, lower, full_set, combo and HD tasks to COMPLETED and downloads each image', async () => {
      const flows = await Promise.all(
        TASKS.map((task) => client.flow(target.base, key(), task.files(), task.fields)),
      );
      flows.forEach((flow, i) =>
        expectCompleted(flow, target, `${client.name}: ${TASKS[i]!.name}`),
      );
    });

    it("checks model and clothes images with FitRoom's documented answers", async () => {
      const model = await client.check(target.base, key(), 'model', images.model!);
      expect(model.status).toBe(200);
      expectDocumented(model.json, MODEL_CHECK);
      const clothes = await client.check(target.base, key(), 'clothes', images.upper!);
      expect(clothes.status).toBe(200);
      expectDocumented(clothes.json, CLOTHES_CHECK);
    });

    it("is refused with a wrong key: 401 with FitRoom's body on every route", async () => {
      const wrong = 'not-a-key-anyone-knows';
      const files = TASKS[0]!.files();
      const answers = [
        await client.create(target.base, wrong, files, { cloth_type: 'upper' }),
        await client.get(target.base, wrong, '123456'),
        await client.check(target.base, wrong, 'model', images.model!),
      ];
      for (const answer of answers) {
        expect(answer.status).toBe(401);
        expect(answer.json).toEqual(UNAUTHORIZED);
      }
    });

    it("answers bad forms with FitRoom's 400 naming what is wrong", async () => {
      const model = as(images.model!, 'model_image');
      const cloth = as(images.upper!, 'cloth_image');
      const cases: Array<[FormFile[], Fields, string]> = [
        [[model, cloth], {}, 'cloth_type is required.'],
        [
          [model, cloth],
          { cloth_type: 'hat' },
          'cloth_type must be one of upper, lower, full_set, combo.',
        ],
        [
          [model, cloth],
          { cloth_type: 'combo' },
          'lower_cloth_image is required when cloth_type is combo.',
        ],
        [
          [model, cloth],
          { cloth_type: 'upper', hd_mode: 'maybe' },
          'hd_mode must be "true" or "false".',
        ],
        [[cloth], { cloth_type: 'upper' }, 'model_image is required.'],
      ];
      for (const [files, fields, detail] of cases) {
        const answer = await client.create(target.base, key(), files, fields);
        expect(answer.status, detail).toBe(400);
        expect(answer.json).toEqual(badRequest(detail));
      }
    });
  });

  it('serves the result link as storage does: content type, length, ETag, 304 and a byte range', async () => {
    const flow = await fetchClient.flow(
      target.base,
      target.key('misc'),
      TASKS[0]!.files(),
      TASKS[0]!.fields,
    );
    expectCompleted(flow, target, 'download');
    const url = String(flow.seen!.at(-1)!.download_signed_url);
    const whole = await fetch(url);
    const body = Buffer.from(await whole.arrayBuffer());
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('image/jpeg');
    expect(Number(whole.headers.get('content-length'))).toBe(body.length);
    const etag = whole.headers.get('etag');
    expect(etag).toBe(`"${sha256(body)}"`);

    const cached = await fetch(url, { headers: { 'if-none-match': etag! } });
    expect(cached.status).toBe(304);
    const part = await fetch(url, { headers: { range: 'bytes=10-109' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-109/${body.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(body.subarray(10, 110))).toBe(true);
    const past = await fetch(url, { headers: { range: `bytes=${body.length}-` } });
    expect(past.status).toBe(416);
  });

  it("answers a browser's preflight for X-API-KEY, then the call itself, with CORS headers", async () => {
    for (const path of ['/api/tryon/v2/tasks', '/api/tryon/input_check/v1/model']) {
      const preflight = await fetch(`${target.base}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin: BROWSER_ORIGIN,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'x-api-key',
        },
      });
      expect(preflight.status, path).toBe(204);
      expect([BROWSER_ORIGIN, '*']).toContain(preflight.headers.get('access-control-allow-origin'));
      expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
      expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain(
        'x-api-key',
      );
    }
    const call = await fetch(`${target.base}/api/tryon/v2/tasks/123456`, {
      headers: { origin: BROWSER_ORIGIN, 'x-api-key': target.key('misc') },
    });
    expect(call.status).toBe(404);
    expect([BROWSER_ORIGIN, '*']).toContain(call.headers.get('access-control-allow-origin'));
  });

  it(`answers 429 with Retry-After and FitRoom's body past ${RATE_LIMIT} requests in a window`, async () => {
    const answers: Response[] = [];
    // Bursts of 30 until refused: the window cannot pass between the first and the 429.
    for (let burst = 0; burst < 6 && !answers.some((a) => a.status === 429); burst++) {
      answers.push(
        ...(await Promise.all(
          Array.from({ length: 30 }, () =>
            fetch(`${target.base}/api/tryon/v2/tasks/123456`, {
              headers: { 'x-api-key': target.limitedKey },
            }),
          ),
        )),
      );
    }
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status === 404).length).toBeGreaterThanOrEqual(RATE_LIMIT);
    for (const answer of refused) {
      expect(await answer.json()).toEqual(TOO_MANY);
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
  });

  // Last: on the service, the FitRoom key stays paused for want of credit from here on.
  it('answers 402 to a create without credit, and still checks images (checks cost no credit)', async () => {
    const key = await target.noCreditKey();
    for (const [client] of CLIENTS) {
      const created = await client.create(target.base, key, TASKS[0]!.files(), {
        cloth_type: 'upper',
      });
      expect(created.status, client.name).toBe(402);
      expect(created.json).toEqual(NO_CREDIT);
      const checked = await client.check(target.base, key, 'clothes', images.dress!);
      expect(checked.status, client.name).toBe(200);
      expectDocumented(checked.json, CLOTHES_CHECK);
    }
  });
});
