/**
 * `tsx services/worker/test/bench/sweeper-tick.ts [--items 30000] [--batches 3] [--ticks 20] [--json]`: what one
 * sweep tick costs with many open items. Records N open items (queued, each with its job, as in
 * a steady state) in a fresh prefix of REDIS_URL, runs the sweeper's ticks back to back until a
 * full pass is done (and at least --ticks), and reports the duration of each. Cleans up after
 * itself. The last stdout line is one JSON object.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '@tryon/logger';
import { createTryonQueue, redisConnection, tryonJob } from '@tryon/queues';
import { BatchRetention, Records, type NewItem } from '@tryon/records';
import { createStorage } from '@tryon/storage';
import { BatchSettler } from '../../src/batch-settler.js';
import { ITEMS_PER_TICK, Sweeper } from '../../src/sweeper.js';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '30000' },
    batches: { type: 'string', default: '3' },
    ticks: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
  },
});
const totalItems = Number(values.items);
const batchCount = Number(values.batches);
const minTicks = Number(values.ticks);

const redis = redisConnection(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `bench-sweep-${Date.now().toString(36)}`;
const records = new Records(redis, prefix);
const retention = new BatchRetention(redis, prefix);
const queue = createTryonQueue(redis, prefix);
const logger = createLogger({ service: 'bench', level: 'silent' });
const dataDir = await mkdtemp(join(tmpdir(), 'bench-sweep-'));
const storage = createStorage({ driver: 'fs', dataDir });

const items = (n: number, offset: number): NewItem[] =>
  Array.from({ length: n }, (_, i) => ({
    model: `https://img.example/m${offset + i}.jpg`,
    cloth: `https://img.example/c${offset + i}.jpg`,
    cloth_type: 'upper' as const,
  }));

async function cleanUp(): Promise<void> {
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  storage.close();
  redis.disconnect();
  await rm(dataDir, { recursive: true, force: true });
}

try {
  const perBatch = Math.ceil(totalItems / batchCount);
  for (let b = 0; b < batchCount; b++) {
    const n = Math.min(perBatch, totalItems - b * perBatch);
    const { batch } = await records.createBatch({
      tenantId: 'bench',
      items: items(n, b * perBatch),
    });
    const open = await records.getItems(await records.itemIds(batch.id));
    for (let i = 0; i < open.length; i += 1_000) {
      await queue.addBulk(open.slice(i, i + 1_000).map((item) => tryonJob(item, { parked: true })));
    }
  }
  const sweeper = new Sweeper({
    redis,
    prefix,
    records,
    retention,
    settler: new BatchSettler({ records, retention, storage, retentionMs: 60_000, logger }),
    queue,
    abandon: () => Promise.resolve(false),
    intervalMs: 60_000,
    logger,
  });
  const tickMs: number[] = [];
  let checked = 0;
  let passTicks = 0;
  for (let tick = 0; tick < Math.max(minTicks, 1) || passTicks === 0; tick++) {
    const started = performance.now();
    const report = await sweeper.sweep();
    tickMs.push(performance.now() - started);
    if (passTicks === 0) checked += report.checked;
    if (report.passComplete && passTicks === 0) passTicks = tick + 1;
  }
  const sorted = [...tickMs].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  const result = {
    scenario: 'sweeper-tick',
    open_items: totalItems,
    batches: batchCount,
    items_per_tick: ITEMS_PER_TICK,
    ticks: tickMs.length,
    ticks_per_pass: passTicks,
    checked_in_first_pass: checked,
    tick_ms_p50: round(sorted[Math.floor(sorted.length / 2)]!),
    tick_ms_max: round(sorted.at(-1)!),
    pass_ms: round(tickMs.slice(0, passTicks).reduce((a, b) => a + b, 0)),
  };
  if (!values.json) {
    console.log(
      `${totalItems} open items: ${passTicks} ticks per pass, a tick p50 ${result.tick_ms_p50} ms, ` +
        `max ${result.tick_ms_max} ms; a whole pass ${result.pass_ms} ms`,
    );
  }
  console.log(JSON.stringify(result));
} finally {
  await cleanUp();
}
