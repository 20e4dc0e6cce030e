import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  FitRoomBadRequestError,
  FitRoomClient,
  FitRoomError,
  FitRoomInsufficientCreditError,
  FitRoomNetworkError,
  FitRoomRateLimitedError,
  FitRoomServerError,
  FitRoomTimeoutError,
  FitRoomUnauthorizedError,
  FitRoomUnavailableError,
  type CreateTaskInput,
  type ImageInput,
} from '../src/index';
import { noisyPng, png, rejection, startSim, type RunningSim } from './support';

const KEY = 'errors-key-SECRET-1234';
const BROKE_KEY = 'errors-broke-key-SECRET';
const ONE_CREDIT_KEY = 'errors-one-credit-SECRET';
const model = { data: png(48, 96) };
const cloth = { data: png(32, 32, { r: 10, g: 200, b: 10 }) };

/** Nothing in an error, however it is printed, may reveal an API key. */
function expectNoKey(err: unknown, ...keys: string[]): void {
  const renderings = [
    String(err),
    inspect(err, { depth: 10, showHidden: true }),
    JSON.stringify(err),
    (err as FitRoomError).fitroomMessage ?? '',
  ];
  for (const key of keys) {
    for (const text of renderings) expect(text).not.toContain(key);
  }
}

describe('FitRoom error statuses', () => {
  let sim: RunningSim;
  let client: FitRoomClient;

  beforeAll(async () => {
    sim = await startSim({
      timeScale: 50,
      keys: { [KEY]: 1000, [BROKE_KEY]: 0, [ONE_CREDIT_KEY]: 1 },
      rateLimit: 1000,
      seed: 11,
    });
    client = new FitRoomClient({ baseUrl: sim.url, apiKey: KEY });
  });

  afterEach(() => {
    sim.configure({ serverErrorRate: 0, unavailableRate: 0, latencyMs: { min: 0, max: 0 } });
  });

  afterAll(async () => {
    await sim?.close();
  });

  it('401 for a wrong key, without the key in the error', async () => {
    const wrongKey = 'wrong-key-SECRET-9876';
    const wrong = new FitRoomClient({ baseUrl: sim.url, apiKey: wrongKey });
    for (const call of [
      () => wrong.createTask({ clothType: 'upper', model, cloth }),
      () => wrong.getTask('123'),
      () => wrong.checkModel(model),
      () => wrong.checkClothes(cloth),
    ]) {
      const err = await rejection(call());
      expect(err).toBeInstanceOf(FitRoomUnauthorizedError);
      expect(err).toMatchObject({ code: 'unauthorized', status: 401, retryable: false });
      expect((err as FitRoomError).fitroomMessage).toEqual(expect.any(String));
      expectNoKey(err, wrongKey, KEY);
    }
    expect(inspect(wrong, { showHidden: true, depth: 5 })).not.toContain(wrongKey);
    expect(JSON.stringify(wrong)).not.toContain(wrongKey);
  });

  it('401 (answered before the upload is read) and 402 arrive intact on a large upload', async () => {
    const big = { data: noisyPng(1200, 1000) }; // ~3.6 MB
    expect(big.data.length).toBeGreaterThan(3_000_000);
    const wrong = new FitRoomClient({ baseUrl: sim.url, apiKey: 'wrong-key-SECRET-big' });
    const unauthorized = await rejection(
      wrong.createTask({ clothType: 'upper', model: big, cloth: big }),
    );
    expect(unauthorized).toBeInstanceOf(FitRoomUnauthorizedError);
    const broke = new FitRoomClient({ baseUrl: sim.url, apiKey: BROKE_KEY });
    const noCredit = await rejection(broke.createTask({ clothType: 'upper', model: big, cloth }));
    expect(noCredit).toBeInstanceOf(FitRoomInsufficientCreditError);
  });

  it('402 for a key with 0 credits', async () => {
    const broke = new FitRoomClient({ baseUrl: sim.url, apiKey: BROKE_KEY });
    const before = Date.now();
    const err = await rejection(broke.createTask({ clothType: 'upper', model, cloth }));
    expect(err).toBeInstanceOf(FitRoomInsufficientCreditError);
    expect(err).toMatchObject({ code: 'insufficient_credit', status: 402, retryable: false });
    // When it was sent: a refusal of a request sent before a key's resume pauses nothing.
    const { sentAt } = err as FitRoomError;
    expect(sentAt).toBeGreaterThanOrEqual(before);
    expect(sentAt).toBeLessThanOrEqual(Date.now());
    expectNoKey(err, BROKE_KEY);
  });

  it('402 once the credits are exhausted', async () => {
    const one = new FitRoomClient({ baseUrl: sim.url, apiKey: ONE_CREDIT_KEY });
    await expect(one.createTask({ clothType: 'upper', model, cloth })).resolves.toMatchObject({
      status: 'CREATED',
    });
    const err = await rejection(one.createTask({ clothType: 'upper', model, cloth }));
    expect(err).toBeInstanceOf(FitRoomInsufficientCreditError);
    expect(sim.stats().keys[ONE_CREDIT_KEY]?.credits_left).toBe(0);
  });

  describe('400 Bad Request', () => {
    const cases: Array<[string, () => CreateTaskInput]> = [
      [
        'missing model_image',
        () => ({ clothType: 'upper', model: undefined as unknown as ImageInput, cloth }),
      ],
      [
        'missing cloth_image',
        () => ({ clothType: 'upper', model, cloth: undefined as unknown as ImageInput }),
      ],
      ['unknown cloth_type', () => ({ clothType: 'hat' as 'upper', model, cloth })],
      [
        'combo without lower_cloth_image',
        () => ({ clothType: 'combo', model, cloth }) as unknown as CreateTaskInput,
      ],
      [
        'bytes that are not an image',
        () => ({
          clothType: 'upper',
          model: { data: Buffer.from('this is not an image at all'), contentType: 'image/jpeg' },
          cloth,
        }),
      ],
    ];

    it.each(cases)('createTask: %s', async (_name, input) => {
      const before = sim.stats().keys[KEY]?.credits_left;
      const err = await rejection(client.createTask(input()));
      expect(err).toBeInstanceOf(FitRoomBadRequestError);
      expect(err).toMatchObject({ code: 'bad_request', status: 400, retryable: false });
      expect((err as FitRoomError).fitroomMessage).toMatch(/\S/);
      expect(sim.stats().keys[KEY]?.credits_left).toBe(before);
    });

    it('input checks: bytes that are not an image, and a missing input_image', async () => {
      const junk = { data: Buffer.from('GIF89a but not really') };
      await expect(client.checkModel(junk)).rejects.toBeInstanceOf(FitRoomBadRequestError);
      await expect(client.checkClothes(junk)).rejects.toBeInstanceOf(FitRoomBadRequestError);
      await expect(client.checkModel(undefined as unknown as ImageInput)).rejects.toBeInstanceOf(
        FitRoomBadRequestError,
      );
    });
  });

  it('500 when the server errors (serverErrorRate 1)', async () => {
    sim.configure({ serverErrorRate: 1 });
    for (const call of [
      () => client.createTask({ clothType: 'upper', model, cloth }),
      () => client.getTask('1'),
      () => client.checkModel(model),
      () => client.checkClothes(cloth),
    ]) {
      const err = await rejection(call());
      expect(err).toBeInstanceOf(FitRoomServerError);
      expect(err).toMatchObject({ code: 'server_error', status: 500, retryable: true });
      expectNoKey(err, KEY);
    }
  });

  it('503 when the server is unavailable (unavailableRate 1)', async () => {
    sim.configure({ unavailableRate: 1 });
    for (const call of [
      () => client.createTask({ clothType: 'upper', model, cloth }),
      () => client.getTask('1'),
      () => client.checkModel(model),
      () => client.checkClothes(cloth),
    ]) {
      const err = await rejection(call());
      expect(err).toBeInstanceOf(FitRoomUnavailableError);
      expect(err).toMatchObject({ code: 'unavailable', status: 503, retryable: true });
    }
  });

  it("timeout when the answer takes longer than the client's timeoutMs", async () => {
    sim.configure({ latencyMs: { min: 2000, max: 2000 } });
    const impatient = new FitRoomClient({ baseUrl: sim.url, apiKey: KEY, timeoutMs: 100 });
    const err = await rejection(impatient.getTask('1'));
    expect(err).toBeInstanceOf(FitRoomTimeoutError);
    expect(err).toMatchObject({ code: 'timeout', retryable: true, operation: 'getTask' });
    expectNoKey(err, KEY);

    // a per-call timeout overrides the client's
    const patient = new FitRoomClient({ baseUrl: sim.url, apiKey: KEY });
    const perCall = await rejection(patient.checkClothes(cloth, { timeoutMs: 100 }));
    expect(perCall).toBeInstanceOf(FitRoomTimeoutError);
  });

  it("the caller's AbortSignal aborts the request with its own reason", async () => {
    sim.configure({ latencyMs: { min: 2000, max: 2000 } });
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const pending = rejection(client.getTask('1', { signal: controller.signal }));
    setTimeout(() => controller.abort(reason), 50);
    expect(await pending).toBe(reason);

    // already aborted: nothing is sent
    const before = sim.stats().keys[KEY]?.total ?? 0;
    await expect(client.getTask('1', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(sim.stats().keys[KEY]?.total ?? 0).toBe(before);
  });
});

describe('429 Too Many Requests', () => {
  let sim: RunningSim;
  const LIMITED = 'limited-key-SECRET';

  beforeAll(async () => {
    // rateLimit 3 per 60 s window, no time scaling: the 4th request is refused
    sim = await startSim({ keys: { [LIMITED]: 10 }, rateLimit: 3, seed: 13 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('exceeding the window -> FitRoomRateLimitedError with retryAfterMs', async () => {
    const client = new FitRoomClient({ baseUrl: sim.url, apiKey: LIMITED });
    for (let i = 0; i < 3; i++) await client.checkClothes(cloth);
    const err = await rejection(client.checkClothes(cloth));
    expect(err).toBeInstanceOf(FitRoomRateLimitedError);
    expect(err).toMatchObject({ code: 'rate_limited', status: 429, retryable: true });
    const { retryAfterMs } = err as FitRoomRateLimitedError;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(61_000);
    expectNoKey(err, LIMITED);
    expect(sim.stats().keys[LIMITED]?.http_429).toBe(1);

    // the 429 is answered before the upload is read: a large create still gets it intact
    const big = { data: noisyPng(1200, 1000, 5) };
    const create = await rejection(
      client.createTask({ clothType: 'upper', model: big, cloth: big }),
    );
    expect(create).toBeInstanceOf(FitRoomRateLimitedError);
    expect(sim.stats().keys[LIMITED]?.http_429).toBe(2);
  });
});

describe('network errors', () => {
  it('connection refused -> FitRoomNetworkError', async () => {
    // a port that was free a moment ago and has nothing listening now
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));

    const client = new FitRoomClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: KEY });
    const err = await rejection(client.getTask('1'));
    expect(err).toBeInstanceOf(FitRoomNetworkError);
    expect(err).toMatchObject({ code: 'network', retryable: true });
    expect((err as FitRoomError).status).toBeUndefined();
    expectNoKey(err, KEY);

    const download = await rejection(client.downloadResult(`http://127.0.0.1:${port}/r.png`));
    expect(download).toBeInstanceOf(FitRoomNetworkError);
  });
});
