import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  FitRoomClient,
  FitRoomTimeoutError,
  FitRoomUnauthorizedError,
  type BeforeRequestInfo,
  type FitRoomOperation,
} from '../src/index';
import { png, rejection, startSim, waitForTask, type RunningSim } from './support';

const KEY = 'hook-key';
const model = { data: png(48, 96) };
const cloth = { data: png(32, 32, { r: 0, g: 0, b: 255 }) };

interface Recorded {
  operation: FitRoomOperation;
  apiKey: string;
  /** The simulator's count of answered requests for the key when the hook ran. */
  answeredAtStart: number;
  /** The same count when the release ran (undefined: not released). */
  answeredAtRelease?: number;
  releases: number;
}

describe('beforeRequest', () => {
  let sim: RunningSim;
  let calls: Recorded[];

  const answered = (key = KEY) => sim.stats().keys[key]?.total ?? 0;

  function recordingClient(apiKey = KEY, timeoutMs?: number): FitRoomClient {
    return new FitRoomClient({
      baseUrl: sim.url,
      apiKey,
      ...(timeoutMs ? { timeoutMs } : {}),
      beforeRequest: async (info: BeforeRequestInfo) => {
        await Promise.resolve(); // a real limiter awaits Redis
        const call: Recorded = {
          operation: info.operation,
          apiKey: info.apiKey,
          answeredAtStart: answered(apiKey),
          releases: 0,
        };
        calls.push(call);
        return () => {
          call.releases++;
          call.answeredAtRelease = answered(apiKey);
        };
      },
    });
  }

  beforeAll(async () => {
    sim = await startSim({ timeScale: 50, keys: { [KEY]: 100 }, rateLimit: 1000, seed: 19 });
  });
  afterEach(() => {
    sim.configure({ latencyMs: { min: 0, max: 0 } });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('runs once per API request with the operation and key, released after the answer', async () => {
    calls = [];
    const client = recordingClient();
    const created = await client.createTask({ clothType: 'upper', model, cloth });
    await waitForTask(client, created.task_id, { intervalMs: 25 });
    await client.checkModel(model);
    await client.checkClothes(cloth);

    const ops = calls.map((c) => c.operation);
    expect(ops[0]).toBe('createTask');
    expect(ops.slice(1, -2).every((op) => op === 'getTask')).toBe(true);
    expect(ops.length).toBeGreaterThanOrEqual(4);
    expect(ops.slice(-2)).toEqual(['checkModel', 'checkClothes']);
    // exactly one hook call per request the simulator answered
    expect(calls.length).toBe(answered());
    for (const call of calls) {
      expect(call.apiKey).toBe(KEY);
      expect(call.releases).toBe(1);
      // the server had answered this request (and not before the hook ran) when released
      expect(call.answeredAtRelease).toBe(call.answeredAtStart + 1);
    }
  });

  it('is not called for the download', async () => {
    calls = [];
    const plain = new FitRoomClient({ baseUrl: sim.url, apiKey: KEY });
    const created = await plain.createTask({ clothType: 'upper', model, cloth });
    const task = await waitForTask(plain, created.task_id, { intervalMs: 25 });
    if (task.status !== 'COMPLETED') throw new Error(`unexpected ${task.status}`);
    const client = recordingClient();
    const download = await client.downloadResult(task.download_signed_url);
    download.body.resume();
    expect(calls).toEqual([]);
  });

  it('releases on an error answer (401)', async () => {
    calls = [];
    const client = recordingClient('not-a-key');
    await expect(client.getTask('1')).rejects.toBeInstanceOf(FitRoomUnauthorizedError);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ operation: 'getTask', apiKey: 'not-a-key', releases: 1 });
  });

  it('releases on a timeout', async () => {
    calls = [];
    sim.configure({ latencyMs: { min: 1000, max: 1000 } });
    const client = recordingClient(KEY, 100);
    const err = await rejection(client.checkClothes(cloth));
    expect(err).toBeInstanceOf(FitRoomTimeoutError);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ operation: 'checkClothes', releases: 1 });
  });

  it('a hook that throws stops the request before it is sent', async () => {
    const before = answered();
    const refusal = new Error('limiter closed');
    const client = new FitRoomClient({
      baseUrl: sim.url,
      apiKey: KEY,
      beforeRequest: () => Promise.reject(refusal),
    });
    await expect(client.getTask('1')).rejects.toBe(refusal);
    expect(answered()).toBe(before);
  });

  it('a hook that returns nothing is fine', async () => {
    const seen: FitRoomOperation[] = [];
    const client = new FitRoomClient({
      baseUrl: sim.url,
      apiKey: KEY,
      beforeRequest: ({ operation }) => {
        seen.push(operation);
        return Promise.resolve();
      },
    });
    await client.checkClothes(cloth);
    expect(seen).toEqual(['checkClothes']);
  });
});
