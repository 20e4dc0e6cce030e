import { randomUUID } from 'node:crypto';
import cliProgress from 'cli-progress';
import type {
  Batch,
  BatchItemInput,
  ClothType,
  CreateBatchRequest,
  DryRunAnswer,
} from '@tryon/domain';
import { AssetCache, cacheDir } from '../cache.js';
import { ApiError, EXIT, usageError } from '../errors.js';
import { localFiles, readImages, type ImageSource, type InputImage } from '../inputs.js';
import { defaultBatchName } from '../names.js';
import { note, printJson, say, type Context } from '../output.js';
import { planItems, type PlannedItem } from '../plan.js';
import { formatDuration } from '../progress.js';
import { uploadFiles, type UploadResult, type UploadStats } from '../upload.js';
import { plural, tryonCommand } from '../wording.js';
import { awaitBatch, batchExitCode, summarize } from './batch.js';

export interface SubmitOptions {
  models: string;
  garments: string;
  type: ClothType;
  lower?: string;
  hd?: boolean;
  webhook?: string;
  fresh?: boolean;
  priority?: number;
  idempotencyKey?: string;
  /** The batch's name; default: the inputs' folder names (defaultBatchName). */
  name?: string;
  wait?: boolean;
  /** Validate and estimate (items, credits, ETA) without submitting. */
  dryRun?: boolean;
  concurrency: number;
  cache: boolean;
}

/**
 * Reads the inputs, uploads what the API does not have yet, submits one batch of every model
 * with every garment and, with --wait, follows it to the end.
 */
export async function submit(ctx: Context, options: SubmitOptions): Promise<number> {
  if (options.dryRun && options.wait) {
    throw usageError('--dry-run submits nothing to --wait for');
  }
  const models = await readImages(options.models, 'models');
  const garments = await readImages(options.garments, 'garments');
  const lowers = options.lower ? await readImages(options.lower, 'lower') : undefined;
  const plan = planItems(models, garments, { type: options.type, lowers });
  const files = await localFiles([...models, ...garments, ...(lowers ?? [])]);

  const cache = options.cache
    ? await AssetCache.open(cacheDir(), ctx.client.baseUrl, ctx.token)
    : AssetCache.disabled();
  const idempotencyKey = options.idempotencyKey ?? `tryon-cli-${randomUUID()}`;
  const submission: Submission = {
    ctx,
    files,
    cache,
    concurrency: options.concurrency,
    uploads: await upload(ctx, files, cache, options.concurrency),
    request: (assets) => batchRequest(plan, assets, options, idempotencyKey),
  };

  if (options.dryRun) {
    const answer = await sendBatch(submission, (body) => ctx.client.dryRunBatch(body));
    reportDryRun(ctx, answer, submission.uploads.stats);
    return EXIT.ok;
  }
  const batch = await sendBatch(submission, (body) => ctx.client.createBatch(body));
  const result = {
    batch,
    items: plan.length,
    idempotency_key: idempotencyKey,
    uploads: submission.uploads.stats,
  };
  return options.wait ? waitForBatch(ctx, result) : reportSubmitted(ctx, result);
}

/** What a submit sends, and what it needs to upload again when the API lost cached assets. */
interface Submission {
  ctx: Context;
  files: string[];
  cache: AssetCache;
  concurrency: number;
  uploads: UploadResult;
  request: (uploads: UploadResult) => CreateBatchRequest;
}

interface Submitted {
  batch: Batch;
  items: number;
  idempotency_key: string;
  uploads: UploadStats;
}

function batchRequest(
  plan: PlannedItem[],
  uploads: UploadResult,
  options: SubmitOptions,
  idempotencyKey: string,
): CreateBatchRequest {
  return {
    items: plan.map((item) => itemInput(item, uploads, options.hd ?? false)),
    name: options.name ?? defaultBatchName(options.models, options.garments, options.lower),
    idempotency_key: idempotencyKey,
    ...(options.webhook && { webhook_url: options.webhook }),
    ...(options.priority !== undefined && { priority: options.priority }),
    ...(options.fresh && { fresh_renders: true }),
  };
}

/**
 * Sends the batch (or its dry run). When the cache named assets the API no longer has (another
 * token, a wiped store), nothing was queued: those files are uploaded again, once.
 */
async function sendBatch<T>(
  submission: Submission,
  call: (body: CreateBatchRequest) => Promise<T>,
): Promise<T> {
  const { ctx, files, cache, concurrency } = submission;
  try {
    return await call(submission.request(submission.uploads));
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'asset_not_found')) throw error;
    const before = submission.uploads;
    if (before.fromCache.size === 0) throw error;
    note(ctx, 'The API does not know some cached uploads; uploading them again.');
    for (const sha of before.fromCache) cache.forget(sha);
    const again = await upload(ctx, files, cache, concurrency);
    submission.uploads = {
      ...again,
      stats: { ...again.stats, uploaded: before.stats.uploaded + again.stats.uploaded, reused: 0 },
    };
    return call(submission.request(submission.uploads));
  }
}

function reportSubmitted(ctx: Context, result: Submitted): number {
  const { batch } = result;
  if (ctx.json) printJson(result);
  say(ctx, batch.id);
  note(ctx, `Submitted ${describeSubmitted(result)}.`);
  note(ctx, `Follow it with: ${tryonCommand(`watch ${batch.id}`)}`);
  return EXIT.ok;
}

/** --wait: the progress bar until the batch has finished, then the summary. */
async function waitForBatch(ctx: Context, result: Submitted): Promise<number> {
  const { batch } = result;
  say(ctx, batch.id);
  note(ctx, `Submitted ${describeSubmitted(result)}.`);
  const watched = await awaitBatch(ctx, batch.id);
  const final = watched.batch ?? batch;
  if (ctx.json) printJson({ ...result, batch: final, finished: watched.finished });
  if (!watched.finished) {
    note(
      ctx,
      `Stopped watching; the batch goes on. Follow it with: ${tryonCommand(`watch ${batch.id}`)}`,
    );
    return EXIT.interrupted;
  }
  await summarize(ctx, final);
  return batchExitCode(final);
}

async function upload(
  ctx: Context,
  files: string[],
  cache: AssetCache,
  concurrency: number,
): Promise<UploadResult> {
  const bar =
    !ctx.json && process.stderr.isTTY && files.length > 0
      ? new cliProgress.SingleBar(
          { format: 'Uploading {bar} {value}/{total} images', hideCursor: true, barsize: 24 },
          cliProgress.Presets.shades_classic,
        )
      : null;
  let started = false;
  try {
    return await uploadFiles(ctx.client, files, {
      concurrency,
      cache,
      onProgress: (sent, toSend) => {
        if (!bar || toSend === 0) return;
        if (!started) bar.start(toSend, sent);
        else bar.update(sent);
        started = true;
      },
    });
  } finally {
    if (started) bar?.stop();
  }
}

/**
 * A dry run's answer. Images not uploaded before were uploaded (the API checks asset ids, and
 * an id comes only from an upload); the next real submit reuses them.
 */
function reportDryRun(ctx: Context, answer: DryRunAnswer, stats: UploadStats): void {
  const { items, credits, cached, eta } = answer;
  if (ctx.json) {
    printJson({ dry_run: true, items, credits, cached, eta, uploads: stats });
    return;
  }
  say(ctx, `Items:   ${items}`);
  say(ctx, `Credits: ${credits} (${cached} served from earlier renders at no cost)`);
  say(ctx, `ETA:     ${eta ? `${formatDuration(eta.seconds * 1000)} (${eta.at})` : 'unknown'}`);
  note(ctx, `Dry run: nothing was submitted (${describeUploads(stats)}).`);
}

function describeUploads(stats: UploadStats): string {
  if (stats.files === 0) return 'all images are URLs';
  return `${plural(stats.unique, 'image')}: ${stats.uploaded} uploaded, ${stats.reused} already uploaded`;
}

/** `12 items as "models x shirts" (7 images: ...)`. */
function describeSubmitted(result: Submitted): string {
  const name = result.batch.name ? ` as "${result.batch.name}"` : '';
  return `${plural(result.items, 'item')}${name} (${describeUploads(result.uploads)})`;
}

function refOf(source: ImageSource, uploads: UploadResult): string {
  return source.kind === 'url' ? source.url : uploads.assetIds.get(source.path)!;
}

function itemInput(item: PlannedItem, uploads: UploadResult, hd: boolean): BatchItemInput {
  const ref = (image: InputImage) => refOf(image.source, uploads);
  return {
    model: ref(item.model),
    cloth: ref(item.garment),
    ...(item.lower && { lower_cloth: ref(item.lower) }),
    cloth_type: item.clothType,
    ...(hd && { hd_mode: true }),
    external_id: item.externalId,
    metadata: item.metadata,
  };
}
