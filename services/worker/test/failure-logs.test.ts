import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '@tryon/logger';
import { redisConnection } from '@tryon/queues';
import { eventually, testRedisUrl, uniqueId } from '@tryon/testing';
import { logFailures } from '../src/failure-logs.js';

/**
 * BullMQ's lock extender reports every lock it could not renew as a worker error; only a job
 * that is still running without its lock deserves attention, not one that just moved to delayed.
 */

const redis = redisConnection(testRedisUrl());
const prefix = uniqueId('failure-logs');
const QUEUE = 'locks';
const lines: { level: number; msg: string; state?: string; jobId?: string }[] = [];
const logger = createLogger({
  service: 'test',
  level: 'debug',
  destination: { write: (line: string) => void lines.push(JSON.parse(line) as never) },
});
const queue = new Queue(QUEUE, { connection: redis, prefix });
let worker: Worker | undefined;

afterAll(async () => {
  await worker?.close(true);
  await queue.obliterate({ force: true });
  await queue.close();
  redis.disconnect();
});

const lockKey = (jobId: string) => `${prefix}:${QUEUE}:${jobId}:lock`;
const logged = (msg: string, jobId: string) =>
  eventually(
    () => Promise.resolve(lines.find((line) => line.msg === msg && line.jobId === jobId)),
    (line) => line !== undefined,
    { timeoutMs: 10_000, intervalMs: 20 },
  );

describe('lock renewal failures', () => {
  it('are quiet for a job that moved to delayed and a warning for a running job', async () => {
    const processor = async (job: Job, token?: string) => {
      if (job.name === 'moves-on') {
        await job.moveToDelayed(Date.now() + 60_000, token);
        // Still tracked by the lock extender, whose next renewal finds no lock.
        await logged('lock renewal raced the job moving on', job.id!);
        throw new DelayedError();
      }
      // The lock vanished under a running job (as when its event loop stalled past the lock).
      await redis.del(lockKey(job.id!));
      await logged('a running job lost its lock', job.id!);
      await redis.set(lockKey(job.id!), token!, 'PX', 60_000);
      return 'done';
    };
    worker = new Worker(QUEUE, processor, {
      connection: redisConnection(testRedisUrl()),
      prefix,
      lockDuration: 400,
      concurrency: 2,
    });
    logFailures(worker, logger);
    const movesOn = await queue.add('moves-on', {});
    const running = await queue.add('running', {});

    const raced = await logged('lock renewal raced the job moving on', movesOn.id!);
    expect(raced).toMatchObject({ level: 20, state: 'delayed' });
    await logged('a running job lost its lock', running.id!);
    await eventually(
      () => running.getState(),
      (state) => state === 'completed',
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
    expect(lines.find((l) => l.jobId === running.id && l.level === 40)).toBeDefined();
  });
});
