import { DelayedError, type Job } from 'bullmq';
import type { TryonJobData } from '@tryon/domain';
import type { ItemRecord } from '@tryon/records';
import { tryonJobId } from '@tryon/queues';
import { isRetryableStorageError } from '@tryon/storage';
import { errorAction, type ErrorAction } from './error-policy.js';
import {
  ItemFinisher,
  STEPS,
  type StepEnv,
  type StepOutcome,
  type StepRun,
  type TryonDeps,
  type TryonOutcome,
} from './steps/index.js';

export type { TryonDeps, TryonOutcome } from './steps/index.js';

type TryonJob = Job<TryonJobData>;

/**
 * One BullMQ step job per item: prepare -> create -> poll -> store -> notify (steps/). This
 * driver runs the job's current step, saves the job data a step hands back, turns waits into
 * delayed jobs (never a sleep holding a slot), and applies the error policy (error-policy.ts).
 * The step and the FitRoom task id live in the job's data, so a worker that dies mid-way leaves
 * a job that resumes where it stopped.
 */
export function createTryonProcessor(deps: TryonDeps) {
  const finisher = new ItemFinisher(deps);
  const env: StepEnv = { deps, finisher };

  async function processTryon(job: TryonJob, token?: string): Promise<TryonOutcome> {
    const item = await deps.records.getItem(job.data.itemId);
    if (!item) return 'item_gone';
    if (tryonJobId(item.id, item.run) !== job.id) return 'stale_run';
    if (item.status === 'cancelled') return 'cancelled';
    if (item.status === 'completed' || item.status === 'failed') {
      await finisher.reemitAfterCrash(item);
      return 'already_finished';
    }
    const run: StepRun = {
      jobId: job.id,
      item,
      data: job.data,
      save: async (data) => {
        await job.updateData(data);
        return data;
      },
      budgetKey: job.data.budgetKey,
    };
    try {
      return await runSteps(job, token, run);
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      return handleError(job, token, run, error);
    }
  }

  /** Runs steps until one waits or ends the job. */
  async function runSteps(job: TryonJob, token: string | undefined, run: StepRun) {
    for (;;) {
      const outcome: StepOutcome = await STEPS[run.data.step](env, run);
      if ('next' in outcome) {
        run.data = await run.save(outcome.next);
      } else if ('delayMs' in outcome) {
        if (outcome.data) await run.save(outcome.data);
        return delay(job, token, outcome.delayMs);
      } else if ('park' in outcome) {
        // Delayed first, then parked: a promotion right after parking finds the job delayed.
        await job.moveToDelayed(Date.now() + deps.parkRecheckMs, token);
        await deps.admission.park(outcome.park);
        throw new DelayedError();
      } else {
        return outcome.done;
      }
    }
  }

  async function handleError(
    job: TryonJob,
    token: string | undefined,
    run: StepRun,
    error: unknown,
  ): Promise<TryonOutcome> {
    const step = job.data.step;
    const decision: ErrorAction = errorAction(error, {
      step,
      attemptsMade: job.attemptsMade,
      pausedRecheckMs: deps.pausedRecheckMs,
      parkRecheckMs: deps.parkRecheckMs,
    });
    switch (decision.action) {
      case 'fail_item':
        await finisher.finish(run.item, 'failed', decision.reason);
        return 'failed';
      case 'pause_key':
        if (run.budgetKey) await deps.pool.keyProblem(run.budgetKey, decision.error, run.item.id);
        if (decision.lineUpAgain) await giveKeyBack(job, run.item);
        return delay(job, token, decision.delayMs);
      case 'wait':
        if (decision.lineUpAgain) await giveKeyBack(job, run.item);
        return delay(job, token, decision.delayMs);
      case 'retry':
        return retryOrFail(job, run, error, decision);
    }
  }

  async function retryOrFail(
    job: TryonJob,
    run: StepRun,
    error: unknown,
    decision: Extract<ErrorAction, { action: 'retry' }>,
  ): Promise<TryonOutcome> {
    const { fitroomError } = decision;
    const step = job.data.step;
    const log = deps.logger.child({
      jobId: job.id,
      itemId: run.item.id,
      batchId: run.item.batch_id,
    });
    if (fitroomError) {
      await deps.operations.recordFitroomError({
        budgetKey: run.budgetKey ?? 'unknown',
        operation: fitroomError.operation ?? 'unknown',
        code: fitroomError.code,
        status: fitroomError.status ?? null,
        message: fitroomError.fitroomMessage ?? fitroomError.message,
        itemId: run.item.id,
      });
    }
    if (!isLastAttempt(job)) {
      if (!fitroomError) {
        log.warn(
          { err: error, step, retryable: isRetryableStorageError(error) },
          'step failed; retrying with backoff',
        );
      }
      throw error;
    }
    if (!fitroomError) log.error({ err: error, step }, 'step failed on its last attempt');
    await finisher.finish(run.item, 'failed', decision.reason);
    return 'failed';
  }

  /** The key is out for long: the slot goes back and the item lines up for another key. */
  async function giveKeyBack(job: TryonJob, item: ItemRecord): Promise<void> {
    await finisher.releaseSlot(item.id);
    await job.updateData({ ...job.data, budgetKey: undefined });
  }

  async function delay(job: TryonJob, token: string | undefined, ms: number): Promise<never> {
    await job.moveToDelayed(Date.now() + Math.max(0, Math.round(ms)), token);
    throw new DelayedError();
  }

  return Object.assign(processTryon, {
    abandon: finisher.abandon.bind(finisher),
  });
}

function isLastAttempt(job: TryonJob): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}
