/**
 * `pnpm bench integrity`: are the inputs FitRoom receives the ones we prepared? One matrix
 * batch (models shared by many items, so several workers prepare and read the same image at
 * once) on S3 storage (an s3rver process, which writes objects in place), run to completion.
 * Counts what FitRoom refused as undecodable and which items failed: both should be 0.
 */
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { COMMON_FLAGS, parseFlags } from '../lib/args.js';
import { ApiClient, simStats } from '../lib/client.js';
import { GARMENT_SIZE, makeImages, matrixShape } from '../lib/images.js';
import { fmt, type Reporter } from '../lib/report.js';
import { startS3rver } from '../lib/s3rver.js';
import { round, type JsonRecord } from '../lib/stats.js';
import { every, resolveCommon, withStack, type CommonOptions, type Scenario } from './common.js';

const FLAGS = {
  ...COMMON_FLAGS,
  items: { type: 'number', help: 'items in the batch (default 200)', min: 1, max: 10_000 },
} as const;

export interface IntegrityOptions {
  common: CommonOptions;
  items: number;
}

const TENANT = 'bench';
const CREATE_ROUTE = 'POST /api/tryon/v2/tasks';

function resolve(args: readonly string[]): IntegrityOptions {
  const flags = parseFlags(FLAGS, args);
  return { common: resolveCommon(flags, { timeScale: 20 }), items: flags.items ?? 200 };
}

/**
 * Model photos of real weight: half within FitRoom's 2048 px (sent as they are), half above it
 * (resized by the worker), noise throughout so each JPEG weighs 1-3 MB, as phone photos do.
 */
async function modelPhotos(count: number): Promise<Buffer[]> {
  const photos: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const [width, height] = i % 2 === 0 ? [1200, 1600] : [1600, 2400];
    const pixels = randomBytes(width * height * 3);
    photos.push(
      await sharp(pixels, { raw: { width, height, channels: 3 } })
        .jpeg({ quality: 85 })
        .toBuffer(),
    );
  }
  return photos;
}

async function submit(client: ApiClient, items: number, reporter: Reporter): Promise<string> {
  const shape = matrixShape(items);
  const [models, garments] = await Promise.all([
    modelPhotos(shape.models),
    makeImages({ ...GARMENT_SIZE, count: shape.garments }),
  ]);
  const ids = await client.uploadAssets([...models, ...garments]);
  const kb = Math.round(models.reduce((sum, m) => sum + m.length, 0) / models.length / 1024);
  reporter.progress(`uploaded ${shape.models} models (${kb} KB each) + ${shape.garments} garments`);
  const { batch } = await client.submitBatch({
    matrix: {
      models: ids.slice(0, shape.models),
      garments: ids.slice(shape.models).map((cloth) => ({ cloth, cloth_type: 'upper' })),
    },
  });
  reporter.progress(`submitted batch ${batch.id}: ${shape.models * shape.garments} items`);
  return batch.id;
}

async function run(options: IntegrityOptions, reporter: Reporter): Promise<JsonRecord> {
  const { common } = options;
  const s3 = await startS3rver('bench-integrity');
  try {
    const withS3 = { ...common, extraEnv: { ...s3.env, ...common.extraEnv } };
    return await withStack('integrity', withS3, [TENANT], reporter, async (stack) => {
      const client = new ApiClient(stack.apiUrl, stack.tokens[TENANT] as string);
      const start = Date.now();
      const batchId = await submit(client, options.items, reporter);
      const expectedMs = (options.items / (30 * common.keys)) * (60_000 / common.timeScale);
      const timeoutMs = (common.timeoutS ?? (4 * expectedMs + 120_000) / 1000) * 1000;
      const tick = every(10_000);
      const { batch, timedOut } = await client.waitForBatch(batchId, {
        timeoutMs,
        intervalMs: 500,
        onTick: (b) => {
          stack.assertAlive();
          if (tick()) reporter.progress(`${JSON.stringify(b.counts)}`);
        },
      });
      const items = await client.items(batchId);
      const stats = await simStats(stack.simUrl);
      const keys = Object.values(stats.keys);
      const rejected = keys.reduce((n, k) => n + (k.requests[CREATE_ROUTE]?.['400'] ?? 0), 0);
      const failed = items.filter((i) => i.status === 'failed');
      const reasons: Record<string, number> = {};
      for (const item of failed) {
        const code = item.error?.code ?? 'unknown';
        reasons[code] = (reasons[code] ?? 0) + 1;
      }
      const record: JsonRecord = {
        scenario: 'integrity',
        items: items.length,
        workers: common.workers,
        keys: common.keys,
        time_scale: common.timeScale,
        storage: 's3',
        completed: items.filter((i) => i.status === 'completed').length,
        failed: failed.length,
        failed_reasons: reasons,
        inputs_rejected_undecodable: rejected,
        http_429: keys.reduce((n, k) => n + k.http_429, 0),
        fitroom_tasks_created: keys.reduce((n, k) => n + k.tasks_created, 0),
        duration_s: round((Date.now() - start) / 1000, 1),
        timed_out: timedOut,
        targets: { zero_rejected: rejected === 0, zero_failed: failed.length === 0 && !timedOut },
      };
      reporter.summary(
        `integrity: ${items.length} items on S3 (s3rver), ${common.workers} worker(s), ${common.keys} key(s), time scale ${common.timeScale}`,
        [
          [
            'batch',
            `${batch.status}: ${JSON.stringify(batch.counts)}${timedOut ? ' TIMED OUT' : ''}`,
          ],
          ['inputs rejected', `${rejected}${fmt.target(rejected === 0)}`],
          [
            'items failed',
            `${failed.length} ${JSON.stringify(reasons)}${fmt.target(failed.length === 0)}`,
          ],
          ['FitRoom tasks', String(record.fitroom_tasks_created)],
          ['duration', `${String(record.duration_s)} s real`],
        ],
      );
      return record;
    });
  } finally {
    await s3.close();
  }
}

export const integrity: Scenario<IntegrityOptions> = {
  name: 'integrity',
  summary:
    'one matrix batch on S3 storage with several workers: inputs FitRoom refused, items failed',
  flags: FLAGS,
  resolve,
  run,
};
