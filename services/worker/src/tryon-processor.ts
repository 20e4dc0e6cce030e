import { DelayedError, type Job } from 'bullmq';
import type { TryonJobData } from '@tryon/domain';
import type { ItemRecord } from '@tryon/records';
import { tryonJobId } from '@tryon/queues';
import { isRetryableStorageError } from '@tryon/storage';
import { errorAction, type ErrorAction } from './error-policy.js';
import {
  ItemFinisher,
  STEPS,
  StaleRunError,
  type StepEnv,
  type StepOutcome,
  type StepRun,
  type TryonDeps,
  type TryonOutcome,
} from './steps/index.js';

export type { TryonDeps, TryonOutcome } from './steps/index.js';

type TryonJob = Job<TryonJobData>;

/** BullMQ's default lock duration, for deps that do not name the worker's. */
const DEFAULT_LOCK_DURATION_MS = 30_000;

/**
 * One BullMQ step job per item: prepare -> create -> poll -> store -> notify (steps/). This
 * driver runs the job's current step, saves the job data a step hands back, turns waits into
 * delayed jobs (never a sleep holding a slot), and applies the error policy (error-policy.ts).
 * The step and the FitRoom task id live in the job's data, so a worker that dies mid-way leaves
 * a job that resumes where it stopped.
 */
export function createTryonProcessor(deps: TryonDeps) {
  const driver = new TryonDriver(deps);
  return Object.assign((job: TryonJob, token?: string) => driver.process(job, token), {
    abandon: driver.finisher.abandon.bind(driver.finisher),
  });
}

class TryonDriver {
  readonly finisher: ItemFinisher;
  private readonly env: StepEnv;

  constructor(private readonly deps: TryonDeps) {
    this.finisher = new ItemFinisher(deps);
    this.env = { deps, finisher: this.finisher };
  }

  async process(job: TryonJob, token?: string): Promise<TryonOutcome> {
    const item = await this.deps.records.getItem(job.data.itemId);
    if (!item) return 'item_gone';
    if (tryonJobId(item.id, item.run) !== job.id) return 'stale_run';
    if (item.status === 'cancelled') return 'cancelled';
    if (item.status === 'completed' || item.status === 'failed') {
      await this.finisher.reemitAfterCrash(item);
      return 'already_finished';
    }
    const fence = () => this.fence(job, token);
    const run: StepRun = {
      jobId: job.id,
      item,
      data: job.data,
      save: async (data) => {
        await fence();
        await job.updateData(data);
        return data;
      },
      fence,
      budgetKey: job.data.budgetKey,
    };
    try {
      return await this.runSteps(job, token, run);
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      // Another worker runs this item now (or a newer run of it): leave everything to it.
      if (error instanceof StaleRunError) return 'stale_run';
      return this.handleError(job, token, run, error);
    }
  }

  /**
   * Throws StaleRunError unless the job still holds its lock (checked and renewed in one
   * script). A job run without a lock token (tools, tests of the driver) is not fenced.
   */
  private async fence(job: TryonJob, token: string | undefined): Promise<void> {
    if (token === undefined) return;
    const lockMs = this.deps.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS;
    if ((await job.extendLock(token, lockMs)) !== 1) throw new StaleRunError();
  }

  /** Runs steps until one waits or ends the job. */
  private async runSteps(job: TryonJob, token: string | undefined, run: StepRun) {
    for (;;) {
      await run.fence();
      const step = run.data.step;
      const startedAt = performance.now();
      const outcome: StepOutcome = await STEPS[step](this.env, run);
      this.deps.observer?.stepDuration(step, performance.now() - startedAt);
      if ('next' in outcome) {
        run.data = await run.save(outcome.next);
      } else if ('delayMs' in outcome) {
        if (outcome.data) await run.save(outcome.data);
        return delay(job, token, outcome.delayMs);
      } else if ('park' in outcome) {
        // Delayed first, then parked: a promotion right after parking finds the job delayed.
        await job.moveToDelayed(Date.now() + this.deps.parkRecheckMs, token);
        await this.deps.admission.park(outcome.park);
        throw new DelayedError();
      } else {
        return outcome.done;
      }
    }
  }

  private async handleError(
    job: TryonJob,
    token: string | undefined,
    run: StepRun,
    error: unknown,
  ): Promise<TryonOutcome> {
    const decision: ErrorAction = errorAction(error, {
      step: job.data.step,
      attemptsMade: job.attemptsMade,
      pausedRecheckMs: this.deps.pausedRecheckMs,
      parkRecheckMs: this.deps.parkRecheckMs,
      inputsRejected: run.data.inputsRejected === true,
    });
    switch (decision.action) {
      case 'fail_item':
        await this.finisher.finish(run.item, 'failed', decision.reason);
        return 'failed';
      case 'pause_key':
        if (run.budgetKey) {
          await this.deps.pool.keyProblem(run.budgetKey, decision.error, run.item.id);
        }
        if (decision.lineUpAgain) await this.giveKeyBack(job, run.item);
        return delay(job, token, decision.delayMs);
      case 'wait':
        if (decision.lineUpAgain) await this.giveKeyBack(job, run.item);
        return delay(job, token, decision.delayMs);
      case 'retry':
        return this.retryOrFail(job, run, error, decision);
      case 'reprepare':
        // Prepared from the source again, trusting no cache; a second refusal fails the item.
        await run.save({
          ...run.data,
          step: 'prepare',
          inputs: undefined,
          pairKey: undefined,
          inputsRejected: true,
        });
        return delay(job, token, 0);
    }
  }

  private async retryOrFail(
    job: TryonJob,
    run: StepRun,
    error: unknown,
    decision: Extract<ErrorAction, { action: 'retry' }>,
  ): Promise<TryonOutcome> {
    const { fitroomError } = decision;
    const step = job.data.step;
    const log = this.deps.logger.child({
      jobId: job.id,
      itemId: run.item.id,
      batchId: run.item.batch_id,
    });
    if (fitroomError) {
      await this.deps.operations.recordFitroomError({
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
    await this.finisher.finish(run.item, 'failed', decision.reason);
    return 'failed';
  }

  /** The key is out for long: the slot goes back and the item lines up for another key. */
  private async giveKeyBack(job: TryonJob, item: ItemRecord): Promise<void> {
    await this.finisher.releaseSlot(item.id);
    await job.updateData({ ...job.data, budgetKey: undefined });
  }
}

async function delay(job: TryonJob, token: string | undefined, ms: number): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(0, Math.round(ms)), token);
  throw new DelayedError();
}

function isLastAttempt(job: TryonJob): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}
