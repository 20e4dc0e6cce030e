import type { Task } from '@tryon/fitroom-client';

export interface PollTiming {
  /** Expected created -> completed time of a task, by mode. */
  normalTaskMs: number;
  hdTaskMs: number;
  /** Shortest gap between two polls of one task. */
  minIntervalMs: number;
}

/**
 * When to look at a task next. Every poll costs one request of the same budget as a create, so
 * a poll too early is a create not made. The first poll goes at the expected completion time;
 * after that, the progress FitRoom reports tells how far along the task is, and the remaining
 * time is extrapolated from the time spent so far.
 */
export function nextPollDelayMs(
  timing: PollTiming,
  task: { hdMode: boolean; createdAt: number; now: number; last?: Task },
): number {
  const expected = task.hdMode ? timing.hdTaskMs : timing.normalTaskMs;
  const elapsed = Math.max(0, task.now - task.createdAt);
  if (!task.last) return Math.max(0, expected - elapsed);
  const progress = task.last.status === 'PROCESSING' ? (task.last.progress ?? 0) : 0;
  let remaining: number;
  if (progress > 0 && progress < 100) {
    remaining = (elapsed * (100 - progress)) / progress;
  } else {
    // No progress yet: the task has not started; expect it to take a full duration from here.
    remaining = Math.max(expected - elapsed, expected / 4);
  }
  return Math.max(timing.minIntervalMs, Math.round(remaining));
}
