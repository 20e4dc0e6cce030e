import { Job, type Worker } from 'bullmq';
import type { Logger } from '@tryon/logger';

const LOCK_RENEWAL_FAILED = /^could not renew lock for job (.+)$/;

/** Worker errors and jobs that failed for good, at the level each deserves. */
export function logFailures(worker: Worker, logger: Logger): void {
  worker.on('error', (error) => {
    const lostLock = LOCK_RENEWAL_FAILED.exec(error.message);
    if (lostLock) {
      logLockRenewalFailure(worker, lostLock[1]!, logger);
      return;
    }
    logger.error({ err: error, queue: worker.name }, 'worker error');
  });
  worker.on('failed', (job, error) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
      logger.warn({ err: error, jobId: job.id, queue: worker.name }, 'job failed for good');
    }
  });
}

/**
 * BullMQ's lock extender can pick a job in the instant our processor moves it to delayed (the
 * move drops the lock): a job no longer active only moved on. An active one really lost its lock
 * (the event loop or Redis stalled past the lock's duration); its steps are fenced, so the other
 * run wins, but it is worth a warning.
 */
function logLockRenewalFailure(worker: Worker, jobId: string, logger: Logger): void {
  const fields = { jobId, queue: worker.name };
  Job.fromId(worker, jobId)
    .then((job) => job?.getState() ?? 'missing')
    .then((state) => {
      if (state === 'active') logger.warn(fields, 'a running job lost its lock');
      else logger.debug({ ...fields, state }, 'lock renewal raced the job moving on');
    })
    .catch((err: unknown) => logger.warn({ ...fields, err }, 'a job lost its lock'));
}
