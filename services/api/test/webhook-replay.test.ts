import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, ItemsPage } from '@tryon/domain';
import { batchCompletedEvent, itemEvent, webhookJob } from '@tryon/queues';
import { publicBatch, publicItem, type ItemRecord } from '@tryon/records';
import { REPLAY_PRIORITY_BASE } from '@tryon/queues';
import { RedisKeys } from '@tryon/redis';
import { ApiError } from '../src/errors.js';
import { WebhookReplayer } from '../src/lib/webhook-replay.js';
import { REPLAY_COOLDOWN_MS } from '../src/limits.js';
import { auth, buildTestApp, imageUrl, TOKENS, type TestApp } from './helper.js';

const acme = auth(TOKENS.acme);
const admin = auth(TOKENS.admin);
const HOOK = 'https://93.184.216.34/hooks/acme';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(() => t.close());

async function submit(count: number, webhook: string | null = HOOK): Promise<Batch> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/batches',
    headers: acme,
    payload: {
      items: Array.from({ length: count }, (_, i) => ({
        model: imageUrl(`m${i}`),
        cloth: imageUrl(`c${i}`),
        cloth_type: 'upper',
        external_id: `x${i}`,
      })),
      ...(webhook && { webhook_url: webhook }),
    },
  });
  expect(res.statusCode).toBe(202);
  return res.json<Batch>();
}

async function itemsOf(batchId: string): Promise<ItemRecord[]> {
  const page = await t.app.inject({
    method: 'GET',
    url: `/v1/batches/${batchId}/items`,
    headers: acme,
  });
  const ids = page.json<ItemsPage>().items.map((i) => i.id);
  return Promise.all(ids.map(async (id) => (await t.records.getItem(id))!));
}

/** What a worker does when an item ends: the state change, with its result or error. */
async function finish(item: ItemRecord, outcome: 'completed' | 'failed') {
  await t.records.transition(item, ['queued'], 'running');
  return t.records.transition(item, ['running'], outcome, {
    completed_at: Date.now(),
    ...(outcome === 'completed'
      ? {
          result: {
            key: `results/${item.batch_id}/${item.id}.jpg`,
            bytes: 1234,
            sha256: 'ab'.repeat(32),
            content_type: 'image/jpeg',
          },
        }
      : { error: { code: 'fitroom_failed', message: 'FitRoom could not render this pair' } }),
  });
}

/** The delivery jobs a worker queues for an item's end, exactly as the worker builds them. */
async function workerItemJob(itemId: string, type: 'item.completed' | 'item.failed') {
  const item = (await t.records.getItem(itemId))!;
  const target = { tenantId: 'acme', batchId: item.batch_id, url: HOOK };
  return webhookJob(
    itemEvent(target, publicItem(item, t.config.publicUrl), item.run, type),
    t.config.webhooks.retryScheduleMs,
  );
}

const replay = (batchId: string, headers = acme, prefix = '/v1') =>
  t.app.inject({ method: 'POST', url: `${prefix}/batches/${batchId}/webhooks/replay`, headers });

describe('POST /v1/batches/:id/webhooks/replay', () => {
  it("re-queues every finished item's event and batch.completed with the original webhook-ids", async () => {
    const batch = await submit(3);
    const [done, failed, later] = await itemsOf(batch.id);
    await finish(done!, 'completed');
    await finish(failed!, 'failed');
    // The worker's original deliveries are still kept in the queue (or retrying).
    const originals = [
      await workerItemJob(done!.id, 'item.completed'),
      await workerItemJob(failed!.id, 'item.failed'),
    ];
    await t.webhookQueue.addBulk(originals);

    // Running batch: the two finished items only, no batch.completed yet.
    const first = await replay(batch.id);
    expect(first.statusCode).toBe(202);
    expect(first.json()).toEqual({
      batch_id: batch.id,
      replay: 1,
      events: 2,
      by_type: { 'item.completed': 1, 'item.failed': 1, 'batch.completed': 0 },
    });
    for (const original of originals) {
      const job = await t.webhookQueue.getJob(`${original.data.eventId}.replay-1`);
      expect(job, 'replayed job').toBeDefined();
      // Same webhook-id, tenant, batch and URL; a new body timestamp is fine.
      expect(job!.data).toMatchObject({
        eventId: original.data.eventId,
        tenantId: 'acme',
        batchId: batch.id,
        url: HOOK,
      });
      const body = JSON.parse(job!.data.body) as { type: string; data: unknown };
      const sent = JSON.parse(original.data.body) as { type: string; data: unknown };
      expect(body.type).toBe(sent.type);
      expect(body.data).toEqual(sent.data);
      expect(job!.opts.attempts).toBe(original.opts.attempts);
      // The original is still there: the replay did not replace it.
      expect(await t.webhookQueue.getJob(original.data.eventId)).toBeDefined();
    }

    // The last item finishes the batch: operators replay it (no cooldown), batch.completed too.
    const last = await finish(later!, 'completed');
    expect(last.batchFinished).toBe(true);
    const second = await replay(batch.id, admin, '/admin');
    expect(second.statusCode).toBe(202);
    expect(second.json()).toMatchObject({
      replay: 2,
      events: 4,
      by_type: { 'item.completed': 2, 'item.failed': 1, 'batch.completed': 1 },
    });
    const finished = (await t.records.getBatch(batch.id))!;
    const completed = batchCompletedEvent(
      { tenantId: 'acme', batchId: batch.id, url: HOOK },
      publicBatch(finished),
      last.completionSeq,
    );
    const job = await t.webhookQueue.getJob(`${completed.eventId}.replay-2`);
    expect(job?.data.eventId).toBe(completed.eventId);
    const body = JSON.parse(job!.data.body) as { type: string; data: Batch };
    expect(body).toMatchObject({
      type: 'batch.completed',
      data: { id: batch.id, status: 'completed' },
    });
    expect(body.data.counts).toMatchObject({ total: 3, completed: 2, failed: 1 });
  });

  it('uses the run an item finished in: a retried item replays its new event, not the old one', async () => {
    const batch = await submit(1);
    const [item] = await itemsOf(batch.id);
    await finish(item!, 'failed');
    const failedJob = await workerItemJob(item!.id, 'item.failed');
    const retried = await t.app.inject({
      method: 'POST',
      url: `/v1/batches/${batch.id}/retry`,
      headers: acme,
    });
    expect(retried.statusCode).toBe(200);
    const again = (await t.records.getItem(item!.id))!;
    expect(again.run).toBe(1);
    await finish(again, 'completed');
    const completedJob = await workerItemJob(item!.id, 'item.completed');
    expect(completedJob.data.eventId).not.toBe(failedJob.data.eventId);

    const res = await replay(batch.id);
    expect(res.json()).toMatchObject({
      events: 2,
      by_type: { 'item.completed': 1, 'item.failed': 0, 'batch.completed': 1 },
    });
    expect(await t.webhookQueue.getJob(`${completedJob.data.eventId}.replay-1`)).toBeDefined();
    expect(await t.webhookQueue.getJob(`${failedJob.data.eventId}.replay-1`)).toBeUndefined();
  });

  it('queues batch.completed of a cancelled batch, and nothing for cancelled items', async () => {
    const batch = await submit(2);
    const cancelled = await t.app.inject({
      method: 'POST',
      url: `/v1/batches/${batch.id}/cancel`,
      headers: acme,
    });
    expect(cancelled.json<Batch>().status).toBe('cancelled');
    const res = await replay(batch.id);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({
      events: 1,
      by_type: { 'item.completed': 0, 'item.failed': 0, 'batch.completed': 1 },
    });
  });

  it('answers 202 with no events for a batch where nothing has finished', async () => {
    const batch = await submit(2);
    const res = await replay(batch.id);
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ replay: 1, events: 0 });
  });

  it('answers 409 no_webhook_url for a batch without a webhook_url', async () => {
    const batch = await submit(1, null);
    for (const [headers, prefix] of [
      [acme, '/v1'],
      [admin, '/admin'],
    ] as const) {
      const res = await replay(batch.id, headers, prefix);
      expect(res.statusCode).toBe(409);
      expect(res.json()).toEqual({
        error: {
          code: 'no_webhook_url',
          message: expect.stringContaining('webhook_url') as string,
        },
      });
    }
  });

  it('refuses a tenant replay inside the cooldown (429 with Retry-After); operators any time', async () => {
    const batch = await submit(1);
    // A replay moments ago whose cooldown has ten minutes left (a long one, so that no machine
    // is slow enough for it to end during the test).
    expect(await t.operations.claimReplay(batch.id, 600_000)).toEqual({ replay: 1 });
    const refused = await replay(batch.id);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: { code: 'replay_too_soon' } });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(REPLAY_COOLDOWN_MS / 1000);
    expect(retryAfter).toBeLessThanOrEqual(600);
    const operator = await replay(batch.id, admin, '/admin');
    expect(operator.statusCode).toBe(202);
    expect(operator.json()).toMatchObject({ replay: 2 });
  });

  it("starts the batch's cooldown with each tenant replay", async () => {
    const batch = await submit(1);
    const started = Date.now();
    expect((await replay(batch.id)).statusCode).toBe(202);
    const again = await replay(batch.id);
    // Within the cooldown (always, unless this machine stalled for 10 s between two requests).
    if (Date.now() - started < REPLAY_COOLDOWN_MS) {
      expect(again.statusCode).toBe(429);
      expect(Number(again.headers['retry-after'])).toBeLessThanOrEqual(REPLAY_COOLDOWN_MS / 1000);
    }
  });

  it("is a 404 for another tenant's batch and an unknown one; /admin needs the admin token", async () => {
    const batch = await submit(1);
    for (const url of [
      `/v1/batches/${batch.id}/webhooks/replay`,
      '/v1/batches/bat_00000000000000000000/webhooks/replay',
    ]) {
      const res = await t.app.inject({ method: 'POST', url, headers: auth(TOKENS.globex) });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ error: { code: 'batch_not_found' } });
    }
    const unknown = await replay('bat_00000000000000000000', admin, '/admin');
    expect(unknown.statusCode).toBe(404);
    const tenant = await replay(batch.id, acme, '/admin');
    expect(tenant.statusCode).toBe(401);
  });
});

describe('GET /v1/batches/:id/deliveries', () => {
  it("answers the batch's delivery attempts, newest first, as the worker recorded them", async () => {
    const batch = await submit(1);
    const attempts = [
      { ok: false, status: 503, error: 'receiver answered 503', attempt: 1 },
      { ok: false, status: null, error: 'connect ECONNREFUSED', attempt: 2 },
      { ok: true, status: 204, error: null, attempt: 3 },
    ];
    for (const a of attempts) {
      await t.operations.recordDelivery(batch.id, {
        event_id: 'msg_0123',
        type: 'item.completed',
        duration_ms: 17,
        ...a,
      });
    }
    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/batches/${batch.id}/deliveries`,
      headers: acme,
    });
    expect(res.statusCode).toBe(200);
    const { deliveries } = res.json<{ deliveries: Record<string, unknown>[] }>();
    expect(deliveries).toHaveLength(3);
    expect(deliveries.map((d) => d.attempt)).toEqual([3, 2, 1]);
    expect(deliveries[0]).toEqual({
      at: expect.any(String) as string,
      event_id: 'msg_0123',
      type: 'item.completed',
      attempt: 3,
      ok: true,
      status: 204,
      error: null,
      duration_ms: 17,
    });
    expect(deliveries[1]).toMatchObject({ ok: false, status: null, error: 'connect ECONNREFUSED' });

    const limited = await t.app.inject({
      method: 'GET',
      url: `/v1/batches/${batch.id}/deliveries?limit=1`,
      headers: acme,
    });
    expect(limited.json<{ deliveries: unknown[] }>().deliveries).toHaveLength(1);
    const operator = await t.app.inject({
      method: 'GET',
      url: `/admin/batches/${batch.id}/deliveries?limit=2`,
      headers: admin,
    });
    expect(operator.json<{ deliveries: unknown[] }>().deliveries).toHaveLength(2);
  });

  it('answers an empty list for a batch with no attempts yet', async () => {
    const batch = await submit(1, null);
    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/batches/${batch.id}/deliveries`,
      headers: acme,
    });
    expect(res.json()).toEqual({ deliveries: [] });
  });

  it.each(['limit=0', 'limit=1001', 'limit=abc', 'since=yesterday'])(
    'refuses ?%s with 400',
    async (query) => {
      const batch = await submit(1, null);
      const res = await t.app.inject({
        method: 'GET',
        url: `/v1/batches/${batch.id}/deliveries?${query}`,
        headers: acme,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'validation_error' } });
    },
  );
});

describe('replays cannot crowd out others', () => {
  it('queue below live events, kept only briefly once delivered', async () => {
    const batch = await submit(2);
    for (const item of await itemsOf(batch.id)) await finish(item, 'completed');
    expect((await replay(batch.id)).statusCode).toBe(202);
    const jobs = await t.webhookQueue.getJobs(['prioritized', 'waiting']);
    const replayed = jobs.filter((job) => job.data.batchId === batch.id);
    expect(replayed).toHaveLength(3); // two items and batch.completed
    for (const job of replayed) {
      expect(job.id).toMatch(/\.replay-1$/);
      expect(job.opts.priority).toBeGreaterThanOrEqual(REPLAY_PRIORITY_BASE);
      expect(await job.getState()).toBe('prioritized');
      expect(job.opts.removeOnComplete).toEqual({ age: 3_600, count: 1_000 });
      expect(job.opts.removeOnFail).toEqual({ age: 24 * 3_600, count: 1_000 });
    }
    // The worker's live events carry no priority: BullMQ serves them before any replay.
    const [item] = await itemsOf(batch.id);
    expect((await workerItemJob(item!.id, 'item.completed')).opts).not.toHaveProperty('priority');
  });

  it("counts a tenant's replayed events against its budget: 429 replay_limit beyond, operators free", async () => {
    const replayer = new WebhookReplayer({
      records: t.records,
      operations: t.operations,
      webhookQueue: t.webhookQueue,
      publicUrl: t.config.publicUrl,
      retryScheduleMs: t.config.webhooks.retryScheduleMs,
      replayBudget: { limit: 5, windowMs: 600_000 },
    });
    const finishedBatch = async () => {
      const batch = await submit(2);
      for (const item of await itemsOf(batch.id)) await finish(item, 'completed');
      return (await t.records.getBatch(batch.id))!;
    };
    // Earlier tests' replays counted against acme's budget (of the app's size): a fresh window.
    await t.redis.del(new RedisKeys(t.config.prefix).tenantReplayBudget('acme'));
    const tenant = { cooldownMs: 0, countAgainstTenant: true };
    const first = await finishedBatch();
    expect((await replayer.replay(first, tenant)).events).toBe(3);
    const second = await finishedBatch();
    const refused = await replayer.replay(second, tenant).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ statusCode: 429, code: 'replay_limit' });
    const retryAfter = (refused as ApiError).retryAfterSeconds!;
    expect(retryAfter).toBeGreaterThan(500);
    expect(retryAfter).toBeLessThanOrEqual(600);
    // Nothing of the refused replay was queued.
    const queued = await t.webhookQueue.getJobs(['prioritized', 'waiting']);
    expect(queued.filter((job) => job.data.batchId === second.id)).toHaveLength(0);
    // Operators' replays are not counted; another tenant has a budget of its own.
    const operator = { cooldownMs: 0, countAgainstTenant: false };
    expect((await replayer.replay(second, operator)).events).toBe(3);
    expect(
      await t.operations.takeReplayBudget('globex', 3, { limit: 5, windowMs: 600_000 }),
    ).toEqual({ taken: true });
  });
});
