import { Blob } from 'node:buffer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FitRoomClient,
  FitRoomDownloadExpiredError,
  FitRoomNotFoundError,
  type Task,
} from '../src/index';
import {
  decodeImage,
  png,
  readAll,
  rejection,
  sha256,
  sleep,
  startSim,
  waitForTask,
  type RunningSim,
} from './support';

const KEY = 'tasks-key';
const OTHER_KEY = 'tasks-other-key';
const model = { data: png(48, 96, { r: 180, g: 150, b: 120 }) };
const upper = { data: png(32, 32, { r: 20, g: 60, b: 200 }) };
const lower = { data: png(32, 40, { r: 40, g: 40, b: 40 }) };

describe('tasks: create, poll, download', () => {
  let sim: RunningSim;
  let client: FitRoomClient;

  beforeAll(async () => {
    // timeScale 50: a normal task takes ~180 ms, an HD one ~600 ms, the rate window 1.2 s.
    sim = await startSim({
      timeScale: 50,
      keys: { [KEY]: 1000, [OTHER_KEY]: 1000 },
      rateLimit: 1000,
      seed: 7,
    });
    client = new FitRoomClient({ baseUrl: sim.url, apiKey: KEY });
  });

  afterAll(async () => {
    await sim?.close();
  });

  it('creates a single-garment task and answers { task_id, status: CREATED }', async () => {
    const created = await client.createTask({ clothType: 'upper', model, cloth: upper });
    expect(created).toEqual({ task_id: expect.any(String) as string, status: 'CREATED' });
    expect(created.task_id).not.toBe('');
  });

  it('polls CREATED/PROCESSING to COMPLETED, then streams a decodable image', async () => {
    const created = await client.createTask({ clothType: 'full_set', model, cloth: upper });
    let task: Task | undefined;
    for (let i = 0; i < 400; i++) {
      task = await client.getTask(created.task_id);
      expect(task.task_id).toBe(created.task_id);
      if (task.status === 'CREATED') expect(task.progress).toBe(0);
      if (task.status === 'PROCESSING') {
        expect(task.progress).toBeGreaterThanOrEqual(1);
        expect(task.progress).toBeLessThanOrEqual(99);
        expect(task.started_at).toEqual(expect.any(Number));
      }
      if (task.status === 'COMPLETED' || task.status === 'FAILED') break;
      await sleep(10);
    }
    expect(task?.status).toBe('COMPLETED');
    if (task?.status !== 'COMPLETED') return;
    expect(task.progress).toBe(100);
    expect(task.created_at).toEqual(expect.any(Number));
    expect(task.completed_at).toEqual(expect.any(Number));
    expect(task.download_signed_url).toMatch(/^https?:\/\//);

    const download = await client.downloadResult(task.download_signed_url);
    expect(download.contentType).toMatch(/^image\//);
    expect(typeof download.body.pipe).toBe('function');
    const bytes = await readAll(download.body);
    if (download.contentLength !== undefined) expect(download.contentLength).toBe(bytes.length);
    const info = decodeImage(bytes);
    expect(info.width).toBeGreaterThan(0);
    expect(info.height).toBeGreaterThan(0);
    expect(download.contentType).toBe(`image/${info.format}`);
    // the simulator recorded what it served: the client streamed exactly those bytes
    expect(sim.stats().downloads[created.task_id]).toBe(sha256(bytes));
  });

  it('creates a combo task with hd_mode and a Blob/Uint8Array input', async () => {
    const created = await client.createTask({
      clothType: 'combo',
      model: { data: new Uint8Array(model.data), filename: 'model.png' },
      cloth: { data: new Blob([upper.data], { type: 'image/png' }) },
      lowerCloth: { data: lower.data, contentType: 'image/png', filename: 'lower.png' },
      hdMode: true,
    });
    const task = await waitForTask(client, created.task_id, { intervalMs: 25 });
    expect(task.status).toBe('COMPLETED');
  });

  it('sends hd_mode=false', async () => {
    const created = await client.createTask({
      clothType: 'lower',
      model,
      cloth: lower,
      hdMode: false,
    });
    expect(created.status).toBe('CREATED');
  });

  it('404 for an unknown task id, and for a task of another key', async () => {
    const unknown = await rejection(client.getTask('999999999'));
    expect(unknown).toBeInstanceOf(FitRoomNotFoundError);
    expect(unknown).toMatchObject({ code: 'not_found', status: 404, retryable: false });

    const created = await client.createTask({ clothType: 'upper', model, cloth: upper });
    const other = new FitRoomClient({ baseUrl: sim.url, apiKey: OTHER_KEY });
    const foreign = await rejection(other.getTask(created.task_id));
    expect(foreign).toBeInstanceOf(FitRoomNotFoundError);
  });

  it('the download stream can be abandoned without leaking (destroy)', async () => {
    const created = await client.createTask({ clothType: 'upper', model, cloth: upper });
    const task = await waitForTask(client, created.task_id, { intervalMs: 25 });
    if (task.status !== 'COMPLETED') throw new Error(`unexpected ${task.status}`);
    const download = await client.downloadResult(task.download_signed_url);
    download.body.destroy();
    await new Promise((resolve) => download.body.once('close', resolve));
    expect(download.body.destroyed).toBe(true);
  });
});

describe('tasks: FAILED', () => {
  let sim: RunningSim;

  beforeAll(async () => {
    sim = await startSim({ timeScale: 50, keys: { [KEY]: 100 }, failureRate: 1, seed: 3 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('a task that fails reads as FAILED with FitRoom error text', async () => {
    const client = new FitRoomClient({ baseUrl: sim.url, apiKey: KEY });
    const created = await client.createTask({ clothType: 'upper', model, cloth: upper });
    const task = await waitForTask(client, created.task_id, { intervalMs: 25 });
    expect(task.status).toBe('FAILED');
    if (task.status !== 'FAILED') return;
    expect(task.error).toBe('Failed to process try-on task');
    expect(task.completed_at).toEqual(expect.any(Number));
    expect('download_signed_url' in task).toBe(false);
  });
});

describe('tasks: expired download URL', () => {
  let sim: RunningSim;

  beforeAll(async () => {
    sim = await startSim({ timeScale: 50, keys: { [KEY]: 100 }, downloadUrlTtlMs: 1, seed: 5 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('403 on the signed URL -> FitRoomDownloadExpiredError', async () => {
    const client = new FitRoomClient({ baseUrl: sim.url, apiKey: KEY });
    const created = await client.createTask({ clothType: 'upper', model, cloth: upper });
    const task = await waitForTask(client, created.task_id, { intervalMs: 25 });
    if (task.status !== 'COMPLETED') throw new Error(`unexpected ${task.status}`);
    await sleep(20); // a TTL of 1 ms FitRoom time is 0.02 ms here: long gone
    const err = await rejection(client.downloadResult(task.download_signed_url));
    expect(err).toBeInstanceOf(FitRoomDownloadExpiredError);
    expect(err).toMatchObject({
      code: 'download_expired',
      status: 403,
      retryable: false,
      operation: 'downloadResult',
    });
  });
});
