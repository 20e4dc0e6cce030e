import { Worker, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookJobData } from '@tryon/domain';
import { testRedisUrl, uniqueId } from '@tryon/testing';
import {
  createWebhookQueue,
  redisConnection,
  replayWebhookJob,
  webhookJob,
  type WebhookQueue,
} from '../src/index.js';

/** The order in which one worker (concurrency 1) takes webhook jobs, on real Redis and BullMQ. */

const event = (tenant: string, id: string): WebhookJobData => ({
  eventId: `evt_${tenant}_${id}`,
  tenantId: tenant,
  batchId: `bat_${tenant}`,
  url: 'https://hooks.example/in',
  body: '{}',
});

let prefix: string;
let queue: WebhookQueue;
const connection = redisConnection(testRedisUrl());
beforeAll(() => {
  prefix = uniqueId('queues');
  queue = createWebhookQueue(connection, prefix);
});
afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
});

describe('webhook delivery order', () => {
  it("serves live events before replays, and another tenant's replay before a big replay's later pages", async () => {
    const retry = [1_000];
    // acme replays a big batch: pages 0, 1 and 2, queued first.
    for (const page of [0, 1, 2]) {
      await queue.addBulk(
        [0, 1].map((i) =>
          replayWebhookJob(event('acme', `p${page}-${i}`), retry, { number: 1, page }),
        ),
      );
    }
    // Then globex replays a small one (page 0), and a live event of each tenant arrives.
    await queue.addBulk([replayWebhookJob(event('globex', 'p0-0'), retry, { number: 1, page: 0 })]);
    await queue.addBulk([webhookJob(event('globex', 'live'), retry)]);
    await queue.addBulk([webhookJob(event('acme', 'live'), retry)]);

    const workerConnection = redisConnection(testRedisUrl());
    const order: string[] = [];
    const total = 9;
    await new Promise<void>((resolve, reject) => {
      const worker = new Worker<WebhookJobData>(
        queue.name,
        (job: Job<WebhookJobData>) => {
          order.push(job.data.eventId);
          if (order.length === total) setImmediate(() => void worker.close().then(resolve));
          return Promise.resolve();
        },
        { connection: workerConnection, prefix, concurrency: 1 },
      );
      worker.on('error', reject);
    });
    workerConnection.disconnect();
    // Live events first, whatever was queued before them.
    expect(order.slice(0, 2).sort()).toEqual(['evt_acme_live', 'evt_globex_live']);
    // globex's replay is not stuck behind all of acme's: it comes with acme's first page.
    expect(order.indexOf('evt_globex_p0-0')).toBeLessThan(order.indexOf('evt_acme_p1-0'));
    expect(order.indexOf('evt_globex_p0-0')).toBeLessThan(order.indexOf('evt_acme_p1-1'));
    // And a big replay still goes out page by page.
    expect(order.indexOf('evt_acme_p1-0')).toBeLessThan(order.indexOf('evt_acme_p2-0'));
  });
});
