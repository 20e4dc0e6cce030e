import { DelayedError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import {
  FitRoomDownloadExpiredError,
  FitRoomRateLimitedError,
  isFitRoomError,
  type CreateTaskInput,
  type FitRoomError,
  type Task,
} from '@tryon/fitroom-client';
import type { ItemError, TryonJobData } from '@tryon/domain';
import { BudgetPausedError } from '@tryon/rate-limiter';
import {
  publicBatch,
  publicItem,
  type ItemRecord,
  type Operations,
  type Records,
  type TransitionResult,
} from '@tryon/records';
import {
  batchCompletedEvent,
  itemEvent,
  tryonJobId,
  webhookJob,
  type WebhookQueue,
} from '@tryon/queues';
import { isRetryableStorageError, resultKey, type Storage } from '@tryon/storage';
import {
  firstPollDelayMs,
  nextPollDelayMs,
  type Admission,
  type DurationModel,
  type PollPolicy,
} from '@tryon/scheduling';
import { InvalidInputError, loadPrepared, prepareImage, type PrepareContext } from './prepare.js';
import { ResultCache } from './result-cache.js';
import {
  inputCheckProblem,
  type FitRoomPool,
  type InputCheckFlights,
} from '@tryon/fitroom-gateway';

export interface TryonDeps {
  records: Records;
  operations: Operations;
  storage: Storage;
  pool: FitRoomPool;
  webhookQueue: WebhookQueue;
  prepare: PrepareContext;
  resultCache: ResultCache;
  /** FitRoom's input-check answers by image content (batches with input_checks). */
  inputChecks: InputCheckFlights;
  /** The waiting room in front of FitRoom: an item creates a task only once admitted. */
  admission: Admission;
  durations: DurationModel;
  pollPolicy: PollPolicy;
  /** How busy a key's budget is now, 0-1 (cached; see BudgetMonitor). */
  utilization(budgetKey: string): number;
  /** A slot was given back: admit the next item now rather than at the next tick. */
  onSlotReleased(): void;
  /** A parked job wakes up this often to look for its admission, should a promotion be lost. */
  parkRecheckMs: number;
  /** A task unfinished this long after create fails the item. */
  taskTimeoutMs: number;
  /** FAILED tasks re-created before the item fails. */
  failedTaskRetries: number;
  /** When every key is paused, look again after at most this long. */
  pausedRecheckMs: number;
  webhookRetryScheduleMs: number[];
  publicUrl: string;
  /** The batch just finished (this caller's change finished it): manifest and expiry. */
  onBatchFinished?(batchId: string): Promise<void>;
  logger: Logger;
}

export type TryonOutcome =
  'completed' | 'failed' | 'cancelled' | 'item_gone' | 'stale_run' | 'already_finished';

const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
};

/** Which key the current step talks to, for blaming the right key when FitRoom refuses. */
interface StepContext {
  budgetKey: string | undefined;
}

/** Thrown inside a step to fail the item with a reason the tenant will read. */
class ItemFailure extends Error {
  constructor(readonly reason: ItemError) {
    super(reason.message);
  }
}

/**
 * One BullMQ step job per item: prepare -> create -> poll -> store -> notify. The step and the
 * FitRoom task id live in the job's data, written before anything else happens, so a worker that
 * dies mid-way leaves a job that resumes where it stopped (polling the same task, never paying
 * for a second one). Waiting for FitRoom is a delayed job, never a sleep holding a slot.
 */
export function createTryonProcessor(deps: TryonDeps) {
  const { records, operations, storage, pool, logger } = deps;

  async function emitEvents(
    item: ItemRecord,
    type: 'item.completed' | 'item.failed',
    transition: Pick<TransitionResult, 'batchFinished' | 'completionSeq'>,
  ): Promise<void> {
    const batch = await records.getBatch(item.batch_id);
    if (!batch?.webhook_url) return;
    const target = { tenantId: batch.tenant_id, batchId: batch.id, url: batch.webhook_url };
    const fresh = (await records.getItem(item.id)) ?? item;
    const jobs = [
      webhookJob(
        itemEvent(target, publicItem(fresh, deps.publicUrl), item.run, type),
        deps.webhookRetryScheduleMs,
      ),
    ];
    if (transition.batchFinished) {
      jobs.push(
        webhookJob(
          batchCompletedEvent(target, publicBatch(batch), transition.completionSeq),
          deps.webhookRetryScheduleMs,
        ),
      );
    }
    // Job ids are the event ids: emitting again after a crash adds nothing twice.
    await deps.webhookQueue.addBulk(jobs);
  }

  async function finishItem(
    item: ItemRecord,
    outcome: 'completed' | 'failed',
    error: ItemError | null,
  ): Promise<void> {
    const transition = await records.transition(item, ['queued', 'running'], outcome, {
      error,
      completed_at: Date.now(),
    });
    await operations.taskEnded(item.id);
    await releaseSlot(item.id);
    if (!transition.changed) return;
    if (transition.batchFinished) await deps.onBatchFinished?.(item.batch_id);
    await emitEvents(item, outcome === 'completed' ? 'item.completed' : 'item.failed', transition);
  }

  /** After a crash between the final transition and the events, send them again (deduplicated). */
  async function reemitAfterCrash(item: ItemRecord): Promise<void> {
    const batch = await records.getBatch(item.batch_id);
    const finished = batch?.completed_at !== null && batch !== null;
    await emitEvents(item, item.status === 'completed' ? 'item.completed' : 'item.failed', {
      batchFinished: finished,
      completionSeq: batch?.completion_seq ?? 0,
    });
  }

  /** Completes the item with a stored render of the same pair, if there is one. */
  async function reuseRender(item: ItemRecord, pairKey: string): Promise<boolean> {
    const cached = await deps.resultCache.get(pairKey);
    const source = cached ? await storage.get(cached.key) : null;
    if (!cached || !source) return false;
    const ext = EXTENSIONS[cached.content_type] ?? 'jpg';
    const stored = await storage.put(resultKey(item.batch_id, item.id, ext), source.body, {
      contentType: cached.content_type,
    });
    await records.updateItem(item.id, {
      result: {
        key: stored.key,
        bytes: stored.bytes,
        sha256: stored.sha256,
        content_type: stored.contentType,
      },
    });
    await finishItem(item, 'completed', null);
    return true;
  }

  async function releaseSlot(itemId: string): Promise<void> {
    if (await deps.admission.release(itemId)) deps.onSlotReleased();
  }

  async function delay(
    job: Job<TryonJobData>,
    token: string | undefined,
    ms: number,
  ): Promise<never> {
    await job.moveToDelayed(Date.now() + Math.max(0, Math.round(ms)), token);
    throw new DelayedError();
  }

  async function save(job: Job<TryonJobData>, data: TryonJobData): Promise<TryonJobData> {
    await job.updateData(data);
    return data;
  }

  function createInput(
    item: ItemRecord,
    images: NonNullable<Awaited<ReturnType<typeof loadPrepared>>>[],
  ): CreateTaskInput {
    const [model, cloth, lowerCloth] = images;
    if (item.cloth_type === 'combo') {
      return {
        clothType: 'combo',
        model: model!,
        cloth: cloth!,
        lowerCloth: lowerCloth!,
        hdMode: item.hd_mode,
      };
    }
    return { clothType: item.cloth_type, model: model!, cloth: cloth!, hdMode: item.hd_mode };
  }

  async function runSteps(
    job: Job<TryonJobData>,
    token: string | undefined,
    item: ItemRecord,
    context: StepContext,
  ) {
    let data = job.data;
    context.budgetKey = data.budgetKey;
    for (;;) {
      switch (data.step) {
        case 'prepare': {
          const [model, cloth, lowerCloth] = await Promise.all([
            prepareImage(item.model, 'model', item.tenant_id, deps.prepare),
            prepareImage(item.cloth, 'garment', item.tenant_id, deps.prepare),
            item.lower_cloth
              ? prepareImage(item.lower_cloth, 'garment', item.tenant_id, deps.prepare)
              : Promise.resolve(undefined),
          ]);
          const inputs = lowerCloth ? { model, cloth, lowerCloth } : { model, cloth };
          const pairKey = ResultCache.pairKey(inputs, item.cloth_type, item.hd_mode);
          const settings = await records.getBatchSettings(item.batch_id);
          if (settings && !settings.freshRenders && (await reuseRender(item, pairKey))) {
            return 'completed' as const;
          }
          if (settings?.inputChecks) {
            const assigned = await deps.admission.assignedKey(item.id);
            const key = (assigned && pool.byBudgetKey(assigned)) || pool.keys[0]!;
            context.budgetKey = key.budgetKey;
            const modelImage = await loadPrepared(model, storage);
            const problem = modelImage
              ? await inputCheckProblem(deps.inputChecks, key, modelImage)
              : null;
            if (problem) throw new ItemFailure(problem);
          }
          data = await save(job, { ...data, step: 'create', inputs, pairKey });
          break;
        }
        case 'create': {
          const inputs = data.inputs;
          if (!inputs) {
            data = await save(job, { ...data, step: 'prepare' });
            break;
          }
          // Wait in line until admitted: the admitter promotes this job when a key has room.
          const assigned = data.budgetKey ?? (await deps.admission.assignedKey(item.id));
          if (!assigned) {
            // Back in line after losing its key (401, 402): queued again, as admission only
            // takes queued items (and cancel may take it: it has no task).
            if (item.status === 'running') await records.transition(item, ['running'], 'queued');
            const batch = await records.getBatch(item.batch_id);
            await job.moveToDelayed(Date.now() + deps.parkRecheckMs, token);
            await deps.admission.park({
              id: item.id,
              batchId: item.batch_id,
              tenantId: item.tenant_id,
              priority: batch?.priority ?? 0,
            });
            throw new DelayedError();
          }
          const key = pool.byBudgetKey(assigned);
          if (!key) {
            // Admitted to a key this process does not have (config changed): line up again.
            await releaseSlot(item.id);
            data = await save(job, { ...data, budgetKey: undefined });
            break;
          }
          context.budgetKey = key.budgetKey;
          const started = await records.transition(item, ['queued', 'running'], 'running');
          if (!started.changed) {
            await releaseSlot(item.id);
            return 'cancelled' as const;
          }
          if (data.budgetKey !== key.budgetKey) {
            data = await save(job, { ...data, budgetKey: key.budgetKey });
          }
          const keys = [inputs.model, inputs.cloth, inputs.lowerCloth].filter(
            (k): k is string => k !== undefined,
          );
          const loaded = await Promise.all(keys.map((k) => loadPrepared(k, storage)));
          const images = loaded.filter((image) => image !== null);
          if (images.length < keys.length) {
            // A prepared input vanished (storage cleaned up): prepare it again.
            data = await save(job, { ...data, step: 'prepare', inputs: undefined });
            break;
          }
          // The task id goes into the job before anything else: a crash from here on resumes
          // polling this task instead of paying for another.
          const created = await pool.createTask(key, createInput(item, images), (task) =>
            save(job, {
              ...data,
              step: 'poll',
              taskId: task.task_id,
              budgetKey: key.budgetKey,
              taskCreatedAt: Date.now(),
              polls: 0,
            }),
          );
          await records.updateItem(item.id, {
            fitroom_task_id: created.task_id,
            attempts: item.attempts + 1,
          });
          item = { ...item, attempts: item.attempts + 1 };
          await operations.taskStarted(item.id, created.task_id);
          const mode = item.hd_mode ? 'hd' : 'normal';
          return delay(
            job,
            token,
            firstPollDelayMs(
              deps.pollPolicy,
              deps.durations.estimate(mode),
              deps.utilization(key.budgetKey),
            ),
          );
        }
        case 'poll': {
          const key = data.budgetKey ? pool.byBudgetKey(data.budgetKey) : undefined;
          if (!key || !data.taskId) {
            // The key that made the task is gone from the config: the task cannot be read.
            data = await save(job, {
              ...data,
              step: 'create',
              taskId: undefined,
              budgetKey: undefined,
            });
            break;
          }
          let task: Task;
          try {
            task = await key.client.getTask(data.taskId);
          } catch (error) {
            if (isFitRoomError(error) && error.code === 'not_found') {
              task = {
                task_id: data.taskId,
                status: 'FAILED',
                error: 'FitRoom no longer knows this task',
              };
            } else {
              throw error;
            }
          }
          const polls = (data.polls ?? 0) + 1;
          const mode = item.hd_mode ? 'hd' : 'normal';
          if (task.status === 'COMPLETED') {
            // FitRoom is done with it: the slot goes to the next item while we download.
            await releaseSlot(item.id);
            if (task.created_at !== undefined && task.completed_at !== undefined) {
              await deps.durations.observe(mode, task.created_at, task.completed_at);
            }
            data = await save(job, {
              ...data,
              step: 'store',
              polls,
              downloadUrl: task.download_signed_url,
            });
            break;
          }
          if (task.status === 'FAILED') {
            // The item keeps its slot (and key) for the next task, if it gets one.
            const failedTasks = (data.failedTasks ?? 0) + 1;
            await operations.taskEnded(item.id);
            if (failedTasks > deps.failedTaskRetries) {
              throw new ItemFailure({
                code: 'fitroom_task_failed',
                message: `FitRoom task ${data.taskId} failed: ${task.error || 'no reason given'} (after ${failedTasks} tasks)`,
              });
            }
            data = await save(job, {
              ...data,
              step: 'create',
              taskId: undefined,
              budgetKey: undefined,
              failedTasks,
              polls,
            });
            break;
          }
          const createdAt = data.taskCreatedAt ?? Date.now();
          if (Date.now() - createdAt > deps.taskTimeoutMs) {
            throw new ItemFailure({
              code: 'fitroom_task_timeout',
              message: `FitRoom task ${data.taskId} was still ${task.status} ${Math.round((Date.now() - createdAt) / 1000)} s after it was created`,
            });
          }
          await save(job, { ...data, polls });
          return delay(
            job,
            token,
            nextPollDelayMs(
              deps.pollPolicy,
              deps.durations.estimate(mode),
              {
                status: task.status,
                progress: task.status === 'PROCESSING' ? task.progress : 0,
                elapsedMs: Date.now() - createdAt,
              },
              deps.utilization(key.budgetKey),
            ),
          );
        }
        case 'store': {
          const key = data.budgetKey ? pool.byBudgetKey(data.budgetKey) : undefined;
          if (!key || !data.downloadUrl) {
            data = await save(job, { ...data, step: 'poll' });
            break;
          }
          let download;
          try {
            download = await key.client.downloadResult(data.downloadUrl);
          } catch (error) {
            if (error instanceof FitRoomDownloadExpiredError) {
              // A poll answers a fresh signed URL.
              logger.info(
                { jobId: job.id, itemId: item.id, taskId: data.taskId },
                'download link expired; polling for a fresh one',
              );
              data = await save(job, { ...data, step: 'poll', downloadUrl: undefined });
              break;
            }
            throw error;
          }
          const contentType = download.contentType.split(';')[0]!.trim();
          const ext = EXTENSIONS[contentType] ?? 'jpg';
          const stored = await storage.put(resultKey(item.batch_id, item.id, ext), download.body, {
            contentType: EXTENSIONS[contentType] ? contentType : 'image/jpeg',
          });
          if (data.pairKey) {
            await deps.resultCache.set(data.pairKey, {
              key: stored.key,
              bytes: stored.bytes,
              sha256: stored.sha256,
              content_type: stored.contentType,
            });
          }
          await records.updateItem(item.id, {
            result: {
              key: stored.key,
              bytes: stored.bytes,
              sha256: stored.sha256,
              content_type: stored.contentType,
            },
          });
          data = await save(job, { ...data, step: 'notify' });
          break;
        }
        case 'notify': {
          await finishItem(item, 'completed', null);
          return 'completed' as const;
        }
      }
    }
  }

  function isLastAttempt(job: Job<TryonJobData>): boolean {
    return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  }

  async function handleFitRoomError(
    job: Job<TryonJobData>,
    token: string | undefined,
    item: ItemRecord,
    error: FitRoomError,
    budgetKey: string | undefined,
  ): Promise<TryonOutcome> {
    if (error.code === 'bad_request') {
      await finishItem(item, 'failed', {
        code: 'fitroom_bad_request',
        message: `FitRoom refused the request: ${error.fitroomMessage ?? error.message}`,
      });
      return 'failed';
    }
    if (
      error.code === 'rate_limited' ||
      error.code === 'unauthorized' ||
      error.code === 'insufficient_credit'
    ) {
      if (budgetKey) await pool.keyProblem(budgetKey, error, item.id);
      if (error.code !== 'rate_limited' && job.data.step === 'create') {
        // This key is out for a while: line up again for another one.
        await releaseSlot(item.id);
        await job.updateData({ ...job.data, budgetKey: undefined });
      }
      return delay(
        job,
        token,
        Math.min(
          (error instanceof FitRoomRateLimitedError ? error.retryAfterMs : undefined) ??
            deps.pausedRecheckMs,
          deps.pausedRecheckMs,
        ),
      );
    }
    await operations.recordFitroomError({
      budgetKey: budgetKey ?? 'unknown',
      operation: error.operation ?? 'unknown',
      code: error.code,
      status: error.status ?? null,
      message: error.fitroomMessage ?? error.message,
      itemId: item.id,
    });
    if (isLastAttempt(job)) {
      await finishItem(item, 'failed', {
        code: 'fitroom_unavailable',
        message: `FitRoom kept failing (${error.code}${error.status ? ` ${error.status}` : ''}): ${error.fitroomMessage ?? error.message}`,
      });
      return 'failed';
    }
    throw error;
  }

  /**
   * Fails an item whose job ended for good without finishing it (BullMQ gave up on a job that
   * kept losing its worker, or the sweep found such a job). False when the item is not open or
   * has moved on to another run.
   */
  async function abandon(itemId: string, jobId: string, reason: ItemError): Promise<boolean> {
    const item = await records.getItem(itemId);
    if (!item || tryonJobId(item.id, item.run) !== jobId) return false;
    if (item.status !== 'queued' && item.status !== 'running') return false;
    await finishItem(item, 'failed', reason);
    return true;
  }

  async function processTryon(job: Job<TryonJobData>, token?: string): Promise<TryonOutcome> {
    const item = await records.getItem(job.data.itemId);
    if (!item) return 'item_gone';
    if (tryonJobId(item.id, item.run) !== job.id) return 'stale_run';
    if (item.status === 'cancelled') return 'cancelled';
    if (item.status === 'completed' || item.status === 'failed') {
      await reemitAfterCrash(item);
      return 'already_finished';
    }
    const log = logger.child({ jobId: job.id, itemId: item.id, batchId: item.batch_id });
    const context: StepContext = { budgetKey: undefined };
    try {
      return await runSteps(job, token, item, context);
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      if (error instanceof ItemFailure) {
        await finishItem(item, 'failed', error.reason);
        return 'failed';
      }
      if (error instanceof InvalidInputError) {
        await finishItem(item, 'failed', { code: error.code, message: error.message });
        return 'failed';
      }
      if (error instanceof BudgetPausedError) {
        if (job.data.step === 'create' && error.retryInMs > deps.parkRecheckMs) {
          // Admitted to a key that is out for long (401, 402) before the admitter knew: line up
          // again for a usable one instead of waiting out the pause.
          await releaseSlot(item.id);
          await job.updateData({ ...job.data, budgetKey: undefined });
        }
        return delay(job, token, Math.min(error.retryInMs, deps.pausedRecheckMs));
      }
      if (isFitRoomError(error)) {
        return handleFitRoomError(job, token, item, error, context.budgetKey);
      }
      // Storage outages, Redis hiccups, network trouble fetching inputs: retried with backoff.
      if (!isLastAttempt(job)) {
        log.warn(
          { err: error, step: job.data.step, retryable: isRetryableStorageError(error) },
          'step failed; retrying with backoff',
        );
        throw error;
      }
      log.error({ err: error, step: job.data.step }, 'step failed on its last attempt');
      await finishItem(item, 'failed', {
        code: 'internal_error',
        message: `could not ${job.data.step} the item after ${job.attemptsMade + 1} attempts`,
      });
      return 'failed';
    }
  }

  return Object.assign(processTryon, { abandon });
}
